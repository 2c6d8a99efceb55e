"""Request ids, JSON logs and Prometheus metrics."""

from __future__ import annotations

import json
import logging

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from web.app import create_app
from web.observability import REQUEST_ID, JsonFormatter
from web.settings import Settings

Client = TestClient[Litestar]


def test_every_response_carries_a_request_id(client: Client) -> None:
    generated = client.get("/health/live").headers["x-request-id"]
    assert len(generated) == 16
    echoed = client.get("/health/live", headers={"X-Request-Id": "lb-42.a"})
    assert echoed.headers["x-request-id"] == "lb-42.a"
    hostile = client.get("/health/live", headers={"X-Request-Id": "x" * 500})
    assert hostile.headers["x-request-id"] != "x" * 500


def test_log_lines_are_json_with_the_request_id_and_extras() -> None:
    token = REQUEST_ID.set("req-1")
    try:
        record = logging.makeLogRecord(
            {
                "name": "distribution.delivery",
                "levelname": "WARNING",
                "msg": "sent %s",
                "args": ("x",),
            }
        )
        record.delivery_id = "msg_1"
        line = json.loads(JsonFormatter().format(record))
    finally:
        REQUEST_ID.reset(token)
    assert line["msg"] == "sent x"
    assert line["request_id"] == "req-1"
    assert line["delivery_id"] == "msg_1"
    assert line["level"] == "warning"


def test_metrics_count_deliveries_by_status_and_provider(client: Client) -> None:
    client.post("/v1/events", json={"type": "nothing.matches", "customer": {"source_id": "m1"}})
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "dm_queue_depth" in response.text
    assert "# TYPE dm_deliveries gauge" in response.text


def test_distributed_mode_on_sqlite_is_refused_clearly(tmp_path: object) -> None:
    settings = Settings(
        database_url="sqlite:///:memory:",
        data_dir=tmp_path,  # type: ignore[arg-type]
        secret_key="k",
        mode="distributed",
    )
    with pytest.raises(ValueError, match="needs PostgreSQL"):
        create_app(settings)


def test_ready_checks_the_database_and_in_distributed_mode_the_queue(
    client: Client, app: Litestar
) -> None:
    answer = client.get("/health/ready")
    assert answer.status_code == 200
    body = answer.json()
    assert body["database"] == "ok"
    if app.state.settings.mode == "distributed":
        assert body["queue"] == "ok"
        assert set(body["queue_depth"]) == {"deliveries", "bulk", "maintenance"}
        assert all(isinstance(depth, int) for depth in body["queue_depth"].values())
    else:
        assert "queue" not in body


def test_metrics_have_provider_latency_retries_and_in_distributed_mode_jobs_waiting(
    client: Client, app: Litestar
) -> None:
    text = client.get("/metrics").text
    assert "# TYPE dm_provider_send_seconds histogram" in text
    assert "# TYPE dm_delivery_retries_total counter" in text
    if app.state.settings.mode == "distributed":
        assert 'dm_jobs_waiting{queue="deliveries"}' in text
