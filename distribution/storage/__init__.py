"""Storage: the engine and sessions, portable SQL, ids, migrations, secrets at rest, polling."""
