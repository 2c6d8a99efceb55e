"""Provider configurations of a project, with their secret fields encrypted at rest.

A config is validated against its kind's typed config (`providers.PROVIDER_KINDS`). Public fields
go to `ProviderConfig.settings` as given; secret fields go, as one JSON object, through Fernet into
`ProviderConfig.secrets_encrypted`. Secrets are write-only: nothing here returns, logs or quotes
them except `full_config`, which the registry and the callback verifier use.

Fields naming where a provider connects (its API root, its SMTP host) must pass the operator's
address guard when saved, and the provider connects through the same guard. Changing such a
field requires the stored secrets in the same request: they would be sent to the new place.

The Fernet key is HKDF-SHA256 of the service secret (`DM_SECRET_KEY`) with the fixed info label
`SECRETS_KEY_LABEL` (`distribution.storage.secrets`). Rotating `DM_SECRET_KEY` makes the stored
secrets unreadable: re-enter them (`PATCH /v1/providers/{name}` with the secret fields) after a
rotation.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping
from typing import Any

import msgspec
from sqlmodel import Session, select

from distribution.accounts.project_cache import CACHE, changed
from distribution.errors import FieldError, InvalidInputError, NotFoundError
from distribution.models import ProviderConfig, utcnow
from distribution.outbox import ChannelProvider
from distribution.storage.db import flush_or_conflict
from distribution.storage.ids import new_id
from distribution.storage.json_bounds import storable
from distribution.storage.project_rows import project_rows
from distribution.storage.secrets import SecretBox
from providers import PROVIDER_KINDS, ProviderConfigError, ProviderKind
from providers.address_guard import AddressGuard
from providers.capture import PROJECT_MAX_MESSAGES, CaptureConfig

__all__ = [
    "BUILT_IN_CAPTURE",
    "MAX_CONCURRENCY",
    "MAX_RATE_PER_SECOND",
    "channel_provider",
    "create_provider",
    "delete_provider",
    "find_provider",
    "full_config",
    "get_provider",
    "has_secret",
    "list_providers",
    "update_provider",
]

# The name it had before the move into provider_configs: log output stays the same.
log = logging.getLogger("distribution.provider_store")

# The registry always offers this sender; "kinds" would collide with GET /v1/providers/kinds.
BUILT_IN_CAPTURE = "capture"
RESERVED_NAMES = frozenset({BUILT_IN_CAPTURE, "kinds"})
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
MAX_CONFIG_BYTES = 64 * 1024
MAX_CONCURRENCY = 1000
MAX_RATE_PER_SECOND = 100_000.0
_UNKNOWN_FIELD = re.compile(r"^unknown field '(?P<field>[^']*)'$")
# Fields a kind no longer has, dropped from stored configs when read: a webhook provider's own
# allow_private_networks gave way to the operator's setting.
_RETIRED_FIELDS = {"webhook": frozenset({"allow_private_networks"})}


def _kind(kind: str) -> ProviderKind:
    spec = PROVIDER_KINDS.get(kind)
    if spec is None:
        known = ", ".join(sorted(PROVIDER_KINDS))
        raise InvalidInputError([FieldError("kind", f"must be one of {known}")])
    return spec


def _config_field_errors(spec: ProviderKind, error: ProviderConfigError) -> list[FieldError]:
    """Name `config.<field>` for each problem in the message (they never quote values)."""
    fields = list(spec.config_schema["properties"])
    text = error.message.removeprefix("invalid config: ")
    errors = []
    for problem in text.split("; "):
        if match := _UNKNOWN_FIELD.match(problem):
            errors.append(FieldError(f"config.{match['field']}", "is not a field of this kind"))
            continue
        # The first field the sentence mentions is the one it is about ("give X or Y" included).
        words = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", problem)
        named = next((w for w in words if w in fields), None)
        errors.append(FieldError(f"config.{named}" if named else "config", problem))
    return errors


def _destination_errors(
    spec: ProviderKind, public: Mapping[str, Any], guard: AddressGuard
) -> list[FieldError]:
    errors = []
    for field, form in spec.destination_fields.items():
        value = public.get(field)
        if isinstance(value, str):
            reason = guard.url_refusal(value) if form == "url" else guard.refusal(value)
            if reason is not None:
                errors.append(FieldError(f"config.{field}", reason))
    return errors


def _validated(
    spec: ProviderKind,
    name: str,
    public: Mapping[str, Any],
    secrets: Mapping[str, str],
    guard: AddressGuard,
) -> None:
    """Check the merged config against the kind and the address guard; InvalidInputError names
    `config.<field>`."""
    errors = [
        FieldError(f"config.{key}", "NaN, Infinity and NUL characters are refused")
        for key, value in public.items()
        if not storable(key) or not storable(value)
    ]
    if len(json.dumps(dict(public), default=str)) > MAX_CONFIG_BYTES:
        errors.append(FieldError("config", f"must be at most {MAX_CONFIG_BYTES} bytes"))
    if spec.kind == "capture" and public.get("path") is not None:
        # A file path from the API would let a caller append to any file the service can write.
        errors.append(FieldError("config.path", "file capture is set up by the operator only"))
    if errors:
        raise InvalidInputError(errors)
    try:
        config = spec.parse_config({**public, **secrets}, name=name)
    except ProviderConfigError as exc:
        raise InvalidInputError(_config_field_errors(spec, exc)) from None
    if isinstance(config, CaptureConfig) and config.max_messages > PROJECT_MAX_MESSAGES:
        # Every kept message stays in the service's memory.
        reason = f"must be at most {PROJECT_MAX_MESSAGES:,}"
        raise InvalidInputError([FieldError("config.max_messages", reason)])
    errors = _destination_errors(spec, public, guard)
    if errors:
        raise InvalidInputError(errors)


def _require_secrets_when_moved(
    spec: ProviderKind,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    stored_secrets: Mapping[str, str],
    given_secrets: Mapping[str, Any],
) -> None:
    """Refuse to carry stored secrets over to a new destination the caller chose.

    Whoever may change a provider could otherwise point it at a server of their own and
    receive the write-only secrets with the next check or send.
    """
    moved = [f for f in sorted(spec.destination_fields) if before.get(f) != after.get(f)]
    kept = sorted(k for k in stored_secrets if k not in given_secrets)
    if moved and kept:
        reason = f"must be given again (or set to null) when {' and '.join(moved)} changes"
        raise InvalidInputError([FieldError(f"config.{k}", reason) for k in kept])


def _split(spec: ProviderKind, config: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Public fields and secret fields (secret values may be None: "remove it")."""
    hidden = spec.secret_fields
    public = {k: v for k, v in config.items() if k not in hidden}
    secrets = {k: v for k, v in config.items() if k in hidden}
    return public, secrets


def _secret_values(secrets: Mapping[str, Any]) -> dict[str, str]:
    errors = [
        FieldError(f"config.{k}", "must be a string")
        for k, v in secrets.items()
        if v is not None and not isinstance(v, str)
    ]
    if errors:
        raise InvalidInputError(errors)
    return {k: v for k, v in secrets.items() if v is not None}


def _check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise InvalidInputError(
            [FieldError("name", "must be 1-100 letters, digits, '_', '.' or '-'")]
        )
    if name in RESERVED_NAMES:
        raise InvalidInputError([FieldError("name", f"{name!r} is reserved")])
    return name


def _check_limits(max_concurrency: int | None, rate_per_second: float | None) -> None:
    errors = []
    if max_concurrency is not None and not 1 <= max_concurrency <= MAX_CONCURRENCY:
        errors.append(FieldError("max_concurrency", f"must be between 1 and {MAX_CONCURRENCY}"))
    if rate_per_second is not None and not (
        math.isfinite(rate_per_second) and 0 < rate_per_second <= MAX_RATE_PER_SECOND
    ):
        errors.append(
            FieldError("rate_per_second", f"must be above 0 and at most {MAX_RATE_PER_SECOND:g}")
        )
    if errors:
        raise InvalidInputError(errors)


def _flush_unique(session: Session, name: str) -> None:
    flush_or_conflict(session, f"a provider named {name!r} already exists")


def create_provider(
    session: Session,
    project_id: str,
    box: SecretBox,
    *,
    name: str,
    kind: str,
    config: Mapping[str, Any],
    max_concurrency: int | None = None,
    rate_per_second: float | None = None,
    guard: AddressGuard | None = None,
) -> ProviderConfig:
    """Validate and store a provider config; secret fields are sealed.

    `guard` is the operator's outbound policy (default: public destinations only).
    """
    _check_name(name)
    spec = _kind(kind)
    _check_limits(max_concurrency, rate_per_second)
    public, raw_secrets = _split(spec, config)
    secrets = _secret_values(raw_secrets)
    _validated(spec, name, public, secrets, guard or AddressGuard())
    row = ProviderConfig(
        id=new_id("prov"),
        project_id=project_id,
        name=name,
        kind=kind,
        settings=public,
        secrets_encrypted=box.seal(secrets),
        max_concurrency=max_concurrency,
        rate_per_second=rate_per_second,
    )
    session.add(row)
    _flush_unique(session, name)
    changed(session, project_id)
    return row


def find_provider(session: Session, project_id: str, name: str) -> ProviderConfig | None:
    """The project's provider of that name, if any."""
    return session.exec(
        select(ProviderConfig).where(
            ProviderConfig.project_id == project_id, ProviderConfig.name == name
        )
    ).first()


def get_provider(session: Session, project_id: str, name: str) -> ProviderConfig:
    """The project's provider of that name, or NotFoundError."""
    row = find_provider(session, project_id, name)
    if row is None:
        raise NotFoundError("provider", name)
    return row


def list_providers(session: Session, project_id: str) -> list[ProviderConfig]:
    """Every provider of the project, by name."""
    return project_rows(session, ProviderConfig, project_id, order_by="name")


def _settings(row: ProviderConfig) -> dict[str, Any]:
    retired = _RETIRED_FIELDS.get(row.kind, frozenset())
    return {k: v for k, v in row.settings.items() if k not in retired}


def _stored_secrets(row: ProviderConfig, box: SecretBox) -> dict[str, str]:
    opened = box.open(row.secrets_encrypted)
    if opened is None:
        # Expected after DM_SECRET_KEY rotation: the operator re-enters the secrets.
        log.warning("provider %s/%s: stored secrets are unreadable", row.project_id, row.name)
        return {}
    return opened


def update_provider(
    session: Session,
    project_id: str,
    box: SecretBox,
    name: str,
    *,
    config: Mapping[str, Any] | None = None,
    max_concurrency: int | msgspec.UnsetType | None = msgspec.UNSET,
    rate_per_second: float | msgspec.UnsetType | None = msgspec.UNSET,
    disabled: bool | None = None,
    guard: AddressGuard | None = None,
) -> ProviderConfig:
    """Change a provider; a setting left out (or ``disabled=None``) stays as it is.

    ``max_concurrency`` and ``rate_per_second`` given as None remove the limit.

    `config` is merged into the stored config, field by field (JSON merge patch): a field it
    omits keeps its stored value (secrets included), a field given as null is removed. A change
    of destination (see `destination_fields`) must give every stored secret again, or null.
    """
    row = get_provider(session, project_id, name)
    spec = _kind(row.kind)
    _check_limits(
        None if max_concurrency is msgspec.UNSET else max_concurrency,
        None if rate_per_second is msgspec.UNSET else rate_per_second,
    )
    if config is not None:
        changed_public, changed_secrets = _split(spec, config)
        _secret_values(changed_secrets)
        before = _settings(row)
        public = dict(before)
        stored: dict[str, str] = _stored_secrets(row, box)
        secrets: dict[str, Any] = dict(stored)
        for target, changes in ((public, changed_public), (secrets, changed_secrets)):
            for key, value in changes.items():
                if value is None:
                    target.pop(key, None)
                else:
                    target[key] = value
        _require_secrets_when_moved(spec, before, public, stored, changed_secrets)
        _validated(spec, name, public, secrets, guard or AddressGuard())
        row.settings = public
        row.secrets_encrypted = box.seal(secrets)
    if max_concurrency is not msgspec.UNSET:
        row.max_concurrency = max_concurrency
    if rate_per_second is not msgspec.UNSET:
        row.rate_per_second = rate_per_second
    if disabled is not None:
        row.disabled_at = (row.disabled_at or utcnow()) if disabled else None
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    changed(session, project_id)
    return row


def delete_provider(session: Session, project_id: str, name: str) -> None:
    """Delete a provider config (the registry drops its live object on next use)."""
    session.delete(get_provider(session, project_id, name))
    changed(session, project_id)


def channel_provider(session: Session, project_id: str, name: str) -> ChannelProvider | None:
    """What preparing a message or a profile write needs of a provider (its role, how it
    identifies users); None when the project has none of that name. Cached per project until
    a provider changes, as every event asks."""

    def load() -> ChannelProvider | None:
        if name == BUILT_IN_CAPTURE:
            return ChannelProvider("sender")
        row = find_provider(session, project_id, name)
        spec = PROVIDER_KINDS.get(row.kind) if row is not None else None
        if row is None or spec is None:
            return None
        settings = _settings(row)
        return ChannelProvider(spec.role, spec.identity_of(settings), spec.mapped_values(settings))

    return CACHE.get(project_id, ("channel-provider", project_id, name), load)


def has_secret(row: ProviderConfig, box: SecretBox) -> dict[str, bool]:
    """For each secret field of the kind, whether a readable value is stored."""
    spec = PROVIDER_KINDS.get(row.kind)
    stored = _stored_secrets(row, box)
    fields = sorted(spec.secret_fields) if spec else []
    return {f: f in stored for f in fields}


def full_config(row: ProviderConfig, box: SecretBox) -> dict[str, Any]:
    """Public and secret fields together, to build or verify with. Never return it to a caller."""
    return {**_settings(row), **_stored_secrets(row, box)}
