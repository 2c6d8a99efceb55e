"""Typed provider configs: parsing a plain mapping, secret fields, a JSON-schema-like description.

Each kind declares a frozen dataclass. Secret fields are declared with `secret_field()`: they are
left out of `repr`, listed by `secret_fields()` so the storage layer encrypts them and the API never
returns them, and never quoted in error messages. Fields naming where the provider connects (an API
root URL, an SMTP host) carry `DESTINATION_URL` or `DESTINATION_HOST` metadata: the storage layer
checks them
with the address guard, and changing one requires the secrets again (they would go there).
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from providers.errors import ProviderConfigError

__all__ = [
    "DESTINATION_HOST",
    "DESTINATION_URL",
    "SECRET",
    "config_schema",
    "destination_fields",
    "parse_config",
    "public_config",
    "secret_field",
    "secret_fields",
]

T = TypeVar("T")
_MISSING: Any = dataclasses.MISSING
# Field metadata marking a secret; use as `field(repr=False, metadata=SECRET)` for required ones.
SECRET: Mapping[str, bool] = {"secret": True}
# Field metadata marking where the provider connects: `field(metadata=DESTINATION_URL)` for an
# http(s) URL, DESTINATION_HOST for a bare host name or address.
DESTINATION_URL: Mapping[str, str] = {"destination": "url"}
DESTINATION_HOST: Mapping[str, str] = {"destination": "host"}


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


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in get_args(tp))
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _coerce(tp: Any, value: Any, name: str) -> Any:
    """Check (and gently coerce) one value against a field type; raise ValueError if wrong."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, name)
            except ValueError:
                continue
        raise ValueError(f"{name} must be {_type_name(tp)}")
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise ValueError(f"{name} must be one of {_type_name(tp)}")
    if origin is tuple:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise ValueError(f"{name} must be a list")
        (item_type, *_rest) = get_args(tp)
        return tuple(_coerce(item_type, v, name) for v in value)
    if origin in (dict, Mapping) or tp is Mapping:
        if not isinstance(value, Mapping):
            raise ValueError(f"{name} must be an object")
        key_type, value_type = get_args(tp)
        return {_coerce(key_type, k, name): _coerce(value_type, v, name) for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"{name} must be true or false")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError(f"{name} must be an integer")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ValueError(f"{name} must be a number")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ValueError(f"{name} must be a string")
    raise ValueError(f"{name} has an unsupported type")


def parse_config(config_type: type[T], raw: Mapping[str, Any], *, provider: str) -> T:
    """Build a config dataclass from a plain mapping, rejecting unknown and missing fields.

    Raises:
        ProviderConfigError: naming every bad field, never quoting a value.
    """
    if not isinstance(raw, Mapping):
        raise ProviderConfigError("config must be an object", provider=provider)
    hints = get_type_hints(config_type)
    fields = {f.name: f for f in dataclasses.fields(config_type)}  # type: ignore[arg-type]
    problems = [f"unknown field {key!r}" for key in raw if key not in fields]
    values: dict[str, Any] = {}
    for name, f in fields.items():
        if name not in raw:
            if f.default is _MISSING and f.default_factory is _MISSING:
                problems.append(f"{name} is required")
            continue
        try:
            values[name] = _coerce(hints[name], raw[name], name)
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise ProviderConfigError("invalid config: " + "; ".join(problems), provider=provider)
    try:
        return config_type(**values)
    except (TypeError, ValueError) as exc:
        # __post_init__ validators raise ValueError with messages that never include secrets.
        raise ProviderConfigError(f"invalid config: {exc}", provider=provider) from None


def _json_type(tp: Any) -> dict[str, Any]:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return {"anyOf": [_json_type(a) for a in get_args(tp)]}
    if origin is Literal:
        return {"enum": list(get_args(tp))}
    if origin is tuple:
        return {"type": "array", "items": _json_type(get_args(tp)[0])}
    if origin in (dict, Mapping) or tp is Mapping:
        return {"type": "object", "additionalProperties": _json_type(get_args(tp)[1])}
    simple = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}
    return {"type": simple.get(tp, "string")}


def config_schema(config_type: type[Any]) -> dict[str, Any]:
    """A JSON Schema of the config; secret fields carry `"writeOnly": true`."""
    hints = get_type_hints(config_type)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for f in dataclasses.fields(config_type):
        prop = _json_type(hints[f.name])
        if f.metadata.get("secret"):
            prop["writeOnly"] = True
        if f.default is not _MISSING:
            prop["default"] = list(f.default) if isinstance(f.default, tuple) else f.default
        elif f.default_factory is _MISSING:
            required.append(f.name)
        properties[f.name] = prop
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
