"""Lazada Open Platform: every call signed with the app secret.

sign = upper-case hex HMAC-SHA256(app_secret, api path + every parameter but sign, sorted by name,
as name + value), sent with app_key, timestamp (ms), sign_method=sha256 and access_token. The body's
`code` is "0" on success; ApiCallLimit and the like are throttling, worth retrying later.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from oms.adapters.marketplace_api.http import ChannelHttp
from oms.adapters.marketplace_api.tokens import TokenPair
from oms.channels.lazada.signing import sign
from oms.domain.channel_sync import UpdatedOrder, UpdatedPage
from oms.domain.stock_push import PushOutcome
from oms.errors import DependencyError
from oms.ports import SecretsProvider

if TYPE_CHECKING:
    from oms.models.listings import Listing

    ListingLookup = Callable[[list[str]], dict[str, Listing | None] | None]

ORDER_PATH = "/order/get"
ITEMS_PATH = "/orders/items/get"  # many orders' items in one call
LIST_PATH = "/orders/get"
IDS_PER_CALL = 50
PAGE = 100
THROTTLED = {"ApiCallLimit", "AppCallLimit", "ServiceTimeout", "ISP", "SYSTEM_ERROR", "InternalError"}
NOT_FOUND = {"ORDER_NOT_FOUND", "E0001", "OrderNotFound"}


class LazadaApi:
    def __init__(self, http: ChannelHttp, secrets: SecretsProvider, clock: Callable[[], float] = time.time) -> None:
        self.http = http
        self.secrets = secrets
        self.clock = clock

    def _setting(self, name: str) -> str:
        value = self.secrets.channel_secret("lazada", name)
        if not value:
            raise DependencyError(f"lazada is not configured: {name}")
        return value

    def call(self, method: str, path: str, params: dict[str, str]) -> dict:
        query = {
            "app_key": self._setting("app_key"),
            "timestamp": str(int(self.clock() * 1000)),
            "sign_method": "sha256",
            "access_token": self._setting("access_token"),
            **params,
        }
        query["sign"] = sign(self._setting("app_secret"), path, query)
        status, answer = self.http.request(method, path, query=query, what=path)
        answer = answer if isinstance(answer, dict) else {}
        code = str(answer.get("code", ""))
        if status >= 500 or code in THROTTLED:
            raise DependencyError(f"lazada {path} answered {status} {code}")
        if status >= 300 or code != "0":
            raise LazadaError(code, str(answer.get("message") or ""))
        return answer

    def get_orders(self, shop_id: str | None, ids: list[str]) -> dict[str, dict]:
        """{"order": /order/get data, "items": that order's rows of /orders/items/get} per known order."""
        orders: dict[str, dict] = {}
        for order_id in ids:
            try:
                orders[order_id] = self.call("GET", ORDER_PATH, {"order_id": order_id}).get("data") or {}
            except LazadaError as exc:
                if exc.code in NOT_FOUND:
                    continue
                raise DependencyError(f"lazada /order/get: {exc}") from exc
        known = [order_id for order_id, data in orders.items() if data]
        items: dict[str, list] = {order_id: [] for order_id in known}
        for start in range(0, len(known), IDS_PER_CALL):
            chunk = known[start : start + IDS_PER_CALL]
            try:
                answer = self.call("GET", ITEMS_PATH, {"order_ids": json.dumps([int(i) for i in chunk])})
            except LazadaError as exc:
                raise DependencyError(f"lazada /orders/items/get: {exc}") from exc
            for entry in answer.get("data") or []:
                if isinstance(entry, dict) and str(entry.get("order_id")) in items:
                    items[str(entry["order_id"])] = entry.get("order_items") or []
        return {order_id: {"order": orders[order_id], "items": items[order_id]} for order_id in known}

    def updated_orders(self, since: datetime, until: datetime, cursor: str | None) -> UpdatedPage:
        """Paged by time, not offset: an order changing again while the window is read leaves the window
        without shifting the rest (the next page starts at the last time seen; repeats are known and
        skipped). Only a page whose orders all share one second moves on by offset."""
        after, offset = cursor.rsplit("|", 1) if cursor else (since.isoformat(timespec="seconds"), "0")
        params = {
            "update_after": after,
            "update_before": until.isoformat(timespec="seconds"),
            "sort_by": "updated_at",
            "sort_direction": "ASC",
            "offset": offset,
            "limit": str(PAGE),
        }
        try:
            data = self.call("GET", LIST_PATH, params).get("data") or {}
        except LazadaError as exc:
            raise DependencyError(f"lazada /orders/get: {exc}") from exc
        listed = [order for order in data.get("orders") or [] if isinstance(order, dict) and order.get("order_id")]
        orders = [UpdatedOrder(str(order["order_id"]), _lazada_time(order.get("updated_at"))) for order in listed]
        if len(listed) < PAGE:
            return UpdatedPage(orders, None)
        last = max((o.updated_at for o in orders if o.updated_at), default=None)
        if last is None or _utc(last) == after:
            return UpdatedPage(orders, f"{after}|{int(offset) + PAGE}")
        return UpdatedPage(orders, f"{_utc(last)}|0")


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _lazada_time(value: object) -> datetime | None:
    """Lazada's "2026-11-25 10:00:00 +0700"."""
    try:
        return datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S %z")
    except ValueError:
        return None


class LazadaError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}"[:300])
        self.code = code


# --- outbound: shipments, cancellations, stock ------------------------------------------------------

RTS_PATH = "/order/rts"
CANCEL_PATH = "/order/cancel"
STOCK_PATH = "/product/stock/sellable/update"
STOCK_PER_CALL = 50
CANCEL_REASON_OUT_OF_STOCK = "15"  # Lazada's seller cancel reason "Out of stock"
# Units the seller may still put to ready-to-ship, and those it may still cancel.
SHIPPABLE = frozenset({"pending", "topack", "packed", "repacked"})
LIVE = frozenset({"unpaid", *SHIPPABLE, "ready_to_ship", "toship"})


class LazadaOutbound:
    """What the OMS tells Lazada. Lazada works per order item (one row per unit): the rows come from the
    order's own items, fetched at the time of the call, so a retry acts on what Lazada shows then."""

    def __init__(self, api: LazadaApi) -> None:
        self.api = api
        # The shop's listing map (oms.domain.listings), when wired: answers None until the shop has one.
        self.listings: ListingLookup | None = None

    def _items(self, order_id: str) -> list[dict]:
        found = self.api.get_orders(None, [order_id]).get(order_id)
        if found is None:
            raise DependencyError(f"lazada does not know order {order_id}")
        return [row for row in found["items"] if isinstance(row, dict)]

    def _post(self, path: str, params: dict[str, str]) -> None:
        try:
            self.api.call("POST", path, params)
        except LazadaError as exc:
            raise DependencyError(f"lazada {path}: {exc}") from exc

    def ship(self, order_id: str, lines: list[dict], carrier: str, tracking_number: str) -> None:
        """Ready to ship, with the seller's carrier and tracking number, for the parcel's units."""
        wanted = {str(line.get("sku")): int(line.get("quantity") or 0) for line in lines}
        rows = self._items(order_id)
        for row in rows:  # units already sent with this parcel's tracking number (a replay): done
            sku = str(row.get("sku"))
            if wanted.get(sku, 0) > 0 and str(row.get("tracking_code") or "") == tracking_number:
                wanted[sku] -= 1
        ids = []
        for row in rows:
            sku = str(row.get("sku"))
            if wanted.get(sku, 0) > 0 and str(row.get("status")) in SHIPPABLE:
                ids.append(int(row["order_item_id"]))
                wanted[sku] -= 1
        if not ids:
            return
        self._post(
            RTS_PATH,
            {
                "delivery_type": "dropship",
                "order_item_ids": json.dumps(ids),
                "shipment_provider": carrier,
                "tracking_number": tracking_number,
            },
        )

    def cancel(self, order_id: str, by: str | None = None) -> None:
        for row in self._items(order_id):
            if str(row.get("status")) in LIVE:
                self._post(
                    CANCEL_PATH,
                    {
                        "order_item_id": str(row["order_item_id"]),
                        "reason_id": CANCEL_REASON_OUT_OF_STOCK,
                        "reason_detail": "Out of stock at every store and warehouse",
                    },
                )

    def push_stock(self, figures: dict[str, int]) -> PushOutcome:
        """Sellable quantity by seller SKU, 50 a call (Lazada's payload is XML); a failed call fails its 50,
        the SKUs Lazada names as refused are skipped with the reason."""
        outcome = PushOutcome()
        skus = sorted(figures)
        # The map's ItemId and SkuId name the SKU exactly; without them Lazada finds it by SellerSku.
        mapped = (self.listings(skus) if self.listings is not None else None) or {}
        for start in range(0, len(skus), STOCK_PER_CALL):
            chunk = skus[start : start + STOCK_PER_CALL]
            rows = "".join(
                f"<Sku>{_ids_xml(mapped.get(sku))}<SellerSku>{escape(sku)}</SellerSku>"
                f"<SellableQuantity>{figures[sku]}</SellableQuantity></Sku>"
                for sku in chunk
            )
            payload = {"payload": f"<Request><Product><Skus>{rows}</Skus></Product></Request>"}
            try:
                answer = self.api.call("POST", STOCK_PATH, payload)
            except LazadaError as exc:
                outcome.skipped.update({sku: f"refused by lazada: {exc}" for sku in chunk})
                continue
            except DependencyError as exc:
                outcome.failed.update({sku: exc.message for sku in chunk})
                continue
            for refused in answer.get("detail") or []:
                if isinstance(refused, dict) and refused.get("seller_sku") in figures:
                    outcome.skipped[refused["seller_sku"]] = f"refused by lazada: {refused.get('message', '')}"
        return outcome


def _ids_xml(row: Listing | None) -> str:
    return "" if row is None else f"<ItemId>{escape(row.item_id)}</ItemId><SkuId>{escape(row.variant_id)}</SkuId>"


# --- what MarketplaceApi and tokens.py find by the channel's package name ---------------------------

REFRESH_PATH = "/auth/token/refresh"


def connect(http: ChannelHttp, _auth: ChannelHttp, secrets: SecretsProvider) -> LazadaApi:
    return LazadaApi(http, secrets)


def outbound(api: LazadaApi) -> LazadaOutbound:
    return LazadaOutbound(api)


def refresh_token(http: ChannelHttp, setting: Callable[[str], str], now: int) -> TokenPair:
    """GET <auth base>/auth/token/refresh, signed like every Lazada call (no access_token)."""
    params = {
        "app_key": setting("app_key"),
        "timestamp": str(now * 1000),
        "sign_method": "sha256",
        "refresh_token": setting("refresh_token"),
    }
    params["sign"] = sign(setting("app_secret"), REFRESH_PATH, params)
    status, answer = http.request("GET", REFRESH_PATH, query=params, what="token refresh", attempts=1)
    answer = answer if isinstance(answer, dict) else {}
    if status >= 300 or str(answer.get("code", "0")) != "0" or not answer.get("access_token"):
        raise DependencyError(f"lazada token refresh answered {status} {answer.get('code', '')}")
    return TokenPair(answer["access_token"], answer["refresh_token"], now + int(answer.get("expires_in") or 0))
