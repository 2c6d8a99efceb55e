"""The channel of a distribution or a bulk send, as the API takes it."""

from __future__ import annotations

import msgspec

from distribution.outbox import ChannelSpec

__all__ = ["ChannelIn"]


class ChannelIn(msgspec.Struct, forbid_unknown_fields=True):
    """One message per recipient: on ``channel`` (email, sms), from ``template``, through
    ``provider``; or, on the channel ``profile``, a write of the recipient's code, links,
    campaign and reward onto their profile through a sync ``provider`` (no template)."""

    channel: str
    provider: str
    template: str | None = None

    def spec(self) -> ChannelSpec:
        return ChannelSpec(self.channel, self.template or "", self.provider)
