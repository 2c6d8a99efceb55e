"""The channel of a distribution or a bulk send, as the API takes it."""

from __future__ import annotations

import msgspec

from distribution.outbox import ChannelSpec

__all__ = ["ChannelIn"]


class ChannelIn(msgspec.Struct, forbid_unknown_fields=True):
    """One message per recipient: on ``channel``, from ``template``, through ``provider``."""

    channel: str
    template: str
    provider: str

    def spec(self) -> ChannelSpec:
        return ChannelSpec(self.channel, self.template, self.provider)
