"""The marketplaces, simulated: their order APIs in each channel's documented format, with each
channel's request signing checked (a wrong signature gets the channel's own error), and signed
webhooks sent to the OMS the way each channel sends them.

Four storefronts, three APIs: Tokopedia's Open API closed on 30 Sep 2025 and its storefronts run on the
TikTok Shop API. A `tokopedia` order here is a TikTok Shop order of a TikTok shop whose `platform` says
TOKOPEDIA: TikTok's statuses and 18-digit id, served by the TikTok endpoints and pushed to
/webhooks/tiktok signed with the TikTok app secret; its shop's products are its listings (one stock).
It keeps the channel name `tokopedia` in the control endpoints below, as the OMS files it.

Orders live here (SimOrder); `sim_formats/<channel>.py` renders them as the channel would. Created
and changed through the control endpoints (see channel_sim.py):

  POST /_sim/orders            {"channel": "shopee", "lines": [{"sku", "quantity", "unit_price"}], ...,
                                "push": true}  -> the order, and what the OMS answered to its push(es)
  POST /_sim/orders/<channel>/<order id>  {"status": "SHIPPED", "push": true, "tracking_number": ...}
  POST /_sim/push/<channel>/<order id>    {"status": "...", "bad_signature": false}: push again (a repeat,
                                or an old status out of order) without changing the order

Several shops per marketplace (Shopee and TikTok Shop: the demo seller's, `seed.shops(settings)`; Lazada:
one; Tokopedia: TikTok Shop's). POST /_sim/orders takes "shop_id" (default: the channel's first shop, whose
credentials are the channel-level settings OMS_SHOPEE_SHOP_ID, OMS_<CHANNEL>_ACCESS_TOKEN, ...); the
order's documents and pushes name that shop. Each shop takes its own tokens (the seed's, and every pair
its refresh call issued, bound to it), and answers about its own orders only:
  Shopee       the `shop_id` query parameter names the shop, `access_token` must be its token (another
               shop's: invalid_access_token); another shop's order_sn is as unknown; the refresh call
               (`shop_id` + `refresh_token` in its body) renews that shop's pair
  TikTok Shop  the `shop_cipher` query parameter names the shop, `x-tts-access-token` must be its token;
               the refresh token names the shop whose pair it renews
A token added to `access_tokens[channel]` by hand (tests) is the channel's first shop's.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import itertools
import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from oms_local import listing_sim, logistics_sim
from oms_local.sim_formats import SimLine, SimOrder
from oms_local.sim_formats import lazada as lazada_docs
from oms_local.sim_formats import shopee as shopee_docs
from oms_local.sim_formats import tiktok as tiktok_docs

MARKETPLACES = ("shopee", "lazada", "tiktok", "tokopedia")  # the storefronts an order can come from
APIS = ("shopee", "lazada", "tiktok")  # the APIs that serve them (each with its shops, tokens and webhook)
# A storefront served by another marketplace's API: its orders are that API's, its shops and tokens too.
TRANSPORT = {"tokopedia": "tiktok"}
# What a new order says, per channel: paid and waiting for the seller.
NEW_STATUS = {"shopee": "READY_TO_SHIP", "lazada": "pending", "tiktok": "AWAITING_SHIPMENT"}
ID_DIGITS = {"lazada": 15, "tiktok": 18}


def transport(channel: str) -> str:
    """The API that serves a storefront's orders (tokopedia -> tiktok; the others serve their own)."""
    return TRANSPORT.get(channel, channel)


def storefronts(api: str) -> tuple[str, ...]:
    """The storefronts whose orders an API serves (tiktok -> tiktok, tokopedia)."""
    return tuple(channel for channel in MARKETPLACES if transport(channel) == api)


@dataclass(frozen=True)
class SimShop:
    channel: str
    shop_id: str
    shop_cipher: str | None = None  # TikTok Shop: what its calls name it by
    name: str = ""


class MarketplaceSim:
    def __init__(self, settings: Mapping[str, str]) -> None:
        self.settings = dict(settings)  # the OMS_* local settings (credentials both sides share)
        self.lock = threading.Lock()
        self.orders: dict[tuple[str, str], SimOrder] = {}
        self.oms_url: str | None = None  # where webhooks go: http://127.0.0.1:3000
        self._ids = itertools.count(int(time.time()) % 100_000 * 1000)
        self.shown: dict[str, dict[str, dict[str, Any]]] = {}  # channel -> sku -> what the shop now shows
        self.shown_by_shop: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}  # (channel, shop id) -> sku -> ...
        self.push_after_outbound = True
        self.lost: list[tuple[int, dict]] = []  # Shopee's undelivered pushes, kept for get_lost_push_message
        self._lost_ids = itertools.count(1)
        # Each API's shops, its first the default one (the channel-level settings').
        self.shops: dict[str, list[SimShop]] = {channel: [] for channel in APIS}
        # Shop tokens each channel accepts: the configured ones, and every one its refresh call issued;
        # `token_shop` binds each to its shop (one not in it is the channel's first shop's).
        self.access_tokens: dict[str, set[str]] = {channel: set() for channel in APIS}
        self.refresh_tokens: dict[str, set[str]] = {channel: set() for channel in APIS}
        self.token_shop: dict[tuple[str, str], str] = {}
        for shop, access, refresh in self._configured_shops():
            self.shops[shop.channel].append(shop)
            self._grant(shop, access, refresh)
        # Each channel's logistics state (packages, resi, documents), kept by logistics_sim/<channel>.py.
        self.logistics_state: dict[str, dict[str, Any]] = {}
        self.public_url: str | None = None  # the simulator's own address, for document links (set on start)

    def clear(self) -> None:
        with self.lock:
            self.orders.clear()
            self.lost.clear()
            self.logistics_state.clear()
            self.shown_by_shop.clear()

    # ------------------------------------------------------------ orders

    def create(self, spec: dict[str, Any]) -> SimOrder:
        channel = str(spec.get("channel"))
        if channel not in MARKETPLACES:
            raise ValueError(f"channel must be one of {', '.join(MARKETPLACES)}")
        lines = [
            SimLine(
                sku=str(line["sku"]),
                quantity=int(line.get("quantity", 1)),
                unit_price=int(line.get("unit_price", 100000)),
                name=str(line.get("name") or line["sku"]),
                discount=int(line.get("discount", 0)),
            )
            for line in spec.get("lines") or []
        ]
        if not lines:
            raise ValueError("an order needs lines: [{sku, quantity, unit_price}]")
        api = transport(channel)  # a Tokopedia order is one of a TikTok shop's
        shop_id = str(spec.get("shop_id") or self._shop_id(api))
        if self._shop(api, shop_id) is None:
            known = ", ".join(shop.shop_id for shop in self.shops[api])
            raise ValueError(f"{channel} has no shop {shop_id}; its shops: {known}")
        now = int(time.time()) - int(spec.get("age_s", 0))  # age_s: placed that long ago
        fields = {
            key: spec[key]
            for key in ("buyer_name", "buyer_phone", "buyer_email", "line1", "village", "district", "city",
                        "province", "postal_code", "carrier", "cod", "shipping_fee")
            if key in spec
        }  # fmt: skip
        with self.lock:
            order_id = str(spec.get("order_id") or self._new_id(api))
            if any((other, order_id) in self.orders for other in storefronts(api) if other != channel):
                raise ValueError(f"{api} already has an order {order_id}")  # one id space per API
            order = SimOrder(
                channel=channel,
                order_id=order_id,
                shop_id=shop_id,
                status=str(spec.get("status") or NEW_STATUS[api]),
                created=now,
                updated=now,
                lines=lines,
                ship_by=now + 2 * 86400,
                extra=dict(spec.get("extra") or {}),
                **fields,
            )
            order.extra["_history"] = [(order.status, order.updated)]
            self.orders[(channel, order_id)] = order
        return order

    def change(self, channel: str, order_id: str, spec: dict[str, Any]) -> SimOrder:
        with self.lock:
            order = self.orders.get((channel, order_id))
            if order is None:
                raise KeyError(f"no {channel} order {order_id}")
            if "status" in spec:
                order.status = str(spec["status"])
            for key in ("tracking_number", "cancel_reason", "carrier"):
                if key in spec:
                    setattr(order, key, spec[key])
            order.extra.update(spec.get("extra") or {})
            # Channels stamp whole seconds; a change always moves the clock on.
            order.updated = max(int(time.time()), order.updated + 1)
            order.extra.setdefault("_history", []).append((order.status, order.updated))
            return order

    def get(self, channel: str, order_id: str) -> SimOrder | None:
        with self.lock:
            return self.orders.get((channel, order_id))

    def _new_id(self, channel: str) -> str:
        n = next(self._ids)
        if channel == "shopee":  # order_sn: yymmdd + 8 upper-case letters and digits
            alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
            tail = "".join(alphabet[(n // len(alphabet) ** i) % len(alphabet)] for i in range(8))
            return time.strftime("%y%m%d") + tail
        digits = ID_DIGITS[channel]
        return str(10 ** (digits - 1) + n % (9 * 10 ** (digits - 1)))

    def _shop_id(self, channel: str) -> str:
        """The channel's default shop: its first."""
        return self.shops[channel][0].shop_id

    # ------------------------------------------------------------ shops and their tokens

    def _configured_shops(self) -> list[tuple[SimShop, str, str]]:
        """(shop, access token, refresh token) of every shop: the demo seller's Shopee and TikTok Shop shops
        (seed.shops, their first taking the channel-level settings) and one Lazada shop. Tokopedia has none
        of its own: its storefronts are TikTok shops."""
        from oms_local.seed import shops as demo_shops

        s = self.settings
        configured = [
            (SimShop(shop["channel"], shop["shop_id"], shop["shop_cipher"], shop["name"]),
             shop["access_token"], shop["refresh_token"])
            for shop in demo_shops(s)
            if shop["channel"] in ("shopee", "tiktok")
        ]  # fmt: skip
        tokens = (s.get("OMS_LAZADA_ACCESS_TOKEN", ""), s.get("OMS_LAZADA_REFRESH_TOKEN", ""))
        configured.append((SimShop("lazada", "100200300"), *tokens))
        return configured

    def _shop(self, channel: str, shop_id: str | None) -> SimShop | None:
        return next((shop for shop in self.shops[channel] if shop.shop_id == shop_id), None)

    def _shop_by_cipher(self, channel: str, cipher: str | None) -> SimShop | None:
        return next((shop for shop in self.shops[channel] if cipher and shop.shop_cipher == cipher), None)

    def _grant(self, shop: SimShop, access: str, refresh: str) -> None:
        with self.lock:
            self.access_tokens[shop.channel].add(access)
            self.refresh_tokens[shop.channel].add(refresh)
            self.token_shop[(shop.channel, access)] = shop.shop_id
            self.token_shop[(shop.channel, refresh)] = shop.shop_id

    def _holds(self, shop: SimShop | None, token: str | None, refresh: bool = False) -> bool:
        """Whether the token is one the shop takes (a refresh token, with refresh)."""
        if shop is None or token is None:
            return False
        with self.lock:
            if token not in (self.refresh_tokens if refresh else self.access_tokens)[shop.channel]:
                return False
            return self.token_shop.get((shop.channel, token), self._shop_id(shop.channel)) == shop.shop_id

    def _token_owner(self, channel: str, refresh_token: str | None) -> SimShop | None:
        """The shop a refresh token was issued to (TikTok Shop's refresh call names no shop)."""
        with self.lock:
            if refresh_token not in self.refresh_tokens[channel]:
                return None
            shop_id = self.token_shop.get((channel, refresh_token), self._shop_id(channel))
        return self._shop(channel, shop_id)

    def _order_of(self, shop: SimShop, order_id: str) -> SimOrder | None:
        """The shop's order with that id (of any storefront its API serves); another shop's is as unknown."""
        for channel in storefronts(shop.channel):
            order = self.get(channel, order_id)
            if order is not None and order.shop_id == shop.shop_id:
                return order
        return None

    def _orders_of(self, shop: SimShop) -> dict[str, SimOrder]:
        """The shop's orders by id, of every storefront its API serves (TikTok Shop's and Tokopedia's)."""
        served = storefronts(shop.channel)
        with self.lock:
            return {i: o for (c, i), o in self.orders.items() if c in served and o.shop_id == shop.shop_id}

    # ------------------------------------------------------------ webhooks to the OMS

    def pushes(self, order: SimOrder, status: str | None = None) -> list[dict[str, Any]]:
        """The webhook bodies the channel sends for the order's current status, or for an earlier one
        (as it was pushed then: its own time, so a late arrival is old news)."""
        if status is not None and status != order.status:
            then = [at for said, at in order.extra.get("_history", []) if said == status]
            updated = then[-1] if then else order.updated
            order = SimOrder(**{**order.__dict__, "status": status, "updated": updated, "extra": dict(order.extra)})
        if order.channel == "shopee":
            return [shopee_docs.status_push(order, msg_id=secrets.token_hex(12))]
        if order.channel == "lazada":  # one push per item row
            rows = lazada_docs.items_response(order)["data"]
            return [lazada_docs.trade_push(order, row["order_item_id"]) for row in rows]
        # TikTok Shop's, for its own storefront and Tokopedia's alike: the push names the shop and the order.
        return [tiktok_docs.status_push(order, notification_id=str(next(self._ids) * 1000 + 7))]

    def lose(self, order: SimOrder) -> None:
        """The push for this change never arrived; Shopee keeps such pushes for its lost-push API."""
        if order.channel == "shopee":
            with self.lock:
                self.lost.extend((next(self._lost_ids), body) for body in self.pushes(order))

    def send(self, channel: str, body: dict[str, Any], bad_signature: bool = False) -> dict[str, Any]:
        """POST the body to the OMS's webhook, signed as the channel signs it (a storefront's pushes come
        from the API that serves it: Tokopedia's to /webhooks/tiktok); what the OMS answered."""
        channel = transport(channel)
        if not self.oms_url:
            return {"sent": False, "error": "the OMS URL is not known yet"}
        raw = json.dumps(body, separators=(",", ":")).encode()
        headers = {"content-type": "application/json", **self.signature_headers(channel, raw)}
        if bad_signature:
            headers = {name: ("0" * 64 if name != "content-type" else value) for name, value in headers.items()}
        url = f"{self.oms_url}/webhooks/{channel}"  # http://127.0.0.1:<port>, set by the runtime
        request = urllib.request.Request(url, data=raw, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return {"sent": True, "status": response.status, "answer": response.read().decode()[:500]}
        except urllib.error.HTTPError as exc:
            return {"sent": True, "status": exc.code, "answer": exc.read().decode()[:500]}
        except OSError as exc:
            return {"sent": False, "error": type(exc).__name__}

    def signature_headers(self, channel: str, raw: bytes) -> dict[str, str]:
        """Each channel's webhook signature (CHANNELS.md), computed here independently of the OMS."""
        s = self.settings
        if channel == "shopee":
            message = s["OMS_SHOPEE_CALLBACK_URL"].encode() + b"|" + raw
            return {"authorization": _hmac_hex(s["OMS_SHOPEE_PARTNER_KEY"], message)}
        if channel == "lazada":
            return {"authorization": _hmac_hex(s["OMS_LAZADA_APP_SECRET"], s["OMS_LAZADA_APP_KEY"].encode() + raw)}
        if channel == "tiktok":
            return {"authorization": _hmac_hex(s["OMS_TIKTOK_APP_SECRET"], s["OMS_TIKTOK_APP_KEY"].encode() + raw)}
        raise ValueError(f"{channel} sends no webhooks of its own")

    # ------------------------------------------------------------ the channels' APIs

    def serve(
        self, channel: str, method: str, path: str, query: dict[str, str], raw: bytes, headers: Mapping[str, str]
    ) -> tuple[int, Any] | None:
        """(status, answer) of an API call, or None when the path is not one of the channel's order APIs."""
        handler = getattr(self, f"_{channel}", None) if channel in APIS else None
        return handler(method, path, query, raw, headers) if handler else None

    def _shopee(  # noqa: PLR0911 - one answer per documented error
        self, method: str, path: str, query: dict, raw: bytes, headers: Mapping
    ) -> tuple[int, Any] | None:
        if path == "/api/v2/auth/access_token/get":
            return self._shopee_refresh(query, json.loads(raw or b"{}"))
        if path.startswith("/api/v2/push/"):
            return self._shopee_lost(path, query, json.loads(raw or b"{}"))
        if not path.startswith(("/api/v2/order/", "/api/v2/logistics/", "/api/v2/product/")):
            return None
        s = self.settings
        q = query.get
        base = f"{q('partner_id')}{path}{q('timestamp')}{q('access_token')}{q('shop_id')}"
        expected = _hmac_hex(s["OMS_SHOPEE_PARTNER_KEY"], base.encode())
        if query.get("partner_id") != s["OMS_SHOPEE_PARTNER_ID"] or not hmac.compare_digest(
            expected, query.get("sign", "")
        ):
            return 403, {"error": "error_sign", "message": "Wrong sign.", "request_id": secrets.token_hex(16)}
        # The shop_id names the shop; its access_token must be that shop's.
        shop = self._shop("shopee", query.get("shop_id"))
        if not self._holds(shop, query.get("access_token")):
            return 403, {"error": "invalid_access_token", "message": "Invalid access_token."}
        if (answer := logistics_sim.serve(self, "shopee", method, path, query, raw)) is not None:
            return answer
        if path == "/api/v2/order/get_order_detail":
            wanted = [sn for sn in query.get("order_sn_list", "").split(",") if sn]
            if not wanted or len(wanted) > 50:
                return 400, {"error": "error_param", "message": "order_sn_list must hold 1 to 50 order_sn"}
            found = [order for sn in wanted if (order := self._order_of(shop, sn))]
            return 200, shopee_docs.detail_response(found)
        if path == "/api/v2/order/get_order_list":
            since, until = int(query.get("time_from", 0)), int(query.get("time_to", 2**31))
            if until - since > 15 * 86400:
                return 400, {"error": "error_param", "message": "time range must not exceed 15 days"}
            listed = self._updated("shopee", since, until, shop.shop_id)
            start, size = int(query.get("cursor") or 0), int(query.get("page_size") or 20)
            page = listed[start : start + size]
            more = start + size < len(listed)
            return 200, shopee_docs.order_list_response(page, more, str(start + size))
        return self._shopee_outbound(shop, path, query, json.loads(raw or b"{}"))

    def _shopee_refresh(self, query: dict, body: dict) -> tuple[int, Any]:
        s = self.settings
        base = f"{query.get('partner_id')}/api/v2/auth/access_token/get{query.get('timestamp')}"
        if not hmac.compare_digest(_hmac_hex(s["OMS_SHOPEE_PARTNER_KEY"], base.encode()), query.get("sign", "")):
            return 403, {"error": "error_sign", "message": "Wrong sign."}
        # A refresh token renews the pair of the shop it was issued to, named by the body's shop_id.
        shop = self._shop("shopee", str(body.get("shop_id") or ""))
        if not self._holds(shop, body.get("refresh_token"), refresh=True):
            return 403, {"error": "error_auth", "message": "Invalid refresh_token."}
        access, refresh = self._issue(shop)
        return 200, {"error": "", "message": "", "access_token": access, "refresh_token": refresh, "expire_in": 14400,
                     "partner_id": int(query["partner_id"]), "shop_id": body.get("shop_id")}  # fmt: skip

    def _shopee_lost(self, path: str, query: dict, body: dict) -> tuple[int, Any]:
        s = self.settings
        base = f"{query.get('partner_id')}{path}{query.get('timestamp')}"
        if not hmac.compare_digest(_hmac_hex(s["OMS_SHOPEE_PARTNER_KEY"], base.encode()), query.get("sign", "")):
            return 403, {"error": "error_sign", "message": "Wrong sign."}
        ok = {"error": "", "message": "", "request_id": secrets.token_hex(16)}
        with self.lock:
            if path.endswith("/confirm_consumed_lost_push_message"):
                last = int(body.get("last_message_id") or 0)
                self.lost = [(n, push) for n, push in self.lost if n > last]
                return 200, {**ok, "response": {}}
            page = self.lost[:100]
        messages = [
            {"shop_id": push["shop_id"], "code": push["code"], "timestamp": push["timestamp"],
             "data": json.dumps(push["data"])}
            for _, push in page
        ]  # fmt: skip
        last_id = page[-1][0] if page else 0
        response = {"push_message_list": messages, "has_next_page": len(self.lost) > 100, "last_message_id": last_id}
        return 200, {**ok, "response": response}

    def _issue(self, shop: SimShop) -> tuple[str, str]:
        """A new pair for the shop; the ones before it still work (nothing here expires)."""
        access, refresh = secrets.token_hex(16), secrets.token_hex(16)
        self._grant(shop, access, refresh)
        return access, refresh

    def _shopee_outbound(  # noqa: PLR0911, PLR0912 - one answer per documented call and error
        self, caller: SimShop, path: str, query: dict, body: dict
    ) -> tuple[int, Any] | None:
        ok = {"error": "", "message": "", "request_id": secrets.token_hex(16)}
        if (answer := listing_sim.shopee(self, caller, path, query)) is not None:  # each shop's own listings
            return 200, {**ok, **answer}
        if path == "/api/v2/product/update_stock":
            models = listing_sim.shopee_stock_target(self, caller, body.get("item_id"))
            if not models:
                return 200, {**ok, "error": "product.error_item_not_found", "message": "item not found"}
            success, failure = [], []
            for model in body.get("stock_list") or []:
                sku = models.get(int(model.get("model_id") or 0))
                if sku is None:
                    failure.append({"model_id": model.get("model_id"), "failed_reason": "model not found"})
                    continue
                stock = sum(int(s["stock"]) for s in model.get("seller_stock") or [])
                self._show_stock(caller, sku, stock)
                success.append({"model_id": model.get("model_id"), "stock": model["seller_stock"][0]["stock"]})
            return 200, {**ok, "response": {"success_list": success, "failure_list": failure}}
        order = self._order_of(caller, str(body.get("order_sn")))
        if path in ("/api/v2/logistics/ship_order", "/api/v2/order/cancel_order") and order is None:
            return 200, {**ok, "error": "error_not_found", "message": "order not found"}
        if path == "/api/v2/logistics/ship_order":
            tracking = (body.get("non_integrated") or {}).get("tracking_number")
            if not tracking:
                return 200, {**ok, "error": "error_param", "message": "non_integrated.tracking_number is required"}
            if order.status not in ("READY_TO_SHIP", "RETRY_SHIP", "PROCESSED"):
                return 200, {**ok, "error": "logistics.order_status_error", "message": f"order is {order.status}"}
            self._outbound_change(order, "SHIPPED", tracking_number=tracking)
            return 200, {**ok, "response": {}}
        if path == "/api/v2/order/cancel_order":
            if order.status not in ("UNPAID", "READY_TO_SHIP", "PROCESSED", "RETRY_SHIP"):
                return 200, {**ok, "error": "error_status", "message": f"order is {order.status}"}
            self._outbound_change(order, "CANCELLED", cancel_reason=str(body.get("cancel_reason")))
            return 200, {**ok, "response": {"update_time": order.updated}}
        if path == "/api/v2/order/handle_buyer_cancellation":
            if order is None or order.status != "IN_CANCEL" or body.get("operation") not in ("ACCEPT", "REJECT"):
                return 200, {**ok, "error": "error_param", "message": "no buyer cancellation to handle"}
            accepted = body["operation"] == "ACCEPT"
            before = next(
                (said for said, _ in reversed(order.extra.get("_history", [])) if said != "IN_CANCEL"), "READY_TO_SHIP"
            )
            self._outbound_change(
                order, "CANCELLED" if accepted else before, cancel_reason="buyer asked" if accepted else None
            )
            return 200, {**ok, "response": {"update_time": order.updated}}
        return None

    def _lazada(  # noqa: PLR0911 - one answer per documented error
        self, method: str, path: str, query: dict, raw: bytes, headers: Mapping
    ) -> tuple[int, Any] | None:
        outbound = ("/order/rts", "/order/cancel", "/product/stock/sellable/update", "/products/get")
        known = ("/order/get", "/orders/items/get", "/orders/get", "/auth/token/refresh", *outbound)
        if path not in known and not logistics_sim.claims("lazada", path):
            return None
        s = self.settings
        message = path + "".join(f"{k}{query[k]}" for k in sorted(query) if k != "sign")
        expected = hmac.new(s["OMS_LAZADA_APP_SECRET"].encode(), message.encode(), hashlib.sha256).hexdigest().upper()
        if query.get("app_key") != s["OMS_LAZADA_APP_KEY"] or not hmac.compare_digest(expected, query.get("sign", "")):
            why = "The request signature does not conform to platform standards"
            return 200, {"code": "IncompleteSignature", "type": "ISV", "message": why}
        if path == "/auth/token/refresh":
            if query.get("refresh_token") not in self.refresh_tokens["lazada"]:
                return 200, {"code": "IllegalRefreshToken", "type": "ISV", "message": "refresh token is invalid"}
            access, refresh = self._issue(self.shops["lazada"][0])
            answer = {"code": "0", "access_token": access, "refresh_token": refresh, "expires_in": 604800}
            return 200, {**answer, "refresh_expires_in": 2592000, "country": "id", "request_id": secrets.token_hex(8)}
        if query.get("access_token") not in self.access_tokens["lazada"]:
            why = "The specified access token is invalid or expired"
            return 200, {"code": "IllegalAccessToken", "type": "ISP", "message": why}
        if (answer := logistics_sim.serve(self, "lazada", method, path, query, raw)) is not None:
            return answer
        if path in outbound:
            return self._lazada_outbound(path, query)
        if path == "/order/get":
            order = self.get("lazada", query.get("order_id", ""))
            if order is None:
                return 200, {"code": "ORDER_NOT_FOUND", "type": "ISV", "message": "Order not found"}
            return 200, lazada_docs.order_response(order)
        if path == "/orders/items/get":
            ids = [str(i) for i in json.loads(query.get("order_ids") or "[]")]
            data = []
            for order_id in ids:
                if order := self.get("lazada", order_id):
                    rows = lazada_docs.items_response(order)["data"]
                    data.append({"order_id": int(order_id), "order_number": int(order_id), "order_items": rows})
            return 200, {"code": "0", "data": data, "request_id": secrets.token_hex(12)}
        since = _iso_epoch(query.get("update_after"), 0)
        until = _iso_epoch(query.get("update_before"), 2**31)
        listed = self._updated("lazada", since, until)
        offset, limit = int(query.get("offset") or 0), int(query.get("limit") or 100)
        return 200, lazada_docs.orders_list_response(listed[offset : offset + limit], len(listed))

    def _lazada_outbound(self, path: str, query: dict) -> tuple[int, Any]:  # noqa: PLR0911 - one answer per call
        ok = {"code": "0", "request_id": secrets.token_hex(12)}
        if path == "/products/get":  # the seller's listings
            return 200, listing_sim.lazada_products(self, self.shops["lazada"][0], query)
        if path == "/product/stock/sellable/update":
            rows = re.findall(
                r"<SellerSku>(.*?)</SellerSku><SellableQuantity>(\d+)</SellableQuantity>", query.get("payload", "")
            )
            for sku, quantity in rows:
                self._show_stock(self.shops["lazada"][0], html.unescape(sku), int(quantity))
            return 200, {**ok, "data": {}}
        item_ids = [
            str(i)
            for i in (
                json.loads(query["order_item_ids"]) if "order_item_ids" in query else [query.get("order_item_id")]
            )
        ]
        order = self._lazada_order_of(item_ids)
        if order is None:
            return 200, {"code": "ORDER_ITEM_NOT_FOUND", "type": "ISV", "message": "order item not found"}
        rows = lazada_docs.items_response(order)["data"]
        statuses = {str(r["order_item_id"]): r["status"] for r in rows}
        if path == "/order/rts":
            if not query.get("tracking_number") or not query.get("shipment_provider"):
                why = "tracking_number and shipment_provider are required"
                return 200, {"code": "MISSING_PARAMETER", "type": "ISV", "message": why}
            if any(statuses.get(i) not in ("pending", "topack", "packed", "repacked") for i in item_ids):
                why = "item is not in a status to ship"
                return 200, {"code": "ORDER_ITEM_STATUS_ERROR", "type": "ISV", "message": why}
            tracking = {**order.extra.get("item_tracking", {}), **{i: query["tracking_number"] for i in item_ids}}
            new = {**statuses, **{i: "ready_to_ship" for i in item_ids}}
        else:
            if any(statuses.get(i) in ("shipped", "delivered", "canceled") for i in item_ids):
                return 200, {"code": "ORDER_ITEM_STATUS_ERROR", "type": "ISV", "message": "item cannot be cancelled"}
            tracking = order.extra.get("item_tracking", {})
            new = {**statuses, **{i: "canceled" for i in item_ids}}
        ordered = [new[str(r["order_item_id"])] for r in rows]
        whole = ordered[0] if len(set(ordered)) == 1 else order.status
        extra = {"item_statuses": ordered, "item_tracking": tracking}
        self._outbound_change(
            order, whole, extra=extra, tracking_number=query.get("tracking_number") or order.tracking_number
        )
        answer = {"order_items": [{"order_item_id": i} for i in item_ids]} if path == "/order/rts" else {}
        return 200, {**ok, "data": answer}

    def _lazada_order_of(self, item_ids: list[str]) -> SimOrder | None:
        with self.lock:
            orders = [o for (c, _), o in self.orders.items() if c == "lazada"]
        for order in orders:
            rows = {str(r["order_item_id"]) for r in lazada_docs.items_response(order)["data"]}
            if set(item_ids) & rows:
                return order
        return None

    def _tiktok(  # noqa: PLR0911 - one answer per documented error
        self, method: str, path: str, query: dict, raw: bytes, headers: Mapping
    ) -> tuple[int, Any] | None:
        if path == "/api/v2/token/refresh":
            return self._tiktok_refresh(query)
        outbound = path.startswith(("/fulfillment/202309/packages/", "/return_refund/", "/product/202309/"))
        orders = ("/order/202309/orders", "/order/202309/orders/search")
        if path not in orders and not outbound and not logistics_sim.claims("tiktok", path):
            return None
        s = self.settings
        secret = s["OMS_TIKTOK_APP_SECRET"]
        pairs = "".join(f"{k}{query[k]}" for k in sorted(query) if k not in ("sign", "access_token"))
        message = secret.encode() + path.encode() + pairs.encode() + raw + secret.encode()
        expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
        if query.get("app_key") != s["OMS_TIKTOK_APP_KEY"] or not hmac.compare_digest(expected, query.get("sign", "")):
            return 401, {"code": 106001, "message": "Invalid sign", "request_id": secrets.token_hex(12)}
        # The shop_cipher names the shop; the access token must be that shop's.
        shop = self._shop_by_cipher("tiktok", query.get("shop_cipher"))
        if shop is None:  # the simulator's own code: an app asking for a shop that did not authorize it
            return 401, {"code": 106011, "message": "Invalid shop_cipher", "request_id": secrets.token_hex(12)}
        if not self._holds(shop, headers.get("x-tts-access-token")):
            return 401, {"code": 105002, "message": "Expired credentials", "request_id": secrets.token_hex(12)}
        if (answer := logistics_sim.serve(self, "tiktok", method, path, query, raw)) is not None:
            return answer
        if outbound:
            return self._tiktok_outbound(shop, path, json.loads(raw or b"{}"), query)
        if path == "/order/202309/orders":
            wanted = [i for i in query.get("ids", "").split(",") if i]
            return 200, tiktok_docs.detail_response([o for i in wanted if (o := self._order_of(shop, i))])
        body = json.loads(raw or b"{}")
        since, until = int(body.get("update_time_ge", 0)), int(body.get("update_time_lt", 2**31))
        listed = self._updated("tiktok", since, until, shop.shop_id)
        start, size = int(query.get("page_token") or 0), int(query.get("page_size") or 20)
        more = start + size < len(listed)
        return 200, tiktok_docs.search_response(listed[start : start + size], str(start + size) if more else "")

    def _tiktok_refresh(self, query: dict) -> tuple[int, Any]:
        s = self.settings
        if query.get("app_key") != s["OMS_TIKTOK_APP_KEY"] or query.get("app_secret") != s["OMS_TIKTOK_APP_SECRET"]:
            return 200, {"code": 36004004, "message": "invalid app_key or app_secret"}
        shop = self._token_owner("tiktok", query.get("refresh_token"))  # the token names its shop
        if shop is None:
            return 200, {"code": 36004005, "message": "invalid refresh_token"}
        access, refresh = self._issue(shop)
        now = int(time.time())
        data = {"access_token": access, "access_token_expire_in": now + 7 * 86400, "refresh_token": refresh}
        data |= {"refresh_token_expire_in": now + 60 * 86400, "open_id": "local", "seller_name": shop.name}
        return 200, {"code": 0, "message": "success", "data": data, "request_id": secrets.token_hex(8)}

    def _tiktok_outbound(  # noqa: PLR0911
        self, shop: SimShop, path: str, body: dict, query: dict | None = None
    ) -> tuple[int, Any] | None:
        ok = {"code": 0, "message": "Success", "request_id": secrets.token_hex(12)}
        by_sku_id = {f"17{_tiktok_digits(sku, 17)}": sku for sku in _catalog()}
        if path == "/product/202309/products/search":  # each shop's own listings
            return 200, {**ok, "data": listing_sim.tiktok_search(self, shop, query or {}, body)}
        if path.endswith("/inventory/update"):
            for row in body.get("skus") or []:
                sku = by_sku_id.get(str(row.get("id")))
                if sku is None:
                    return 200, {**ok, "code": 12019015, "message": f"sku {row.get('id')} not found"}
                self._show_stock(shop, sku, sum(int(i["quantity"]) for i in row.get("inventory") or []))
            return 200, {**ok, "data": {}}
        if path.startswith("/return_refund/202309/cancellations/"):
            return self._tiktok_cancellations(shop, path, body, ok)
        if path == "/return_refund/202309/cancellations":
            order = self._order_of(shop, str(body.get("order_id")))
            if order is None:
                return 200, {**ok, "code": 36009003, "message": "order not found"}
            self._outbound_change(order, "CANCELLED", cancel_reason=str(body.get("cancel_reason")))
            return 200, {
                **ok,
                "data": {"cancel_id": secrets.token_hex(8), "cancel_status": "CANCELLATION_REQUEST_COMPLETE"},
            }
        if path.startswith("/fulfillment/202309/packages/") and path.endswith("/ship"):
            package_id = path.split("/")[4]
            order = next(
                (
                    o
                    for o in self._orders_of(shop).values()
                    if tiktok_docs.order_detail(o).get("packages", [{}])[0].get("id") == package_id
                ),
                None,
            )
            tracking = (body.get("self_shipment") or {}).get("tracking_number")
            if order is None or not tracking:
                return 200, {**ok, "code": 21011001, "message": "package not found or no tracking number"}
            self._outbound_change(order, "IN_TRANSIT", tracking_number=tracking)
            return 200, {**ok, "data": {}}
        return None

    def _tiktok_cancellations(self, shop: SimShop, path: str, body: dict, ok: dict) -> tuple[int, Any]:
        """Buyers' cancellation requests (the shop's own): searched by order, approved or rejected by the seller."""
        mine = self._orders_of(shop)
        if path.endswith("/search"):
            wanted = {str(i) for i in body.get("order_ids") or []}
            asked = [o for i, o in mine.items() if i in wanted]
            found = [
                {"cancel_id": _cancel_id(o.order_id), "order_id": o.order_id,
                 "cancel_status": o.extra.get("cancel_status", "CANCELLATION_REQUEST_PENDING")}
                for o in asked if o.extra.get("is_buyer_request_cancel")
            ]  # fmt: skip
            return 200, {**ok, "data": {"cancellations": found, "total_count": len(found), "next_page_token": ""}}
        cancel_id = path.split("/")[4]
        order = next((o for i, o in mine.items() if _cancel_id(i) == cancel_id), None)
        if (
            order is None
            or not order.extra.get("is_buyer_request_cancel")
            or not path.endswith(("/approve", "/reject"))
        ):
            return 200, {**ok, "code": 36009004, "message": "no pending cancellation"}
        done = {"is_buyer_request_cancel": False, "cancel_status": "CANCELLATION_REQUEST_COMPLETE"}
        if path.endswith("/approve"):
            self._outbound_change(order, "CANCELLED", cancel_reason="buyer asked", extra=done)
        else:
            self._outbound_change(order, order.status, extra={**done, "cancel_status": "CANCELLATION_REQUEST_CANCEL"})
        return 200, {**ok, "data": {}}

    # ------------------------------------------------------------ what the OMS told the channel

    def _show_stock(self, shop: SimShop, sku: str, quantity: int) -> None:
        """`shown[channel]`: the last figure any of its shops was told; `shown_by_shop[(channel, shop id)]`: each's."""
        figure = {"atp": quantity, "level": None, "as_of": None}
        with self.lock:
            self.shown.setdefault(shop.channel, {})[sku] = figure
            self.shown_by_shop.setdefault((shop.channel, shop.shop_id), {})[sku] = dict(figure)

    def _outbound_change(self, order: SimOrder, status: str, **fields: Any) -> None:
        """The channel applies what the seller told it and, like the real one, pushes the change."""
        self.change(order.channel, order.order_id, {"status": status, **fields, "push": False})
        if self.push_after_outbound and self.oms_url:
            bodies = self.pushes(order)
            threading.Thread(target=lambda: [self.send(order.channel, b) for b in bodies], daemon=True).start()

    def _updated(self, channel: str, since: int, until: int, shop_id: str | None = None) -> list[SimOrder]:
        """The API's orders (of every storefront it serves) updated in [since, until): one shop's, with shop_id."""
        served = storefronts(channel)
        with self.lock:
            found = [
                o
                for (c, _), o in self.orders.items()
                if c in served and since <= o.updated < until and shop_id in (None, o.shop_id)
            ]
        return sorted(found, key=lambda o: (o.updated, o.order_id))


def _cancel_id(order_id: str) -> str:
    return f"40{order_id[-12:]}"


def _catalog() -> list[str]:
    """The SKUs the simulated shops list: make run's demo catalogue."""
    from oms_local.seed import SKUS

    return [sku for sku, *_ in SKUS]


def _tiktok_digits(seed: str, width: int) -> str:
    return tiktok_docs._digits(seed, width)


def _hmac_hex(key: str, message: bytes) -> str:
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def _iso_epoch(value: str | None, default: int) -> int:
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(value).timestamp()) if value else default
    except ValueError:
        return default
