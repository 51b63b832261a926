"""TikTok Shop Open API (version 202309): every call signed with the app secret.

sign = hex HMAC-SHA256(app_secret, app_secret + path + every query parameter but sign and
access_token, sorted by name, as name + value + the JSON body + app_secret); the shop's token
travels in x-tts-access-token, the shop in shop_cipher. The body's `code` is 0 on success.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from oms.adapters.marketplace_api.http import ChannelHttp
from oms.adapters.marketplace_api.tokens import TokenPair
from oms.channels.marketplace import from_epoch
from oms.channels.tiktok.signing import sign
from oms.domain.channel_sync import UpdatedOrder, UpdatedPage
from oms.domain.stock_push import PushOutcome
from oms.errors import DependencyError, NormalizationError
from oms.ports import SecretsProvider

if TYPE_CHECKING:
    from oms.models.listings import Listing

    ListingLookup = Callable[[list[str]], dict[str, Listing | None] | None]

DETAIL_PATH = "/order/202309/orders"
SEARCH_PATH = "/order/202309/orders/search"
IDS_PER_CALL = 50
PAGE = 100
THROTTLED = {36009009, 36009004, 12052900, 1000}  # rate limited / system busy
NOT_FOUND = {36009003, 21011001}


class TiktokApi:
    def __init__(self, http: ChannelHttp, secrets: SecretsProvider, clock: Callable[[], float] = time.time) -> None:
        self.http = http
        self.secrets = secrets
        self.clock = clock

    def _setting(self, name: str) -> str:
        value = self.secrets.channel_secret("tiktok", name)
        if not value:
            raise DependencyError(f"tiktok is not configured: {name}")
        return value

    def call(self, method: str, path: str, params: dict[str, str], body: dict | None = None) -> dict:
        query = {
            "app_key": self._setting("app_key"),
            "timestamp": str(int(self.clock())),
            "shop_cipher": self._setting("shop_cipher"),
            **params,
        }
        raw = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
        query["sign"] = sign(self._setting("app_secret"), path, query, raw)
        headers = {"x-tts-access-token": self._setting("access_token"), "content-type": "application/json"}
        status, answer = self.http.request(method, path, query=query, body=raw or None, headers=headers, what=path)
        answer = answer if isinstance(answer, dict) else {}
        code = answer.get("code")
        if status >= 500 or code in THROTTLED:
            raise DependencyError(f"tiktok {path} answered {status} {code}")
        if status >= 300 or code != 0:
            raise TiktokError(code, str(answer.get("message") or ""))
        return answer

    def get_orders(self, shop_id: str | None, ids: list[str]) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for start in range(0, len(ids), IDS_PER_CALL):
            chunk = ids[start : start + IDS_PER_CALL]
            try:
                answer = self.call("GET", DETAIL_PATH, {"ids": ",".join(chunk)})
            except TiktokError as exc:
                if exc.code not in NOT_FOUND:
                    raise DependencyError(f"tiktok get order detail: {exc}") from exc
                if len(chunk) > 1:
                    for order_id in chunk:
                        found.update(self.get_orders(shop_id, [order_id]))
                continue
            for order in (answer.get("data") or {}).get("orders") or []:
                if isinstance(order, dict) and order.get("id"):
                    found[str(order["id"])] = order
        return found

    def updated_orders(self, since: datetime, until: datetime, cursor: str | None) -> UpdatedPage:
        params = {"page_size": str(PAGE), "sort_field": "update_time", "sort_order": "ASC"}
        if cursor:
            params["page_token"] = cursor
        body = {"update_time_ge": int(since.timestamp()), "update_time_lt": int(until.timestamp())}
        try:
            data = self.call("POST", SEARCH_PATH, params, body).get("data") or {}
        except TiktokError as exc:
            raise DependencyError(f"tiktok search orders: {exc}") from exc
        orders = [
            UpdatedOrder(str(order["id"]), _time(order.get("update_time")), status=order.get("status"))
            for order in data.get("orders") or []
            if isinstance(order, dict) and order.get("id")
        ]
        return UpdatedPage(orders, str(data.get("next_page_token") or "") or None)


def _time(value: object) -> datetime | None:
    try:
        return from_epoch(value, "update_time")
    except NormalizationError:
        return None


class TiktokError(Exception):
    def __init__(self, code: object, message: str) -> None:
        super().__init__(f"{code}: {message}"[:300])
        self.code = code
        self.message = message  # the vendor's own words, whole


# --- outbound: shipments, cancellations, stock ------------------------------------------------------

SHIP_PATH = "/fulfillment/202309/packages/{package_id}/ship"
CANCEL_PATH = "/return_refund/202309/cancellations"
PRODUCT_SEARCH_PATH = "/product/202309/products/search"
INVENTORY_PATH = "/product/202309/products/{product_id}/inventory/update"
CANCEL_REASON = "seller_cancel_reason_out_of_stock"
CANCEL_SEARCH_PATH = "/return_refund/202309/cancellations/search"
CANCEL_APPROVE_PATH = "/return_refund/202309/cancellations/{cancel_id}/approve"
CANCEL_REJECT_PATH = "/return_refund/202309/cancellations/{cancel_id}/reject"
CANCEL_REJECT_REASON = "seller_reject_apply_product_has_been_packed"
LISTING_TTL_S = 3600


class TiktokOutbound:
    """What the OMS tells TikTok Shop: Ship Package with the seller's own shipment (tracking number and
    the order's shipping provider), a seller cancellation, and inventory per product and SKU id (found
    by seller SKU through Search Products, kept for an hour)."""

    def __init__(self, api: TiktokApi) -> None:
        self.api = api
        self._listing: dict[str, tuple[float, tuple[str, str] | None]] = {}
        # The shop's listing map (oms.domain.listings), when wired: answers None until the shop has one.
        self.listings: ListingLookup | None = None

    def _post(self, path: str, body: dict, params: dict[str, str] | None = None) -> dict:
        try:
            return self.api.call("POST", path, params or {}, body)
        except TiktokError as exc:
            raise DependencyError(f"tiktok {path}: {exc}") from exc

    def ship(self, order_id: str, lines: list[dict], carrier: str, tracking_number: str) -> None:
        detail = self.api.get_orders(None, [order_id]).get(order_id)
        if detail is None:
            raise DependencyError(f"tiktok does not know order {order_id}")
        if detail.get("status") in ("IN_TRANSIT", "DELIVERED", "COMPLETED", "CANCELLED"):
            return  # moved on already (a replay)
        rows = [row for row in detail.get("line_items") or [] if isinstance(row, dict)]
        skus = {str(line.get("sku")) for line in lines}
        # The packages holding the parcel's units that are still to be handed over.
        packages = (
            sorted(
                {
                    str(row["package_id"])
                    for row in rows
                    if row.get("package_id")
                    and row.get("seller_sku") in skus
                    and row.get("package_status") in ("TO_FULFILL", "PROCESSING", None)
                }
            )
            or [p["id"] for p in detail.get("packages") or [] if isinstance(p, dict) and p.get("id")][:1]
        )
        provider = detail.get("shipping_provider_id") or next(
            (row.get("shipping_provider_id") for row in rows if row.get("shipping_provider_id")), None
        )
        if not packages or not provider:
            raise DependencyError(f"tiktok order {order_id} has no package or shipping provider to ship with")
        shipment = {"tracking_number": tracking_number, "shipping_provider_id": str(provider)}
        for package_id in packages:
            self._post(SHIP_PATH.format(package_id=package_id), {"self_shipment": shipment})

    def cancel(self, order_id: str, by: str | None = None) -> None:
        detail = self.api.get_orders(None, [order_id]).get(order_id)
        if detail is not None and detail.get("status") in ("CANCELLED", "CANCEL"):
            return
        self._post(CANCEL_PATH, {"order_id": order_id, "cancel_reason": CANCEL_REASON})

    def answer_cancel_request(self, order_id: str, accept: bool) -> None:
        """Approve or reject the order's pending buyer cancellations (found by Search Cancellations)."""
        answer = self._post(CANCEL_SEARCH_PATH, {"order_ids": [order_id]}, {"page_size": "50"})
        pending = [
            c["cancel_id"]
            for c in (answer.get("data") or {}).get("cancellations") or []
            if c.get("cancel_status") == "CANCELLATION_REQUEST_PENDING" and c.get("cancel_id")
        ]
        for cancel_id in pending:
            path = (CANCEL_APPROVE_PATH if accept else CANCEL_REJECT_PATH).format(cancel_id=cancel_id)
            self._post(path, {} if accept else {"reject_reason": CANCEL_REJECT_REASON})

    def _ids(self, skus: list[str]) -> dict[str, tuple[str, str] | None]:
        """seller SKU -> (product id, SKU id), None when the shop does not list it."""
        now = time.monotonic()
        wanted = [s for s in skus if s not in self._listing or now - self._listing[s][0] >= LISTING_TTL_S]
        for start in range(0, len(wanted), 50):
            chunk = wanted[start : start + 50]
            found: dict[str, tuple[str, str]] = {}
            answer = self._post(PRODUCT_SEARCH_PATH, {"seller_skus": chunk}, {"page_size": "100"})
            for product in (answer.get("data") or {}).get("products") or []:
                for sku in product.get("skus") or []:
                    if sku.get("seller_sku") in chunk:
                        found[sku["seller_sku"]] = (str(product["id"]), str(sku["id"]))
            for seller_sku in chunk:
                self._listing[seller_sku] = (now, found.get(seller_sku))
        return {sku: self._listing[sku][1] for sku in skus}

    def push_stock(self, figures: dict[str, int]) -> PushOutcome:
        outcome = PushOutcome()
        mapped = self.listings(sorted(figures)) if self.listings is not None else None
        if mapped is None:
            ids = self._ids(sorted(figures))
        else:  # the map's ids; a SKU it lacks is searched by seller SKU (one call for 50), listed since perhaps
            ids = {sku: (row.item_id, row.variant_id) for sku, row in mapped.items() if row is not None}
            ids |= self._ids(sorted(set(figures) - set(ids)))
        by_product: dict[str, dict[str, str]] = {}
        for sku, found in ids.items():
            if found is None:
                outcome.skipped[sku] = "not listed in the tiktok shop"
            else:
                by_product.setdefault(found[0], {})[found[1]] = sku
        for product_id, skus in by_product.items():
            body = {"skus": [{"id": sku_id, "inventory": [{"quantity": figures[sku]}]} for sku_id, sku in skus.items()]}
            try:
                self.api.call("POST", INVENTORY_PATH.format(product_id=product_id), {}, body)
            except TiktokError as exc:  # the product is gone or frozen: not worth retrying
                outcome.skipped.update({sku: f"refused by tiktok: {exc}" for sku in skus.values()})
            except DependencyError as exc:
                outcome.failed.update({sku: exc.message for sku in skus.values()})
        return outcome


# --- what MarketplaceApi and tokens.py find by the channel's package name ---------------------------

REFRESH_PATH = "/api/v2/token/refresh"


def connect(http: ChannelHttp, _auth: ChannelHttp, secrets: SecretsProvider) -> TiktokApi:
    return TiktokApi(http, secrets)


def outbound(api: TiktokApi) -> TiktokOutbound:
    return TiktokOutbound(api)


def refresh_token(http: ChannelHttp, setting: Callable[[str], str], _now: int) -> TokenPair:
    """GET <auth base>/api/v2/token/refresh with app_key, app_secret and the refresh token."""
    params = {
        "app_key": setting("app_key"),
        "app_secret": setting("app_secret"),
        "refresh_token": setting("refresh_token"),
        "grant_type": "refresh_token",
    }
    status, answer = http.request("GET", REFRESH_PATH, query=params, what="token refresh", attempts=1)
    answer = answer if isinstance(answer, dict) else {}
    data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
    if status >= 300 or answer.get("code") != 0 or not data.get("access_token"):
        raise DependencyError(f"tiktok token refresh answered {status} {answer.get('code', '')}")
    return TokenPair(data["access_token"], data["refresh_token"], int(data.get("access_token_expire_in") or 0))
