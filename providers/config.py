"""Typed provider configs: msgspec conversion from a plain mapping, secret fields, a JSON Schema.

Each kind declares a frozen dataclass. Secret fields are declared with `secret_field()`: they are
left out of `repr`, listed by `secret_fields()` so the storage layer encrypts them and the API never
returns them, and never quoted in error messages. Fields naming where the provider connects (an API
root URL, an SMTP host) carry `DESTINATION_URL` or `DESTINATION_HOST` metadata: the storage layer
checks them
with the address guard, and changing one requires the secrets again (they would go there).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

import msgspec

from providers.errors import ProviderConfigError

__all__ = [
    "DESTINATION_HOST",
    "DESTINATION_URL",
    "SECRET",
    "CustomerSync",
    "CustomerSyncDelay",
    "config_schema",
    "destination_fields",
    "mapped_values",
    "mapping_field",
    "parse_config",
    "public_config",
    "secret_field",
    "secret_fields",
]

T = TypeVar("T")
#: A sync's ``customer_sync`` setting (the same on every sync kind, described once).
CustomerSync = Annotated[
    bool,
    msgspec.Meta(
        description="Also write customer upserts, imports, opt-outs and erasures onto the "
        "platform's profiles (see docs/providers.md, Customer sync)."
    ),
]
#: A sync's ``customer_sync_delay``: how long a customer's write waits, so that the changes
#: that follow it within that time go out in the same call.
CustomerSyncDelay = Annotated[
    float,
    msgspec.Meta(
        ge=0,
        le=3600,
        description="Seconds a customer sync write waits before it is sent; the customer's "
        "further changes meanwhile replace it (one call).",
    ),
]
# Field metadata marking a secret; use as `field(repr=False, metadata=SECRET)` for required ones.
SECRET: Mapping[str, bool] = {"secret": True}
# Field metadata marking where the provider connects: `field(metadata=DESTINATION_URL)` for an
# http(s) URL, DESTINATION_HOST for a bare host name or address.
DESTINATION_URL: Mapping[str, str] = {"destination": "url"}
DESTINATION_HOST: Mapping[str, str] = {"destination": "host"}


def mapping_field(*, default: Mapping[str, str] | None = None) -> Any:
    """Declare a sync's mapping (platform field -> profile value); ``default`` when left out
    (None: the field is required)."""
    if default is None:
        return dataclasses.field(metadata={"mapping": True})
    fallback = dict(default)
    return dataclasses.field(default_factory=lambda: dict(fallback), metadata={"mapping": True})


def mapped_values(config_type: type[Any], config: Mapping[str, Any]) -> frozenset[str] | None:
    """The profile values a stored config's mapping writes (its default when unset); None for
    a kind without a mapping. Reads the plain mapping: a preflight decides before building."""
    for found in dataclasses.fields(config_type):
        if found.metadata.get("mapping"):
            mapping = config.get(found.name)
            if not isinstance(mapping, Mapping):
                factory = found.default_factory
                mapping = factory() if callable(factory) else {}
            return frozenset(str(value) for value in mapping.values())
    return None


def secret_field(*, default: Any) -> Any:
    """Declare an optional config field holding a secret (hidden from repr, encrypted at rest)."""
    return dataclasses.field(default=default, repr=False, metadata=SECRET)


def destination_fields(config_type: type[Any]) -> dict[str, str]:
    """Destination fields of a config dataclass, each with its form: "url" or "host"."""
    return {
        f.name: f.metadata["destination"]
        for f in dataclasses.fields(config_type)
        if "destination" in f.metadata
    }


def secret_fields(config_type: type[Any]) -> frozenset[str]:
    """Names of the secret fields of a config dataclass."""
    return frozenset(f.name for f in dataclasses.fields(config_type) if f.metadata.get("secret"))


def public_config(config: Any) -> dict[str, Any]:
    """The config as a plain dict without its secret fields (what an API may return)."""
    hidden = secret_fields(type(config))
    return {
        f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name not in hidden
    }


def _describe(schema: Mapping[str, Any]) -> str:
    """What a value must be, in words, from its JSON Schema (never quoting the value given)."""
    if "enum" in schema:
        return "one of " + " | ".join(repr(v) for v in schema["enum"])
    if "anyOf" in schema:
        return " or ".join(_describe(s) for s in schema["anyOf"])
    return _JSON_TYPES.get(schema.get("type", ""), "of another type")


_JSON_TYPES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object",
    "null": "null",
}
_MISSING_FIELD = re.compile(r"^Object missing required field `(?P<field>\w+)`")
_AT_FIELD = re.compile(r" - at `\$\.(?P<field>\w+)(?P<inside>[^`]*)`$")


def _problem(config_type: type[Any], error: msgspec.ValidationError) -> str:
    """msgspec's complaint in our words, naming the field first (msgspec may quote a value)."""
    text = str(error)
    if missing := _MISSING_FIELD.match(text):
        return f"{missing['field']} is required"
    located = _AT_FIELD.search(text)
    if located is None:
        # A __post_init__ rule: its message names the field and never includes a secret.
        return text
    name = located["field"]
    field_schema = config_schema(config_type)["properties"][name]
    if located["inside"]:
        item = field_schema.get("items") or field_schema.get("additionalProperties") or {}
        return f"{name} has an item that must be {_describe(item)}"
    return f"{name} must be {_describe(field_schema)}"


def parse_config(config_type: type[T], raw: Mapping[str, Any], *, provider: str) -> T:
    """Build a config dataclass from a plain mapping, rejecting unknown and missing fields.

    Raises:
        ProviderConfigError: naming the bad fields, never quoting a value.
    """
    if not isinstance(raw, Mapping):
        raise ProviderConfigError("config must be an object", provider=provider)
    known = {f.name for f in dataclasses.fields(config_type)}  # type: ignore[arg-type]
    # msgspec ignores unknown fields of a dataclass; a misspelt field must not pass silently.
    problems = [f"unknown field {key!r}" for key in raw if key not in known]
    try:
        config = msgspec.convert({k: v for k, v in raw.items() if k in known}, config_type)
    except msgspec.ValidationError as exc:
        problems.append(_problem(config_type, exc))
    if problems:
        raise ProviderConfigError("invalid config: " + "; ".join(problems), provider=provider)
    return config


def config_schema(config_type: type[Any]) -> dict[str, Any]:
    """A JSON Schema of the config; secret fields carry `"writeOnly": true`."""
    generated = msgspec.json.schema(config_type)
    definition = generated["$defs"][generated["$ref"].rsplit("/", 1)[1]]
    properties: dict[str, Any] = definition["properties"]
    for name in secret_fields(config_type):
        properties[name]["writeOnly"] = True
    return {
        "type": "object",
        "properties": properties,
        "required": definition.get("required", []),
        "additionalProperties": False,
    }
