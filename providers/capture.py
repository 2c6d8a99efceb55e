"""`capture`: keeps what it would have sent; the development default and the test-send target."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from providers.kind import ProviderKind
from providers.message import CHANNELS, Message, SendResult
from providers.protocol import ensure_channel

__all__ = ["KIND", "PROJECT_MAX_MESSAGES", "CaptureConfig", "CaptureProvider", "CapturedMessage"]

#: The most messages a project's capture may keep in memory: what it sets through the API is
#: checked against this. The operator's own captures (and tests) may keep more.
PROJECT_MAX_MESSAGES = 10_000


@dataclass(frozen=True, slots=True)
class CaptureConfig:
    """Config of `capture`.

    Attributes:
        path: append one JSON line per message to this file (optional).
        max_messages: how many messages to keep in memory (oldest dropped first).
        channels: the channels this capture accepts.
    """

    path: str | None = None
    max_messages: int = 1000
    channels: tuple[str, ...] = ("email", "sms")

    def __post_init__(self) -> None:
        if self.max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        unknown = set(self.channels) - CHANNELS
        if unknown or not self.channels:
            raise ValueError(f"channels must be a non-empty subset of {sorted(CHANNELS)}")


@dataclass(frozen=True, slots=True)
class CapturedMessage:
    """One captured message with when it was captured and the id it was given."""

    message: Message
    provider_message_id: str
    captured_at: datetime

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the JSON-lines file format)."""
        data = dataclasses.asdict(self.message)
        data["headers"] = dict(self.message.headers)
        data["metadata"] = dict(self.message.metadata)
        data["tags"] = list(self.message.tags)
        return {
            "provider_message_id": self.provider_message_id,
            "captured_at": self.captured_at.isoformat(),
            "message": data,
        }


class CaptureProvider:
    """Stores messages instead of sending them; `messages` exposes what was captured."""

    kind = "capture"

    def __init__(self, name: str, config: CaptureConfig) -> None:
        self.name = name
        self.config = config
        self.channels = frozenset(config.channels)
        self._captured: list[CapturedMessage] = []
        self._lock = asyncio.Lock()

    @property
    def messages(self) -> Sequence[CapturedMessage]:
        """The captured messages, oldest first."""
        return tuple(self._captured)

    def clear(self) -> None:
        """Forget what was captured (the file is left alone)."""
        self._captured.clear()

    async def send(self, message: Message) -> SendResult:
        """Capture the message; always `sent`."""
        ensure_channel(self.name, self.channels, message)
        captured = CapturedMessage(
            message=message,
            provider_message_id=f"capture-{message.id}",
            captured_at=datetime.now(UTC),
        )
        async with self._lock:
            self._captured.append(captured)
            del self._captured[: -self.config.max_messages]
            if self.config.path:
                line = json.dumps(captured.to_json(), ensure_ascii=False) + "\n"
                await asyncio.to_thread(self._append, Path(self.config.path), line)
        return SendResult(status="sent", provider_message_id=captured.provider_message_id)

    @staticmethod
    def _append(path: Path, line: str) -> None:
        with path.open("a", encoding="utf-8") as f:
            f.write(line)

    async def check(self) -> None:
        """Nothing to verify."""

    async def aclose(self) -> None:
        """Nothing to release."""


KIND = ProviderKind(
    kind="capture",
    role="sender",
    channels=CHANNELS,
    config_type=CaptureConfig,
    description="Keeps messages in memory (and optionally a JSON-lines file) instead of sending.",
    factory=lambda name, config, ctx: CaptureProvider(name, config),
    callbacks=None,
)
