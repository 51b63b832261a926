"""Lazada's new fulfillment API, simulated in its documented shapes (open.lazada.com/apps/doc/api?path=...):

  GET  /order/shipment/providers/get  getShipmentProvidersReq  the seller's allocation (TFS, Lazada decides)
  POST /order/fulfill/pack            packReq                  a package ("FP" + digits) and a resi at once
  POST /order/package/repack          rePackReq                the package's items become "repacked"
  GET  /order/package/document/get    getDocumentReq           one combined PDF, behind a pdf_url good for 600 s
  POST /order/package/rts             readyToShipReq           the package's items become "ready_to_ship"

Answers are {"result": {"success", "data", "error_code", "error_msg"}, "code": "0", "request_id"}; every
row carries item_err_code ("0" = done), msg and retry, so a success answer can hold failed rows. At most
20 orders or packages a call (BATCH_SIZE_OUT_OF_LIMIT beyond).

The pdf_url points at the channel simulator's unsigned route GET /_sim/documents/lazada/<token>, which
answers with `document(sim, token)`. On demand, for tests and demos: `set_pack_failure` (an order's next
pack fails with the code and message given) and `set_throttled` (the next calls answer ApiCallLimit).
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import threading
import time
from typing import Any
from urllib.parse import parse_qs

from oms_local.sim_formats import SimOrder
from oms_local.sim_formats import lazada as lazada_docs

PATHS = ("/order/shipment/providers/get", "/order/fulfill/pack", "/order/package/")
PER_CALL = 20
DOCUMENT_TTL_S = 600  # "The PDF link is valid for ten minutes"
PACKABLE = ("pending", "repacked")  # "Only pending and repacked order item id can call" Pack
PARAMETERS = {
    "/order/shipment/providers/get": "getShipmentProvidersReq",
    "/order/fulfill/pack": "packReq",
    "/order/package/repack": "rePackReq",
    "/order/package/document/get": "getDocumentReq",
    "/order/package/rts": "readyToShipReq",
}
# Codes and words from the Pack page's error table and the RecreatePackage / ReadyToShip examples.
BATCH_TOO_BIG = ("700022", "batch size out of limit")
ORDER_NOT_FOUND = ("700021", "order not found")
ITEM_NOT_FOUND = ("700025", "order item not found")
NOT_PACKABLE = ("700026", "item current status not allow to pack")
STATUS_NOT_ALLOWED = ("700000", "current package status not allow to operation")
PACKAGE_NOT_FOUND = ("600001", "package not found")

_lock = threading.Lock()  # this module's state; never held while the simulator's own lock is taken


def serve(sim: Any, channel: str, method: str, path: str, query: dict, raw: bytes) -> tuple[int, Any] | None:
    name = PARAMETERS.get(path)
    if name is None:
        return None
    state = _state(sim)
    with _lock:
        throttled = state["throttle"] > 0
        state["throttle"] = max(0, state["throttle"] - 1)
    if throttled:
        why = "Api access frequency exceeds the limit. this ban will last 1 seconds"
        return 200, {"code": "ApiCallLimit", "type": "ISP", "message": why, "request_id": _request_id()}
    request = _parameter(query, raw, name)
    if not isinstance(request, dict):
        why = f'The input parameter "{name}" that is mandatory for processing this request is not supplied'
        return 200, {"code": "MissingParameter", "type": "ISV", "message": why, "request_id": _request_id()}
    return 200, _handle(sim, path, request)


def document(sim: Any, token: str, now: float | None = None) -> tuple[int, str, bytes]:
    """GET /_sim/documents/lazada/<token>: (status, content type, body). 410 once the link ran out."""
    with _lock:
        found = _state(sim)["documents"].get(token)
    if found is None:
        return 404, "application/json", b'{"error": "no such document"}'
    if (time.time() if now is None else now) > found["expires_at"]:
        return 410, "application/json", b'{"error": "the document link has expired"}'
    return 200, "application/pdf", found["pdf"]


def set_pack_failure(sim: Any, order_id: str, code: str, message: str) -> None:
    """The order's next Pack fails for each of its items with this item_err_code and msg (once)."""
    with _lock:
        _state(sim)["pack_failures"][str(order_id)] = (str(code), message)


def set_throttled(sim: Any, calls: int = 1) -> None:
    """The next `calls` logistics calls answer ApiCallLimit."""
    with _lock:
        _state(sim)["throttle"] = calls


# --- the calls


def _handle(sim: Any, path: str, request: dict) -> dict:
    if path == "/order/shipment/providers/get":
        return _providers(sim, request)
    if path == "/order/fulfill/pack":
        return _pack(sim, request)
    if path == "/order/package/document/get":
        return _print_awb(sim, request)
    return _package_step(sim, path, request)


def _providers(sim: Any, request: dict) -> dict:
    orders = [o for o in request.get("orders") or [] if isinstance(o, dict)]
    if not orders or len(orders) > PER_CALL:
        return _refused(*BATCH_TOO_BIG)
    found = [order for o in orders if (order := sim.get("lazada", str(o.get("order_id"))))]
    if not found:
        return _refused(*ORDER_NOT_FOUND)
    carrier = found[0].carrier
    providers = [{"name": carrier, "provider_code": f"FM{sum(carrier.encode()) % 100:02d}"}]
    # A local (Indonesian) seller: Lazada allocates the courier ("platform_default" 1, TFS).
    return _answer({"platform_default": "1", "shipment_providers": providers, "shipping_allocate_type": "TFS"})


def _pack(sim: Any, request: dict) -> dict:
    entries = [e for e in request.get("pack_order_list") or [] if isinstance(e, dict)]
    if not entries or len(entries) > PER_CALL:
        return _refused(*BATCH_TOO_BIG)
    if request.get("delivery_type") != "dropship":
        return _refused("700004", "param illegal")
    answered = []
    for entry in entries:
        order_id = str(entry.get("order_id"))
        items = [str(i) for i in entry.get("order_item_list") or []]
        answered.append({"order_item_list": _pack_order(sim, order_id, items), "order_id": _number(order_id)})
    return _answer({"pack_order_list": answered})


def _pack_order(sim: Any, order_id: str, items: list[str]) -> list[dict]:
    order = sim.get("lazada", order_id)
    with _lock:
        failure = _state(sim)["pack_failures"].pop(order_id, None)
    if order is None or failure is not None:
        code, message = failure or ORDER_NOT_FOUND
        return [_row(item, code, message, retry=False) for item in items]
    statuses = {str(row["order_item_id"]): row["status"] for row in lazada_docs.items_response(order)["data"]}
    refused = {
        item: (ITEM_NOT_FOUND if item not in statuses else NOT_PACKABLE)
        for item in items
        if statuses.get(item) not in PACKABLE
    }
    packable = [item for item in items if item not in refused]
    rows = [_row(item, *refused[item], retry=False) for item in items if item in refused]
    if not packable:
        return rows
    package, tracking = _new_package(sim, order, packable)
    _set_items(sim, order, packable, "packed", tracking, package)
    done = {"tracking_number": tracking, "shipment_provider": order.carrier, "package_id": package}
    return [*rows, *({**_row(item, "0", "success", retry=False), **done} for item in packable)]


def _package_step(sim: Any, path: str, request: dict) -> dict:
    """RecreatePackage and ReadyToShip: one row per package."""
    packages = [str(p.get("package_id")) for p in request.get("packages") or [] if isinstance(p, dict)]
    if not packages or len(packages) > PER_CALL:
        return _refused(*BATCH_TOO_BIG)
    repack = path == "/order/package/repack"
    allowed, becomes = (("packed", "ready_to_ship"), "repacked") if repack else (("packed",), "ready_to_ship")
    rows = []
    for package_id in packages:
        with _lock:
            package = _state(sim)["packages"].get(package_id)
        order = sim.get("lazada", package["order_id"]) if package else None
        if package is None or order is None:
            rows.append({**_row(None, *PACKAGE_NOT_FOUND, retry=False), "package_id": package_id})
            continue
        if package["status"] not in allowed:
            rows.append({**_row(None, *STATUS_NOT_ALLOWED, retry=False), "package_id": package_id})
            continue
        with _lock:
            package["status"] = becomes
        _set_items(sim, order, package["items"], becomes, None if repack else package["tracking"], package_id)
        rows.append({**_row(None, "0", "success", retry=False), "package_id": package_id})
    return _answer({"packages": rows})


def _print_awb(sim: Any, request: dict) -> dict:
    packages = [str(p.get("package_id")) for p in request.get("packages") or [] if isinstance(p, dict)]
    if not packages or len(packages) > PER_CALL:
        return _refused(*BATCH_TOO_BIG)
    if request.get("doc_type") not in ("PDF", "HTML"):
        return _refused("700004", "param illegal")
    with _lock:
        known = [_state(sim)["packages"].get(p) for p in packages]
    if any(p is None or p["status"] not in ("packed", "ready_to_ship") for p in known):
        return _refused(*PACKAGE_NOT_FOUND)
    pdf = _label_pdf(
        [(p["order_id"], package_id, p["tracking"]) for p, package_id in zip(known, packages, strict=True)]
    )
    token = secrets.token_urlsafe(16)
    with _lock:
        _state(sim)["documents"][token] = {"pdf": pdf, "expires_at": time.time() + DOCUMENT_TTL_S}
    url = f"{getattr(sim, 'public_url', None) or 'http://127.0.0.1'}/_sim/documents/lazada/{token}"
    # As Lazada does: `file` is base64 of an HTML iframe showing the PDF; pdf_url is the PDF itself.
    frame = f'<iframe src="{url}" width="100%" height="100%" style="display: block;"></iframe>'
    data: dict[str, Any] = {"file": base64.b64encode(frame.encode()).decode(), "doc_type": request["doc_type"]}
    if request["doc_type"] == "PDF":
        data["pdf_url"] = url
    return _answer(data)


# --- the simulated seller's packages


def _state(sim: Any) -> dict[str, Any]:
    state = sim.logistics_state.setdefault("lazada", {})
    for key, empty in (("packages", dict), ("documents", dict), ("pack_failures", dict)):
        state.setdefault(key, empty())
    state.setdefault("throttle", 0)
    return state


def _new_package(sim: Any, order: SimOrder, items: list[str]) -> tuple[str, str]:
    """The order's first package is "FP" + its last 8 digits, as GetOrderItems shows it (sim_formats)."""
    with _lock:
        packages = _state(sim)["packages"]
        earlier = sum(1 for p in packages.values() if p["order_id"] == order.order_id)
        package_id = f"FP{order.order_id[-8:]}" + (f"{earlier:02d}" if earlier else "")
        tracking = f"LXID{order.order_id[-8:]}{earlier:02d}"
        packages[package_id] = {"order_id": order.order_id, "items": items, "tracking": tracking, "status": "packed"}
    return package_id, tracking


def _set_items(sim: Any, order: SimOrder, items: list[str], status: str, tracking: str | None, package: str) -> None:
    """The items' new status (and resi) on the simulated order, pushed like any seller change."""
    rows = lazada_docs.items_response(order)["data"]
    statuses = [status if str(row["order_item_id"]) in items else row["status"] for row in rows]
    trackings = {k: v for k, v in (order.extra.get("item_tracking") or {}).items() if k not in items}
    packages = {k: v for k, v in (order.extra.get("item_packages") or {}).items() if k not in items}
    if tracking:
        trackings.update(dict.fromkeys(items, tracking))
        packages.update(dict.fromkeys(items, package))
    whole = statuses[0] if len(set(statuses)) == 1 else order.status
    extra = {"item_statuses": statuses, "item_tracking": trackings, "item_packages": packages}
    sim._outbound_change(order, whole, extra=extra, tracking_number=tracking or order.tracking_number)


def _label_pdf(labels: list[tuple[str, str, str]]) -> bytes:
    """One A6 page per package: LAZADA, the order, the package and its resi as a Code 128 barcode."""
    from reportlab.graphics.barcode.code128 import Code128
    from reportlab.lib.pagesizes import A6
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A6, invariant=1)  # invariant: the same bytes for the same labels
    width, height = A6
    for order_id, package_id, tracking in labels:
        canvas.setFont("Helvetica-Bold", 20)
        canvas.drawString(8 * mm, height - 16 * mm, "LAZADA")
        canvas.setFont("Helvetica", 9)
        canvas.drawString(8 * mm, height - 26 * mm, f"Order: {order_id}")
        canvas.drawString(8 * mm, height - 32 * mm, f"Package: {package_id}")
        barcode = Code128(tracking, barHeight=18 * mm, barWidth=0.3 * mm, humanReadable=True)
        barcode.drawOn(canvas, max(2 * mm, (width - barcode.width) / 2), height - 62 * mm)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


# --- Lazada's envelope


def _answer(data: dict) -> dict:
    return {"result": {"data": data, "success": True}, "code": "0", "request_id": _request_id()}


def _refused(code: str, message: str) -> dict:
    result = {"success": False, "error_code": code, "error_msg": message}
    return {"result": result, "code": "0", "request_id": _request_id()}


def _row(item: str | None, code: str, message: str, *, retry: bool) -> dict:
    row: dict[str, Any] = {"msg": message, "item_err_code": code, "retry": retry}
    if item is not None:
        row["order_item_id"] = _number(item)
    return row


def _parameter(query: dict, raw: bytes, name: str) -> Any:
    """The JSON-valued parameter, from the query or a form body."""
    value = query.get(name)
    if value is None and raw:
        value = (parse_qs(raw.decode(errors="replace")).get(name) or [None])[0]
    try:
        return json.loads(value) if value else None
    except ValueError:
        return None


def _number(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def _request_id() -> str:
    return secrets.token_hex(12)
