"""Hostile templates against the real ``dm serve`` process: every place that renders
user-written source answers with an error naming the limit, and the process stays up and
responsive while they run."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.service_process import Service, api_credentials
from tests.test_security.hostile import DEEP_MJML, HOSTILE_EMAIL_TEMPLATES, NAMES_A_LIMIT

pytestmark = pytest.mark.slow

VIEWER = "viewer@example.com"
PASSWORD = "viewer-password-1"

#: Harmless for the sample data; the deep nesting only for a customer whose metadata asks.
SEND_TIME_BOMB = (
    "<mjml><mj-body><mj-section><mj-column><mj-text>Hi</mj-text></mj-column></mj-section>"
    "{% if customer.metadata.deep %}"
    "{% for i in range(3000) %}<mj-wrapper>{% endfor %}x"
    "{% for i in range(3000) %}</mj-wrapper>{% endfor %}"
    "{% endif %}</mj-body></mjml>"
)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, dict[str, str]]]:
    with Service(Path(tmp_path_factory.mktemp("hostile"))) as running:
        credentials = api_credentials(running.run("projects", "create", "hostile"))
        running.run(
            "users", "create", VIEWER, "--project", "hostile", "--role", "viewer",
            "--password", PASSWORD,
        )  # fmt: skip
        running.start()
        yield running, credentials


def _alive(service: Service) -> None:
    assert service.process is not None
    assert service.process.poll() is None, "the service died"
    assert httpx.get(f"{service.url}/health/live", timeout=5).status_code == 200


def _names_a_limit(messages: list[str]) -> bool:
    return any(NAMES_A_LIMIT.search(m) for m in messages)


def test_api_preview_answers_an_error_naming_the_limit(
    service: tuple[Service, dict[str, str]],
) -> None:
    running, credentials = service
    for name, source, note in HOSTILE_EMAIL_TEMPLATES:
        answer = httpx.post(
            f"{running.url}/v1/templates/preview",
            json={"channel": "email", **source},
            headers=credentials,
            timeout=60,
        )
        assert answer.status_code == 200, (name, answer.text)
        errors = [e["message"] for e in answer.json()["errors"]]
        assert _names_a_limit(errors), (name, note, answer.text)
        _alive(running)


def _signed_in(running: Service) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=running.url, timeout=60)
    form = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert form
    client.post(
        "/login",
        data={"email": VIEWER, "password": PASSWORD, "csrf_token": form.group(1)},
    )
    meta = re.search(r'<meta name="csrf-token" content="([^"]+)">', client.get("/customers").text)
    assert meta, "not signed in"
    return client, meta.group(1)


def test_editor_preview_answers_an_error_naming_the_limit(
    service: tuple[Service, dict[str, str]],
) -> None:
    running, _credentials = service
    client, token = _signed_in(running)
    try:
        answer = client.post(
            "/ui/api/preview",
            json={"channel": "email", "subject": "Hi", "body": DEEP_MJML},
            headers={"X-CSRF-Token": token},
        )
    finally:
        client.close()
    assert answer.status_code == 200, answer.text
    assert _names_a_limit([e["message"] for e in answer.json()["errors"]]), answer.text
    _alive(running)


def test_save_reports_and_publish_refuses_naming_the_limit(
    service: tuple[Service, dict[str, str]],
) -> None:
    running, credentials = service
    with httpx.Client(base_url=running.url, headers=credentials, timeout=60) as client:
        saved = client.post(
            "/v1/templates",
            json={
                "name": "deep",
                "channel": "email",
                "category": "transactional",
                "subject": "Hi",
                "body": DEEP_MJML,
            },
        )
        assert saved.status_code == 201, saved.text
        assert NAMES_A_LIMIT.search(saved.text), saved.text
        template = saved.json()
        version = template["variants"][0]["latest_draft"]["id"]
        published = client.post(
            f"/v1/templates/{template['id']}/publish", json={"version_id": version}
        )
    assert published.status_code == 422, published.text
    assert published.headers["content-type"].startswith("application/problem+json")
    assert NAMES_A_LIMIT.search(published.text), published.text
    _alive(running)


def test_a_send_for_the_customer_who_enables_the_branch_fails_naming_the_limit(
    service: tuple[Service, dict[str, str]],
) -> None:
    running, credentials = service
    with httpx.Client(base_url=running.url, headers=credentials, timeout=60) as client:
        created = client.post(
            "/v1/templates",
            json={
                "name": "bomb",
                "channel": "email",
                "category": "transactional",
                "subject": "Hi",
                "body": SEND_TIME_BOMB,
            },
        ).json()
        version = created["variants"][0]["latest_draft"]["id"]
        published = client.post(
            f"/v1/templates/{created['id']}/publish", json={"version_id": version}
        )
        assert published.status_code in (200, 201), published.text
        distribution = client.post(
            "/v1/distributions",
            json={
                "name": "bomb",
                "trigger": "bomb.armed",
                "channels": [
                    {"channel": "email", "template": created["id"], "provider": "capture"}
                ],
            },
        )
        assert distribution.status_code == 201, distribution.text
        answers = {}
        for deep in (False, True):
            answer = client.post(
                "/v1/events",
                json={
                    "type": "bomb.armed",
                    "customer": {
                        "source_id": f"deep-{deep}",
                        "email": f"deep-{str(deep).lower()}@example.com",
                        "metadata": {"deep": deep},
                    },
                },
            )
            assert answer.status_code == 202, answer.text
            answers[deep] = answer.json()["deliveries"][0]
    assert answers[False]["status"] == "queued", answers
    assert answers[True]["status"] == "failed", answers
    assert NAMES_A_LIMIT.search(answers[True]["reason"]), answers
    _alive(running)


def test_health_stays_fast_while_hostile_renders_run(
    service: tuple[Service, dict[str, str]],
) -> None:
    running, credentials = service

    def attack() -> None:
        for _name, source, _note in HOSTILE_EMAIL_TEMPLATES:
            httpx.post(
                f"{running.url}/v1/templates/preview",
                json={"channel": "email", **source},
                headers=credentials,
                timeout=60,
            )

    attackers = [threading.Thread(target=attack) for _ in range(3)]
    for attacker in attackers:
        attacker.start()
    slowest = 0.0
    with httpx.Client(base_url=running.url, timeout=5) as client:
        client.get("/health/live")  # the connection is open before the clock starts
        while any(attacker.is_alive() for attacker in attackers):
            started = time.perf_counter()
            assert client.get("/health/live").status_code == 200
            slowest = max(slowest, time.perf_counter() - started)
            time.sleep(0.05)
    for attacker in attackers:
        attacker.join()
    assert slowest < 0.1, f"/health/live took {slowest * 1000:.0f} ms during the attack"
    _alive(running)
