"""Calls out to the channels: availability pushes and status write-backs."""

from __future__ import annotations

from oms.adapters.channel_client import ChannelClients, channel_clients
from oms.wiring import built
from oms.wiring.core import secrets, shops


@built
def channel_client() -> ChannelClients:
    return channel_clients(secrets(), shops().shops)
