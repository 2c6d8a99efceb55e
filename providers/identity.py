"""Which customer value a messaging platform knows a user by: the ``identity`` setting.

Braze addresses users by the brand's own id (``external_id``), Mailchimp and ActiveCampaign by an
email address. Our internal customer id means nothing to them: a Braze call naming it answers
success and reaches nobody. So every kind that addresses users declares, in its config, a field
marked with ``identity_field(fills=...)``: the setting (``source_id``, ``email`` or
``metadata.<key>``) and the key of the platform's API the value fills. This module is the one
place that turns the setting and a customer's values into that value; the application calls
``Identity.value_of`` when it prepares a message or a profile write, and refuses a recipient
without one, naming the setting.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "IDENTITY_SETTINGS",
    "Identity",
    "IdentityKey",
    "identity_field",
    "identity_of",
]

#: What the platform's API calls the value: Braze's ``external_id``, or an email address.
IdentityKey = Literal["external_id", "email"]
#: The settings besides ``metadata.<key>``.
IDENTITY_SETTINGS = ("source_id", "email")
_METADATA = "metadata."
_MAX_VALUE = 512


@dataclass(frozen=True, slots=True)
class Identity:
    """A parsed ``identity`` setting and the API key its value fills."""

    setting: str
    fills: IdentityKey = "external_id"

    def __post_init__(self) -> None:
        key = self.setting.removeprefix(_METADATA)
        if self.setting not in IDENTITY_SETTINGS and not (
            self.setting.startswith(_METADATA) and key and len(key) <= 100
        ):
            raise ValueError("identity must be source_id, email or metadata.<key>")

    @property
    def label(self) -> str:
        """How reasons name it: ``source_id``, ``email address``, ``metadata key 'crm_id'``."""
        if self.setting == "email":
            return "email address"
        if self.setting.startswith(_METADATA):
            return f"metadata key {self.setting.removeprefix(_METADATA)!r}"
        return self.setting

    def value_of(
        self, *, source_id: str | None, email: str | None, metadata: Mapping[str, Any]
    ) -> str | None:
        """The customer's value for this setting; None when absent, empty or not a scalar."""
        value: Any
        if self.setting == "source_id":
            value = source_id
        elif self.setting == "email":
            value = email
        else:
            value = metadata.get(self.setting.removeprefix(_METADATA))
        if isinstance(value, bool) or not isinstance(value, str | int):
            return None
        text = str(value).strip()
        return text[:_MAX_VALUE] if text else None


def identity_field(*, default: str, fills: IdentityKey) -> Any:
    """Declare a config's ``identity`` field: its default setting and what the value fills."""
    return dataclasses.field(default=default, metadata={"identity": fills})


def identity_of(config_type: type[Any], config: Mapping[str, Any]) -> Identity | None:
    """The identity a stored config sets (its default when unset); None for a kind without one.

    Reads the plain config mapping, so the application can decide before any provider is built
    (the setting is never a secret).
    """
    for found in dataclasses.fields(config_type):
        fills = found.metadata.get("identity")
        if fills is not None:
            setting = config.get(found.name)
            return Identity(str(setting) if setting else str(found.default), fills)
    return None
