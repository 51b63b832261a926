"""The listing map: its store, its refresh (the channels' listing readers over each shop's client) and
the lookup the stock push's outbounds are given."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import import_module

from oms.adapters.channel_client import api_bases
from oms.adapters.listings import DynamoListingCursors, DynamoListings, SqsRefreshQueue
from oms.adapters.marketplace_api import MarketplaceApi, auth_bases
from oms.channels.registry import spec
from oms.domain.listings import LISTED_CHANNELS, ListingMap
from oms.models.common import Channel
from oms.ports.listings import ListingReader
from oms.settings import get_settings
from oms.wiring import built
from oms.wiring.core import catalog, secrets, shops


def _now() -> datetime:
    return datetime.now(UTC)


@built
def listings_api() -> MarketplaceApi:
    """The marketplaces' clients, per shop, for reading their listings."""
    return MarketplaceApi(api_bases(), secrets(), auth_bases(), shops().shops)


def listing_reader(channel: Channel, shop_id: str | None) -> ListingReader:
    """The shop's listing reader: oms.adapters.marketplace_api.<package>_listings over the shop's client."""
    module = import_module(f"oms.adapters.marketplace_api.{spec(channel).package}_listings")
    return module.listings(listings_api().client(channel, shop_id))


@built
def listing_map() -> ListingMap:
    table = get_settings().listings_table
    return ListingMap(DynamoListings(table), DynamoListingCursors(table), catalog(), listing_reader, _now)


def listing_map_if_kept() -> ListingMap | None:
    """The map for a function given LISTINGS_TABLE; None elsewhere (the outbounds then look SKUs up live)."""
    return listing_map() if get_settings().listings_table else None


@built
def refresh_queue() -> SqsRefreshQueue:
    return SqsRefreshQueue(get_settings().listings_refresh_queue_url)


def listed_shops(channel: Channel) -> list[str | None]:
    """The channel's shops that have listings to map: every enabled registered shop, and the channel-level
    shop unless it is registered (then it is mapped under its own id); none when the channel is not connected."""
    api = listings_api()
    if channel not in LISTED_CHANNELS or channel not in api.clients:
        return []
    return api.reconciled_shops(channel)  # the same shops the reconciliation pull walks


def mapped_shop(channel: Channel, shop_id: str | None) -> str | None:
    """The shop a map is kept under: a registered shop's id; the channel-level shop under its registered id
    when it is registered (the stock push's outbound resolves it the same way), else None (`default`)."""
    if shop_id is not None:
        return shop_id
    default = listings_api().default_shop(channel)
    return default.shop_id if default is not None else None
