"""Customer sync: a customer's own changes written onto their profile in a platform (a sync
provider with ``customer_sync`` on), through the outbox, one coalesced row per customer.

See :mod:`distribution.customer_sync.outbox_rows` for the rule and docs/providers.md for what
each platform receives.
"""

from distribution.customer_sync.outbox_rows import (
    ERASE_KEY_PREFIX,
    KEY_PREFIX,
    SOURCE,
    enqueue_customer_sync,
    enqueue_erasure,
    forget_erased_recipients,
    goes_alone,
    is_erasure,
    profile_changed,
)
from distribution.customer_sync.targets import SyncTarget, sync_targets

__all__ = [
    "ERASE_KEY_PREFIX",
    "KEY_PREFIX",
    "SOURCE",
    "SyncTarget",
    "enqueue_customer_sync",
    "enqueue_erasure",
    "forget_erased_recipients",
    "goes_alone",
    "is_erasure",
    "profile_changed",
    "sync_targets",
]
