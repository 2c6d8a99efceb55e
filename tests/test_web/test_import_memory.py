"""A large JSON import costs the real service memory in proportion to a row, not to the file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.service_process import Service, api_credentials

pytestmark = pytest.mark.slow

FILE_MB = 30
# Python objects for every item of the file cost about 30 times its size (1 GB here);
# one row at a time costs the spool's memory part and the rows under the limit.
GROWTH_LIMIT_MB = 120


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    with Service(tmp_path) as running:
        yield running


def _memory_mb(pid: int, kind: str) -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (the most ever resident) of a process."""
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith(f"{kind}:"))
    return int(line.split()[1]) / 1024


def test_a_huge_json_array_is_refused_without_holding_it_in_memory(service: Service) -> None:
    credentials = api_credentials(service.run("projects", "create", "memory"))
    service.start()
    assert service.process is not None
    body = b"[" + b"{}," * (FILE_MB * 1024 * 1024 // 3) + b"{}]"
    with httpx.Client(base_url=service.url, headers=credentials, timeout=300) as client:
        # A first import warms up what every import uses (the spool, the thread, the parser).
        warm = client.post("/v1/customers/import", json=[{"source_id": "w1"}])
        assert warm.status_code == 200, warm.text
        before = _memory_mb(service.process.pid, "VmRSS")
        response = client.post(
            "/v1/customers/import", content=body, headers={"Content-Type": "application/json"}
        )
        peak = _memory_mb(service.process.pid, "VmHWM")
    assert response.status_code == 413, response.text
    assert "100,000 rows" in response.json()["detail"]
    assert peak - before < GROWTH_LIMIT_MB, f"the peak was {peak - before:.0f} MB above the start"
