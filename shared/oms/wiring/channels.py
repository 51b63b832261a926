"""Marketplace pulls: fetching what a push announced, reconciling what pushes
missed, keeping access tokens fresh."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from oms.adapters.channel_client import api_bases
from oms.adapters.fetch_queue import SqsFetchQueue
from oms.adapters.marketplace_api import MarketplaceApi, auth_bases
from oms.adapters.shipping import SqsShippingCommands
from oms.adapters.sync_cursors import DynamoSyncCursors
from oms.channels.registry import spec
from oms.domain.channel_sync import ChannelReconciler, ChannelSync
from oms.domain.channel_tokens import TokenKeeper
from oms.models.order import Channel, OrderDraft
from oms.settings import get_settings
from oms.wiring import built
from oms.wiring.capture import capture_service
from oms.wiring.core import inbox, orders, secrets, shops


def _now() -> datetime:
    return datetime.now(UTC)


@built
def shipping_nudges() -> SqsShippingCommands:
    """Where a resi or label push sends the shipping worker to ask at once."""
    return SqsShippingCommands(get_settings().shipping_queue_url)


@built
def channel_api() -> MarketplaceApi:
    return MarketplaceApi(api_bases(), secrets(), auth_bases(), shops().shops)


@built
def channel_fetch_queue() -> SqsFetchQueue:
    return SqsFetchQueue(get_settings().channel_fetch_queue_url)


@built
def channel_sync() -> ChannelSync:
    return ChannelSync(
        orders(), channel_fetch_queue(), channel_api(), capture_service(), inbox(), _now, normalizer=fetched_normalizer
    )


def fetched_normalizer(channel: Channel) -> Callable[[dict], OrderDraft]:
    """The channel's normalizer for fetched documents."""
    return spec(channel).fetched_normalizer()


@built
def channel_reconciler() -> ChannelReconciler:
    cursors = DynamoSyncCursors(get_settings().counters_table)
    return ChannelReconciler(channel_api(), channel_sync(), cursors, _now)


@built
def token_keeper() -> TokenKeeper:
    return TokenKeeper(channel_api(), secrets(max_age=0), _now)
