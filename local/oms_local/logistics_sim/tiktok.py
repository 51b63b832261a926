"""TikTok Shop's fulfillment API (version 202309) on the platform's own couriers, simulated in its
documented shapes (partner.tiktokshop.com/docv2/page/<name>-202309), for TikTok Shop and for Tokopedia,
whose storefronts run on the same API: a shop's packages are those of its orders of either storefront,
kept in one state (`sim.logistics_state["tiktok"]`, whichever name a caller gives); a Tokopedia order's
label carries the "Tokopedia & Shop" mark and no TikTok branding (LOGISTICS.md):

  GET  /fulfillment/202309/packages/{id}/handover_time_slots  can_pickup, can_drop_off, pickup_slots
  POST /fulfillment/202309/packages/ship                       Batch Ship Packages: data.errors per package
  POST /fulfillment/202309/packages/{id}/ship                  Ship Package (PICKUP with a pickup_slot, or
                                                               DROP_OFF); one with self_shipment is left
                                                               to marketplace_sim (the seller's own courier)
  GET  /fulfillment/202309/packages/{id}                       Get Package Detail: package_status, resi
  GET  /fulfillment/202309/packages/{id}/shipping_documents    doc_url (24 hours) and tracking_number

Every answer is {"code", "message", "request_id", "data"}; code 0 is success. An order has one package
(sim_formats.tiktok: packages[0].id). Arranging moves the order to AWAITING_COLLECTION (its package to
PROCESSING) and assigns the resi at once, or after a few looks (`set_resi_delay`). The doc_url points at
the channel simulator's unsigned route GET /_sim/documents/<token>, answered by `document`.
On demand, for tests and demos: `set_ship_failure` (a package's next ship is refused with the code and
message given) and `set_resi_delay`.

Codes: 21011001 (package not found) is the one the order client already treats as not found and
21011053 (outside the pickup slots) is TikTok's; the others below are this simulator's own, as the
vendor's pages at hand name none for them (the adapter reads package_status, not these codes).
"""

from __future__ import annotations

import io
import json
import secrets
import threading
import time
import zlib
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from oms_local.sim_formats import SimOrder
from oms_local.sim_formats import tiktok as tiktok_docs

PATHS = ("/fulfillment/202309/packages/", "/fulfillment/202309/orders/")
DOCUMENT_TTL_S = 24 * 3600  # "The URL is valid for 24 hours."
WIB = ZoneInfo("Asia/Jakarta")
SLOT_HOURS = (13, 17)  # the afternoon pickup window, WIB, on each of the next three days

PACKAGE_NOT_FOUND = (21011001, "Package not found.")
OUTSIDE_SLOT = (21011053, "The pickup time is outside the pick-up slot.")
INVALID = (36009001, "Invalid parameter: {}")  # the simulator's own (see above)
ALREADY_ARRANGED = (21011007, "The package has already been shipped.")
NOT_SHIPPABLE = (21011008, "The order status does not allow shipping: {}")
NOT_ARRANGED = (21011009, "Please call Ship Package before getting the shipping documents.")
NO_RESI_YET = (21011010, "The tracking number is being generated, please try again later.")

DOCUMENT_TYPES = {"SHIPPING_LABEL", "PACKING_SLIP", "SHIPPING_LABEL_AND_PACKING_SLIP"}
DOCUMENT_SIZES = {"A6", "A5"}
PACKAGE_STATUS = {
    "AWAITING_SHIPMENT": "TO_FULFILL",
    "AWAITING_COLLECTION": "PROCESSING",
    "PARTIALLY_SHIPPING": "FULFILLING",
    "IN_TRANSIT": "FULFILLING",
    "DELIVERED": "COMPLETED",
    "COMPLETED": "COMPLETED",
    "CANCELLED": "CANCELLED",
    "CANCEL": "CANCELLED",
}

_lock = threading.Lock()  # the state below; never held while the simulator changes an order


def serve(  # noqa: PLR0911 - one answer per documented call
    sim: Any, channel: str, method: str, path: str, query: dict, raw: bytes
) -> tuple[int, Any] | None:
    parts = path.strip("/").split("/")  # fulfillment, 202309, packages, <id or "ship">, [what]
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        return 200, _refused(_with(INVALID, "the body is not JSON"))
    if parts[:3] == ["fulfillment", "202309", "orders"]:
        return _serve_split(sim, channel, method, parts, query, body)
    if len(parts) < 4 or parts[:3] != ["fulfillment", "202309", "packages"]:
        return None
    if method == "POST" and len(parts) == 4 and parts[3] == "ship":
        return 200, _batch_ship(sim, channel, body)
    if len(parts) == 4 and method == "GET" and parts[3] not in ("ship", "search"):
        return 200, _detail(sim, channel, parts[3])
    if len(parts) != 5:
        return None
    package_id, what = parts[3], parts[4]
    if method == "GET" and what == "handover_time_slots":
        return 200, _time_slots(sim, channel, package_id)
    if method == "POST" and what == "ship":
        if isinstance(body, dict) and body.get("self_shipment"):
            return None  # the seller's own courier: marketplace_sim's Ship Package answers it
        refused = _ship(sim, channel, {**(body if isinstance(body, dict) else {}), "id": package_id})
        return 200, _refused(refused) if refused else _answer({})
    if method == "GET" and what == "shipping_documents":
        return 200, _documents(sim, channel, package_id, query)
    return None


def document(sim: Any, token: str, now: float | None = None) -> tuple[int, str, bytes]:
    """GET /_sim/documents/<token>: (status, content type, body); 410 once the link ran out."""
    with _lock:
        found = next((state["documents"][token] for state in _states(sim) if token in state.get("documents", {})), None)
    if found is None:
        return 404, "application/json", b'{"error": "no such document"}'
    if (time.time() if now is None else now) > found["issued"] + DOCUMENT_TTL_S:
        return 410, "application/json", b'{"error": "the document link has expired"}'
    return 200, "application/pdf", found["pdf"]


def set_ship_failure(sim: Any, channel: str, package_id: str, code: int, message: str) -> None:
    """The package's next Ship Package (alone or in a batch) is refused with this code and message (once)."""
    with _lock:
        _state(sim, channel)["ship_failures"][str(package_id)] = (code, message)


def set_resi_delay(sim: Any, channel: str, package_id: str, asks: int) -> None:
    """Call before the package is shipped: its resi is then assigned only after `asks` looks at Get
    Package Detail answered without one (the courier assigns it minutes later)."""
    with _lock:
        _state(sim, channel)["resi_delay"][str(package_id)] = asks


# --- the calls


def _time_slots(sim: Any, channel: str, package_id: str) -> dict:
    order = _order_of(sim, channel, package_id)
    if order is None:
        return _refused(PACKAGE_NOT_FOUND)
    slots = _slots_now()
    with _lock:
        offered = _state(sim, channel)["offered"].setdefault(package_id, [])
        offered.extend(slot for slot in slots if slot not in offered)
    return _answer(
        {
            "can_pickup": True,
            "can_drop_off": True,
            "can_van_collection": False,
            "drop_off_point_url": "https://seller-id.tiktok.com/logistics/drop-off-points",
            "pickup_slots": [{"start_time": s, "end_time": e, "avaliable": True} for s, e in slots],  # sic
        }
    )


def _batch_ship(sim: Any, channel: str, body: Any) -> dict:
    entries = body.get("packages") if isinstance(body, dict) else None
    if not isinstance(entries, list) or not entries:
        return _refused(_with(INVALID, "packages"))
    errors = []
    for entry in entries:
        refused = _ship(sim, channel, entry if isinstance(entry, dict) else {})
        if refused:
            code, message = refused
            errors.append({"code": code, "message": message, "detail": {"package_id": str(entry.get("id") or "")}})
    return _answer({"errors": errors})


def _ship(sim: Any, channel: str, entry: dict) -> tuple[int, str] | None:  # noqa: PLR0911 - one per refusal
    """Ship one package; (code, message) when refused."""
    package_id = str(entry.get("id") or "")
    order = _order_of(sim, channel, package_id)
    if order is None:
        return PACKAGE_NOT_FOUND
    with _lock:
        state = _state(sim, channel)
        failure = state["ship_failures"].pop(package_id, None)
        package = state["packages"].get(package_id)
        offered = list(state["offered"].get(package_id, [])) + _slots_now()
    if failure is not None:
        return failure
    if entry.get("self_shipment"):  # in a batch: the seller's own courier ships it at once
        tracking = str(entry["self_shipment"].get("tracking_number") or "")
        sim._outbound_change(order, "IN_TRANSIT", tracking_number=tracking)
        return None
    method = entry.get("handover_method")
    if method not in ("PICKUP", "DROP_OFF"):
        return _with(INVALID, "handover_method")
    slot = _slot_of(entry) if method == "PICKUP" else None
    if method == "PICKUP" and slot not in offered:
        return OUTSIDE_SLOT
    if order.status in ("AWAITING_SHIPMENT", "AWAITING_COLLECTION") and package is not None:
        if method == "PICKUP" and slot != package["pickup_slot"]:
            with _lock:  # the courier's pickup failed or moved: a new slot
                package["pickup_slot"] = slot
            return None
        return ALREADY_ARRANGED
    if order.status in ("AWAITING_COLLECTION", "PARTIALLY_SHIPPING", "IN_TRANSIT", "DELIVERED", "COMPLETED"):
        return ALREADY_ARRANGED
    if order.status != "AWAITING_SHIPMENT":
        return _with(NOT_SHIPPABLE, order.status)
    with _lock:
        late = state["resi_delay"].get(package_id, 0) > 0
        tracking = None if late else _resi(package_id)
        state["packages"][package_id] = {
            "order_id": order.order_id,
            "handover_method": method,
            "pickup_slot": slot,
            "tracking_number": tracking,
            "shipped_at": int(time.time()),
        }
    if _split(order):  # a split order awaits collection once every package is arranged
        _mark(sim, order, package_id, arranged=True, tracking_number=tracking)
        if all(p.get("arranged") for p in _split(order)):
            sim._outbound_change(order, "AWAITING_COLLECTION")
        return None
    sim._outbound_change(order, "AWAITING_COLLECTION", **({"tracking_number": tracking} if tracking else {}))
    return None


def _detail(sim: Any, channel: str, package_id: str) -> dict:
    order = _order_of(sim, channel, package_id)
    if order is None:
        return _refused(PACKAGE_NOT_FOUND)
    assigned = None
    with _lock:
        state = _state(sim, channel)
        package = state["packages"].get(package_id)
        if package is not None and package["tracking_number"] is None:
            asks = state["resi_delay"].get(package_id, 0)
            if asks > 0:
                state["resi_delay"][package_id] = asks - 1
            else:
                package["tracking_number"] = assigned = _resi(package_id)
        package = dict(package or {})
    if assigned and _split(order):  # the courier assigned the resi just now: the order shows it too
        _mark(sim, order, package_id, tracking_number=assigned)
    elif assigned:
        sim.change(order.channel, order.order_id, {"tracking_number": assigned})
    document = tiktok_docs.order_detail(order)
    data: dict[str, Any] = {
        "package_id": package_id,
        "package_status": _package_status(order, package),
        "orders": [{"id": order.order_id}],
        "order_line_item_ids": [row["id"] for row in document["line_items"] if row.get("package_id") == package_id],
        "has_multi_skus": len(order.lines) > 1,
        "shipping_type": "TIKTOK",
        "shipping_provider_id": document["shipping_provider_id"],
        "shipping_provider_name": document["shipping_provider"],
        "delivery_option_id": document["delivery_option_id"],
        "delivery_option_name": document["delivery_option_name"],
        "tracking_number": package.get("tracking_number") or order.tracking_number or "",
        "split_and_combine_tag": "DEFAULT",
        "note_tag": "BUYER_UNNOTED",
        "create_time": order.created,
        "update_time": order.updated,
    }
    if package.get("handover_method"):
        data["handover_method"] = package["handover_method"]
    if package.get("pickup_slot"):
        data["pickup_slot"] = {"start_time": package["pickup_slot"][0], "end_time": package["pickup_slot"][1]}
    return _answer(data)


def _documents(sim: Any, channel: str, package_id: str, query: dict) -> dict:
    kind = query.get("document_type") or ""
    size = query.get("document_size") or "A6"
    if kind not in DOCUMENT_TYPES:
        return _refused(_with(INVALID, "document_type"))
    if size not in DOCUMENT_SIZES:
        return _refused(_with(INVALID, "document_size"))
    order = _order_of(sim, channel, package_id)
    if order is None:
        return _refused(PACKAGE_NOT_FOUND)
    with _lock:
        package = dict(_state(sim, channel)["packages"].get(package_id) or {})
    if not package or _package_status(order, package) != "PROCESSING":
        return _refused(NOT_ARRANGED)  # before arranging, and once the courier has picked it up
    if not package.get("tracking_number"):
        return _refused(NO_RESI_YET)
    # The storefront the order came from draws the mark, whichever name the call came under.
    pdf = _label_pdf(order.channel, order.order_id, package_id, package["tracking_number"], order.carrier)
    token = secrets.token_urlsafe(18)
    with _lock:
        _state(sim, channel)["documents"][token] = {"package_id": package_id, "issued": time.time(), "pdf": pdf}
    base = getattr(sim, "public_url", None) or "http://127.0.0.1"
    url = f"{base}/_sim/documents/{token}"
    return _answer({"doc_url": url, "tracking_number": package["tracking_number"]})


# --- splitting an order into packages (get-order-split-attributes-202309, split-orders-202309)

ORDER_NOT_FOUND = (36009003, "Order not found.")  # the simulator's own code, as its cancellations use
NOT_SPLITTABLE = (21011020, "The order cannot be split: {}")  # the simulator's own code


def set_split_failure(sim: Any, order_id: str, code: int, message: str) -> None:
    """The order's next Split Orders is refused with this code and message (once)."""
    with _lock:
        _state(sim, "tiktok").setdefault("split_failures", {})[str(order_id)] = (code, message)


def _serve_split(
    sim: Any, channel: str, method: str, parts: list[str], query: dict, body: Any
) -> tuple[int, Any] | None:
    """GET .../orders/split_attributes?order_ids=a,b and POST .../orders/{order_id}/split."""
    if method == "GET" and parts[3:] == ["split_attributes"]:
        wanted = [i for i in str(query.get("order_ids") or "").split(",") if i]
        if not 1 <= len(wanted) <= 50:
            return 200, _refused(_with(INVALID, "order_ids"))
        found = [(i, _order(sim, i)) for i in wanted]
        attributes = [
            {"order_id": i, "can_split": not _why_not_split(o), "reason": _why_not_split(o) or "",
             "must_split": False, "must_split_reasons": []}
            for i, o in found if o is not None
        ]  # fmt: skip
        return 200, _answer({"split_attributes": attributes})
    if method == "POST" and len(parts) == 5 and parts[4] == "split":
        return 200, _split_order(sim, parts[3], body if isinstance(body, dict) else {})
    return None


def _split_order(sim: Any, order_id: str, body: dict) -> dict:
    order = _order(sim, order_id)
    if order is None:
        return _refused(ORDER_NOT_FOUND)
    with _lock:
        failure = _state(sim, "tiktok").setdefault("split_failures", {}).pop(order_id, None)
    if failure is not None:
        return _refused(failure)
    why = _why_not_split(order)
    if why:
        return _refused(_with(NOT_SPLITTABLE, why))
    rows = [row["id"] for row in tiktok_docs.order_detail(order)["line_items"]]
    groups = body.get("splittable_groups")
    if not isinstance(groups, list) or len(groups) < 2 or not all(isinstance(g, dict) for g in groups):
        return _refused(_with(INVALID, "splittable_groups must hold at least two groups"))
    asked = [[str(i) for i in g.get("order_line_item_ids") or []] for g in groups]
    if any(not ids for ids in asked) or sorted(i for ids in asked for i in ids) != sorted(rows):
        return _refused(_with(INVALID, "splittable_groups must hold every line item of the order once"))
    packages = [
        {"id": f"11{zlib.crc32(f'{order_id}:pkg:{n}'.encode()) % 10**17:017d}", "line_item_ids": ids}
        for n, ids in enumerate(asked, start=1)
    ]
    sim.change(order.channel, order.order_id, {"extra": {"packages": packages}})
    answer = [{"id": p["id"], "order_line_item_ids": p["line_item_ids"]} for p in packages]
    return _answer({"packages": answer})


def _why_not_split(order: SimOrder) -> str | None:
    """Seller University, "Splitting Orders into Separate Packages": more than one item, AWAITING_SHIPMENT,
    no unit cancelled or being cancelled; and not split already (the simulator does not split twice)."""
    if order.status != "AWAITING_SHIPMENT":
        return f"the order is {order.status}"
    if sum(line.quantity for line in order.lines) < 2:
        return "the order has one item"
    if order.extra.get("is_buyer_request_cancel"):
        return "the buyer has requested a cancellation"
    if _split(order):
        return "the order is split already"
    return None


def _split(order: SimOrder) -> list[dict]:
    return order.extra.get("packages") or []


def _mark(sim: Any, order: SimOrder, package_id: str, **fields: Any) -> None:
    """A split package's own state, as the order detail shows it (arranged, tracking_number)."""
    with sim.lock:
        for package in order.extra.get("packages") or []:
            if package["id"] == package_id:
                package.update({k: v for k, v in fields.items() if v is not None})


def _package_status(order: SimOrder, arranged: dict) -> str:
    """A split package arranged while its siblings are not: PROCESSING, the order still AWAITING_SHIPMENT."""
    if arranged and order.status == "AWAITING_SHIPMENT":
        return "PROCESSING"
    return PACKAGE_STATUS.get(order.status, "TO_FULFILL")


def _order(sim: Any, order_id: str) -> SimOrder | None:
    with sim.lock:
        return next((o for (c, i), o in sim.orders.items() if c in STOREFRONTS and i == order_id), None)


# --- the simulated packages


STOREFRONTS = ("tiktok", "tokopedia")  # the storefronts whose orders TikTok Shop's API serves
STATE_KEY = "tiktok"  # one API, one set of packages: Tokopedia's are TikTok Shop packages


def _states(sim: Any) -> list[dict[str, Any]]:
    return [state for channel, state in sim.logistics_state.items() if channel == STATE_KEY]


def _state(sim: Any, channel: str) -> dict[str, Any]:
    """The packages' state; `channel` (tiktok or tokopedia) names the same one."""
    state = sim.logistics_state.setdefault(STATE_KEY, {})
    for key in ("packages", "offered", "resi_delay", "ship_failures", "documents"):
        state.setdefault(key, {})
    return state


def _order_of(sim: Any, channel: str, package_id: str) -> SimOrder | None:
    """The order whose package this is (one package an order, as sim_formats renders it), of either storefront."""
    if not package_id:
        return None
    with sim.lock:
        orders = [order for (c, _), order in sim.orders.items() if c in STOREFRONTS]
    for order in orders:
        packages = tiktok_docs.order_detail(order).get("packages") or []
        if any(package.get("id") == package_id for package in packages):  # one, or one per split
            return order
    return None


def _slots_now() -> list[tuple[int, int]]:
    """Three pickup slots, one on each of the next three days (WIB)."""
    today = datetime.fromtimestamp(time.time(), WIB).date()
    slots = []
    for ahead in (1, 2, 3):
        day = today + timedelta(days=ahead)
        start = datetime(day.year, day.month, day.day, SLOT_HOURS[0], tzinfo=WIB)
        end = datetime(day.year, day.month, day.day, SLOT_HOURS[1], tzinfo=WIB)
        slots.append((int(start.timestamp()), int(end.timestamp())))
    return slots


def _slot_of(entry: dict) -> tuple[int, int] | None:
    slot = entry.get("pickup_slot")
    try:
        return int(slot["start_time"]), int(slot["end_time"])
    except (KeyError, TypeError, ValueError):
        return None


def _resi(package_id: str) -> str:
    """A J&T-like airway bill number, the same for the same package."""
    return f"JX{zlib.crc32(package_id.encode()) % 10**10:010d}"


def _label_pdf(channel: str, order_id: str, package_id: str, tracking: str, carrier: str) -> bytes:
    """One A6 page: the storefront's mark (Tokopedia's label carries no TikTok branding), the carrier,
    the order, the package and the resi as a Code 128 barcode. No buyer data: the simulator needs none."""
    from reportlab.graphics.barcode.code128 import Code128
    from reportlab.lib.pagesizes import A6
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A6, invariant=1)  # invariant: the same bytes for the same label
    width, height = A6
    canvas.setFont("Helvetica-Bold", 18)
    canvas.drawString(8 * mm, height - 16 * mm, "Tokopedia & Shop" if channel == "tokopedia" else "TikTok Shop")
    canvas.setFont("Helvetica", 9)
    canvas.drawString(8 * mm, height - 24 * mm, carrier)
    canvas.drawString(8 * mm, height - 30 * mm, f"Order: {order_id}")
    canvas.drawString(8 * mm, height - 36 * mm, f"Package: {package_id}")
    barcode = Code128(tracking, barHeight=18 * mm, barWidth=0.3 * mm, humanReadable=True)
    barcode.drawOn(canvas, max(2 * mm, (width - barcode.width) / 2), height - 66 * mm)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


# --- TikTok's envelope


def _answer(data: dict) -> dict:
    return {"code": 0, "message": "Success", "request_id": _request_id(), "data": data}


def _refused(code_and_message: tuple[int, str]) -> dict:
    code, message = code_and_message
    return {"code": code, "message": message, "request_id": _request_id()}


def _with(code_and_message: tuple[int, str], detail: str) -> tuple[int, str]:
    code, message = code_and_message
    return code, message.format(detail)


def _request_id() -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime()) + secrets.token_hex(10).upper()
