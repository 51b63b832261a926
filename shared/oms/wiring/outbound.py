"""Calls out to the channels: availability pushes and status write-backs."""

from __future__ import annotations

from oms.adapters.channel_client import ChannelClients, channel_clients
from oms.wiring import built
from oms.wiring.core import secrets, shops
from oms.wiring.listings import listing_map_if_kept


@built
def channel_client() -> ChannelClients:
    clients = channel_clients(secrets(), shops().shops)
    clients.marketplaces.listings = listing_map_if_kept()  # the stock push reads each shop's listing map
    return clients
