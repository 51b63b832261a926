"""The marketplaces' own APIs behind the channel-order port: each channel's request signing and
authentication (shopee, lazada, tiktok modules; Tokopedia runs on tiktok), over one HTTP core with timeouts,
retries with backoff and a rate limit per channel (http). Base URLs: OMS_<CHANNEL>_API_BASE.

A channel's client module is named like its package under oms.channels (the registry's
``package``) and offers ``connect(http, auth, secrets)`` and ``outbound(client)``; it is imported
only when the channel is connected."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING, Any

from oms.adapters.marketplace_api.http import ChannelHttp, Deadline, RateLimiter
from oms.adapters.shops import ShopSecrets
from oms.channels.registry import SPECS, spec
from oms.domain.channel_sync import ChannelOrderApi, ShopNotConnected, UpdatedPage
from oms.domain.stock_push import PushOutcome, StockTarget
from oms.domain.write_back import ChannelCall
from oms.errors import DependencyError
from oms.models.inventory import ChannelStockUpdate
from oms.models.order import Channel
from oms.models.shops import Shop
from oms.ports import SecretsProvider

if TYPE_CHECKING:
    from oms.adapters.marketplace_api.tokens import TokenPair


def _module(channel: Channel) -> ModuleType:
    """The channel's client module (oms.adapters.marketplace_api.<its package>)."""
    return import_module(f"{__name__}.{spec(channel).package}")


class MarketplaceApi(ChannelOrderApi):
    def __init__(
        self,
        bases: Mapping[Channel, str],
        secrets: SecretsProvider,
        auth_bases: Mapping[Channel, str] | None = None,
        shops: Callable[[], list[Shop]] | None = None,
    ) -> None:
        self.deadline = Deadline()
        self.secrets = secrets
        self.bases = dict(bases)
        self.shops = shops or list  # the seller's registered shops (GET /shops); none: each channel's one shop
        self.auth: dict[Channel, ChannelHttp] = {}
        self.clients: dict[Channel, Any] = {}  # each channel's default shop: its channel-level credentials
        self.shop_clients: dict[tuple[Channel, str], tuple[int, Any]] = {}  # (channel, shop) -> (shop version, client)
        self.outbounds: dict[int, Any] = {}  # by the client's id
        self.logistics_clients: dict[int, Any] = {}
        self.listings: Any = None  # oms.domain.listings.ListingMap when the function keeps one (LISTINGS_TABLE)
        for channel, base in bases.items():
            channel_spec = spec(channel)
            if not channel_spec.marketplace or not base or channel_spec.transport:
                continue
            # Reserved concurrency bounds the instances, so a per-instance rate bounds the whole.
            rate = channel_spec.api_rate_per_s
            limiter = RateLimiter(rate, burst=int(rate))
            http = ChannelHttp(channel.value, base, limiter, self.deadline)
            self.auth[channel] = ChannelHttp(
                channel.value, (auth_bases or {}).get(channel) or base, limiter, self.deadline, http.pool
            )
            self.clients[channel] = _module(channel).connect(http, self.auth[channel], secrets)
        for channel, channel_spec in SPECS.items():  # a storefront another channel's API carries: its client
            if channel_spec.transport in self.clients:
                self.clients[channel] = self.clients[channel_spec.transport]

    def channels(self) -> list[Channel]:
        """The channels with an API of their own (a storefront carried by another is reached through it)."""
        return sorted(channel for channel in self.clients if spec(channel).transport is None)

    def finish_within(self, seconds: float | None) -> None:
        self.deadline.set_within(seconds)

    def finish_by(self, deadline: float | None) -> None:
        """deadline: a time.monotonic() value (the stock push's budget)."""
        self.deadline.at = deadline

    def calls(self) -> int:
        clients = [*self.clients.values(), *(client for _, client in self.shop_clients.values())]
        return sum(client.http.calls for client in {id(client): client for client in clients}.values())

    def client(self, channel: Channel, shop_id: str | None = None) -> Any:
        """The channel's client for one shop: a registered shop's own credentials and rate limit, else the
        channel's default shop (its channel-level credentials). A Tokopedia order's shop is a TikTok Shop shop."""
        channel = spec(channel).carrier
        try:
            default = self.clients[channel]
        except KeyError:
            raise DependencyError(
                f"{channel.value} API is not connected (OMS_{channel.value.upper()}_API_BASE)"
            ) from None
        shop = self.shop(channel, shop_id)
        if shop is None:
            return default
        key = (channel, shop.shop_id)
        built = self.shop_clients.get(key)
        if built is None or built[0] != shop.version:  # its settings changed: built again
            rate = shop.rate_per_s or spec(channel).api_rate_per_s
            http = ChannelHttp(channel.value, self.bases[channel], RateLimiter(rate, burst=int(rate)), self.deadline,
                               default.http.pool)  # fmt: skip
            built = (shop.version, _module(channel).connect(http, self.auth[channel], ShopSecrets(self.secrets, shop)))
            self.shop_clients[key] = built
        return built[1]

    def shop(self, channel: Channel, shop_id: str | None) -> Shop | None:
        """The registered shop a push or an order names; None for the channel's default shop. A shop the
        OMS holds no credentials for raises ShopNotConnected (its pushes are kept, not retried)."""
        channel = spec(channel).carrier
        registered = [shop for shop in self.shops() if shop.channel is channel]
        if not shop_id:
            return self.default_shop(channel, registered)
        shop = next((s for s in registered if s.shop_id == shop_id), None)
        if shop is not None:
            if not shop.enabled:
                raise ShopNotConnected(f"{channel.value} shop {shop_id} ({shop.name}) is disabled")
            return shop
        if registered and shop_id != self.secrets.channel_secret(channel.value, "shop_id"):
            raise ShopNotConnected(
                f"{channel.value} shop {shop_id} is not connected: POST /shops with its authorization"
            )
        return None

    def default_shop(self, channel: Channel, registered: list[Shop] | None = None) -> Shop | None:
        """The registered shop that is the channel-level one (the same shop id, or TikTok's same cipher): once
        registered, every call of the channel without a shop uses its own tokens, renewed on its own path (a
        refresh token renewed on two paths would be spent by the first)."""
        channel = spec(channel).carrier
        if registered is None:
            registered = [shop for shop in self.shops() if shop.channel is channel]
        if not registered:
            return None
        own_id = self.secrets.channel_secret(channel.value, "shop_id")
        cipher = self.secrets.channel_secret(channel.value, "shop_cipher")
        return next((shop for shop in registered if shop.enabled and ((own_id and shop.shop_id == own_id)
                     or (cipher and shop.shop_cipher == cipher))), None)  # fmt: skip

    def get_orders(self, channel: Channel, shop_id: str | None, channel_order_ids: list[str]) -> dict[str, dict]:
        return self.client(channel, shop_id).get_orders(shop_id, channel_order_ids)

    def updated_orders(
        self, channel: Channel, since: datetime, until: datetime, cursor: str | None, shop_id: str | None = None
    ) -> UpdatedPage:
        return self.client(channel, shop_id).updated_orders(since, until, cursor)

    def reconciled_shops(self, channel: Channel) -> list[str | None]:
        """Every enabled registered shop, and the channel-level shop unless it is registered (then its own)."""
        registered = [shop for shop in self.shops() if shop.channel is channel]
        shops: list[str | None] = [] if self._channel_level_registered(channel, registered) else [None]
        return shops + [shop.shop_id for shop in registered if shop.enabled]

    def _channel_level_registered(self, channel: Channel, registered: list[Shop]) -> bool:
        """Whether the shop the channel-level settings reach is registered (enabled or not): then it is reached
        as that shop, or not at all, never through the channel-level credentials."""
        if not registered:
            return False
        own_id = self.secrets.channel_secret(channel.value, "shop_id")
        cipher = self.secrets.channel_secret(channel.value, "shop_cipher")
        return any((own_id and shop.shop_id == own_id) or (cipher and shop.shop_cipher == cipher)
                   for shop in registered)  # fmt: skip

    def refresh_token(self, channel: Channel, secrets: SecretsProvider | None = None) -> TokenPair:
        """A new access token pair for the channel's shop (tokens.py); secrets: read uncached (a registered
        shop's: its view, ShopSecrets)."""
        from oms.adapters.marketplace_api.tokens import refresh

        self.client(channel)  # connected at all
        return refresh(channel, self.auth[channel], secrets or self.secrets)

    def shop_secrets(self, shop: Shop, secrets: SecretsProvider | None = None) -> ShopSecrets:
        """A registered shop's view of its channel's secrets (for renewing its tokens)."""
        return ShopSecrets(secrets or self.secrets, shop)  # type: ignore[arg-type]

    def lost_pushes(self, channel: Channel) -> tuple[list[bytes], str | None]:
        client = self.client(channel)
        return client.lost_pushes() if hasattr(client, "lost_pushes") else ([], None)

    def confirm_lost_pushes(self, channel: Channel, mark: str) -> None:
        self.client(channel).confirm_lost_pushes(mark)

    def creation_window(self, channel: Channel) -> timedelta | None:
        return getattr(self.client(channel), "CREATION_WINDOW", None)

    # --- outbound

    def outbound(self, channel: Channel, shop_id: str | None = None) -> Any:
        channel = spec(channel).carrier
        client = self.client(channel, shop_id)
        if id(client) not in self.outbounds:
            self.outbounds[id(client)] = _module(channel).outbound(client)
            if self.listings is not None:  # the shop's listing map names its listings (live lookups until it has one)
                shop = self.shop(channel, shop_id)
                self.outbounds[id(client)].listings = self.listings.lookup(channel, shop.shop_id if shop else None)
        return self.outbounds[id(client)]

    def logistics(self, channel: Channel, shop_id: str | None = None) -> Any:
        """The channel's shipping on its own couriers for one shop (<package>_logistics.py: arrange, resi,
        labels)."""
        channel = spec(channel).carrier
        name = f"{__name__}.{spec(channel).package}_logistics"
        try:
            module = import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            raise DependencyError(f"{channel.value}: shipping through its API is not supported yet") from None
        client = self.client(channel, shop_id)
        if id(client) not in self.logistics_clients:
            self.logistics_clients[id(client)] = module.logistics(client)
        return self.logistics_clients[id(client)]

    def stock_targets(self, channel: Channel) -> list[StockTarget]:
        """The channel's shops the stock push tells (a storefront another API carries has none: its carrier's
        shops hold its stock): every registered shop, those not told with why (disabled, stock push off), and
        the channel-level shop unless it is registered. A registered channel-level shop counts as registered
        even when disabled: its channel-level credentials must not reach it then."""
        if spec(channel).transport is not None:
            return []
        registered = sorted((shop for shop in self.shops() if shop.channel is channel), key=lambda shop: shop.shop_id)
        targets = [] if self._channel_level_registered(channel, registered) else [StockTarget(channel)]
        for shop in registered:
            off = None if shop.enabled else f"shop {shop.name} is disabled"
            off = off or (None if shop.stock_push else f"shop {shop.name}'s stock push is off")
            nodes = tuple(shop.nodes) if shop.nodes is not None else None
            targets.append(StockTarget(channel, shop.shop_id, nodes, off))
        return targets

    def push_stock(
        self, channel: Channel, updates: list[ChannelStockUpdate], shop_id: str | None = None
    ) -> PushOutcome:
        """Each SKU's sellable figure in one shop's own calls (None: the channel-level shop): what did not land,
        and why. One item's refusal does not stop the others; an outage of every call, or a shop the OMS cannot
        call (disabled, not connected, its token gone), raises DependencyError: retried, then dead-lettered."""
        if spec(channel).transport is not None:  # one inventory behind both storefronts: the carrier's figure
            carrier = spec(channel).carrier.value
            why = f"{channel.value} shares its {carrier} shop's stock: pushed as {carrier}"
            return PushOutcome(skipped={update.sku: why for update in updates})
        where = channel.value if shop_id is None else f"{channel.value} shop {shop_id}"
        try:
            outbound = self.outbound(channel, shop_id)
        except ShopNotConnected as exc:
            raise DependencyError(f"{where} stock: {exc}") from exc
        outcome = outbound.push_stock({update.sku: update.atp for update in updates})
        if outcome.failed and len(outcome.failed) == len(updates):
            raise DependencyError(f"{where} stock: {next(iter(outcome.failed.values()))}")
        return outcome

    def write_back(self, call: ChannelCall) -> None:
        """A shipment or a cancellation made in the OMS, in the channel's own API."""
        outbound = self.outbound(call.channel, call.shop_id)
        if call.kind == "shipped":
            body = call.body
            outbound.ship(call.channel_order_id, body.get("lines") or [], str(body.get("carrier") or ""),
                          str(body["tracking_number"]))  # fmt: skip
        elif call.kind == "cancelled":
            outbound.cancel(call.channel_order_id, call.body.get("by"))
        elif call.kind == "cancel_request" and hasattr(outbound, "answer_cancel_request"):
            outbound.answer_cancel_request(call.channel_order_id, bool(call.body.get("accept")))


def auth_bases(environ: Mapping[str, str] | None = None) -> dict[Channel, str]:
    """OMS_<CHANNEL>_AUTH_BASE: where a channel's tokens come from when not its API base (Lazada
    auth.lazada.com/rest, TikTok Shop auth.tiktok-shops.com)."""
    env = os.environ if environ is None else environ
    found = {
        c: env.get(f"OMS_{c.value.upper()}_AUTH_BASE", "").rstrip("/") for c, s in SPECS.items() if s.separate_auth_base
    }
    return {channel: base for channel, base in found.items() if base}
