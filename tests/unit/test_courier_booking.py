"""Booking the retailer's own courier through Biteship: the adapter's real HTTP code against the simulated
Biteship (oms_local.logistics_sim.biteship) served by a tiny HTTP server on 127.0.0.1, and the simulator."""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from oms.adapters.courier_booking import BiteshipBooking
from oms.errors import DependencyError
from oms.ports.logistics import BookingItem, BookingRefused, BookingRequest, Party
from oms_local.logistics_sim.biteship import serve_biteship

API_KEY = "biteship_test.sim-key"
AUTH = {"authorization": API_KEY}


@dataclass
class FakeBiteship:
    """The simulator behind HTTP, with what it was sent and statuses to answer instead (an outage)."""

    base_url: str = ""
    state: dict = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_with: list[int] = field(default_factory=list)  # the next requests answer these statuses

    def bodies(self, path: str) -> list[Any]:
        return [r["body"] for r in self.requests if r["path"] == path]


def _handler(fake: FakeBiteship) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            headers = {k.lower(): v for k, v in self.headers.items()}
            fake.requests.append({"method": method, "path": self.path, "body": body, "headers": headers})
            rest = self.path.removeprefix("/biteship/")
            if fake.fail_with:
                status, answer = fake.fail_with.pop(0), {"success": False, "error": "simulated outage"}
            else:
                served = serve_biteship(fake.state, method, rest, body, headers)
                status, answer = served if served is not None else (404, {"error": f"no {method} /{rest}"})
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:  # quiet
            pass

    return Handler


@pytest.fixture
def biteship() -> Iterator[FakeBiteship]:
    fake = FakeBiteship()
    server = HTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}/biteship"
    yield fake
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def adapter(biteship: FakeBiteship) -> BiteshipBooking:
    return BiteshipBooking(biteship.base_url, API_KEY, backoff_factor=0)  # retries without waiting


ORIGIN = Party(
    name="Gudang Cakung", phone="0215550100", address="Jl. Raya Cakung 1, Jakarta Timur", postal_code="13910"
)
DESTINATION = Party(
    name="Siti Rahma", phone="081234567890", address="Jl. Melati 7, Coblong, Bandung, Jawa Barat",
    postal_code="40132", email="siti@example.com",
)  # fmt: skip


def request(**changes: Any) -> BookingRequest:
    base = BookingRequest(
        parcel_id="FO-000123-1",
        reference="WEB-20261207-0042",
        origin=ORIGIN,
        destination=DESTINATION,
        items=(
            BookingItem(
                name="Kopi Gayo 250 g", sku="KOP-GAYO-250", quantity=2, value=Decimal("89000"), weight_grams=300
            ),
            BookingItem(
                name="Teh Tubruk", sku="TEH-TUBRUK-100", quantity=1, value=Decimal("25000.40"), weight_grams=150
            ),
        ),
    )
    return replace(base, **changes)


# --- rates ------------------------------------------------------------------------


def test_rates_are_decimal_prices_cheapest_first(adapter, biteship):
    rates = adapter.rates(request())

    assert [(r.courier, r.service) for r in rates] == [
        ("jnt", "ez"), ("sicepat", "reg"), ("anteraja", "reg"), ("jne", "reg"), ("sicepat", "best"), ("jne", "yes"),
    ]  # fmt: skip
    assert all(isinstance(r.price, Decimal) for r in rates)
    assert [r.price for r in rates] == sorted(r.price for r in rates)
    assert rates[0].price == Decimal(9000 + 500 * 4)  # first kilogram, destination 4xxxx
    jne_yes = rates[-1]
    assert jne_yes.cod is False and jne_yes.duration == "1 days"
    assert {r.courier for r in rates if r.cod} == {"jne", "jnt", "sicepat", "anteraja"}


def test_rates_ask_in_biteships_fields(adapter, biteship):
    adapter.rates(request(destination=replace(DESTINATION, lat=Decimal("-6.8915"), lng=Decimal("107.6107"))))

    [sent] = biteship.bodies("/biteship/v1/rates/couriers")
    assert sent["origin_postal_code"] == 13910 and sent["destination_postal_code"] == 40132  # numbers
    assert sent["destination_latitude"] == -6.8915 and sent["destination_longitude"] == 107.6107
    assert sent["couriers"] == "jne,jnt,sicepat,anteraja"
    assert sent["items"] == [
        {"name": "Kopi Gayo 250 g", "value": 89000, "weight": 300, "quantity": 2},
        {"name": "Teh Tubruk", "value": 25000, "weight": 150, "quantity": 1},  # whole rupiah
    ]
    assert "destination_cash_on_delivery" not in sent
    assert biteship.requests[0]["headers"]["authorization"] == API_KEY  # the key itself, no "Bearer"


def test_rates_for_cod_offer_only_services_that_take_cash(adapter, biteship):
    rates = adapter.rates(request(cod_amount=Decimal("203000")))

    assert rates and all(r.cod for r in rates)
    assert ("jne", "yes") not in {(r.courier, r.service) for r in rates}
    [sent] = biteship.bodies("/biteship/v1/rates/couriers")
    assert sent["destination_cash_on_delivery"] == 203000
    assert sent["destination_cash_on_delivery_type"] == "7_days"


def test_rates_ask_only_the_configured_couriers(biteship):
    rates = BiteshipBooking(biteship.base_url, API_KEY, couriers="sicepat", backoff_factor=0).rates(request())

    assert {r.courier for r in rates} == {"sicepat"}


# --- booking ----------------------------------------------------------------------


def test_booking_returns_the_order_and_its_waybill(adapter, biteship):
    booking = adapter.book(request(), "JNE", "REG")

    assert re.fullmatch(r"JNE\d{12}", booking.waybill or "")
    assert (booking.courier, booking.service, booking.status) == ("jne", "reg", "confirmed")
    assert booking.price == Decimal(10000 + 500 * 4) and isinstance(booking.price, Decimal)
    [sent] = biteship.bodies("/biteship/v1/orders")
    assert sent["reference_id"] == "FO-000123-1"  # the parcel id: a retried booking can be recognised
    assert (sent["courier_company"], sent["courier_type"], sent["delivery_type"]) == ("jne", "reg", "now")
    assert sent["destination_contact_phone"] == "081234567890" and sent["destination_postal_code"] == 40132
    assert sent["order_note"] == "Order WEB-20261207-0042"
    assert sent["items"][0] == {"name": "Kopi Gayo 250 g", "value": 89000, "weight": 300, "quantity": 2,
                                "sku": "KOP-GAYO-250"}  # fmt: skip
    assert "destination_cash_on_delivery" not in sent

    assert adapter.booking(booking.booking_id) == booking  # looked up again: the same order


def test_booking_with_cash_on_delivery(adapter, biteship):
    booking = adapter.book(request(cod_amount=Decimal("203000.49")), "sicepat", "reg")

    assert booking.waybill and booking.waybill.startswith("SICEPAT")
    [sent] = biteship.bodies("/biteship/v1/orders")
    assert sent["destination_cash_on_delivery"] == 203000
    assert sent["destination_cash_on_delivery_type"] == "7_days"
    stored = biteship.state["orders"][booking.booking_id]["answer"]
    assert stored["destination"]["cash_on_delivery"]["amount"] == 203000


def test_cod_on_a_service_without_it_is_refused_in_biteships_words(adapter):
    with pytest.raises(BookingRefused) as refused:
        adapter.book(request(cod_amount=Decimal("203000")), "jne", "yes")

    assert refused.value.code == "40002009"
    assert refused.value.message == "Courier is not available for cash on delivery service"


def test_a_waybill_that_comes_later_is_found_by_looking_again(adapter):
    booking = adapter.book(request(destination=replace(DESTINATION, note="waybill-later please")), "jnt", "ez")

    assert booking.waybill is None and booking.booking_id
    assert adapter.booking(booking.booking_id).waybill is None  # first look: not yet
    later = adapter.booking(booking.booking_id)
    assert re.fullmatch(r"JNT\d{12}", later.waybill or "")
    assert (later.courier, later.service) == ("jnt", "ez")


def test_a_missing_phone_is_refused_with_biteships_code_and_message(adapter):
    with pytest.raises(BookingRefused) as refused:
        adapter.book(request(destination=replace(DESTINATION, phone="")), "jne", "reg")

    assert refused.value.code == "40002018"
    assert refused.value.message == "Please make sure destination contact phone is filled"


def test_a_destination_without_postal_code_or_coordinates_is_refused(adapter):
    with pytest.raises(BookingRefused) as refused:
        adapter.book(request(destination=replace(DESTINATION, postal_code=None)), "jne", "reg")

    assert refused.value.code == "40002010"
    assert "postal code or coordinate" in refused.value.message


def test_coordinates_without_postal_code_are_sent_as_biteships_coordinate_object(adapter, biteship):
    destination = replace(DESTINATION, postal_code=None, lat=Decimal("-6.8915"), lng=Decimal("107.6107"))
    booking = adapter.book(request(destination=destination), "jne", "reg")

    assert booking.waybill
    [sent] = biteship.bodies("/biteship/v1/orders")
    assert sent["destination_coordinate"] == {"latitude": -6.8915, "longitude": 107.6107}


def test_an_unknown_booking_is_refused(adapter):
    with pytest.raises(BookingRefused) as refused:
        adapter.booking("0000000000000000000000ff")

    assert refused.value.code == "40002057" and refused.value.message == "Order not found"


def test_booking_the_same_parcel_twice_finds_the_first_order_in_the_simulator(adapter, biteship):
    first = adapter.book(request(), "jne", "reg")
    again = adapter.book(request(), "jne", "reg")

    assert again.booking_id == first.booking_id and again.waybill == first.waybill
    assert len(biteship.state["orders"]) == 1


def test_no_personal_data_is_logged(adapter, caplog):
    caplog.set_level(logging.DEBUG)
    adapter.rates(request())
    adapter.book(request(), "jne", "reg")

    assert caplog.records  # urllib3 does log its requests: the check below is not vacuous
    for secret in ("Siti", "081234567890", "Melati", "siti@example.com", "0215550100", API_KEY):
        assert secret not in caplog.text


# --- outages ----------------------------------------------------------------------


def test_a_5xx_on_rates_is_retried_then_a_dependency_error(adapter, biteship):
    biteship.fail_with = [500, 502, 503]

    with pytest.raises(DependencyError, match="503"):
        adapter.rates(request())

    assert len(biteship.requests) == 3  # the first try and two retries


def test_a_5xx_on_rates_that_passes_is_not_seen(adapter, biteship):
    biteship.fail_with = [503]

    assert adapter.rates(request())
    assert len(biteship.requests) == 2


def test_a_5xx_on_booking_is_a_dependency_error_and_not_resent(adapter, biteship):
    biteship.fail_with = [500]

    with pytest.raises(DependencyError, match="500"):
        adapter.book(request(), "jne", "reg")

    assert len(biteship.requests) == 1  # Biteship may have made the order: never booked again blindly


def test_a_throttled_booking_is_resent(adapter, biteship):
    biteship.fail_with = [429]

    booking = adapter.book(request(), "jne", "reg")

    assert booking.waybill
    assert len(biteship.requests) == 2


def test_a_rejected_api_key_is_a_dependency_error_not_a_parcel_refusal(biteship):
    biteship.fail_with = [401]

    with pytest.raises(DependencyError, match="401"):
        BiteshipBooking(biteship.base_url, "biteship_test.revoked", backoff_factor=0).book(request(), "jne", "reg")


def test_an_unreachable_biteship_is_a_dependency_error():
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(DependencyError, match="unreachable"):
        BiteshipBooking(f"http://127.0.0.1:{port}/biteship", API_KEY, backoff_factor=0).rates(request())


# --- the simulator on its own -------------------------------------------------------


def rates_body(postal_code: str = "40132", grams: int = 800, **extra: Any) -> dict[str, Any]:
    return {
        "origin_postal_code": 13910,
        "destination_postal_code": int(postal_code),
        "couriers": "jne,jnt",
        "items": [{"name": "Kopi", "value": 89000, "weight": grams, "quantity": 1}],
        **extra,
    }


def order_body(**changes: Any) -> dict[str, Any]:
    body = {
        "origin_contact_name": "Gudang", "origin_contact_phone": "0215550100", "origin_address": "Jl. Raya Cakung 1",
        "origin_postal_code": 13910, "destination_contact_name": "Siti", "destination_contact_phone": "0812",
        "destination_address": "Jl. Melati 7", "destination_postal_code": 40132, "courier_company": "jne",
        "courier_type": "reg", "delivery_type": "now", "reference_id": "FO-1",
        "items": [{"name": "Kopi", "value": 89000, "weight": 800, "quantity": 1}],
    }  # fmt: skip
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def prices(answer: dict[str, Any]) -> dict[tuple[str, str], int]:
    return {(p["courier_code"], p["courier_service_code"]): p["price"] for p in answer["pricing"]}


def test_sim_rates_are_the_same_for_the_same_request_and_follow_weight_and_place():
    state: dict = {}
    _, first = serve_biteship(state, "POST", "v1/rates/couriers", rates_body(), AUTH)
    _, again = serve_biteship(state, "POST", "v1/rates/couriers", rates_body(), AUTH)
    _, heavier = serve_biteship(state, "POST", "v1/rates/couriers", rates_body(grams=2500), AUTH)
    _, nearer = serve_biteship(state, "POST", "v1/rates/couriers", rates_body(postal_code="12430"), AUTH)

    assert prices(first) == prices(again) == {("jne", "reg"): 12000, ("jne", "yes"): 20000, ("jnt", "ez"): 11000}
    assert all(isinstance(p, int) for p in prices(first).values())
    assert prices(heavier)[("jne", "reg")] == 12000 + 2 * 9000  # 3 kg: two more kilograms
    assert prices(nearer)[("jne", "reg")] < prices(first)[("jne", "reg")]


def test_sim_rates_need_couriers_items_and_places():
    for body in (rates_body(couriers=""), rates_body(items=[]), {**rates_body(), "destination_postal_code": None}):
        status, answer = serve_biteship({}, "POST", "v1/rates/couriers", body, AUTH)
        assert status == 400 and answer["success"] is False and isinstance(answer["code"], int) and answer["error"]


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"origin_contact_phone": None}, 40002015),
        ({"destination_contact_phone": "  "}, 40002018),
        ({"destination_postal_code": None}, 40002010),
        ({"origin_postal_code": None}, 40002011),
        ({"destination_postal_code": 401}, 40002020),
        ({"courier_type": None}, 40002004),
        ({"delivery_type": None}, 40002005),
        ({"delivery_type": "tomorrow"}, 40002006),
        ({"courier_company": "jne", "courier_type": "yes", "destination_cash_on_delivery": 100000}, 40002009),
    ],
)
def test_sim_orders_refuse_in_biteships_shape(changes, code):
    status, answer = serve_biteship({}, "POST", "v1/orders", order_body(**changes), AUTH)

    assert status == 400
    assert answer["success"] is False and answer["code"] == code and answer["error"]


def test_sim_order_then_lookup():
    state: dict = {}
    status, created = serve_biteship(state, "POST", "v1/orders", order_body(), AUTH)
    assert status == 200 and created["status"] == "confirmed" and created["reference_id"] == "FO-1"
    assert re.fullmatch(r"JNE\d{12}", created["courier"]["waybill_id"])

    status, seen = serve_biteship(state, "GET", f"v1/orders/{created['id']}", None, AUTH)
    assert status == 200 and seen["courier"]["waybill_id"] == created["courier"]["waybill_id"]


def test_sim_waybill_later_comes_at_the_second_look():
    state: dict = {}
    _, created = serve_biteship(state, "POST", "v1/orders", order_body(destination_note="waybill-later"), AUTH)
    looks = [serve_biteship(state, "GET", f"v1/orders/{created['id']}", None, AUTH)[1] for _ in range(3)]

    assert created["courier"]["waybill_id"] is None
    assert [look["courier"]["waybill_id"] is None for look in looks] == [True, False, False]
    assert looks[1]["courier"]["waybill_id"] == looks[2]["courier"]["waybill_id"]


def test_sim_the_same_reference_answers_the_same_order():
    state: dict = {}
    _, first = serve_biteship(state, "POST", "v1/orders", order_body(), AUTH)
    _, again = serve_biteship(state, "POST", "v1/orders", order_body(), AUTH)
    _, other = serve_biteship(state, "POST", "v1/orders", order_body(reference_id="FO-2"), AUTH)

    assert again["id"] == first["id"] and other["id"] != first["id"]
    assert len(state["orders"]) == 2


def test_sim_wants_the_api_key_and_leaves_other_paths_alone():
    assert serve_biteship({}, "POST", "v1/orders", order_body(), {})[0] == 401
    assert serve_biteship({}, "POST", "v1/orders", order_body(), {"Authorization": " "})[0] == 401
    assert serve_biteship({}, "GET", "v1/trackings/JNE1/couriers/jne", None, AUTH) is None
    assert serve_biteship({}, "DELETE", "v1/orders/abc", None, AUTH) is None
    assert serve_biteship({}, "POST", "v1/orders", "not json", AUTH)[0] == 400
