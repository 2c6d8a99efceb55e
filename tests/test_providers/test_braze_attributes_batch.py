"""`BrazeAttributesSync.sync_many` against the strict fake: 75 objects a call, one outcome per
update from Braze's per-object answers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from providers.braze_attributes import (
    CHUNK_CONCURRENCY,
    MAX_ATTRIBUTE_OBJECTS,
    BrazeAttributesSync,
)
from providers.errors import PermanentProviderError, ProviderError, TransientProviderError
from providers.http_transport import GuardedClient
from providers.message import ProfileUpdate, SendResult
from providers.protocol import BatchSync
from providers.registry import build_sync

from .fakes import braze
from .fakes.braze import FakeBraze
from .fakes.server import serve

Outcomes = list[SendResult | ProviderError]


def _updates(count: int, prefix: str = "u") -> list[ProfileUpdate]:
    return [
        ProfileUpdate(id=f"d{i}", external_id=f"{prefix}{i}", code=f"CODE-{i}")
        for i in range(count)
    ]


def _sync(url: str, client: GuardedClient) -> BrazeAttributesSync:
    config = {"api_key": braze.API_KEY, "base_url": url, "attributes": {"referral_code": "code"}}
    sync = build_sync("b", "braze_attributes", config, http_client=client)
    assert isinstance(sync, BrazeAttributesSync)
    return sync


def _tracked(api: FakeBraze) -> list[list[dict[str, Any]]]:
    return [r.json()["attributes"] for r in api.requests if r.path == "/users/track"]


def test_the_attributes_sync_is_a_batch_sync() -> None:
    sync = build_sync("b", "braze_attributes", {"api_key": "k", "base_url": "https://b.example"})
    assert isinstance(sync, BatchSync)


async def test_76_updates_go_as_75_and_1_each_written_once(
    braze_api: tuple[FakeBraze, str], http_client: GuardedClient
) -> None:
    api, url = braze_api
    updates = _updates(MAX_ATTRIBUTE_OBJECTS + 1)

    outcomes = await _sync(url, http_client).sync_many(updates)

    assert sorted(len(call) for call in _tracked(api)) == [1, 75]
    assert all(isinstance(o, SendResult) and o.status == "queued" for o in outcomes)
    assert len(outcomes) == 76
    assert api.writes == {f"u{i}": 1 for i in range(76)}
    assert api.attributes["u75"] == {"external_id": "u75", "referral_code": "CODE-75"}
    # The single write builds the same object as the batch.
    [single] = _sync(url, http_client).requests(updates[75])
    assert single.body == {"attributes": [api.attributes["u75"]]}


async def test_an_object_braze_skips_is_refused_alone(
    braze_api: tuple[FakeBraze, str], http_client: GuardedClient
) -> None:
    api, url = braze_api
    updates = _updates(4)
    # A value over Braze's 255 characters: the fake skips that object and names its index.
    updates[2] = ProfileUpdate(id="d2", external_id="u2", code="X" * 300)

    outcomes = await _sync(url, http_client).sync_many(updates)

    refused = outcomes[2]
    assert isinstance(refused, SendResult)
    assert (refused.status, refused.reject_reason) == ("rejected", "invalid")
    assert refused.reason == "braze refused the attributes: attribute 'referral_code' is too long"
    others = [outcomes[i] for i in (0, 1, 3)]
    assert all(isinstance(o, SendResult) and o.status == "queued" and not o.errors for o in others)
    assert set(api.writes) == {"u0", "u1", "u3"}
    assert len(_tracked(api)) == 1


async def test_an_update_without_external_id_fails_alone_before_any_call(
    braze_api: tuple[FakeBraze, str], http_client: GuardedClient
) -> None:
    api, url = braze_api
    updates = [ProfileUpdate(id="d0", email="a@example.com"), *_updates(2)]

    outcomes = await _sync(url, http_client).sync_many(updates)

    assert isinstance(outcomes[0], PermanentProviderError)
    assert [o.status for o in outcomes[1:] if isinstance(o, SendResult)] == ["queued", "queued"]
    assert _tracked(api) == [
        [{"external_id": f"u{i}", "referral_code": f"CODE-{i}"} for i in (0, 1)]
    ]


async def test_429_is_transient_for_its_call_with_the_rate_limit_reset(
    braze_api: tuple[FakeBraze, str], http_client: GuardedClient
) -> None:
    api, url = braze_api
    reset = int(time.time()) + 30
    api.fail_next(
        status=429, body={"message": "Rate Limited"}, headers={"X-RateLimit-Reset": str(reset)}
    )
    sync = _sync(url, http_client)
    outcomes = await sync.sync_many(_updates(1))

    [limited] = outcomes
    assert isinstance(limited, TransientProviderError)
    assert limited.status_code == 429
    assert limited.retry_after is not None
    assert 20 < limited.retry_after <= 30
    assert not api.writes


@pytest.mark.parametrize("status", [500, 503])
async def test_5xx_fails_every_object_of_its_call_transiently_and_only_those(
    braze_api: tuple[FakeBraze, str], http_client: GuardedClient, status: int
) -> None:
    api, url = braze_api
    api.fail_next(status=status, body={"message": "Internal Server Error"})
    sync = _sync(url, http_client)
    first = await sync.sync_many(_updates(75, "a"))
    second = await sync.sync_many(_updates(3, "b"))

    assert all(isinstance(o, TransientProviderError) and o.status_code == status for o in first)
    assert all(isinstance(o, SendResult) and o.accepted for o in second)
    assert set(api.writes) == {"b0", "b1", "b2"}


async def test_a_fatal_400_naming_objects_refuses_those_and_retries_the_others(
    braze_api: tuple[FakeBraze, str], http_client: GuardedClient
) -> None:
    api, url = braze_api
    errors = [{"type": "invalid external_id", "input_array": "attributes", "index": 1}]
    api.fail_next(status=400, body={"message": "Bad Request", "errors": errors})

    outcomes = await _sync(url, http_client).sync_many(_updates(3))

    refused = outcomes[1]
    assert isinstance(refused, SendResult)
    assert (refused.status, refused.reason) == (
        "rejected",
        "braze refused the attributes: invalid external_id",
    )
    for other in (outcomes[0], outcomes[2]):
        assert isinstance(other, TransientProviderError)
        assert other.status_code == 400


async def test_a_fatal_400_naming_no_object_fails_the_whole_call_permanently(
    braze_api: tuple[FakeBraze, str], http_client: GuardedClient
) -> None:
    api, url = braze_api
    api.fail_next(status=400, body={"message": "Bad Request", "errors": ["malformed"]})

    outcomes: Outcomes = await _sync(url, http_client).sync_many(_updates(3))

    assert all(isinstance(o, PermanentProviderError) and o.status_code == 400 for o in outcomes)


async def test_the_fake_refuses_more_than_75_objects(
    braze_api: tuple[FakeBraze, str], http_client: GuardedClient
) -> None:
    """The fake is as strict as Braze: 76 objects in one call is a fatal 400, nothing written."""
    api, url = braze_api
    objects = [{"external_id": f"u{i}", "referral_code": "C"} for i in range(76)]
    answer = await http_client.request(
        "POST",
        url + "/users/track",
        json={"attributes": objects},
        headers={"Authorization": f"Bearer {braze.API_KEY}"},
    )
    assert answer.status_code == 400
    assert answer.json() == {"message": "Max Input Length Exceeded"}
    assert not api.writes


async def test_the_fake_fails_a_seeded_share_of_calls_with_transient_answers(
    braze_api: tuple[FakeBraze, str], http_client: GuardedClient
) -> None:
    api, url = braze_api
    api.flaky(0.5, seed=3)
    sync = _sync(url, http_client)
    outcomes = [o for _ in range(40) for o in await sync.sync_many(_updates(1))]

    failed = [o for o in outcomes if isinstance(o, TransientProviderError)]
    assert {o.status_code for o in failed} == {429, 500, 503}
    assert 0 < len(failed) < 40
    assert sum(api.writes.values()) == 40 - len(failed)


class _Counting:
    """The fake behind an ASGI layer that counts the calls in flight (each held a moment so
    that calls made together overlap)."""

    def __init__(self, app: FakeBraze) -> None:
        self.app = app
        self.in_flight = 0
        self.most = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await asyncio.sleep(0.05)
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


async def test_the_calls_of_a_batch_go_a_few_at_a_time(http_client: GuardedClient) -> None:
    counting = _Counting(FakeBraze())
    with serve(counting) as url:
        outcomes = await _sync(url, http_client).sync_many(_updates(75 * 10))

    assert all(isinstance(o, SendResult) and o.accepted for o in outcomes)
    assert len(_tracked(counting.app)) == 10
    assert 1 < counting.most <= CHUNK_CONCURRENCY
