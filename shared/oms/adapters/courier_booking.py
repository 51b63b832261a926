"""Booking the retailer's own courier through the aggregator Biteship (web, POS, social and call center
orders): the couriers' rates, an order that gets the courier's waybill, and that order as it stands now.

Followed, from Biteship's own pages:
  - Rates, POST /v1/rates/couriers: https://biteship.com/docs/api/rates/retrieve (origin_/destination_
    postal_code as numbers and/or _latitude/_longitude, `couriers` a comma list, items{name, value,
    weight in grams, quantity}; answers pricing[] with courier_code, courier_service_code, price,
    duration, available_for_cash_on_delivery). COD can be asked with the rates (destination_cash_on_
    delivery, destination_cash_on_delivery_type 7_days / 5_days / 3_days) so the prices carry its fee.
  - Create an order, POST /v1/orders: https://biteship.com/en/docs/api/orders/create (origin_contact_name,
    origin_contact_phone, origin_address, origin_postal_code or origin_coordinate{latitude, longitude},
    the same for destination_, courier_company, courier_type, delivery_type now, items, reference_id
    "your internal order id ... must be unique for each order", order_note, metadata).
  - Retrieve an order, GET /v1/orders/:id: https://biteship.com/id/docs/api/orders/retrieve (id,
    courier{waybill_id, company, type, tracking_id}, price, status, reference_id; all fields nullable).
  - Errors: https://biteship.com/id/docs/errors ({"success": false, "error": "..."} with a numeric `code`)
    and https://biteship.com/en/docs/api/orders/error (e.g. 40002009 "Courier is not available for cash
    on delivery service", 40002018 "Please make sure destination contact phone is filled").
  - Authentication: https://biteship.com/id/docs/api/authentication: the key itself in the
    `authorization` header (no "Bearer"; some third-party SDKs add one, the vendor's page does not).

A retried booking: the Order API has no look-up by reference_id (https://biteship.com/docs/api/orders/
overview lists POST /v1/orders, GET/POST /v1/orders/:id and cancel only), so a booking cannot be found
again by the parcel id. What this adapter does instead: it sends the parcel id as reference_id (Biteship
asks for it to be unique, which should stop a second order for the same parcel, though what it answers
then is not documented), and it never re-sends POST /v1/orders on its own once the request may have
reached Biteship (only a refused connection or a 429 is retried). A lost answer to a booking that did
happen (a timeout, a 5xx after the order was made) remains a gap: the caller stores the booking id the
moment book returns, and a booking it retries after a DependencyError may be refused for the reused
reference_id or, if Biteship does not enforce it, made twice.
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import quote

import urllib3
from urllib3.util import Retry, Timeout

from oms.errors import DependencyError
from oms.ports.logistics import Booking, BookingItem, BookingRefused, BookingRequest, CourierRate, Party

_TIMEOUT = Timeout(connect=2.0, read=10.0)
_RETRYABLE = (429, 500, 502, 503, 504)
COD_DISBURSEMENT = "7_days"  # Biteship's destination_cash_on_delivery_type: when the collected cash is paid out


class BiteshipBooking:
    def __init__(
        self, base_url: str, api_key: str, couriers: str = "jne,jnt,sicepat,anteraja", *,
        cod_disbursement: str = COD_DISBURSEMENT, backoff_factor: float = 0.5,
    ) -> None:  # fmt: skip
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.couriers = couriers
        self.cod_disbursement = cod_disbursement
        self.http = urllib3.PoolManager(timeout=_TIMEOUT)
        # Rates and look-ups change nothing: retried on timeouts, 429 and 5xx.
        self.retry_safe = Retry(total=2, backoff_factor=backoff_factor, backoff_max=2,
                                status_forcelist=_RETRYABLE, allowed_methods=None,
                                respect_retry_after_header=False, raise_on_status=False)  # fmt: skip
        # A booking costs money: re-sent only when Biteship cannot have made it (no connection, or a 429).
        # A timeout or a 5xx may hide a booking that was made, so it is not re-sent here.
        self.retry_booking = Retry(total=2, connect=2, read=0, other=0, status=2, status_forcelist=(429,),
                                   allowed_methods=frozenset({"POST"}), backoff_factor=backoff_factor, backoff_max=2,
                                   respect_retry_after_header=False, raise_on_status=False)  # fmt: skip

    # ------------------------------------------------------------------ the port

    def rates(self, request: BookingRequest) -> list[CourierRate]:
        """The couriers' prices for this parcel, cheapest first. A COD parcel gets only the services that
        take cash on delivery (available_for_cash_on_delivery), priced with COD asked for."""
        body: dict[str, Any] = {
            **_place("origin", request.origin, coordinate_object=False),
            **_place("destination", request.destination, coordinate_object=False),
            "couriers": self.couriers,
            "items": [_item(item) for item in request.items],
        }
        if request.cod_amount is not None:
            body["destination_cash_on_delivery"] = _rupiah(request.cod_amount)
            body["destination_cash_on_delivery_type"] = self.cod_disbursement
        answer = self._call("POST", "/v1/rates/couriers", body, self.retry_safe)
        found = []
        for offer in answer.get("pricing") or []:
            if not isinstance(offer, dict) or offer.get("price") is None:
                continue
            cod = bool(offer.get("available_for_cash_on_delivery"))
            if request.cod_amount is not None and not cod:
                continue
            found.append(CourierRate(
                courier=str(offer.get("courier_code") or offer.get("company") or "").lower(),
                service=str(offer.get("courier_service_code") or offer.get("type") or "").lower(),
                price=Decimal(offer["price"]),
                description=offer.get("description") or offer.get("courier_service_name"),
                duration=offer.get("duration"),
                cod=cod,
            ))  # fmt: skip
        return sorted(found, key=lambda rate: (rate.price, rate.courier, rate.service))

    def book(self, request: BookingRequest, courier: str, service: str) -> Booking:
        """Create the Biteship order (delivery now, picked up at the origin). The parcel id is its
        reference_id; the order number goes in order_note, for the courier. Raises BookingRefused with
        Biteship's own code and words, or DependencyError."""
        body: dict[str, Any] = {
            **_contact("origin", request.origin),
            **_place("origin", request.origin, coordinate_object=True),
            **_contact("destination", request.destination),
            **_place("destination", request.destination, coordinate_object=True),
            "courier_company": courier.lower(),
            "courier_type": service.lower(),
            "delivery_type": "now",
            "order_note": f"Order {request.reference}",
            "reference_id": request.parcel_id,
            "metadata": {"parcel_id": request.parcel_id, "order_number": request.reference},
            "items": [_item(item, with_sku=True) for item in request.items],
        }
        if request.cod_amount is not None:
            body["destination_cash_on_delivery"] = _rupiah(request.cod_amount)
            body["destination_cash_on_delivery_type"] = self.cod_disbursement
        answer = self._call("POST", "/v1/orders", body, self.retry_booking)
        return _booking(answer, courier, service)

    def booking(self, booking_id: str) -> Booking:
        answer = self._call("GET", f"/v1/orders/{quote(booking_id, safe='')}", None, self.retry_safe)
        return _booking(answer, None, None)

    # ------------------------------------------------------------------ HTTP

    def _call(self, method: str, path: str, body: dict[str, Any] | None, retries: Retry) -> dict[str, Any]:
        headers = {"authorization": self.api_key, "accept": "application/json"}
        payload = None
        if body is not None:
            headers["content-type"] = "application/json"
            payload = json.dumps(body).encode()
        try:
            response = self.http.request(method, self.base_url + path, body=payload, headers=headers, retries=retries)
        except urllib3.exceptions.HTTPError as exc:
            raise DependencyError(f"Biteship unreachable: {type(exc).__name__}") from exc
        answer = _json(response.data)
        error = answer.get("error") if answer is not None else None
        if response.status in _RETRYABLE:
            raise DependencyError(f"Biteship answered {response.status}")
        if response.status in (401, 403):
            # Our key or its activation, not the parcel: every booking would be refused alike.
            raise DependencyError(f"Biteship refused the API key ({response.status}): {error or 'no reason given'}")
        if response.status == 404 and not error:
            raise DependencyError(f"Biteship answered 404 for {path}: is the base URL right?")
        if response.status >= 400 or (answer is not None and answer.get("success") is False):
            code = answer.get("code") if answer is not None else None
            message = str(error or f"Biteship answered {response.status}")
            raise BookingRefused(None if code is None else str(code), message)
        if answer is None:
            raise DependencyError(f"Biteship answered {response.status} with something that is not its JSON")
        return answer


def _json(data: bytes | None) -> dict[str, Any] | None:
    try:
        answer = json.loads(data or b"", parse_float=Decimal)  # prices stay exact
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None


def _booking(answer: dict[str, Any], courier: str | None, service: str | None) -> Booking:
    if not answer.get("id"):
        raise DependencyError("Biteship answered an order without its id")
    carrier = answer.get("courier") or {}
    price = answer.get("price")
    return Booking(
        booking_id=str(answer["id"]),
        courier=str(carrier.get("company") or courier or ""),
        service=str(carrier.get("type") or service or ""),
        waybill=carrier.get("waybill_id") or None,  # null (or "") until the courier assigns it
        price=None if price is None else Decimal(price),
        status=answer.get("status"),
    )


def _contact(side: str, party: Party) -> dict[str, Any]:
    fields = {
        f"{side}_contact_name": party.name,
        f"{side}_contact_phone": party.phone,
        f"{side}_address": party.address,
    }
    if party.email:
        fields[f"{side}_contact_email"] = party.email
    if party.note:
        fields[f"{side}_note"] = party.note
    return fields


def _place(side: str, party: Party, *, coordinate_object: bool) -> dict[str, Any]:
    """Where: the postal code and/or the coordinates. Rates take <side>_latitude / <side>_longitude,
    orders a <side>_coordinate object (the vendor's two pages differ)."""
    fields: dict[str, Any] = {}
    if party.postal_code:
        code = party.postal_code.strip()
        fields[f"{side}_postal_code"] = int(code) if code.isdigit() else code  # a number on Biteship's pages
    if party.lat is not None and party.lng is not None:
        lat, lng = float(party.lat), float(party.lng)  # coordinates, not money: a float is what JSON has
        if coordinate_object:
            fields[f"{side}_coordinate"] = {"latitude": lat, "longitude": lng}
        else:
            fields[f"{side}_latitude"], fields[f"{side}_longitude"] = lat, lng
    return fields


def _item(item: BookingItem, *, with_sku: bool = False) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": item.name,
        "value": _rupiah(item.value),
        "weight": item.weight_grams,
        "quantity": item.quantity,
    }
    if with_sku:
        fields["sku"] = item.sku
    return fields


def _rupiah(amount: Decimal) -> int:
    """Biteship takes IDR as whole numbers."""
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))
