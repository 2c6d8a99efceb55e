"""Settings of the modes and workers, read from the environment, and ``dm worker``'s refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from web.app import delivery_policy
from web.cli import main
from web.settings import Settings

BASE = {"DM_SECRET_KEY": "k"}


def test_worker_settings_default_to_all_queues_and_a_small_concurrency(tmp_path: Path) -> None:
    settings = Settings.from_env({**BASE, "DM_DATA_DIR": str(tmp_path)})
    assert settings.mode == "embedded"
    assert settings.run_worker
    assert settings.worker_concurrency == 4
    assert settings.worker_queues == ("deliveries", "bulk", "maintenance")
    assert settings.sweep_interval == 5
    assert settings.bulk_batch_size == 2000
    assert settings.shutdown_grace == 30.0
    assert settings.worker_metrics_port is None


def test_worker_settings_are_read_from_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            **BASE,
            "DM_DATA_DIR": str(tmp_path),
            "DATABASE_URL": "postgresql+psycopg://dm@db:5432/dm",
            "DM_MODE": "distributed",
            "DM_RUN_WORKER": "false",
            "DM_WORKER_CONCURRENCY": "8",
            "DM_WORKER_QUEUES": "deliveries, maintenance",
            "DM_SWEEP_INTERVAL": "2",
            "DM_BULK_BATCH_SIZE": "500",
            "DM_SHUTDOWN_GRACE": "12.5",
            "DM_WORKER_METRICS_PORT": "9400",
        }
    )
    assert settings.mode == "distributed"
    assert not settings.run_worker
    assert settings.worker_concurrency == 8
    assert settings.worker_queues == ("deliveries", "maintenance")
    assert settings.sweep_interval == 2
    assert settings.bulk_batch_size == 500
    assert settings.shutdown_grace == 12.5
    assert settings.worker_metrics_port == 9400
    settings.check_mode()  # PostgreSQL: accepted


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DM_MODE", "cluster"),
        ("DM_WORKER_CONCURRENCY", "0"),
        ("DM_WORKER_QUEUES", "deliveries,emails"),
        ("DM_WORKER_QUEUES", " , "),
        ("DM_SWEEP_INTERVAL", "60"),
        ("DM_BULK_BATCH_SIZE", "0"),
        ("DM_BULK_BATCH_SIZE", "10001"),
    ],
)
def test_bad_worker_settings_are_refused_naming_the_variable(
    tmp_path: Path, name: str, value: str
) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.from_env({**BASE, "DM_DATA_DIR": str(tmp_path), name: value})


def test_distributed_on_sqlite_is_refused(tmp_path: Path) -> None:
    settings = Settings.from_env({**BASE, "DM_DATA_DIR": str(tmp_path), "DM_MODE": "distributed"})
    with pytest.raises(ValueError, match="needs PostgreSQL"):
        settings.check_mode()


def test_dm_worker_refuses_the_embedded_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DM_SECRET_KEY", "k")
    monkeypatch.delenv("DM_MODE", raising=False)
    assert main(["worker"]) == 2
    assert "DM_MODE=distributed" in capsys.readouterr().err


def test_the_retry_backoff_is_read_from_the_environment_into_the_delivery_policy(
    tmp_path: Path,
) -> None:
    env = {**BASE, "DM_DATA_DIR": str(tmp_path), "DM_RETRY_BACKOFF": "0.5"}
    policy = delivery_policy(Settings.from_env({**env, "DM_RETRY_MAX_BACKOFF": "2"}))
    assert (policy.base_backoff, policy.max_backoff) == (0.5, 2.0)
    default = delivery_policy(Settings.from_env({**BASE, "DM_DATA_DIR": str(tmp_path)}))
    assert (default.base_backoff, default.max_backoff) == (5.0, 3600.0)


def test_the_unsubscribe_pull_interval_is_read_and_must_be_positive(tmp_path: Path) -> None:
    env = {**BASE, "DM_DATA_DIR": str(tmp_path)}
    assert Settings.from_env(env).unsubscribe_pull_interval == 900
    assert (
        Settings.from_env(env | {"DM_UNSUBSCRIBE_PULL_INTERVAL": "60"}).unsubscribe_pull_interval
        == 60
    )
    with pytest.raises(ValueError, match="DM_UNSUBSCRIBE_PULL_INTERVAL"):
        Settings.from_env(env | {"DM_UNSUBSCRIBE_PULL_INTERVAL": "0"})
