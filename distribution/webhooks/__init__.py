"""Outgoing webhooks: subscriptions and the calls queued for them, sent by ``dispatch``."""
