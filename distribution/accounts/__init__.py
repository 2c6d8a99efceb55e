"""Accounts: projects and their keys, the per-process project cache, users and sessions."""
