"""Marketplace pulls: fetching what a push announced, reconciling what pushes
missed, keeping access tokens fresh, Tokopedia's buyer-data decryptor."""

from __future__ import annotations

import time
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
from oms.wiring import built, on_reset
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
    """The channel's normalizer for fetched documents (with the buyer-data decryptor, when configured)."""
    channel_spec = spec(channel)
    return channel_spec.fetched_normalizer(tokopedia_decrypt() if channel_spec.encrypted_buyer_data else None)


@built
def channel_reconciler() -> ChannelReconciler:
    cursors = DynamoSyncCursors(get_settings().counters_table)
    return ChannelReconciler(channel_api(), channel_sync(), cursors, _now)


@built
def token_keeper() -> TokenKeeper:
    return TokenKeeper(channel_api(), secrets(max_age=0), _now)


class TokopediaDecrypt:
    """Tokopedia's buyer-data decryptor from the seller's private key (SSM tokopedia/private_key), or
    None when no key is configured: the order is then kept with its buyer data encrypted. Looked up
    at most every 5 minutes (a missing parameter is not cached by Powertools)."""

    def __init__(self) -> None:
        self._at = float("-inf")
        self._pem: str | None = None
        self._decrypt: Callable[[dict], dict] | None = None

    def __call__(self) -> Callable[[dict], dict] | None:
        if time.monotonic() - self._at >= 300:
            self._at = time.monotonic()
            pem = secrets().channel_secret("tokopedia", "private_key")
            if pem != self._pem:
                from oms.channels.tokopedia.crypto import decryptor  # here: cryptography loads only with a key
                from oms.errors import DependencyError, NormalizationError

                try:
                    self._pem, self._decrypt = pem, (decryptor(pem) if pem else None)
                except NormalizationError as exc:
                    # Our configuration, not the channel's payload: retried (and alarmed) until the key is fixed.
                    self._at = float("-inf")
                    raise DependencyError(f"tokopedia/private_key is not usable: {exc.message}") from None
        return self._decrypt

    def forget(self) -> None:
        self._at = float("-inf")


tokopedia_decrypt = TokopediaDecrypt()
on_reset(tokopedia_decrypt.forget)
