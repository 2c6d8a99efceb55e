"""Hostile templates against the real ``dm serve`` process.

Every hostile source of ``tests/hostile_templates.py`` goes through each place that renders
user-written source (the API's and the editor's previews, a save, a publish, and a send whose
branch only one customer's metadata enables). Each answers with an error naming the limit, and
the process stays up and responsive while they run.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from templates import sample_context
from tests.hostile_templates import (
    DEEP_MJML,
    HOSTILE_EMAIL_TEMPLATES,
    HOSTILE_SMS_TEMPLATES,
    expected_error,
)
from tests.service_process import Service, api_credentials

pytestmark = pytest.mark.slow

VIEWER = "viewer@example.com"
PASSWORD = "viewer-password-1"

CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("email", name, source) for name, source, _note in HOSTILE_EMAIL_TEMPLATES
] + [("sms", name, source) for name, source, _note in HOSTILE_SMS_TEMPLATES]

# What a harmless customer gets instead of the hostile part.
_HARMLESS_MJML = "<mj-section><mj-column><mj-text>Hi</mj-text></mj-column></mj-section>"
_HARMLESS_TEXT = "Hi"


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


def _preview_body(channel: str, source: dict[str, Any]) -> dict[str, Any]:
    return {"channel": channel, **source}


def _renders_as_sent(name: str) -> bool:
    """Previews and the save check compile the source as a send does (so the preview is the
    email sent); a `mjml-textloop-` case's loop output is then only text, rendered as a send
    renders it (tests/hostile_templates.py), rather than refused by MJML."""
    return name.startswith("mjml-textloop-")


def _check_errors(name: str, answer: httpx.Response, *, ok: int = 200) -> None:
    """The render's errors (in a successful answer) or the input's (a 422 problem document,
    e.g. a source over the size the API takes) name what the case breaks."""
    if answer.status_code == 422:
        assert answer.headers["content-type"].startswith("application/problem+json")
        messages = [e["reason"] for e in answer.json()["errors"]]
    else:
        assert answer.status_code == ok, (name, answer.text)
        messages = [e["message"] for e in answer.json()["errors"]]
        if not messages and _renders_as_sent(name):
            return
    assert messages, name
    assert any(expected_error(name).search(m) for m in messages), (name, answer.text)


def test_api_preview_answers_an_error_naming_the_limit(
    service: tuple[Service, dict[str, str]],
) -> None:
    running, credentials = service
    with httpx.Client(base_url=running.url, headers=credentials, timeout=60) as client:
        for channel, name, source in CASES:
            answer = client.post("/v1/templates/preview", json=_preview_body(channel, source))
            _check_errors(name, answer)
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
        for channel, name, source in CASES:
            answer = client.post(
                "/ui/api/preview",
                # The editor sends its sample data itself (prefilled from the variable schema).
                json={**_preview_body(channel, source), "context": sample_context()},
                headers={"X-CSRF-Token": token},
            )
            _check_errors(name, answer)
            _alive(running)
    finally:
        client.close()


def _create(
    client: httpx.Client, name: str, channel: str, source: dict[str, Any]
) -> httpx.Response:
    return client.post(
        "/v1/templates",
        json={"name": name, "channel": channel, "category": "transactional", **source},
    )


def _publish(client: httpx.Client, template: Any) -> httpx.Response:
    version = template["variants"][0]["latest_draft"]["id"]
    return client.post(f"/v1/templates/{template['id']}/publish", json={"version_id": version})


def test_save_reports_and_publish_refuses_naming_the_limit(
    service: tuple[Service, dict[str, str]],
) -> None:
    running, credentials = service
    with httpx.Client(base_url=running.url, headers=credentials, timeout=60) as client:
        for channel, name, source in CASES:
            saved = _create(client, f"saved {channel} {name}", channel, source)
            _check_errors(name, saved, ok=201)
            if saved.status_code == 422:
                continue  # refused as input: nothing was stored to publish
            published = _publish(client, saved.json())
            if _renders_as_sent(name) and not saved.json()["errors"]:
                assert published.status_code == 200, (name, published.text)
                continue
            assert published.status_code == 422, (name, published.text)
            assert published.headers["content-type"].startswith("application/problem+json")
            assert expected_error(name).search(published.text), (name, published.text)
            _alive(running)


def _gated(hostile: str, harmless: str) -> str:
    return f"{{% if customer.metadata.armed %}}{hostile}{{% else %}}{harmless}{{% endif %}}"


def _armed(source: dict[str, Any]) -> dict[str, Any]:
    """The source with each part hostile only for a customer whose metadata says ``armed``.

    MJML is gated inside ``mj-body``, since publishing parses the document's MJML structure.
    These sends assign no code, so a case reading the code reads the customer's email instead.
    """
    armed = dict(source)
    for part in ("subject", "body", "text_body"):
        if part not in source:
            continue
        hostile = source[part].replace("code.code", "customer.email")
        mjml = part == "body" and source.get("body_format") == "mjml"
        if mjml and "<mj-body>" in hostile:
            start = hostile.index("<mj-body>") + len("<mj-body>")
            end = hostile.rindex("</mj-body>")
            inner = _gated(hostile[start:end], _HARMLESS_MJML)
            armed[part] = hostile[:start] + inner + hostile[end:]
        else:
            armed[part] = _gated(hostile, _HARMLESS_TEXT)
    return armed


#: Syntax errors and static nesting cannot hide behind a branch: publishing refuses them
#: whatever the data (tested above).
SEND_CASES = [
    case
    for case in CASES
    if not case[1].startswith(("syntax-", "mjml-static-", "mjml-head-", "html-static-"))
]


def test_a_send_for_the_customer_who_arms_the_branch_fails_naming_the_limit(
    service: tuple[Service, dict[str, str]],
) -> None:
    running, credentials = service
    with httpx.Client(base_url=running.url, headers=credentials, timeout=60) as client:
        for index, (channel, name, source) in enumerate(SEND_CASES):
            saved = _create(client, f"armed {channel} {name}", channel, _armed(source))
            if saved.status_code == 422:
                _check_errors(name, saved)  # refused as input: nothing to send
                continue
            template = saved.json()
            published = _publish(client, template)
            assert published.status_code in (200, 201), (name, published.text)
            trigger = f"hostile.case{index}"
            distribution = client.post(
                "/v1/distributions",
                json={
                    "name": f"{channel} {name}",
                    "trigger": trigger,
                    "channels": [
                        {"channel": channel, "template": template["id"], "provider": "capture"}
                    ],
                },
            )
            assert distribution.status_code == 201, (name, distribution.text)
            statuses = {}
            for armed in (False, True):
                answer = client.post(
                    "/v1/events",
                    json={
                        "type": trigger,
                        "customer": {
                            "source_id": f"{trigger}-{armed}",
                            "email": f"case{index}-{str(armed).lower()}@example.com",
                            "phone": "+14155552671",
                            "metadata": {"armed": armed},
                        },
                    },
                )
                assert answer.status_code == 202, (name, answer.text)
                statuses[armed] = answer.json()["deliveries"][0]
            assert statuses[False]["status"] == "queued", (name, statuses)
            if name.startswith("mjml-textloop-") and statuses[True]["status"] == "queued":
                continue  # its loop output is only text in the email (tests/hostile_templates)
            assert statuses[True]["status"] == "failed", (name, statuses)
            assert expected_error(name).search(statuses[True]["reason"]), (name, statuses)
            _alive(running)


def test_health_stays_fast_while_hostile_renders_run(
    service: tuple[Service, dict[str, str]],
) -> None:
    """Hostile renders run in the render pool, never on the event loop.

    A render on the event loop would hold every request for its whole time budget (a second of
    CPU) or the pool's timeout; the bound sits well below that and well above what a host
    busy with other work adds to one request (a speed check of its own belongs to benchmarks/).
    """
    running, credentials = service

    def attack() -> None:
        with httpx.Client(base_url=running.url, headers=credentials, timeout=60) as client:
            for channel, _name, source in [*CASES, ("email", "deep", {"body": DEEP_MJML})]:
                client.post("/v1/templates/preview", json=_preview_body(channel, source))

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
    assert slowest < 0.5, f"/health/live took {slowest * 1000:.0f} ms during the attack"
    _alive(running)
