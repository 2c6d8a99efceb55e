"""The capture provider: keeps messages, optionally as JSON lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from providers.capture import CaptureConfig, CaptureProvider
from providers.errors import PermanentProviderError

from .samples import email, sms


async def test_keeps_messages_and_writes_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "outbox.jsonl"
    provider = CaptureProvider("dev", CaptureConfig(path=str(path), max_messages=2))
    for i in range(3):
        result = await provider.send(email(id=f"dlv_{i}"))
        assert result.status == "sent"
    await provider.send(sms(id="dlv_sms"))
    assert [c.message.id for c in provider.messages] == ["dlv_2", "dlv_sms"]
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["message"]["id"] for line in lines] == ["dlv_0", "dlv_1", "dlv_2", "dlv_sms"]
    assert lines[0]["message"]["subject"] == "Your code: WELCOME-42"
    provider.clear()
    assert provider.messages == ()


async def test_refuses_channels_it_was_not_given() -> None:
    provider = CaptureProvider("dev", CaptureConfig(channels=("email",)))
    with pytest.raises(PermanentProviderError):
        await provider.send(sms())
    assert provider.messages == ()
