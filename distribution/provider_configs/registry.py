"""`ProviderRegistry`: the live provider objects of this process, built from stored configs.

One registry per process, made by the composition root. The delivery engine asks it for a sender
with `await registry.sender(project_id, provider_name)`; every call reads the config's row (one
small query, so a change made by another process is seen), and the built object is reused while
the row's id and `updated_at` stay the same. Ask once per batch, not once per message.

Every project also has a built-in sender named `capture` that keeps messages in memory
(`registry.captured(project_id)`): the development default and the test-send target.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from distribution.errors import ConflictError, NotFoundError
from distribution.models import ProviderConfig
from distribution.outbox.rate_limit import LimiterFactory, in_process_limiter
from distribution.provider_configs.store import BUILT_IN_CAPTURE, find_provider, full_config
from distribution.storage.db import Database
from distribution.storage.secrets import SecretBox
from providers import (
    PROVIDER_KINDS,
    CircuitBreaker,
    EventSource,
    Provider,
    ProviderError,
    ResilientProvider,
    Sync,
    build_provider,
    resilient_sync,
)
from providers.address_guard import AddressGuard
from providers.capture import CaptureConfig, CaptureProvider
from providers.http_transport import GuardedClient, guarded_client

__all__ = ["CheckOutcome", "ProviderRegistry"]

# The name it had before the move into provider_configs: log output stays the same.
log = logging.getLogger("distribution.provider_registry")
DEFAULT_CONCURRENCY = 8
HTTP_TIMEOUT = 30.0


def _not_a(name: str, live: Provider | Sync | EventSource, wanted: str) -> ConflictError:
    """Asked for one role, found another: "provider 'audience' is a sync, not a sender"."""
    return ConflictError(f"provider {name!r} is a {PROVIDER_KINDS[live.kind].role}, not {wanted}")


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """What `check()` found: ok, or the provider's reason."""

    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class _Stored:
    """What the registry needs from a config row, read inside the session."""

    key: tuple[str, datetime]
    project_id: str
    name: str
    kind: str
    config: dict[str, Any]
    max_concurrency: int | None
    rate_per_second: float | None
    disabled: bool


class ProviderRegistry:
    """Builds, caches and closes the providers configured per project."""

    def __init__(
        self,
        database: Database,
        box: SecretBox,
        *,
        limiter_factory: LimiterFactory = in_process_limiter,
        guard: AddressGuard | None = None,
    ) -> None:
        """``limiter_factory`` makes each rate-limited provider's limiter: in this process's
        memory by default, shared through PostgreSQL in distributed mode
        (``distribution.outbox.rate_limit.shared_limiter_factory``). ``guard`` is the operator's
        outbound policy (public destinations only by default): every provider connects
        through it, and configs are checked against it when saved."""
        self.database = database
        self.box = box
        self.limiter_factory = limiter_factory
        self.guard = guard or AddressGuard()
        self._http_client: GuardedClient | None = None
        self._live: dict[
            tuple[str, str], tuple[tuple[str, datetime], Provider | Sync | EventSource]
        ] = {}
        self._retired: list[Provider | Sync | EventSource] = []
        self._captures: dict[str, CaptureProvider] = {}

    def __repr__(self) -> str:
        return f"ProviderRegistry(live={len(self._live)})"

    def captured(self, project_id: str) -> CaptureProvider:
        """The project's built-in `capture` sender (its `.messages` are what was sent to it)."""
        capture = self._captures.get(project_id)
        if capture is None:
            capture = CaptureProvider(BUILT_IN_CAPTURE, CaptureConfig())
            self._captures[project_id] = capture
        return capture

    def _load(self, project_id: str, name: str) -> _Stored | None:
        with self.database.reader() as session:
            row: ProviderConfig | None = find_provider(session, project_id, name)
            if row is None:
                return None
            return _Stored(
                key=(row.id, row.updated_at),
                project_id=row.project_id,
                name=row.name,
                kind=row.kind,
                config=full_config(row, self.box),
                max_concurrency=row.max_concurrency,
                rate_per_second=row.rate_per_second,
                disabled=row.disabled_at is not None,
            )

    def _build(self, stored: _Stored) -> Provider | Sync | EventSource:
        if self._http_client is None:
            self._http_client = guarded_client(self.guard, timeout=HTTP_TIMEOUT)
        try:
            built = build_provider(
                stored.name,
                stored.kind,
                stored.config,
                http_client=self._http_client,
                guard=self.guard,
            )
        except ProviderError as exc:
            # A stored config is valid when written; this happens when its secrets became
            # unreadable (DM_SECRET_KEY rotated) or the kind's rules changed since.
            raise ConflictError(
                f"provider {stored.name!r} cannot be built: {exc.message}; "
                "re-enter its configuration"
            ) from None
        rate = stored.rate_per_second
        limits: dict[str, Any] = {
            "max_concurrency": stored.max_concurrency or DEFAULT_CONCURRENCY,
            "rate_limiter": self.limiter_factory(stored.project_id, stored.name, rate)
            if rate
            else None,
            "breaker": CircuitBreaker(stored.name),
        }
        if isinstance(built, Provider):
            return ResilientProvider(built, **limits)
        # A profile write keeps to the provider's rate and concurrency as a send does.
        if PROVIDER_KINDS[stored.kind].role == "sync" and isinstance(built, Sync):
            return resilient_sync(built, **limits)
        return built

    async def _live_object(self, project_id: str, name: str) -> Provider | Sync | EventSource:
        stored = await asyncio.to_thread(self._load, project_id, name)
        cache_key = (project_id, name)
        cached = self._live.get(cache_key)
        if stored is None:
            if cached is not None:
                self._retired.append(self._live.pop(cache_key)[1])
            raise NotFoundError("provider", name)
        if stored.disabled:
            raise ConflictError(f"provider {name!r} is disabled")
        # No await from here on: the check and the swap cannot interleave with another caller.
        if cached is not None and cached[0] == stored.key:
            return cached[1]
        built = self._build(stored)
        if cached is not None:
            # A send may still be using the old object: it is closed with the registry.
            self._retired.append(cached[1])
        self._live[cache_key] = (stored.key, built)
        return built

    async def sender(self, project_id: str, provider_name: str) -> Provider:
        """The live sender of that name (`capture` always exists).

        Raises:
            NotFoundError: no provider of that name in the project.
            ConflictError: the provider is disabled, is not a sender, or cannot be built.
        """
        if provider_name == BUILT_IN_CAPTURE:
            return self.captured(project_id)
        live = await self._live_object(project_id, provider_name)
        if not isinstance(live, Provider):
            raise _not_a(provider_name, live, "a sender")
        return live

    async def sync(self, project_id: str, provider_name: str) -> Sync:
        """The live sync of that name (NotFoundError, ConflictError as for `sender`)."""
        live = await self._live_object(project_id, provider_name)
        if not isinstance(live, Sync) or PROVIDER_KINDS[live.kind].role != "sync":
            raise _not_a(provider_name, live, "a sync")
        return live

    async def event_source(self, project_id: str, provider_name: str) -> EventSource:
        """The live event source of that name (NotFoundError, ConflictError as for `sender`)."""
        live = await self._live_object(project_id, provider_name)
        if not isinstance(live, EventSource) or PROVIDER_KINDS[live.kind].role != "source":
            raise _not_a(provider_name, live, "an event source")
        return live

    async def check(self, project_id: str, provider_name: str) -> CheckOutcome:
        """Ask the provider to verify its credentials; a failure is an outcome, not an error.

        Raises:
            NotFoundError: no provider of that name in the project.
        """
        try:
            if provider_name == BUILT_IN_CAPTURE:
                live: Provider | Sync | EventSource = self.captured(project_id)
            else:
                live = await self._live_object(project_id, provider_name)
            await live.check()
        except NotFoundError:
            raise
        except ConflictError as exc:
            return CheckOutcome(ok=False, detail=str(exc))
        except ProviderError as exc:
            # The answer may come from a service other than the provider: only the operator's
            # log sees it; the caller gets our phrase, the status and the code.
            log.info("check of provider %s/%s: %r", project_id, provider_name, exc.excerpt)
            return CheckOutcome(ok=False, detail=str(exc))
        except Exception as exc:
            # An operator-supplied address can fail in ways no adapter maps (a malformed URL);
            # the type is enough to act on and never carries a secret.
            log.warning("check of provider %s/%s failed: %s", project_id, provider_name, type(exc))
            return CheckOutcome(ok=False, detail=f"the check failed: {type(exc).__name__}")
        return CheckOutcome(ok=True, detail="credentials accepted")

    async def aclose(self) -> None:
        """Close every provider and the shared HTTP client; the registry can be used again."""
        to_close = [live for _, live in self._live.values()] + self._retired
        self._live.clear()
        self._retired = []
        for live in to_close:
            try:
                await live.aclose()
            except Exception:
                log.exception("closing provider %s failed", live.name)
        if self._http_client is not None:
            client, self._http_client = self._http_client, None
            await client.aclose()
