"""What the batch syncs share: cutting updates into batches, waiting for an asynchronous batch.

Mailchimp's ``/3.0/batches`` and ActiveCampaign's bulk import both take a batch, answer an id at
once and process it later; the sync polls until the platform says it is done, then reads the
per-profile answers. Both key profiles by email address.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from providers.errors import PermanentProviderError, ProviderError, TransientProviderError
from providers.message import ProfileUpdate, SendResult

__all__ = ["PollSchedule", "batches", "one_by_one", "poll", "sync_in_batches"]

T = TypeVar("T")
Outcome = SendResult | ProviderError


def batches(keys: Sequence[str], size: int) -> list[list[int]]:
    """Indexes of ``keys`` cut into batches of at most ``size``, no key twice in one batch.

    The n-th occurrence of a key goes into the n-th round of batches: the platforms process a
    batch's operations in no promised order, so a later update of the same profile is written
    by a later batch, after the earlier one finished.
    """
    rounds: list[list[int]] = []
    seen: dict[str, int] = {}
    for index, key in enumerate(keys):
        occurrence = seen.get(key, 0)
        seen[key] = occurrence + 1
        if occurrence == len(rounds):
            rounds.append([])
        rounds[occurrence].append(index)
    return [r[start : start + size] for r in rounds for start in range(0, len(r), size)]


@dataclass(frozen=True, slots=True)
class PollSchedule:
    """How long to wait between status polls: ``first``, growing by ``factor`` up to
    ``longest``, until ``total`` seconds were spent waiting (then the batch counts as failed
    for now: a transient error, the rows are retried)."""

    first: float = 0.25
    factor: float = 2.0
    longest: float = 5.0
    total: float = 60.0

    def delays(self) -> Iterator[float]:
        """The waits before each poll; their sum never exceeds ``total``."""
        waited, delay = 0.0, self.first
        while waited + delay <= self.total:
            yield delay
            waited += delay
            delay = min(delay * self.factor, self.longest)


async def poll(
    check: Callable[[], Awaitable[T | None]],
    schedule: PollSchedule,
    *,
    provider: str,
    what: str,
) -> T:
    """Call ``check`` after each wait of the schedule until it answers something but None."""
    for delay in schedule.delays():
        await asyncio.sleep(delay)
        answer = await check()
        if answer is not None:
            return answer
    raise TransientProviderError(
        f"{what} not finished after {schedule.total:g} s", provider=provider
    )


async def sync_in_batches(
    updates: Sequence[ProfileUpdate],
    *,
    size: int,
    write: Callable[[list[ProfileUpdate]], Awaitable[list[Outcome]]],
    provider: str,
) -> list[Outcome]:
    """One outcome per update, in order; ``write`` answers one outcome per update of a batch.

    An update without an email address is refused without a call. An error ``write`` raises
    concerns the whole call (429, 5xx, credentials, a batch that never finished): it is the
    outcome of that batch's updates and of every later batch's, which are not attempted (the
    platform throttles or fails the account, not one batch).
    """
    outcomes: list[Outcome | None] = [None] * len(updates)
    keyed: list[int] = []
    for index, update in enumerate(updates):
        if update.email:
            keyed.append(index)
        else:
            outcomes[index] = PermanentProviderError(
                "an email address is required", provider=provider
            )
    keys = [(updates[i].email or "").lower() for i in keyed]
    stopped: ProviderError | None = None
    for batch in batches(keys, size):
        indexes = [keyed[i] for i in batch]
        answers: list[Outcome] = []
        if stopped is None:
            try:
                answers = await write([updates[i] for i in indexes])
            except ProviderError as exc:
                stopped = exc
        if stopped is not None:
            answers = [stopped] * len(indexes)
        assert len(answers) == len(indexes), "write answers one outcome per update"
        for index, answer in zip(indexes, answers, strict=True):
            outcomes[index] = answer
    return [o for o in outcomes if o is not None]


async def one_by_one(
    sync: Callable[[ProfileUpdate], Awaitable[SendResult]], updates: Sequence[ProfileUpdate]
) -> list[Outcome]:
    """``sync`` per update, for batches too small to be worth the platform's batch calls.

    A permanent error is that update's outcome; a transient one (429, 5xx, a timeout) is the
    account's, raised for the whole batch as a batch call's would be.
    """
    outcomes: list[Outcome] = []
    for update in updates:
        try:
            outcomes.append(await sync(update))
        except PermanentProviderError as exc:
            outcomes.append(exc)
    return outcomes
