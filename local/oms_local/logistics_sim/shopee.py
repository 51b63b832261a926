"""Shopee Open Platform v2 logistics, simulated in the vendor's documented shapes
(open.shopee.com/documents/v2/v2.logistics.<call>?module=95): shipping parameters (single and mass),
ship_order and mass_ship_order with pickup or drop-off, update_shipping_order after a failed pickup, the
tracking number (single and mass) that the courier assigns late, and the airway bill: its parameter, the
asynchronous document task (PROCESSING on the first result ask after creating it, READY on the next) and
the download, a real A6 PDF (reportlab) with the resi as a Code 128 barcode.

Every answer is {"request_id", "error", "message", "response"}; batches take 1 to 50 packages (error_param
beyond). ship_order with `non_integrated` (the seller's own courier) is not answered here: the simulator's
own handler takes it. One pickup address, three time slots over the next two days (from the machine's
clock), two drop-off branches. State per package lives in sim.logistics_state["shopee"].

An order can be split into packages (v2.order.split_order, the "Order management" best practice, section 6):
READY_TO_SHIP only, 2 to 5 packages holding every item of the order, no item+model across packages (unit-level
split, model_quantity, is for whitelisted shops of SG/TH/TW/MY, not ID), not split twice. get_order_detail then
lists each package (sim_formats.shopee, from order.extra["packages"]); each is arranged, tracked and labelled on
its own (calls about a split order name their package_number), and the order is PROCESSED once all are arranged.

Controls, for tests and the simulator's control endpoint (plain functions: a signed Shopee path cannot be one):
  set_resi_delay(sim, order_sn, asks)          the first `asks` tracking-number asks answer it empty
  set_arrange_failure(sim, order_sn, error, message)   arranging the order fails with Shopee's error
  require_sender_real_name(sim, order_sn)      its drop-off asks for sender_real_name too
  set_busy(sim, times, error)                  the next `times` logistics calls answer Shopee's busy error
  set_thermal_zip(sim, on)                     thermal labels come as a zip (a shop printing thermal, per the FAQ)
  set_split_failure(sim, order_sn, error, message)     the order's next split_order fails with Shopee's error
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
import zipfile
from datetime import datetime, timedelta, timezone
from typing import Any

from oms_local.sim_formats import SimOrder
from oms_local.sim_formats import shopee as shopee_docs

PATHS = ("/api/v2/logistics/", "/api/v2/order/split_order")
MAX_PACKAGES = 5  # "30 parcels at most in TW and 5 parcels at most in other regions"
BATCH = 50
WIB = timezone(timedelta(hours=7), "WIB")
READY = frozenset({"READY_TO_SHIP", "RETRY_SHIP"})  # LOGISTICS_READY / LOGISTICS_PICKUP_RETRY: may be arranged
ARRANGED = frozenset({"PROCESSED", "SHIPPED", "TO_CONFIRM_RECEIVE", "COMPLETED"})
THERMAL, NORMAL = "THERMAL_AIR_WAYBILL", "NORMAL_AIR_WAYBILL"
# The seller's pickup address (the shop's warehouse), as get_shipping_parameter lists it.
ADDRESS = {
    "address_id": 20011,
    "region": "ID",
    "state": "DKI Jakarta",
    "city": "Jakarta Timur",
    "district": "Cakung",
    "town": "Cakung Barat",
    "address": "Gudang Cakung, Jl. Raya Bekasi Km. 21",
    "zipcode": "13910",
    "address_flag": ["default_address", "pickup_address", "return_address"],
}
BRANCHES = [
    {"branch_id": 41001, "region": "ID", "state": "DKI Jakarta", "city": "Jakarta Timur", "district": "Pulo Gadung",
     "town": "Rawamangun", "address": "SPX Express Drop Point Rawamangun, Jl. Pemuda No. 12", "zipcode": "13220"},
    {"branch_id": 41002, "region": "ID", "state": "DKI Jakarta", "city": "Jakarta Timur", "district": "Cakung",
     "town": "Pulo Gebang", "address": "SPX Express Drop Point Pulo Gebang, Jl. Sentra Primer", "zipcode": "13950"},
]  # fmt: skip
NOT_READY = ("logistics.order_status_error", "logistic status not ready to ship")  # the vendor FAQ's words
ONE_TYPE = ("logistics.ship_order_only_support_one_type", "Only one of pickup, dropoff and non_integrated can be set.")
_lock = threading.Lock()  # this module's state; never held while calling into the simulator


# ------------------------------------------------------------ controls


def set_resi_delay(sim: Any, order_sn: str, asks: int) -> None:
    with _lock:
        _state(sim).setdefault("resi_delay", {})[order_sn] = int(asks)


def set_arrange_failure(sim: Any, order_sn: str, error: str, message: str) -> None:
    with _lock:
        _state(sim).setdefault("arrange_failure", {})[order_sn] = (error, message)


def require_sender_real_name(sim: Any, order_sn: str) -> None:
    with _lock:
        _state(sim).setdefault("sender_name", set()).add(order_sn)


def set_busy(sim: Any, times: int, error: str = "error_busi_system") -> None:
    with _lock:
        _state(sim)["busy"] = {"times": int(times), "error": error}


def set_thermal_zip(sim: Any, on: bool = True) -> None:
    with _lock:
        _state(sim)["thermal_zip"] = bool(on)


def set_split_failure(sim: Any, order_sn: str, error: str, message: str) -> None:
    with _lock:
        _state(sim).setdefault("split_failure", {})[order_sn] = (error, message)


# ------------------------------------------------------------ the calls


def serve(sim: Any, channel: str, method: str, path: str, query: dict, raw: bytes) -> tuple[int, Any] | None:
    body = json.loads(raw or b"{}") if method == "POST" else {}
    if path == "/api/v2/logistics/ship_order" and "non_integrated" in body:
        return None  # the seller's own courier: marketplace_sim's own ship_order handler
    handler = HANDLERS.get(path)
    if handler is None:
        return None
    with _lock:
        busy = _state(sim).get("busy") or {}
        if busy.get("times", 0) > 0:
            busy["times"] -= 1
            return 200, _error(busy["error"], "System is busy, please try again later.")
    return handler(sim, query, body)


def _get_shipping_parameter(sim: Any, query: dict, body: dict) -> tuple[int, Any]:
    order = sim.get("shopee", str(query.get("order_sn") or ""))
    if order is None:
        return 200, _error("error_not_found", "Order not found.")
    package = _package_of(order, query.get("package_number"))
    if isinstance(package, tuple):
        return 200, _error(*package)
    if not _ready(sim, order, package["package_number"]):
        return 200, _error(*NOT_READY)
    return 200, _ok(_parameters(sim, [order]))


def _get_mass_shipping_parameter(sim: Any, query: dict, body: dict) -> tuple[int, Any]:
    numbers = _package_numbers(body)
    if isinstance(numbers, tuple):
        return 200, _error(*numbers)
    success, fail, orders = [], [], []
    for number in numbers:
        order = _order_of_package(sim, number)
        reason = _batch_problem(order, body, number) if order else "Package not found."
        if reason is None and order is not None and not _ready(sim, order, number):
            reason = NOT_READY[1]
        if reason:
            fail.append({"package_number": number, "fail_reason": reason})
        else:
            success.append({"package_number": number})
            orders.append(order)
    response = {**(_parameters(sim, orders) if orders else {}), "success_list": success, "fail_list": fail}
    return 200, _ok(response)


def _ship_order(sim: Any, query: dict, body: dict) -> tuple[int, Any]:
    order = sim.get("shopee", str(body.get("order_sn") or ""))
    if order is None:
        return 200, _error("error_not_found", "Order not found.")
    package = _package_of(order, body.get("package_number"))
    if isinstance(package, tuple):
        return 200, _error(*package)
    kinds = [kind for kind in ("pickup", "dropoff", "non_integrated") if kind in body]
    if len(kinds) != 1:
        return 200, _error(*ONE_TYPE)
    problem = _arrange(sim, order, kinds[0], body[kinds[0]], package["package_number"])
    return 200, (_error(*problem) if problem else _ok({}))


def _mass_ship_order(sim: Any, query: dict, body: dict) -> tuple[int, Any]:
    numbers = _package_numbers(body)
    if isinstance(numbers, tuple):
        return 200, _error(*numbers)
    kinds = [kind for kind in ("pickup", "dropoff", "non_integrated") if kind in body]
    if len(kinds) != 1:
        return 200, _error(*ONE_TYPE)
    success, fail = [], []
    for number in numbers:
        order = _order_of_package(sim, number)
        reason = _batch_problem(order, body, number) if order else "Package not found."
        if reason is None and order is not None:
            handover = body[kinds[0]]
            if kinds[0] == "non_integrated":  # one tracking number per package
                rows = handover.get("tracking_number") or []
                handover = next((r for r in rows if r.get("package_number") == number), {})
            problem = _arrange(sim, order, kinds[0], handover, number)
            reason = problem[1] if problem else None
        if reason:
            fail.append({"package_number": number, "fail_reason": reason})
        else:
            success.append({"package_number": number})
    return 200, _ok({"success_list": success, "fail_list": fail})


def _update_shipping_order(sim: Any, query: dict, body: dict) -> tuple[int, Any]:
    order = sim.get("shopee", str(body.get("order_sn") or ""))
    if order is None:
        return 200, _error("error_not_found", "Order not found.")
    pickup = body.get("pickup") or {}
    if not pickup.get("address_id") or not pickup.get("pickup_time_id"):
        return 200, _error("error_param", "pickup.address_id and pickup.pickup_time_id are required.")
    if order.status != "RETRY_SHIP":
        return 200, _error("logistics.order_status_error", "Only a package pending pickup retry can be updated.")
    package = _package_of(order, body.get("package_number"))
    if isinstance(package, tuple):
        return 200, _error(*package)
    problem = _arrange(sim, order, "pickup", pickup, package["package_number"], again=True)
    return 200, (_error(*problem) if problem else _ok({}))


def _get_tracking_number(sim: Any, query: dict, body: dict) -> tuple[int, Any]:
    order = sim.get("shopee", str(query.get("order_sn") or ""))
    if order is None:
        return 200, _error("error_not_found", "Order not found.")
    package = _package_of(order, query.get("package_number"))
    if isinstance(package, tuple):
        return 200, _error(*package)
    tracking = _ask_tracking(sim, order, package["package_number"])
    if tracking is None:
        return 200, _error("logistics.order_status_error", "The order has not been arranged shipment yet.")
    return 200, _ok({"tracking_number": tracking, "hint": "", "pickup_code": ""})


def _get_mass_tracking_number(sim: Any, query: dict, body: dict) -> tuple[int, Any]:
    numbers = _package_numbers(body)
    if isinstance(numbers, tuple):
        return 200, _error(*numbers)
    success, fail = [], []
    for number in numbers:
        order = _order_of_package(sim, number)
        tracking = _ask_tracking(sim, order, number) if order else None
        if tracking is None:
            reason = "Package not found." if order is None else "The package has not been arranged shipment yet."
            fail.append({"package_number": number, "fail_reason": reason})
        else:
            success.append({"package_number": number, "tracking_number": tracking, "hint": "", "pickup_code": ""})
    return 200, _ok({"success_list": success, "fail_list": fail})


def _get_shipping_document_parameter(sim: Any, query: dict, body: dict) -> tuple[int, Any]:
    def row(order: SimOrder, number: str) -> dict:
        if _tracking_of(sim, number) is None:
            return _cannot_print()
        return {"suggest_shipping_document_type": THERMAL, "selectable_shipping_document_type": [NORMAL, THERMAL]}

    return _document_batch(sim, body, row)


def _create_shipping_document(sim: Any, query: dict, body: dict) -> tuple[int, Any]:
    def row(order: SimOrder, number: str, asked: dict) -> dict:
        tracking = _tracking_of(sim, number)
        if tracking is None:
            return _cannot_print()
        if asked.get("tracking_number") != tracking:
            return {"fail_error": "logistics.tracking_number_invalid", "fail_message": "tracking_number is invalid."}
        kind = str(asked.get("shipping_document_type") or THERMAL)
        with _lock:
            _package_state(sim, number)["document"] = {"type": kind, "asks": 0}
        return {}

    return _document_batch(sim, body, row, with_request=True)


def _get_shipping_document_result(sim: Any, query: dict, body: dict) -> tuple[int, Any]:
    def row(order: SimOrder, number: str) -> dict:
        with _lock:
            document = _package_state(sim, number).get("document")
            if document is None:
                return {"fail_error": "logistics.shipping_document_should_print_first",
                        "fail_message": "Please call create_shipping_document first."}  # fmt: skip
            document["asks"] += 1
            return {"status": "PROCESSING" if document["asks"] < 2 else "READY"}

    return _document_batch(sim, body, row)


def _download_shipping_document(sim: Any, query: dict, body: dict) -> tuple[int, Any]:
    orders = body.get("order_list") or []
    if not 1 <= len(orders) <= BATCH:
        return 200, _error("error_param", f"order_list must hold 1 to {BATCH} orders.")
    kind = str(body.get("shipping_document_type") or THERMAL)
    pages = []
    for asked in orders:
        order = sim.get("shopee", str(asked.get("order_sn") or ""))
        if order is None:
            return 200, _error("error_not_found", f"Order {asked.get('order_sn')} not found.")
        package = _package_of(order, asked.get("package_number"))
        if isinstance(package, tuple):
            return 200, _error(*package)
        number = package["package_number"]
        with _lock:
            document = _package_state(sim, number).get("document") or {}
        if document.get("asks", 0) < 2 or document.get("type") != kind:
            return 200, _error("logistics.shipping_document_not_ready", f"The {kind} of {order.order_id} is not ready.")
        pages.append((order.order_id, _tracking_of(sim, number) or ""))
    pdf = _airway_bill(pages)
    with _lock:
        zipped = _state(sim).get("thermal_zip") and kind.startswith("THERMAL")
    if not zipped:
        return 200, pdf
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("shipping_document.pdf", pdf)
    return 200, buffer.getvalue()


def _split_order(sim: Any, query: dict, body: dict) -> tuple[int, Any]:  # noqa: PLR0911 - one per refusal
    """v2.order.split_order: {order_sn, package_list: [{item_list: [{item_id, model_id, order_item_id,
    promotion_group_id, model_quantity?}]}]} -> {order_sn, package_list: [{package_number, item_list}]}."""
    order = sim.get("shopee", str(body.get("order_sn") or ""))
    if order is None:
        return 200, _error("error_not_found", "Order not found.")
    with _lock:
        failure = _state(sim).setdefault("split_failure", {}).pop(order.order_id, None)
    if failure:
        return 200, _error(*failure)
    if order.status != "READY_TO_SHIP":
        return 200, _error(
            "order.order_status_error", "Orders can be split only when the order status is READY_TO_SHIP."
        )
    if order.extra.get("packages"):
        return 200, _error("order.order_already_split", "The order has been split already.")  # the simulator's words
    asked = body.get("package_list")
    if not isinstance(asked, list) or not 2 <= len(asked) <= MAX_PACKAGES:
        return 200, _error("error_param", f"package_list must hold 2 to {MAX_PACKAGES} packages.")
    whole = {(i["item_id"], i["model_id"]): i for i in shopee_docs.order_detail(order)["item_list"]}
    seen: list[tuple[int, int]] = []
    packages = []
    for n, package in enumerate(asked, start=1):
        items = []
        for entry in (package.get("item_list") if isinstance(package, dict) else None) or []:
            key = (int(entry.get("item_id") or 0), int(entry.get("model_id") or 0))
            item = whole.get(key)
            if item is None:
                return 200, _error("error_param", f"item {key[0]} model {key[1]} is not in the order.")
            quantity = entry.get("model_quantity")
            if quantity is not None and int(quantity) != item["model_quantity_purchased"]:
                return 200, _error("error_permission", "Unit-level split is only for whitelisted shops in SG/TH/TW/MY.")
            if key in seen:
                return 200, _error(
                    "error_param", "Items of the same item_id and model_id can not be split into different packages."
                )
            seen.append(key)
            items.append({"item_id": key[0], "model_id": key[1], "model_quantity": item["model_quantity_purchased"],
                          "order_item_id": item["order_item_id"], "promotion_group_id": 0})  # fmt: skip
        packages.append({"package_number": f"OFG{_digits(f'{order.order_id}:pkg:{n}', 15)}", "item_list": items})
    if sorted(seen) != sorted(whole):
        return 200, _error("error_param", "The requested items must contain all the items in the order.")
    sim.change("shopee", order.order_id, {"extra": {"packages": packages}})
    with _lock:
        _state(sim).pop("index", None)  # the package numbers changed
    answer = [{"package_number": p["package_number"],
               "item_list": [{"item_id": i["item_id"], "model_id": i["model_id"]} for i in p["item_list"]]}
              for p in packages]  # fmt: skip
    return 200, _ok({"order_sn": order.order_id, "package_list": answer})


HANDLERS = {
    "/api/v2/order/split_order": _split_order,
    "/api/v2/logistics/get_shipping_parameter": _get_shipping_parameter,
    "/api/v2/logistics/get_mass_shipping_parameter": _get_mass_shipping_parameter,
    "/api/v2/logistics/ship_order": _ship_order,
    "/api/v2/logistics/mass_ship_order": _mass_ship_order,
    "/api/v2/logistics/update_shipping_order": _update_shipping_order,
    "/api/v2/logistics/get_tracking_number": _get_tracking_number,
    "/api/v2/logistics/get_mass_tracking_number": _get_mass_tracking_number,
    "/api/v2/logistics/get_shipping_document_parameter": _get_shipping_document_parameter,
    "/api/v2/logistics/create_shipping_document": _create_shipping_document,
    "/api/v2/logistics/get_shipping_document_result": _get_shipping_document_result,
    "/api/v2/logistics/download_shipping_document": _download_shipping_document,
}


# ------------------------------------------------------------ arranging


def _arrange(
    sim: Any, order: SimOrder, kind: str, handover: dict, number: str, again: bool = False
) -> tuple[str, str] | None:
    """Check the handover against what the order's shipping parameters offer, then arrange: the order
    moves to PROCESSED (non_integrated: SHIPPED with the seller's tracking number). (error, message) if not."""
    with _lock:
        failure = _state(sim).get("arrange_failure", {}).get(order.order_id)
        needs_name = order.order_id in _state(sim).get("sender_name", set())
    if failure:
        return failure
    if not (_ready(sim, order, number) or (again and order.status in READY)):
        return NOT_READY
    problem = _handover_problem(kind, handover, needs_name)
    if problem:
        return problem
    with _lock:
        _package_state(sim, number).update({"arranged": kind, "handover": dict(handover), "asks": 0})
    split = order.extra.get("packages")
    if split:  # a split order is PROCESSED once all its packages are arranged
        with sim.lock:
            for package in split:
                package["arranged"] = package.get("arranged") or package["package_number"] == number
        if all(package.get("arranged") for package in split):
            sim._outbound_change(order, "PROCESSED")
        return None
    if kind == "non_integrated":
        sim._outbound_change(order, "SHIPPED", tracking_number=handover.get("tracking_number"))
    else:
        sim._outbound_change(order, "PROCESSED")
    return None


def _handover_problem(kind: str, handover: dict, needs_name: bool) -> tuple[str, str] | None:
    """What Shopee would refuse in the pickup / dropoff / non_integrated object, or None."""
    problems = {
        "pickup": [
            (handover.get("address_id") != ADDRESS["address_id"],
             ("logistics.address_id_invalid", f"address_id {handover.get('address_id')} is not a pickup address.")),
            (handover.get("pickup_time_id") not in {s["pickup_time_id"] for s in _time_slots()},
             ("logistics.pickup_time_id_invalid", "pickup_time_id is invalid or has expired.")),
        ],
        "dropoff": [
            (handover.get("branch_id") not in {b["branch_id"] for b in BRANCHES},
             ("logistics.branch_id_invalid", "branch_id is required and must be one of the branch_list.")),
            (needs_name and not str(handover.get("sender_real_name") or "").strip(),
             ("error_param", "sender_real_name is required.")),
        ],
        "non_integrated": [
            (not handover.get("tracking_number"), ("error_param", "non_integrated.tracking_number is required.")),
        ],
    }  # fmt: skip
    return next((problem for refused, problem in problems[kind] if refused), None)


def _batch_problem(order: SimOrder | None, body: dict, number: str) -> str | None:
    """Mass calls batch one logistics channel and one product location (the vendor's fail_reason words)."""
    if order is None:
        return "Package not found."
    package = _package_of(order, number)
    if isinstance(package, tuple):
        return package[1]
    channel = body.get("logistics_channel_id")
    if channel is not None and int(channel) != int(package["logistics_channel_id"]):
        return "Package is not under the specified logistics channel"
    location = body.get("product_location_id")
    if location is not None and location != package["item_list"][0]["product_location_id"]:
        return "Package is not under the specified warehouse"
    return None


def _parameters(sim: Any, orders: list[SimOrder]) -> dict:
    with _lock:
        named = bool(set(_state(sim).get("sender_name", set())) & {o.order_id for o in orders})
    dropoff_needs = ["branch_id", "sender_real_name"] if named else ["branch_id"]
    return {
        "info_needed": {"dropoff": dropoff_needs, "pickup": ["address_id", "pickup_time_id"]},
        "dropoff": {"branch_list": BRANCHES},
        "pickup": {"address_list": [{**ADDRESS, "time_slot_list": _time_slots()}]},
    }


def _time_slots() -> list[dict]:
    """Three slots over the next two days (WIB): tomorrow morning (recommended) and afternoon, the day after's
    morning. `date` is the slot's start; time_text its range."""
    today = datetime.fromtimestamp(time.time(), WIB).date()
    slots = []
    for days, start, end in ((1, 9, 12), (1, 13, 17), (2, 9, 12)):
        day = today + timedelta(days=days)
        begin = int(datetime(day.year, day.month, day.day, start, tzinfo=WIB).timestamp())
        slot = {"date": begin, "time_text": f"{start:02d}:00 - {end:02d}:00", "pickup_time_id": str(begin)}
        slot["flags"] = ["recommended"] if not slots else []
        slots.append(slot)
    return slots


# ------------------------------------------------------------ the resi


def _ask_tracking(sim: Any, order: SimOrder, number: str) -> str | None:
    """The tracking number as get_tracking_number shows it: None before arranging, "" for the first asks the
    order's resi delay names (the courier assigns it late), then the resi (a split order's: each package's own)."""
    split = bool(order.extra.get("packages"))
    with _lock:
        package = _package_state(sim, number)
        if not package.get("arranged") and order.status not in ARRANGED:
            return None
        if package.get("tracking"):
            return package["tracking"]
        package["asks"] = package.get("asks", 0) + 1
        if package["asks"] <= _state(sim).get("resi_delay", {}).get(order.order_id, 0):
            return ""
        if split:
            package["tracking"] = f"SPXID0{_digits(number, 11)}"
            return package["tracking"]
        package["tracking"] = order.tracking_number or f"SPXID0{_digits(order.order_id, 11)}"
        resi = package["tracking"]
    with sim.lock:
        order.tracking_number = resi
    return resi


def _tracking_of(sim: Any, number: str) -> str | None:
    with _lock:
        return _package_state(sim, number).get("tracking")


# ------------------------------------------------------------ documents


def _document_batch(sim: Any, body: dict, row: Any, with_request: bool = False) -> tuple[int, Any]:
    """A document call over order_list (1 to 50): a result_list row per order. When every row failed Shopee
    refuses the whole call (common.batch_api_all_failed) and still sends the rows."""
    asked = body.get("order_list") or []
    if not 1 <= len(asked) <= BATCH:
        return 200, _error("error_param", f"order_list must hold 1 to {BATCH} orders.")
    rows = []
    for entry in asked:
        order = sim.get("shopee", str(entry.get("order_sn") or ""))
        if order is None:
            result = {"fail_error": "error_not_found", "fail_message": "Order not found."}
            number = str(entry.get("package_number") or "")
        elif isinstance(package := _package_of(order, entry.get("package_number")), tuple):
            result = {"fail_error": package[0], "fail_message": package[1]}
            number = str(entry.get("package_number") or "")
        else:
            number = package["package_number"]
            result = row(order, number, entry) if with_request else row(order, number)
        rows.append({"order_sn": entry.get("order_sn"), "package_number": number, **result})
    if all(r.get("fail_error") for r in rows):
        return 200, {
            **_error("common.batch_api_all_failed", "All orders in the batch failed."),
            "response": {"result_list": rows},
        }
    return 200, _ok({"result_list": rows})


def _cannot_print() -> dict:
    return {"fail_error": "logistics.package_can_not_print", "fail_message": "The package can not print now."}


def _airway_bill(pages: list[tuple[str, str]]) -> bytes:
    """An A6 label a page: SHOPEE, the order_sn, the resi as text and as a Code 128 barcode."""
    from reportlab.graphics.barcode import code128
    from reportlab.lib.pagesizes import A6
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A6, invariant=1)  # invariant: the same label, the same bytes
    width, height = A6
    for order_sn, resi in pages:
        pdf.setFont("Helvetica-Bold", 22)
        pdf.drawString(8 * mm, height - 16 * mm, "SHOPEE")
        pdf.setFont("Helvetica", 10)
        pdf.drawString(8 * mm, height - 26 * mm, f"No. Pesanan: {order_sn}")
        pdf.drawString(8 * mm, height - 32 * mm, f"No. Resi: {resi}")
        barcode = code128.Code128(resi or "-", barHeight=18 * mm, barWidth=0.35 * mm)
        barcode.drawOn(pdf, (width - barcode.width) / 2, height - 58 * mm)
        pdf.setFont("Helvetica", 12)
        pdf.drawCentredString(width / 2, height - 64 * mm, resi)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


# ------------------------------------------------------------ state and shapes


def _state(sim: Any) -> dict:
    return sim.logistics_state.setdefault("shopee", {})


def _package_state(sim: Any, number: str) -> dict:
    return _state(sim).setdefault("packages", {}).setdefault(number, {})


def _package_of(order: SimOrder, number: str | None = None) -> dict | tuple[str, str]:
    """The order's package as get_order_detail shows it: the one named, else its only one; a split order's
    calls must name theirs. (error, message) when there is no such package."""
    packages = shopee_docs.order_detail(order)["package_list"]
    if number:
        found = next((p for p in packages if p["package_number"] == number), None)
        return found or ("error_param", f"package_number {number} is not under order {order.order_id}.")
    if len(packages) > 1:
        return "error_param", f"order {order.order_id} is split: package_number is required."
    return packages[0]


def _ready(sim: Any, order: SimOrder, number: str) -> bool:
    """The package may be arranged: its order is, and it is not a split package arranged already."""
    if order.status not in READY:
        return False
    with _lock:
        return order.status != "READY_TO_SHIP" or not _package_state(sim, number).get("arranged")


def _order_of_package(sim: Any, number: str) -> SimOrder | None:
    with _lock:
        index = _state(sim).setdefault("index", {})
        order_sn = index.get(number)
    if order_sn is None:
        with sim.lock:
            orders = [o for (c, _), o in sim.orders.items() if c == "shopee"]
        found = {p["package_number"]: o.order_id for o in orders for p in shopee_docs.order_detail(o)["package_list"]}
        with _lock:
            index.update(found)
        order_sn = found.get(number)
    return sim.get("shopee", order_sn) if order_sn else None


def _package_numbers(body: dict) -> list[str] | tuple[str, str]:
    rows = body.get("package_list") or []
    if not 1 <= len(rows) <= BATCH:
        return "error_param", f"package_list must hold 1 to {BATCH} packages."
    return [str(row.get("package_number") or "") for row in rows]


def _digits(seed: str, width: int) -> str:
    return str(int(hashlib.sha256(seed.encode()).hexdigest(), 16))[:width]


def _request_id() -> str:
    return hashlib.md5(str(time.time_ns()).encode(), usedforsecurity=False).hexdigest()


def _ok(response: dict) -> dict:
    return {"request_id": _request_id(), "error": "", "message": "", "response": response}


def _error(error: str, message: str) -> dict:
    return {"request_id": _request_id(), "error": error, "message": message}
