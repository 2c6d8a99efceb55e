"""Profile writes in batches: the engine hands a provider's claimed profile rows to its
``sync_many`` at once; each row still gets its own status from the batch's answers."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from sqlmodel import select

from distribution.models import Delivery
from distribution.outbox.delivery import claim_due, deliver
from distribution.outbox.worker import EmbeddedWorker
from distribution.storage.db import Database
from distribution.storage.ids import new_id
from providers import ProfileUpdate, SendResult
from providers.address_guard import AddressGuard
from providers.braze_attributes import BrazeAttributesConfig, BrazeAttributesSync
from providers.http_transport import GuardedClient, guarded_client
from tests.conftest import ProjectCredentials
from tests.test_providers.fakes import braze as fake_braze
from tests.test_providers.fakes.server import serve

from .engine_helpers import FAST_RETRIES, OneAtATime, Senders, capture, drain


@pytest.fixture(scope="module")
def braze_fake() -> Iterator[tuple[fake_braze.FakeBraze, str]]:
    api = fake_braze.FakeBraze()
    with serve(api) as url:
        yield api, url


@pytest.fixture
async def client() -> Any:
    async with guarded_client(AddressGuard(allow_private=True), timeout=5.0) as http:
        yield http


def _sync(url: str, client: GuardedClient) -> BrazeAttributesSync:
    config = BrazeAttributesConfig(
        api_key=fake_braze.API_KEY, base_url=url, attributes={"referral_code": "code"}
    )
    return BrazeAttributesSync("attrs", config, http_client=client)


def _profile_rows(
    database: Database, project_id: str, codes: Sequence[str], provider: str = "attrs"
) -> list[str]:
    """Queued profile rows for users u0, u1, ... with those codes; their ids."""
    rows = [
        Delivery(
            id=new_id("dlv"),
            project_id=project_id,
            idempotency_key=new_id("k"),
            channel="profile",
            provider=provider,
            recipient=f"u{i}",
            content={"profile": {"external_id": f"u{i}", "code": code}},
        )
        for i, code in enumerate(codes)
    ]
    with database.session() as session:
        session.add_all(rows)
    return [row.id for row in rows]


def _statuses(database: Database, ids: Sequence[str]) -> dict[str, tuple[str, str | None]]:
    with database.reader() as session:
        rows = session.exec(select(Delivery).where(Delivery.id.in_(ids))).all()  # type: ignore[attr-defined]
    return {row.id: (row.status, row.last_error) for row in rows}


def _track_calls(api: fake_braze.FakeBraze) -> list[int]:
    return sorted(len(r.json()["attributes"]) for r in api.requests if r.path == "/users/track")


async def test_a_batch_of_profile_rows_is_written_75_a_call_each_row_with_its_own_status(
    database: Database,
    project: ProjectCredentials,
    braze_fake: tuple[fake_braze.FakeBraze, str],
    client: GuardedClient,
) -> None:
    api, url = braze_fake
    api.reset()
    project_id = project.project.id
    codes = [f"CODE-{i}" for i in range(200)]
    codes[17] = "X" * 300  # over Braze's 255: Braze skips that object and names it
    ids = _profile_rows(database, project_id, codes)
    # A row whose content identifies nobody: it fails alone, not its batch.
    [broken] = _profile_rows(database, project_id, ["ignored"])
    with database.session() as session:
        row = session.get(Delivery, broken)
        assert row is not None
        row.content = {"profile": {"code": "C"}}
        session.add(row)
    email = capture()
    senders = Senders({"capture": email}, {"attrs": _sync(url, client)})

    claimed = claim_due(database, 1000, FAST_RETRIES)
    outcomes = await deliver(claimed, senders, FAST_RETRIES, database)

    assert [o.id for o in outcomes] == [c.id for c in claimed]
    # The broken row makes no object; the long one is sent, and skipped by Braze.
    assert _track_calls(api) == [50, 75, 75]
    by_id = {o.id: o for o in outcomes}
    assert by_id[broken].status == "failed"
    assert "needs an email, a phone or an external id" in (by_id[broken].detail or "")
    refused = by_id[ids[17]]
    assert (refused.status, refused.detail) == (
        "failed",
        "rejected: braze refused the attributes: attribute 'referral_code' is too long",
    )
    sent = [by_id[i] for i in ids if i != ids[17]]
    assert {o.status for o in sent} == {"sent"}
    assert {o.provider_status for o in sent} == {"success"}
    assert api.writes == {f"u{i}": 1 for i in range(200) if i != 17}


async def test_30_percent_failed_calls_still_write_every_user_exactly_once(
    database: Database,
    project: ProjectCredentials,
    braze_fake: tuple[fake_braze.FakeBraze, str],
    client: GuardedClient,
) -> None:
    api, url = braze_fake
    api.reset()
    api.flaky(0.3, seed=11)
    project_id = project.project.id
    ids = _profile_rows(database, project_id, [f"CODE-{i}" for i in range(600)])
    worker = EmbeddedWorker(
        database, Senders(syncs={"attrs": _sync(url, client)}), FAST_RETRIES, batch_size=250
    )

    await drain(worker)

    statuses = _statuses(database, ids)
    assert {status for status, _error in statuses.values()} == {"sent"}
    assert api.writes == {f"u{i}": 1 for i in range(600)}
    failed_calls = [r for r in api.requests if r.path == "/users/track"]
    assert len(failed_calls) > math.ceil(600 / 75)  # some calls failed and were made again
    with database.reader() as session:
        attempts = session.exec(select(Delivery.attempts).where(Delivery.id.in_(ids))).all()  # type: ignore[attr-defined]
    assert max(attempts) > 1


async def test_a_sync_without_batches_gets_each_row_on_its_own(
    database: Database,
    project: ProjectCredentials,
    braze_fake: tuple[fake_braze.FakeBraze, str],
    client: GuardedClient,
) -> None:
    api, url = braze_fake
    api.reset()
    ids = _profile_rows(database, project.project.id, [f"C{i}" for i in range(5)])
    senders = Senders(syncs={"attrs": OneAtATime(_sync(url, client))})

    await drain(EmbeddedWorker(database, senders, FAST_RETRIES))

    assert _track_calls(api) == [1, 1, 1, 1, 1]
    assert {s for s, _ in _statuses(database, ids).values()} == {"sent"}


async def test_an_unknown_sync_fails_its_rows_as_a_single_write_would(
    database: Database, project: ProjectCredentials
) -> None:
    ids = _profile_rows(database, project.project.id, ["A", "B"], provider="gone")

    await drain(EmbeddedWorker(database, Senders(), FAST_RETRIES))

    statuses = _statuses(database, ids)
    assert {s for s, _ in statuses.values()} == {"failed"}
    assert all("gone" in (error or "") for _, error in statuses.values())


class _Broken(OneAtATime):
    """A batch sync with a bug: ``sync_many`` raises."""

    async def sync_many(self, updates: Sequence[ProfileUpdate]) -> list[SendResult]:
        raise RuntimeError("bug in the batch")


async def test_a_batch_that_raises_retries_each_of_its_rows(
    database: Database,
    project: ProjectCredentials,
    braze_fake: tuple[fake_braze.FakeBraze, str],
    client: GuardedClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _api, url = braze_fake
    ids = _profile_rows(database, project.project.id, ["A", "B", "C"])
    senders = Senders(syncs={"attrs": _Broken(_sync(url, client))})

    outcomes = await deliver(claim_due(database, 10, FAST_RETRIES), senders, FAST_RETRIES)

    assert sorted(o.id for o in outcomes) == sorted(ids)
    assert {o.status for o in outcomes} == {"queued"}
    assert all(
        o.detail == "retrying: unexpected error: RuntimeError('bug in the batch')" for o in outcomes
    )
    # Logged once for the batch, not once per row.
    assert len([r for r in caplog.records if "raised on a batch of 3" in r.getMessage()]) == 1
