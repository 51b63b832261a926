"""Biteship's rates and Order API, simulated in its documented shape, for the retailer's own courier:

  POST /biteship/v1/rates/couriers   pricing[] for jne (reg, yes), jnt (ez), sicepat (reg, best) and
                                     anteraja (reg), priced from the destination postal code and the weight
  POST /biteship/v1/orders           an order with the courier's waybill_id ("JNE" + 12 digits ...)
  GET  /biteship/v1/orders/<id>      that order as it stands now

Refusals come in Biteship's shape, {"success": false, "error": "...", "code": <int>}, with the vendor's
codes and words where its pages give them (https://biteship.com/en/docs/api/orders/error); the few
marked SIM_ codes below are this simulator's own (the vendor publishes none for those cases).

Simulator behaviour, not the vendor's documented one:
  - the same reference_id booked again answers the first order (Biteship only says reference_id must be
    unique; what it answers to a repeat is not documented);
  - a destination_note containing "waybill-later" books without a waybill: waybill_id is null in the
    answer and at the first GET, and set from the second GET on;
  - every price is a whole number of rupiah, the same for the same request (no clock, no randomness).

`serve_biteship` is called by channel_sim.py with the request; it keeps its state in the dict it is
given (call it under the simulator's lock) and answers None for paths it does not serve (the public
tracking stays channel_sim's).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SIM_BAD_REQUEST = 40000001  # the simulator's own code for a malformed request (not JSON, no items ...)
SIM_NO_SUCH_SERVICE = 40002099  # the simulator's own code: a courier / service it does not offer


@dataclass(frozen=True)
class Service:
    courier: str  # courier_code
    courier_name: str
    code: str  # courier_service_code
    name: str
    base: int  # IDR for the first kilogram
    per_kg: int  # IDR for every further kilogram
    cod: bool
    days: str  # shipment_duration_range, in days
    service_type: str  # standard / overnight, as Biteship groups them


SERVICES = (
    Service("jne", "JNE", "reg", "Reguler", 10000, 9000, True, "1 - 2", "standard"),
    Service("jne", "JNE", "yes", "Yakin Esok Sampai", 18000, 16000, False, "1", "overnight"),
    Service("jnt", "J&T", "ez", "EZ", 9000, 8000, True, "2 - 3", "standard"),
    Service("sicepat", "SiCepat", "reg", "Reguler", 9500, 8500, True, "1 - 2", "standard"),
    Service("sicepat", "SiCepat", "best", "Besok Sampai Tujuan", 15000, 13000, False, "1", "overnight"),
    Service("anteraja", "AnterAja", "reg", "Reguler", 9800, 8800, True, "2 - 3", "standard"),
)
ZONE_STEP = 500  # IDR more for every step of the destination postal code's first digit (further from Jakarta)


def serve_biteship(
    sim_state: dict, method: str, rest: str, body: Any, headers: Mapping[str, str]
) -> tuple[int, Any] | None:
    path = rest.strip("/")
    is_rates = method == "POST" and path == "v1/rates/couriers"
    is_create = method == "POST" and path == "v1/orders"
    is_lookup = method == "GET" and path.startswith("v1/orders/") and path.count("/") == 2
    if not (is_rates or is_create or is_lookup):
        return None
    if not {k.lower(): v for k, v in headers.items()}.get("authorization", "").strip():
        return _refused(401, 40101001, "Authorization failed")  # the vendor's authentication code
    orders: dict[str, dict[str, Any]] = sim_state.setdefault("orders", {})
    if is_lookup:
        return _look(orders, path.rsplit("/", 1)[1])
    if not isinstance(body, dict):
        return _refused(400, SIM_BAD_REQUEST, "Request body must be a JSON object")
    if is_rates:
        return _rates(body)
    return _create(sim_state, orders, body)


# ---------------------------------------------------------------------- rates


def _rates(body: dict[str, Any]) -> tuple[int, Any]:
    couriers = [c.strip().lower() for c in str(body.get("couriers") or "").split(",") if c.strip()]
    if not couriers:
        return _refused(400, SIM_BAD_REQUEST, "couriers is required")
    items = body.get("items")
    if not isinstance(items, list) or not items:
        return _refused(400, SIM_BAD_REQUEST, "items is required")
    for side in ("origin", "destination"):
        if not _has_place(body, side, coordinate_object=False):
            return _refused(400, SIM_BAD_REQUEST, f"{side} needs a postal code, coordinates or an area id")
    grams = _weight(items)
    pricing = [
        _pricing(service, _price(service, body.get("destination_postal_code"), grams))
        for courier in couriers  # in the order asked, as Biteship lists them: not sorted by price
        for service in SERVICES
        if service.courier == courier
    ]
    return 200, {
        "success": True,
        "object": "courier_pricing",
        "message": "Success to retrieve courier pricing",
        "code": 20001003,
        "origin": {"postal_code": body.get("origin_postal_code"), "country_code": "ID"},
        "destination": {"postal_code": body.get("destination_postal_code"), "country_code": "ID"},
        "pricing": pricing,
    }


def _pricing(service: Service, price: int) -> dict[str, Any]:
    return {
        "available_collection_method": ["pickup"],
        "available_for_cash_on_delivery": service.cod,
        "available_for_proof_of_delivery": False,
        "available_for_instant_waybill_id": True,
        "available_for_insurance": True,
        "company": service.courier,
        "courier_name": service.courier_name,
        "courier_code": service.courier,
        "courier_service_name": service.name,
        "courier_service_code": service.code,
        "currency": "IDR",
        "description": f"{service.courier_name} {service.name}",
        "duration": f"{service.days} days",
        "shipment_duration_range": service.days,
        "shipment_duration_unit": "days",
        "service_type": service.service_type,
        "shipping_type": "parcel",
        "shipping_fee": price,
        "price": price,
        "type": service.code,
    }


def _price(service: Service, postal_code: Any, grams: int) -> int:
    kilograms = max(1, math.ceil(grams / 1000))
    code = str(postal_code or "").strip()
    zone = int(code[0]) if code[:1].isdigit() else 5  # coordinates only: priced as a middle zone
    return service.base + service.per_kg * (kilograms - 1) + ZONE_STEP * zone


def _weight(items: list[Any]) -> int:
    total = 0
    for item in items:
        if isinstance(item, dict):
            total += _whole(item.get("weight")) * max(1, _whole(item.get("quantity")))
    return total


# ---------------------------------------------------------------------- orders


# (field, code, message) as https://biteship.com/en/docs/api/orders/error lists them, checked in this order
REQUIRED = (
    ("origin_contact_name", 40002014, "Please make sure origin contact name is filled"),
    ("origin_contact_phone", 40002015, "Please make sure origin contact phone is filled"),
    ("origin_address", 40002016, "Please make sure origin address is filled"),
    ("destination_contact_name", 40002017, "Please make sure destination contact name is filled"),
    ("destination_contact_phone", 40002018, "Please make sure destination contact phone is filled"),
    ("destination_address", 40002019, "Please make sure destination address is filled"),
)


def _create(sim_state: dict, orders: dict[str, dict[str, Any]], body: dict[str, Any]) -> tuple[int, Any]:
    reference = body.get("reference_id")
    by_reference: dict[str, str] = sim_state.setdefault("by_reference", {})
    if reference and str(reference) in by_reference:  # simulator behaviour: a repeat answers the first order
        return 200, _shown(orders[by_reference[str(reference)]])
    refusal = _invalid(body)
    if refusal is not None:
        return refusal
    items = body["items"]
    courier, kind = str(body.get("courier_company") or "").lower(), str(body["courier_type"]).lower()
    service = next((s for s in SERVICES if s.courier == courier and s.code == kind), None)
    if service is None:
        return _refused(400, SIM_NO_SUCH_SERVICE, f"Courier service {courier} {kind} is not available")
    cod_amount = _whole(body.get("destination_cash_on_delivery"))
    if cod_amount and not service.cod:
        return _refused(400, 40002009, "Courier is not available for cash on delivery service")

    number = len(orders) + 1
    order_id = f"{number:024x}"  # Biteship's ids are 24 hex digits
    waybill_later = "waybill-later" in str(body.get("destination_note") or "")
    price = _price(service, body.get("destination_postal_code"), _weight(items))
    orders[order_id] = {
        "id": order_id,
        "number": number,
        "looks": 0,
        "waybill": None if waybill_later else _waybill(courier, number),
        "answer": _order(order_id, number, body, service, price, cod_amount),
    }
    if reference:
        by_reference[str(reference)] = order_id
    return 200, _shown(orders[order_id])


def _invalid(body: dict[str, Any]) -> tuple[int, Any] | None:
    """The vendor's checks of a new order, in its words and order; None when it can be booked."""

    def postal_code_ok(side: str) -> bool:
        code = body.get(f"{side}_postal_code")
        return code is None or (str(code).isdigit() and len(str(code)) == 5)

    items = body.get("items")
    checks = [(bool(str(body.get(name) or "").strip()), code, message) for name, code, message in REQUIRED]
    checks += [
        (_has_place(body, "origin", coordinate_object=True), 40002011,
         "Either origin needs to have postal code or coordinate"),
        (_has_place(body, "destination", coordinate_object=True), 40002010,
         "Either destination needs to have postal code or coordinate"),
        (postal_code_ok("origin") and postal_code_ok("destination"), 40002020,
         "Failed due to invalid or missing postal code."),
        (bool(body.get("courier_type")), 40002004, "This is direct Biteship order and you're missing type field"),
        (bool(body.get("delivery_type")), 40002005,
         "Delivery type has no value. Please specify whether it's a 'Now', or 'Scheduled' delivery type"),
        (str(body.get("delivery_type") or "now").lower() in ("now", "scheduled"), 40002006,
         "Please make sure to input the right delivery type value"),
        (isinstance(items, list) and bool(items), SIM_BAD_REQUEST, "items is required"),
    ]  # fmt: skip
    for passed, code, message in checks:
        if not passed:
            return _refused(400, code, message)
    return None


def _look(orders: dict[str, dict[str, Any]], order_id: str) -> tuple[int, Any]:
    order = orders.get(order_id)
    if order is None:
        return _refused(400, 40002057, "Order not found")  # the code's prefix is its HTTP status, as Biteship's are
    order["looks"] += 1
    if order["waybill"] is None and order["looks"] >= 2:  # "waybill-later": assigned by the second look
        order["waybill"] = _waybill(order["answer"]["courier"]["company"], order["number"])
    return 200, _shown(order, message="Order successfully retrieved")


def _order(order_id: str, number: int, body: dict, service: Service, price: int, cod_amount: int) -> dict:
    def place(side: str) -> dict[str, Any]:
        return {
            "contact_name": body.get(f"{side}_contact_name"),
            "contact_phone": body.get(f"{side}_contact_phone"),
            "contact_email": body.get(f"{side}_contact_email"),
            "address": body.get(f"{side}_address"),
            "note": body.get(f"{side}_note"),
            "postal_code": body.get(f"{side}_postal_code"),
            "coordinate": body.get(f"{side}_coordinate") or {"latitude": None, "longitude": None},
        }

    destination = place("destination")
    destination["cash_on_delivery"] = {
        "id": None,
        "amount": cod_amount,
        "amount_currency": "IDR",
        "fee": 0,
        "fee_currency": "IDR",
        "note": None,
        "type": body.get("destination_cash_on_delivery_type") if cod_amount else None,
    }
    return {
        "object": "order",
        "id": order_id,
        "draft_order_id": None,
        "origin": place("origin"),
        "destination": destination,
        "courier": {
            "tracking_id": f"{number + 10**9:024x}",
            "waybill_id": None,
            "company": service.courier,
            "type": service.code,
            "link": None,
            "insurance": {"amount": 0, "amount_currency": "IDR", "fee": 0, "fee_currency": "IDR", "note": ""},
            "routing_code": None,
        },
        "delivery": {"type": str(body["delivery_type"]).lower(), "note": None},
        "reference_id": body.get("reference_id"),
        "items": body.get("items"),
        "metadata": body.get("metadata"),
        "note": body.get("order_note"),
        "currency": "IDR",
        "price": price,
        "status": "confirmed",
    }


def _shown(order: dict[str, Any], message: str = "Order successfully created") -> dict[str, Any]:
    answer = {"success": True, "message": message, **order["answer"]}
    waybill = order["waybill"]
    answer["courier"] = {**answer["courier"], "waybill_id": waybill,
                         "link": f"https://track.biteship.com?waybill_id={waybill}" if waybill else None}  # fmt: skip
    return answer


def _waybill(courier: str, number: int) -> str:
    return f"{courier.upper()}{number:012d}"


# ---------------------------------------------------------------------- shared


def _has_place(body: dict[str, Any], side: str, *, coordinate_object: bool) -> bool:
    if body.get(f"{side}_postal_code") or body.get(f"{side}_area_id"):
        return True
    if coordinate_object:
        coordinate = body.get(f"{side}_coordinate")
        return isinstance(coordinate, dict) and None not in (coordinate.get("latitude"), coordinate.get("longitude"))
    return None not in (body.get(f"{side}_latitude"), body.get(f"{side}_longitude"))


def _whole(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _refused(status: int, code: int, error: str) -> tuple[int, Any]:
    return status, {"success": False, "error": error, "code": code}
