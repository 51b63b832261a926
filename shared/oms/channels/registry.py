"""Every sales channel, one record each: what kind of channel it is and where its code lives.

A channel's code is a package under oms.channels named like the channel, holding
``normalizer`` (the channel's documents -> OrderDraft, and for a marketplace its pushes ->
ChannelNotice), ``webhook`` (``DELIVERY``: signature, delivery key, topic), and for a marketplace
``status`` (``STATES``: raw status -> ChannelState). A marketplace's API client, which does HTTP,
is the mirrored module oms.adapters.marketplace_api.<package>; the local simulator's formats are
oms_local.sim_formats.<package>.

The packages are imported on first use, not here: a function pays only for the channels it sees
(a cold start imports this module and one channel at most). Adding a channel is its package and
one line in SPECS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING

from oms.errors import NormalizationError
from oms.models.order import Channel

if TYPE_CHECKING:
    from oms.channels.delivery import Delivery
    from oms.channels.marketplace import ChannelNotice
    from oms.models.order import ChannelState, OrderDraft


@dataclass(frozen=True)
class ChannelSpec:
    channel: Channel
    # The package under oms.channels; None: an own channel (web, pos, ...) posting the canonical order
    # to POST /orders, with no webhook endpoint and nothing channel-specific to run.
    package: str | None = None
    # Pushes only name orders; the order is fetched from the channel's API (and reconciled by a pull).
    marketplace: bool = False
    # Wants an empty 2xx body for a webhook; the others get {"status": ...}.
    empty_answer: bool = False
    # A storefront served by another channel's API (Tokopedia by TikTok Shop's since 2025-09-30): its orders,
    # shops, pushes, tokens and stock are that channel's; only its orders keep this channel's name.
    transport: Channel | None = None
    # The shop's access token is renewed with a refresh token (oms.domain.channel_tokens).
    refreshed_token: bool = False
    # Tokens come from OMS_<CHANNEL>_AUTH_BASE when that is set (else the API base).
    separate_auth_base: bool = False
    # API calls per second from one function instance: under the channel's published per-app limit,
    # with room for the other functions.
    api_rate_per_s: float = 0.0

    @property
    def has_webhook(self) -> bool:
        return self.package is not None and self.transport is None

    @property
    def carrier(self) -> Channel:
        """The channel whose API, shops and pushes carry this channel's orders (itself, mostly)."""
        return self.transport or self.channel

    def module(self, part: str | None = None) -> ModuleType:
        """The channel's package, or one of its modules (imported on first use)."""
        if self.package is None:
            raise LookupError(f"'{self.channel.value}' has no channel package")
        name = f"oms.channels.{self.package}"
        return import_module(f"{name}.{part}" if part else name)

    # --- webhooks

    def delivery(self) -> Delivery:
        return self.module("webhook").DELIVERY

    def order_topics(self) -> frozenset[str]:
        """Topics whose push is a whole order to apply (the web stores'); the others are kept, not applied."""
        return getattr(self.module("webhook"), "ORDER_TOPICS", frozenset()) if self.package else frozenset()

    def create_topics(self) -> frozenset[str]:
        return getattr(self.module("webhook"), "CREATE_TOPICS", frozenset()) if self.package else frozenset()

    # --- normalizers

    def push_normalizer(self) -> Callable[[dict, str | None], OrderDraft]:
        """A web store's webhook body (the whole order) -> OrderDraft."""
        if self.package is None or self.marketplace:
            raise NormalizationError(f"no normalizer for channel '{self.channel.value}'")
        return self.module().normalize

    def notices(self, push: dict) -> list[ChannelNotice]:
        """The orders a marketplace's stored push names."""
        return self.module().notices(push)

    def fetched_normalizer(self) -> Callable[[dict], OrderDraft]:
        """The order document the channel's API answers -> OrderDraft."""
        if not self.marketplace:
            raise NormalizationError(f"'{self.channel.value}' orders are not fetched from an API")
        return self.module().normalize

    # --- statuses

    def states(self) -> dict[str, ChannelState]:
        """Every documented raw status -> ChannelState (the marketplaces')."""
        return self.module("status").STATES

    def state(self, raw: object) -> ChannelState:
        return self.module("status").state(raw)


SPECS: dict[Channel, ChannelSpec] = {
    spec.channel: spec
    for spec in (
        ChannelSpec(Channel.shopify, "shopify"),
        ChannelSpec(Channel.woocommerce, "woocommerce"),
        ChannelSpec(Channel.shopee, "shopee", marketplace=True, empty_answer=True, refreshed_token=True,
                    api_rate_per_s=10.0),
        ChannelSpec(Channel.lazada, "lazada", marketplace=True, refreshed_token=True, separate_auth_base=True,
                    api_rate_per_s=10.0),
        ChannelSpec(Channel.tiktok, "tiktok", marketplace=True, empty_answer=True, refreshed_token=True,
                    separate_auth_base=True, api_rate_per_s=10.0),
        # Tokopedia's Open API closed on 2025-09-30: its storefronts' orders come through TikTok Shop's API
        # (the order's `platform` names the storefront), so its code is TikTok Shop's.
        ChannelSpec(Channel.tokopedia, "tiktok", marketplace=True, empty_answer=True, transport=Channel.tiktok),
        ChannelSpec(Channel.web),
        ChannelSpec(Channel.pos),
        ChannelSpec(Channel.callcenter),
        ChannelSpec(Channel.social),
    )
}  # fmt: skip


def spec(channel: Channel) -> ChannelSpec:
    # A channel without a line is an own channel: nothing specific to it.
    return SPECS.get(channel) or ChannelSpec(channel)


MARKETPLACES = frozenset(c for c, s in SPECS.items() if s.marketplace)
WEBHOOK_CHANNELS = frozenset(c for c, s in SPECS.items() if s.has_webhook)
# Channels with an API of their own (reconciled, pushed to, tokens renewed): not a storefront carried by another.
API_CHANNELS = frozenset(c for c in MARKETPLACES if SPECS[c].transport is None)
EMPTY_ANSWER = frozenset(c for c, s in SPECS.items() if s.empty_answer)
REFRESHED = tuple(c for c, s in SPECS.items() if s.refreshed_token and s.transport is None)
