"""The application, one subpackage per feature; each imports only those listed below it.

- ``distributed``: procrastinate mode (tasks with pinned names, enqueueing, workers, monitoring).
- ``bulk``: bulk sends: jobs, audience, preflight, preparation in batches, the runner.
- ``codes``: campaigns, code pools, and assigning a code to a customer.
- ``events``: event input, ingestion and its group commit, distributions, inbound signatures.
- ``provider_configs``: a project's provider configs, the senders built from them, callbacks.
- ``outbox``: what becomes a delivery row, ``deliver()``, delivery events, the messages log, the
  embedded worker, notifiers, the shared rate limit.
  ``template_store`` (beside the outbox, independent of it): templates, versions, rendering,
  the render pool.
- ``customers``: records, their input, rows and files, consent and suppression, segments.
- ``webhooks``: outgoing webhook subscriptions, ``emit``, and their dispatcher.
- ``accounts``: projects and API keys, the per-process project cache, users and sessions.
- ``storage``: the database, portable SQL, ids, migrations runner, JSON bounds, secrets at rest,
  the polling loop, and ``project_rows`` (the one lookup scoped to a project).
  ``migrations`` (beside it): the Alembic revisions.
- ``models``: the SQLModel tables.
- ``errors``: the error tree every layer raises.

The order is an import-linter ``layers`` contract in ``pyproject.toml``.
"""
