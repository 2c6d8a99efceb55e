"""What sends achieved: A/B tests of template versions and their results per arm."""
