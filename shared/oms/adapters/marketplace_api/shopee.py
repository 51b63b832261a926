"""Shopee Open Platform v2: shop APIs signed with the partner key.

sign = hex HMAC-SHA256(partner_key, partner_id + api path + timestamp + access_token + shop_id), sent
as query parameters with partner_id, timestamp, access_token and shop_id. Errors come in the body
(`error`, `message`) with HTTP 200 or 4xx; `error_param`-style answers about an order are "unknown".
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from oms.adapters.marketplace_api.http import ChannelHttp
from oms.adapters.marketplace_api.tokens import TokenPair
from oms.channels.shopee.signing import partner_sign, shop_sign
from oms.domain.channel_sync import ShopNotConnected, UpdatedOrder, UpdatedPage
from oms.domain.stock_push import PushOutcome
from oms.errors import DependencyError
from oms.ports import SecretsProvider

if TYPE_CHECKING:
    from oms.models.listings import Listing

    ListingLookup = Callable[[list[str]], dict[str, Listing | None] | None]

DETAIL_PATH = "/api/v2/order/get_order_detail"
LIST_PATH = "/api/v2/order/get_order_list"
LOST_PUSH_PATH = "/api/v2/push/get_lost_push_message"
CONFIRM_LOST_PUSH_PATH = "/api/v2/push/confirm_consumed_lost_push_message"
IDS_PER_CALL = 50  # get_order_detail takes at most 50 order_sn
# Most of the order is only returned when asked for.
OPTIONAL_FIELDS = ",".join(
    (
        "buyer_user_id", "buyer_username", "estimated_shipping_fee", "recipient_address", "actual_shipping_fee",
        "goods_to_declare", "note", "note_update_time", "item_list", "pay_time", "dropshipper",
        "dropshipper_phone", "split_up", "buyer_cancel_reason", "cancel_by", "cancel_reason",
        "actual_shipping_fee_confirmed", "buyer_cpf_id", "fulfillment_flag", "pickup_done_time", "package_list",
        "shipping_carrier", "payment_method", "total_amount", "invoice_data", "order_chargeable_weight_gram",
        "return_request_due_date", "edt",
    )
)  # fmt: skip
THROTTLED = {"error_rate_limit", "error_server", "error_busi_system", "error_inner"}


class ShopeeApi:
    def __init__(self, http: ChannelHttp, secrets: SecretsProvider, clock: Callable[[], float] = time.time) -> None:
        self.http = http
        self.secrets = secrets
        self.clock = clock

    def _setting(self, name: str) -> str:
        value = self.secrets.channel_secret("shopee", name)
        if not value:
            raise DependencyError(f"shopee is not configured: {name}")
        return value

    def call(self, method: str, path: str, shop_id: str | None, params: dict, body: bytes | None = None) -> dict:
        partner_id, key, token = (
            self._setting("partner_id"),
            self._setting("partner_key"),
            self._setting("access_token"),
        )
        shop = shop_id or self._setting("shop_id")
        timestamp = int(self.clock())
        query = {
            "partner_id": partner_id,
            "timestamp": timestamp,
            "access_token": token,
            "shop_id": shop,
            "sign": shop_sign(key, partner_id, path, timestamp, token, shop),
            **params,
        }
        headers = {"content-type": "application/json"} if body is not None else {}
        status, answer = self.http.request(method, path, query=query, body=body, headers=headers, what=path)
        answer = answer if isinstance(answer, dict) else {}
        error = str(answer.get("error") or "")
        if error in THROTTLED or status >= 500:
            raise DependencyError(f"shopee {path} answered {status} {error}")
        if status >= 300 or error:
            raise ShopeeError(status, error, str(answer.get("message") or ""))
        return answer

    def get_orders(self, shop_id: str | None, ids: list[str]) -> dict[str, dict]:
        if shop_id and shop_id != self._setting("shop_id"):
            raise ShopNotConnected(
                f"shopee shop {shop_id} is not connected (the OMS holds shop_id {self._setting('shop_id')})"
            )
        found: dict[str, dict] = {}
        for start in range(0, len(ids), IDS_PER_CALL):
            chunk = ids[start : start + IDS_PER_CALL]
            params = {"order_sn_list": ",".join(chunk), "response_optional_fields": OPTIONAL_FIELDS}
            try:
                answer = self.call("GET", DETAIL_PATH, shop_id, params)
            except ShopeeError as exc:
                if exc.error not in ("error_not_found", "error_param"):
                    raise DependencyError(f"shopee get_order_detail: {exc}") from exc
                if len(chunk) > 1:  # one unknown order spoils the call: ask for each alone
                    for order_sn in chunk:
                        found.update(self.get_orders(shop_id, [order_sn]))
                continue  # a single unknown order: missing from the answer
            for order in (answer.get("response") or {}).get("order_list") or []:
                if isinstance(order, dict) and order.get("order_sn"):
                    found[str(order["order_sn"])] = order
        return found

    # Lost pushes: partner-level calls (signed over partner_id + path + timestamp, no shop).
    def _partner_call(self, method: str, path: str, body: dict | None = None) -> dict:
        partner_id, key = self._setting("partner_id"), self._setting("partner_key")
        timestamp = int(self.clock())
        sign = partner_sign(key, partner_id, path, timestamp)
        query = {"partner_id": partner_id, "timestamp": timestamp, "sign": sign}
        raw = json.dumps(body).encode() if body is not None else None
        headers = {"content-type": "application/json"} if raw else {}
        status, answer = self.http.request(method, path, query=query, body=raw, headers=headers, what=path)
        answer = answer if isinstance(answer, dict) else {}
        if status >= 300 or answer.get("error"):
            raise DependencyError(f"shopee {path} answered {status} {answer.get('error', '')}")
        return answer

    def lost_pushes(self) -> tuple[list[bytes], str | None]:
        """Pushes Shopee could not deliver (kept 3 days), rebuilt as the webhook bodies they were."""
        response = self._partner_call("GET", LOST_PUSH_PATH).get("response") or {}
        bodies = []
        for message in response.get("push_message_list") or []:
            data = message.get("data")
            body = {
                "shop_id": message.get("shop_id"),
                "code": message.get("code"),
                "timestamp": message.get("timestamp"),
                "data": json.loads(data) if isinstance(data, str) else data,
            }
            bodies.append(json.dumps(body, separators=(",", ":")).encode())
        last = response.get("last_message_id")
        return bodies, (str(last) if last else None)

    def confirm_lost_pushes(self, mark: str) -> None:
        self._partner_call("POST", CONFIRM_LOST_PUSH_PATH, {"last_message_id": int(mark)})

    def updated_orders(self, since: datetime, until: datetime, cursor: str | None) -> UpdatedPage:
        params = {
            "time_range_field": "update_time",
            "time_from": int(since.timestamp()),
            "time_to": int(until.timestamp()),
            "page_size": 100,
            "cursor": cursor or "",
            "response_optional_fields": "order_status",
        }
        try:
            answer = self.call("GET", LIST_PATH, None, params)
        except ShopeeError as exc:
            raise DependencyError(f"shopee get_order_list: {exc}") from exc
        response = answer.get("response") or {}
        orders = [
            UpdatedOrder(str(item["order_sn"]), status=item.get("order_status"))
            for item in response.get("order_list") or []
            if isinstance(item, dict) and item.get("order_sn")
        ]
        more = bool(response.get("more"))
        return UpdatedPage(orders, str(response.get("next_cursor") or "") if more else None)


# Shopee's answers about the shop's authorization (an expired or revoked token), not about the request.
AUTH_ERRORS = frozenset({"invalid_access_token", "invalid_acceess_token", "error_auth", "error_permission"})


class ShopeeError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(f"{status} {error}: {message}"[:300])
        self.error = error


# --- outbound: shipments, cancellations, stock ------------------------------------------------------

SHIP_PATH = "/api/v2/logistics/ship_order"
CANCEL_PATH = "/api/v2/order/cancel_order"
HANDLE_CANCEL_PATH = "/api/v2/order/handle_buyer_cancellation"
ITEM_LIST_PATH = "/api/v2/product/get_item_list"
MODEL_LIST_PATH = "/api/v2/product/get_model_list"
ITEM_BASE_PATH = "/api/v2/product/get_item_base_info"
SHIPPED_OR_LATER = frozenset({"SHIPPED", "TO_CONFIRM_RECEIVE", "COMPLETED", "TO_RETURN"})
RELIST_AFTER_S = 300  # a SKU missing from the listing triggers a new look, at most this often
STOCK_PATH = "/api/v2/product/update_stock"
LISTING_TTL_S = 3600  # which item and model each SKU is on Shopee changes rarely


class ShopeeOutbound:
    """What the OMS tells Shopee. Shopee names products by item_id and model_id, so the SKU map comes
    from the shop's own listing (get_item_list + get_model_list), kept for an hour."""

    def __init__(self, api: ShopeeApi) -> None:
        self.api = api
        self._listing: tuple[float, dict[str, tuple[int, int]]] | None = None
        # The shop's listing map (oms.domain.listings), when wired: answers None until the shop has one.
        self.listings: ListingLookup | None = None

    def _post(self, path: str, body: dict) -> dict:
        try:
            return self.api.call("POST", path, None, {}, json.dumps(body).encode())
        except ShopeeError as exc:
            raise DependencyError(f"shopee {path}: {exc}") from exc

    def _detail(self, order_id: str) -> dict:
        detail = self.api.get_orders(None, [order_id]).get(order_id)
        if detail is None:
            raise DependencyError(f"shopee does not know order {order_id}")
        return detail

    def ship(self, order_id: str, lines: list[dict], carrier: str, tracking_number: str) -> None:
        """The seller's own carrier (non-integrated logistics): the parcel's package with its tracking number.
        Decided from what Shopee shows now, so a replay after the order moved on sends nothing."""
        detail = self._detail(order_id)
        if detail.get("order_status") in SHIPPED_OR_LATER:
            return
        if detail.get("order_status") == "CANCELLED":  # a person must know: parked in the DLQ with the reason
            raise DependencyError(f"shopee order {order_id} is cancelled at shopee; the parcel was shipped anyway")
        body: dict = {"order_sn": order_id, "non_integrated": {"tracking_number": tracking_number}}
        package = _package_for(detail, {str(line.get("sku")) for line in lines})
        if package is not None:
            body["package_number"] = package
        self._post(SHIP_PATH, body)

    def cancel(self, order_id: str, by: str | None = None) -> None:
        """cancel_order (a buyer's open request is accepted instead); the reason from who cancelled."""
        detail = self._detail(order_id)
        status = detail.get("order_status")
        if status == "CANCELLED":
            return
        if status == "IN_CANCEL":
            self._post(HANDLE_CANCEL_PATH, {"order_sn": order_id, "operation": "ACCEPT"})
            return
        items = [
            {"item_id": item["item_id"], "model_id": item.get("model_id", 0)}
            for item in detail.get("item_list") or []
            if isinstance(item, dict) and "item_id" in item
        ]
        reason = "CUSTOMER_REQUEST" if (by or "").startswith("cs") else "OUT_OF_STOCK"
        body: dict = {"order_sn": order_id, "cancel_reason": reason}
        if reason == "OUT_OF_STOCK":
            body["item_list"] = items  # Shopee asks which items are out of stock
        self._post(CANCEL_PATH, body)

    def answer_cancel_request(self, order_id: str, accept: bool) -> None:
        """handle_buyer_cancellation, only while Shopee still shows the request (a replay finds it answered)."""
        detail = self.api.get_orders(None, [order_id]).get(order_id)
        if detail is None or detail.get("order_status") != "IN_CANCEL":
            return
        self._post(HANDLE_CANCEL_PATH, {"order_sn": order_id, "operation": "ACCEPT" if accept else "REJECT"})

    def listing(self, max_age_s: float = LISTING_TTL_S) -> dict[str, tuple[int, int]]:
        """SKU -> (item_id, model_id) of the shop's live items: item SKUs from get_item_base_info (50 items
        a call), model SKUs from get_model_list for the items that have models."""
        if self._listing and time.monotonic() - self._listing[0] < max_age_s:
            return self._listing[1]
        found: dict[str, tuple[int, int]] = {}
        offset = 0
        while True:
            page = (
                self.api.call(
                    "GET", ITEM_LIST_PATH, None, {"offset": offset, "page_size": 50, "item_status": "NORMAL"}
                ).get("response")
                or {}
            )
            ids = [int(item["item_id"]) for item in page.get("item") or [] if item.get("item_id")]
            if ids:
                base = self.api.call("GET", ITEM_BASE_PATH, None, {"item_id_list": ",".join(map(str, ids))})
                for item in (base.get("response") or {}).get("item_list") or []:
                    item_id = int(item["item_id"])
                    if item.get("has_model"):
                        models = self.api.call("GET", MODEL_LIST_PATH, None, {"item_id": item_id}).get("response") or {}
                        for model in models.get("model") or []:
                            if model.get("model_sku"):
                                found[str(model["model_sku"])] = (item_id, int(model["model_id"]))
                    elif item.get("item_sku"):  # a product without variations: stock on the item (model 0)
                        found[str(item["item_sku"])] = (item_id, 0)
            if not page.get("has_next_page"):
                break
            offset = int(page.get("next_offset") or offset + 50)
        self._listing = (time.monotonic(), found)
        return found

    def push_stock(self, figures: dict[str, int]) -> PushOutcome:
        """Seller stock per SKU, one call per item. A SKU the shop does not list (after a listing at most
        5 minutes old) or that Shopee refuses is skipped with the reason; an item's failed call fails its SKUs."""
        outcome = PushOutcome()
        mapped = self.listings(sorted(figures)) if self.listings is not None else None
        if mapped is not None:  # the shop's listing map: no walk of the shop's items
            listing = {sku: (int(row.item_id), int(row.variant_id)) for sku, row in mapped.items() if row is not None}
        else:
            listing = self.listing()
            if any(sku not in listing for sku in figures):
                listing = self.listing(max_age_s=RELIST_AFTER_S)  # listed since the last look?
        by_item: dict[int, dict[int, str]] = {}
        for sku in figures:
            if sku not in listing:
                outcome.skipped[sku] = "not listed in the shopee shop" + (" (its listing map)" if mapped else "")
                continue
            item_id, model_id = listing[sku]
            by_item.setdefault(item_id, {})[model_id] = sku
        for item_id, models in by_item.items():
            stock_list = [{"model_id": m, "seller_stock": [{"stock": figures[sku]}]} for m, sku in models.items()]
            try:
                answer = self.api.call(
                    "POST", STOCK_PATH, None, {}, json.dumps({"item_id": item_id, "stock_list": stock_list}).encode()
                )
            except ShopeeError as exc:
                if exc.error in AUTH_ERRORS:  # the shop's token, not the item: retried once it is renewed
                    outcome.failed.update({sku: f"shopee shop not authorized: {exc}" for sku in models.values()})
                else:  # the item is gone or banned: not worth retrying
                    outcome.skipped.update({sku: f"refused by shopee: {exc}" for sku in models.values()})
                continue
            except DependencyError as exc:
                outcome.failed.update({sku: exc.message for sku in models.values()})
                continue
            for failure in (answer.get("response") or {}).get("failure_list") or []:
                sku = models.get(int(failure.get("model_id") or 0))
                if sku:
                    outcome.skipped[sku] = f"refused by shopee: {failure.get('failed_reason') or 'no reason'}"
        return outcome


def _package_for(detail: dict, skus: set[str]) -> str | None:
    """The package holding the parcel's SKUs (a split order has several), else the first one."""
    sku_of = {
        (item.get("item_id"), item.get("model_id", 0)): item.get("model_sku") or item.get("item_sku")
        for item in detail.get("item_list") or []
        if isinstance(item, dict)
    }
    packages = [p for p in detail.get("package_list") or [] if isinstance(p, dict) and p.get("package_number")]
    for package in packages:
        held = {sku_of.get((i.get("item_id"), i.get("model_id", 0))) for i in package.get("item_list") or []}
        if held & skus:
            return str(package["package_number"])
    return str(packages[0]["package_number"]) if packages else None


# --- what MarketplaceApi and tokens.py find by the channel's package name ---------------------------

REFRESH_PATH = "/api/v2/auth/access_token/get"


def connect(http: ChannelHttp, _auth: ChannelHttp, secrets: SecretsProvider) -> ShopeeApi:
    return ShopeeApi(http, secrets)


def outbound(api: ShopeeApi) -> ShopeeOutbound:
    return ShopeeOutbound(api)


def refresh_token(http: ChannelHttp, setting: Callable[[str], str], now: int) -> TokenPair:
    """POST <base>/api/v2/auth/access_token/get, partner-signed (partner_id + path + timestamp)."""
    partner_id, key = setting("partner_id"), setting("partner_key")
    sign = partner_sign(key, partner_id, REFRESH_PATH, now)
    body = {
        "refresh_token": setting("refresh_token"),
        "partner_id": int(partner_id),
        "shop_id": int(setting("shop_id")),
    }
    status, answer = http.request(
        "POST", REFRESH_PATH, query={"partner_id": partner_id, "timestamp": now, "sign": sign},
        body=json.dumps(body).encode(), headers={"content-type": "application/json"}, what="token refresh",
        attempts=1,
    )  # fmt: skip
    answer = answer if isinstance(answer, dict) else {}
    if status >= 300 or answer.get("error") or not answer.get("access_token"):
        raise DependencyError(f"shopee token refresh answered {status} {answer.get('error', '')}")
    return TokenPair(answer["access_token"], answer["refresh_token"], now + int(answer.get("expire_in") or 14400))
