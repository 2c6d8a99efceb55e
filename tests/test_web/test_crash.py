"""Crash: SIGKILL the real service while 1,000 deliveries are in flight, restart, count.

Nothing may be lost (every delivery ends ``sent`` or ``unknown``), nothing may reach the provider
twice unless it is recorded ``unknown``, and the ``unknown`` ones are listed by the API.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service_process import LEASE, Service, all_messages, api_credentials, wait_until
from tests.test_providers.fakes.server import serve

pytestmark = pytest.mark.slow

DELIVERIES = 1000
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class SlowProvider:
    """A message receiver that takes its time, recording every delivery id it was sent."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.received: Counter[str] = Counter()
        self._lock = threading.Lock()

    def count(self) -> int:
        with self._lock:
            return sum(self.received.values())

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        headers = dict(scope["headers"])
        with self._lock:
            self.received[headers.get(b"webhook-id", b"").decode()] += 1
        await asyncio.sleep(self.delay)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    with Service(tmp_path) as running:
        yield running


def _set_up(client: httpx.Client, receiver_url: str) -> None:
    provider = client.post(
        "/v1/providers",
        json={
            "name": "slow",
            "kind": "webhook",
            "config": {
                "url": f"{receiver_url}/messages",
                "secret": SECRET,
            },
            "max_concurrency": 200,
        },
    )
    assert provider.status_code == 201, provider.text
    template = client.post(
        "/v1/templates",
        json={
            "name": "crash",
            "channel": "email",
            "category": "transactional",
            "subject": "Hi {{ customer.first_name }}",
            "body_format": "html",
            "body": "<p>Hello {{ customer.first_name }}</p>",
        },
    ).json()
    version = template["variants"][0]["latest_draft"]["id"]
    published = client.post(f"/v1/templates/{template['id']}/publish", json={"version_id": version})
    assert published.status_code in (200, 201), published.text
    distribution = client.post(
        "/v1/distributions",
        json={
            "name": "crash",
            "trigger": "crash.test",
            "channels": [{"channel": "email", "template": template["id"], "provider": "slow"}],
        },
    )
    assert distribution.status_code == 201, distribution.text


async def _post_events(url: str, headers: dict[str, str]) -> list[str]:
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
        gate = asyncio.Semaphore(16)

        async def one(n: int) -> str:
            async with gate:
                answer = await client.post(
                    "/v1/events",
                    json={
                        "id": f"crash-{n}",
                        "type": "crash.test",
                        "customer": {
                            "source_id": f"c{n}",
                            "email": f"c{n}@example.com",
                            "name": f"Customer {n}",
                        },
                    },
                )
            assert answer.status_code == 202, answer.text
            return str(answer.json()["deliveries"][0]["id"])

        return list(await asyncio.gather(*(one(n) for n in range(DELIVERIES))))


def test_sigkill_mid_delivery_loses_nothing_and_duplicates_only_unknowns(
    service: Service,
) -> None:
    receiver = SlowProvider(delay=1.0)
    with serve(receiver) as receiver_url:
        credentials = api_credentials(service.run("projects", "create", "crash"))
        service.start()
        with httpx.Client(base_url=service.url, headers=credentials, timeout=30) as client:
            _set_up(client, receiver_url)
            accepted = asyncio.run(_post_events(service.url, credentials))
            # Kill while sends are in flight: some deliveries are done, many are not.
            wait_until(lambda: receiver.count() >= 100, "no delivery reached the provider")
            service.kill()
            at_kill = receiver.count()
            # Let the dead process's leases run out, so the restart finds them abandoned.
            time.sleep(LEASE + 0.5)
            service.start()
            wait_until(
                lambda: (
                    not all_messages(client, status="queued")
                    and not all_messages(client, status="sending")
                ),
                "deliveries were still queued or sending",
            )
            messages = {m["id"]: m for m in all_messages(client)}
            unknown = {m["id"] for m in all_messages(client, status="unknown")}

    assert len(accepted) == DELIVERIES
    assert set(accepted) == set(messages)
    statuses = Counter(m["status"] for m in messages.values())
    assert set(statuses) <= {"sent", "unknown"}, statuses
    assert at_kill < DELIVERIES, "the kill came after every delivery was sent"
    assert unknown == {i for i, m in messages.items() if m["status"] == "unknown"}
    sent = [i for i, m in messages.items() if m["status"] == "sent"]
    assert all(receiver.received[i] == 1 for i in sent), "a sent delivery reached it twice"
    duplicates = {i for i, n in receiver.received.items() if n > 1}
    assert duplicates <= unknown
