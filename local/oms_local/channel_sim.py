"""The local channel simulator: stands in for the marketplaces' and web stores'
APIs in `make run` and the tests, and records every call the OMS makes.

Each channel lives under its own prefix (``/<channel>/...``); its base URL is
given to the functions as ``OMS_<CHANNEL>_API_BASE`` (template parameters
``<Channel>ApiBase``). For now it accepts the channel client's stock updates
(``POST /<channel>/stock``); issue 7 adds each channel's own API shapes. Under
``/biteship`` it serves Biteship's public tracking for the carriers the OMS
polls: ``GET /biteship/v1/trackings/<waybill>/couriers/<courier>`` answers a
history one step further each time (picked, dropping_off, delivered). It takes
what the OMS tells a channel after its own changes:
``POST /<channel>/orders/<channel order id>/shipped|cancelled``. Under ``/payments`` it is the
payment provider's refund API (``POST /payments/refunds``, Xendit's shape: one refund per
Idempotency-key against ``payment_request_id``; SUCCEEDED, or FAILED for payments named ``pr-fail...``,
PENDING for ``pr-pending...`` until the next look).

The marketplaces' order APIs (Shopee, Lazada, TikTok Shop) are served in each channel's documented
format, with each channel's request signing checked: see marketplace_sim.py, which also sends their
signed webhooks to the OMS. Tokopedia has no API of its own here (its Open API closed on 30 Sep 2025):
its orders are TikTok Shop orders whose `platform` says TOKOPEDIA, served under ``/tiktok`` and pushed
to /webhooks/tiktok; the control endpoints below still name them by channel ``tokopedia``.

Control endpoints, for people and tests:
  GET    /_sim/calls?channel=shopee   what was received (newest last)
  GET    /_sim/stock?channel=shopee   the latest figure per SKU, as the channel now shows it
  DELETE /_sim/calls                  forget everything
  POST   /_sim/fail {"channel": "shopee", "status": 503, "times": 2}
                                      the next calls to that channel answer with that status
  POST   /_sim/orders {"channel": "shopee", "lines": [{"sku": "BTK-PRG-L", "quantity": 2,
                       "unit_price": 450000}], "push": true, "age_s": 0}
                                      a marketplace order (placed age_s ago); with push, its
                                      webhook(s) go to the OMS. "shop_id": an order of that shop
                                      (default: the channel's first). Shopee and TikTok Shop have the
                                      demo seller's shops (seed.SHOPS), each with its own tokens and
                                      orders (see marketplace_sim.py); a Tokopedia order's shop is a
                                      TikTok shop
  POST   /_sim/orders/<channel>/<id> {"status": "SHIPPED", "push": true}
                                      change it (push false: the push is "missed")
  POST   /_sim/push/<channel>/<id> {"status": "READY_TO_SHIP", "bad_signature": false}
                                      push again without changing the order (repeats, old news)
  GET    /_sim/orders/<channel>/<id>  the order as the channel's API shows it
  POST   /_sim/logistics {"channel": "shopee", "order_id": sn, "resi_delay": 2}
                                      what its logistics calls answer next (see logistics_sim.control)
  GET    /_sim/documents/<token>      a shipping document behind a link a marketplace gave (expires)
"""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import logistics_sim
from .logistics_sim.biteship import serve_biteship
from .marketplace_sim import APIS, MarketplaceSim

log = logging.getLogger("oms_local.channels")

# The APIs served here (Tokopedia's storefronts are served by TikTok Shop's: no /tokopedia).
CHANNELS = ("shopee", "lazada", "tiktok", "shopify", "woocommerce", "biteship", "payments")
# Biteship's public tracking, for carriers the OMS polls: each look at a waybill moves it one step on.
TRACKING_STEPS = ("picked", "dropping_off", "delivered")
MAX_CALLS = 100_000  # the oldest are dropped beyond this


class ChannelSimulator:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        log_path: Path | None = None,
        settings: dict[str, str] | None = None,
    ) -> None:
        from .seed import local_settings

        self.marketplaces = MarketplaceSim(settings or local_settings())
        self.host = host
        self.port = port
        self.log_path = log_path
        self.lock = threading.Lock()
        self.calls: list[dict[str, Any]] = []
        self.stock: dict[str, dict[str, dict[str, Any]]] = {}
        self.failures: dict[str, list[int]] = {}
        self.trackings: dict[str, int] = {}  # waybill -> times looked at
        self.refunds: dict[str, dict[str, Any]] = {}  # idempotency key -> the refund made
        self.biteship_state: dict[str, Any] = {}  # Biteship's orders (logistics_sim/biteship.py)
        self.marketplaces.shown = self.stock  # the marketplaces' stock calls show here too
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> ChannelSimulator:
        simulator = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                simulator._handle(self, "GET")

            def do_POST(self) -> None:
                simulator._handle(self, "POST")

            def do_PUT(self) -> None:
                simulator._handle(self, "PUT")

            def do_DELETE(self) -> None:
                simulator._handle(self, "DELETE")

            def log_message(self, format: str, *args: Any) -> None:
                log.debug(format, *args)

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.marketplaces.public_url = self.url  # where the marketplaces' document links point
        self._thread = threading.Thread(target=self._server.serve_forever, name="channel-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def base_url(self, channel: str) -> str:
        return f"{self.url}/{channel}"

    def parameter_overrides(self) -> dict[str, str]:
        """Template parameters pointing every channel's API base at this simulator."""
        return {f"{channel.capitalize()}ApiBase": self.base_url(channel) for channel in CHANNELS}

    # ------------------------------------------------------------ for tests

    def calls_for(self, channel: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(call) for call in self.calls if channel is None or call["channel"] == channel]

    def shown(self, channel: str) -> dict[str, dict[str, Any]]:
        with self.lock:
            return {sku: dict(figure) for sku, figure in self.stock.get(channel, {}).items()}

    def clear(self) -> None:
        with self.lock:
            self.calls.clear()
            self.stock.clear()
            self.trackings.clear()
            self.failures.clear()
            self.refunds.clear()
            self.biteship_state.clear()
        self.marketplaces.clear()

    def fail_next(self, channel: str, status: int, times: int = 1) -> None:
        with self.lock:
            self.failures.setdefault(channel, []).extend([status] * times)

    # ------------------------------------------------------------ HTTP

    def _handle(self, request: BaseHTTPRequestHandler, method: str) -> None:  # noqa: PLR0911 - one answer per route
        parts = urlsplit(request.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._answer(request, 400, {"error": "body is not JSON"})
            return
        if parts.path.startswith(("/_sim/orders", "/_sim/push")):
            self._marketplace_control(request, method, parts.path, body)
            return
        if parts.path.startswith("/_sim/documents/") and method == "GET":
            # The marketplaces' shipping documents behind the links their APIs give (no signature, as a CDN).
            status, content_type, data = logistics_sim.document(self.marketplaces, parts.path.rsplit("/", 1)[-1])
            self._answer_bytes(request, status, content_type, data)
            return
        if parts.path.startswith("/_sim/"):
            self._control(request, method, parts.path, query, body)
            return
        channel, _, rest = parts.path.strip("/").partition("/")
        if channel not in CHANNELS:
            self._answer(request, 404, {"error": f"no channel {channel!r}; channels: {', '.join(CHANNELS)}"})
            return
        with self.lock:
            pending = self.failures.get(channel) or []
            failure = pending.pop(0) if pending else None
        record = {"channel": channel, "method": method, "path": "/" + rest, "body": body, "at": time.time()}
        if failure is not None:
            record["answered"] = failure
            self._record(record)
            self._answer(request, failure, {"error": "simulated failure"})
            return
        served = None
        if channel in APIS:
            headers = {name.lower(): value for name, value in request.headers.items()}
            served = self.marketplaces.serve(channel, method, "/" + rest, query, raw, headers)
            secret = ("sign", "access_token", "app_secret", "refresh_token")  # the log keeps no credentials
            record["query"] = {k: v for k, v in query.items() if k not in secret}
        if channel == "payments":
            served = self._refund(method, rest, body, request.headers.get("idempotency-key"))
        if channel == "biteship":
            with self.lock:
                served = serve_biteship(self.biteship_state, method, rest, body, dict(request.headers))
        status, payload = served if served is not None else self._serve(channel, method, rest, body)
        record["answered"] = status
        if rest.startswith("orders/") or channel == "payments":
            record["idempotency_key"] = request.headers.get("idempotency-key")
        self._record(record)
        if isinstance(payload, bytes):  # a document (Shopee's download_shipping_document): the file itself
            kind = "application/zip" if payload[:2] == b"PK" else "application/pdf"
            self._answer_bytes(request, status, kind, payload)
            return
        self._answer(request, status, payload)

    def _serve(self, channel: str, method: str, rest: str, body: Any) -> tuple[int, Any]:
        """A channel API call: (status, answer)."""
        if channel == "biteship" and method == "GET" and rest.startswith("v1/trackings/"):
            return 200, self._track(rest)
        if method == "POST" and rest.startswith("orders/") and rest.rsplit("/", 1)[-1] in ("shipped", "cancelled"):
            return 200, {"accepted": True}  # a shipment or a cancel the OMS tells the channel
        if method == "POST" and rest == "stock" and isinstance(body, dict):
            self._take_stock(channel, body)
            return 200, {"accepted": len(body.get("updates") or [])}
        return 404, {"error": f"the simulated {channel} API has no {method} /{rest}"}

    def _refund(self, method: str, rest: str, body: Any, key: str | None) -> tuple[int, Any]:
        """The payment provider's refund API (Xendit's shape): one refund per idempotency key, settled at once."""
        if method != "POST" or rest != "refunds" or not isinstance(body, dict):
            return 404, {"error_code": "NOT_FOUND", "message": f"no {method} /{rest}"}
        if not key:
            return 400, {"error_code": "API_VALIDATION_ERROR", "message": "Idempotency-key is required"}
        try:
            amount = float(body.get("amount") or 0)
        except (TypeError, ValueError):
            amount = 0
        if amount <= 0:
            return 400, {"error_code": "API_VALIDATION_ERROR", "message": "amount must be positive"}
        payment = str(body.get("payment_request_id") or "")
        if not payment:
            return 400, {"error_code": "API_VALIDATION_ERROR", "message": "payment_request_id is required"}
        with self.lock:
            refund = self.refunds.get(key)
            if refund is not None and refund["status"] == "PENDING":
                refund["status"] = "SUCCEEDED"  # settled by the next look
            if refund is None:
                # Payments named pr-fail... are refused, pr-pending... settle on the second look.
                status = "FAILED" if payment.startswith("pr-fail") else "PENDING" if payment.startswith(
                    "pr-pending") else "SUCCEEDED"  # fmt: skip
                refund = {
                    "id": f"rfd-{len(self.refunds) + 1:06d}",
                    "payment_request_id": payment,
                    "reference_id": body.get("reference_id"),
                    "amount": body.get("amount"),
                    "currency": body.get("currency"),
                    "status": status,
                    "failure_code": "REFUND_NOT_SUPPORTED" if status == "FAILED" else None,
                    "metadata": body.get("metadata"),
                }
                self.refunds[key] = refund
        return 200, dict(refund)

    def _track(self, rest: str) -> dict[str, Any]:
        """GET v1/trackings/<waybill>/couriers/<courier>: the waybill's history, one step further each time."""
        parts = rest.split("/")
        waybill, courier = parts[2], (parts[4] if len(parts) > 4 else "jne")
        with self.lock:
            seen = self.trackings[waybill] = self.trackings.get(waybill, 0) + 1
        steps = TRACKING_STEPS[: min(seen, len(TRACKING_STEPS))]
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        history = [{"note": f"Simulated: {step}", "status": step, "updated_at": stamp} for step in steps]
        return {"success": True, "object": "tracking", "waybill_id": waybill, "courier": {"company": courier},
                "history": history, "status": steps[-1]}  # fmt: skip

    def _take_stock(self, channel: str, body: dict[str, Any]) -> None:
        with self.lock:
            shown = self.stock.setdefault(channel, {})
            for update in body.get("updates") or []:  # the last call wins, as on a real channel
                shown[update["sku"]] = {k: update[k] for k in ("atp", "level", "as_of")}

    def _control(
        self, request: BaseHTTPRequestHandler, method: str, path: str, query: dict[str, str], body: Any
    ) -> None:
        if path == "/_sim/logistics" and method == "POST" and isinstance(body, dict):
            try:
                self._answer(request, 200, logistics_sim.control(self.marketplaces, body))
            except (ValueError, KeyError) as exc:
                self._answer(request, 400, {"error": str(exc)})
            return
        if path == "/_sim/calls" and method == "GET":
            self._answer(request, 200, {"calls": self.calls_for(query.get("channel"))})
        elif path == "/_sim/calls" and method == "DELETE":
            self.clear()
            self._answer(request, 200, {"cleared": True})
        elif path == "/_sim/stock" and method == "GET":
            self._answer(request, 200, {"stock": self.shown(query.get("channel", ""))})
        elif path == "/_sim/fail" and method == "POST" and isinstance(body, dict):
            self.fail_next(str(body.get("channel")), int(body.get("status", 503)), int(body.get("times", 1)))
            self._answer(request, 200, {"armed": body})
        else:
            self._answer(request, 404, {"error": f"no control endpoint {method} {path}"})

    def _marketplace_control(self, request: BaseHTTPRequestHandler, method: str, path: str, body: Any) -> None:
        sim = self.marketplaces
        spec = body if isinstance(body, dict) else {}
        parts = path.strip("/").split("/")  # _sim, orders|push, [channel, id]
        try:
            if parts[1] == "orders" and len(parts) == 2 and method == "POST":
                order = sim.create(spec)
                self._answer(request, 201, self._changed_view(order, spec.get("push", True)))
            elif parts[1] == "orders" and len(parts) == 4 and method == "GET":
                order = sim.get(parts[2], parts[3])
                if order is None:
                    self._answer(request, 404, {"error": f"no {parts[2]} order {parts[3]}"})
                else:
                    self._answer(request, 200, self._order_view(order, push=False))
            elif parts[1] == "orders" and len(parts) == 4 and method == "POST":
                order = sim.change(parts[2], parts[3], spec)
                self._answer(request, 200, self._changed_view(order, spec.get("push", True)))
            elif parts[1] == "push" and len(parts) == 4 and method == "POST":
                order = sim.get(parts[2], parts[3])
                if order is None:
                    raise KeyError(f"no {parts[2]} order {parts[3]}")
                bodies = sim.pushes(order, spec.get("status"))
                bad = bool(spec.get("bad_signature"))
                self._answer(request, 200, {"pushed": [sim.send(parts[2], b, bad) for b in bodies], "bodies": bodies})
            else:
                self._answer(request, 404, {"error": f"no control endpoint {method} {path}"})
        except (KeyError, ValueError, TypeError) as exc:
            self._answer(request, 400 if not isinstance(exc, KeyError) else 404, {"error": str(exc).strip("'")})

    def _order_view(self, order: Any, push: bool) -> dict[str, Any]:
        sim = self.marketplaces
        view: dict[str, Any] = {"channel": order.channel, "order_id": order.order_id, "shop_id": order.shop_id,
                                "status": order.status, "updated": order.updated,
                                "tracking_number": order.tracking_number}  # fmt: skip
        if push:
            view["pushed"] = [sim.send(order.channel, b) for b in sim.pushes(order)]
        return view

    def _changed_view(self, order: Any, push: bool) -> dict[str, Any]:
        if not push:
            self.marketplaces.lose(order)  # a missed push (Shopee keeps it for its lost-push API)
        return self._order_view(order, push)

    def _record(self, record: dict[str, Any]) -> None:
        with self.lock:
            self.calls.append(record)
            del self.calls[:-MAX_CALLS]
        if self.log_path is not None:
            with self.log_path.open("a") as handle:
                handle.write(json.dumps(record) + "\n")

    @staticmethod
    def _answer_bytes(request: BaseHTTPRequestHandler, status: int, content_type: str, data: bytes) -> None:
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    @staticmethod
    def _answer(request: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
