"""What the API calls after it commits deliveries: the seam between the two delivery modes.

Embedded, the in-process worker is woken. Distributed, the committed ids are enqueued as
procrastinate jobs. Either way the rows are already committed, so a lost notice costs only
latency: the worker's polling (embedded) or the sweeper (distributed) finds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

__all__ = ["DeliveryNotifier", "Waker"]


@runtime_checkable
class Waker(Protocol):
    """Something to wake after committing work it should look at (thread-safe)."""

    def wake(self) -> None: ...


@runtime_checkable
class DeliveryNotifier(Protocol):
    """Told about committed ``queued`` deliveries (thread-safe)."""

    def queued(self, ids: Sequence[str]) -> None:
        """These deliveries were just committed as ``queued``."""

    def wake(self) -> None:
        """Deliveries were committed but their ids are not at hand: look for due ones."""
