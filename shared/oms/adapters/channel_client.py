"""The channel-client port over HTTP.

The marketplaces (Shopee, Lazada, TikTok Shop, Tokopedia) are told through their own signed APIs
(oms.adapters.marketplace_api); ChannelClients routes to them. The web stores (Shopify, WooCommerce)
are, until their own API shapes land, sent one interim format: ``POST <OMS_<CHANNEL>_API_BASE>/stock`` with
``{"channel", "updates": [{sku, atp, level, as_of}]}``, at most 100 SKUs a call.
Timeouts are short and 429/5xx/connection errors are retried twice with a
short backoff (a channel's Retry-After is not waited for here: the retry
queue's visibility timeout is the long backoff). Past the invocation's
deadline nothing more is attempted, so one hung channel cannot time the
function out and stall the stream.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import urllib3
from urllib3.util import Retry, Timeout

from oms.channels.registry import MARKETPLACES
from oms.domain.stock_push import StockTarget
from oms.domain.write_back import ChannelCall
from oms.errors import DependencyError
from oms.models.inventory import ChannelStockUpdate
from oms.models.order import Channel
from oms.ports import SecretsProvider

if TYPE_CHECKING:
    from oms.adapters.marketplace_api import MarketplaceApi
    from oms.domain.stock_push import PushOutcome
    from oms.models.shops import Shop

UPDATES_PER_CALL = 100
_TIMEOUT = Timeout(connect=2.0, read=5.0)
_RETRY = Retry(
    total=2,
    backoff_factor=0.5,
    backoff_max=2,
    status_forcelist=(429, 500, 502, 503, 504),
    allowed_methods=None,  # POST too: a stock update sets an absolute figure, so resending is harmless
    respect_retry_after_header=False,
    raise_on_status=False,
)
CALL_BUDGET_S = 3 * (2.0 + 5.0) + 1.5  # the longest one call can take with its retries


def api_bases(environ: Mapping[str, str] | None = None) -> dict[Channel, str]:
    """Channels whose OMS_<CHANNEL>_API_BASE is set (empty means not connected)."""
    env = os.environ if environ is None else environ
    bases = {channel: env.get(f"OMS_{channel.value.upper()}_API_BASE", "").rstrip("/") for channel in Channel}
    return {channel: base for channel, base in bases.items() if base}


class HttpChannelClient:
    def __init__(self, bases: Mapping[Channel, str]) -> None:
        self.bases = dict(bases)
        self.http = urllib3.PoolManager(timeout=_TIMEOUT, retries=_RETRY)
        self.deadline: float | None = None  # time.monotonic() after which no call may start

    def finish_by(self, deadline: float) -> None:
        self.deadline = deadline

    def channels(self) -> list[Channel]:
        return sorted(self.bases)

    def stock_targets(self, channel: Channel) -> list[StockTarget]:
        """A web store is one shop: its own."""
        return [StockTarget(channel)]

    def push_stock(self, channel: Channel, updates: list[ChannelStockUpdate], shop_id: str | None = None) -> None:
        if shop_id is not None:  # nothing here has shops of its own: never send one shop's figure to another
            raise DependencyError(f"{channel.value} has no shop {shop_id}: its store is one shop")
        url = f"{self.bases[channel]}/stock"
        for start in range(0, len(updates), UPDATES_PER_CALL):
            chunk = updates[start : start + UPDATES_PER_CALL]
            if self.deadline is not None and time.monotonic() + CALL_BUDGET_S > self.deadline:
                raise DependencyError(f"{channel.value} stock API: no time left in this invocation")
            body = {
                "channel": channel.value,
                "updates": [update.model_dump(mode="json", exclude={"channel"}) for update in chunk],
            }
            try:
                response = self.http.request(
                    "POST", url, body=json.dumps(body).encode(), headers={"content-type": "application/json"}
                )
            except urllib3.exceptions.HTTPError as exc:
                raise DependencyError(f"{channel.value} stock API unreachable: {type(exc).__name__}") from exc
            if response.status >= 300:
                raise DependencyError(f"{channel.value} stock API answered {response.status}")

    def write_back(self, call: ChannelCall) -> None:
        """POST <base>/orders/<channel order id>/<kind> (interim shape; the marketplace issue brings each
        channel's own). Idempotency-Key: the event id."""
        base = self.bases.get(call.channel)
        if base is None:
            return  # not connected: nothing to tell
        url = f"{base}/orders/{call.channel_order_id}/{call.kind}"
        headers = {"content-type": "application/json", "idempotency-key": call.idempotency_key}
        try:
            response = self.http.request("POST", url, body=json.dumps(call.body).encode(), headers=headers)
        except urllib3.exceptions.HTTPError as exc:
            raise DependencyError(f"{call.channel.value} order API unreachable: {type(exc).__name__}") from exc
        if response.status >= 300:
            raise DependencyError(f"{call.channel.value} order API answered {response.status}")


class ChannelClients:
    """The one channel-client port: marketplaces through their own APIs, the web stores through the
    interim shape above."""

    def __init__(self, marketplaces: MarketplaceApi, others: HttpChannelClient) -> None:
        self.marketplaces = marketplaces
        self.others = others

    def _for(self, channel: Channel) -> MarketplaceApi | HttpChannelClient:
        return self.marketplaces if channel in self.marketplaces.clients else self.others

    def channels(self) -> list[Channel]:
        return sorted(set(self.marketplaces.channels()) | set(self.others.channels()))

    def finish_by(self, deadline: float) -> None:
        self.marketplaces.finish_by(deadline)
        self.others.finish_by(deadline)

    def stock_targets(self, channel: Channel) -> list[StockTarget]:
        return self._for(channel).stock_targets(channel)

    def push_stock(
        self, channel: Channel, updates: list[ChannelStockUpdate], shop_id: str | None = None
    ) -> PushOutcome | None:
        return self._for(channel).push_stock(channel, updates, shop_id)

    def write_back(self, call: ChannelCall) -> None:
        if call.channel in MARKETPLACES and call.channel not in self.marketplaces.clients:
            # Told nowhere would be lost silently: retried, then parked in the DLQ with the reason.
            setting = f"OMS_{call.channel.value.upper()}_API_BASE"
            raise DependencyError(f"{call.channel.value} API is not connected ({setting})")
        self._for(call.channel).write_back(call)


def channel_clients(secrets: SecretsProvider, shops: Callable[[], list[Shop]] | None = None) -> ChannelClients:
    from oms.adapters.marketplace_api import MarketplaceApi, auth_bases

    bases = api_bases()
    marketplaces = MarketplaceApi(bases, secrets, auth_bases(), shops)
    others = HttpChannelClient({c: base for c, base in bases.items() if c not in marketplaces.clients})
    return ChannelClients(marketplaces, others)
