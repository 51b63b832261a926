"""Quotes and promises against moto with the demo nodes: every service level answers,
an unknown place says so, and an allocation carries its promise."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from pydantic import ValidationError

from oms import container
from oms.models.promising import NodeCalendar, PromiseRequest
from tests.integration.test_sourcing import SKU, _capture, _line, _service, _stock
from tests.support import FakeContext, http_event, load_handler

AS_OF = "2026-12-02T10:00:00+07:00"  # a Wednesday morning in Jakarta


def _quote(**body) -> dict:
    request = PromiseRequest.model_validate({"lines": [{"sku": SKU, "quantity": 1}], "as_of": AS_OF, **body})
    answer = container.promises().quote(request)
    return {option.level.value: option for option in answer.options}


def test_a_cart_gets_an_option_per_service_level_with_its_dates(stack) -> None:
    _stock(SKU, {"DC-CKG": 10, "ST-JKT-GI": 5})
    options = _quote(destination={"city": "Jakarta Barat", "province": "DKI Jakarta"})

    assert set(options) == {"instant", "same_day", "next_day", "regular", "economy", "pickup"}
    regular = options["regular"]
    assert regular.available and [p.node_id for p in regular.parcels] == ["DC-CKG"]
    assert regular.ship_by == datetime.fromisoformat("2026-12-02T15:00:00+07:00")
    assert regular.deliver_earliest <= regular.deliver_latest
    assert options["same_day"].available and options["same_day"].parcels[0].node_id == "ST-JKT-GI"
    pickup = options["pickup"]
    assert pickup.available and pickup.pickup_node_id == "ST-JKT-GI"
    assert pickup.ready_at == datetime.fromisoformat("2026-12-02T12:00:00+07:00")  # opens 10:00, 2 h to pick


def test_an_unknown_place_or_an_empty_shelf_gets_no_option_and_the_reason(stack) -> None:
    _stock(SKU, {"DC-CKG": 10})
    unknown = _quote(destination={"postal_code": "00000"})
    assert not unknown["regular"].available and "destination unknown" in unknown["regular"].reason
    _stock(SKU, {})
    empty = _quote(destination={"postal_code": "11530"})  # Jakarta by its postal code
    assert not empty["regular"].available and "cannot ship every unit" in empty["regular"].reason
    assert not empty["pickup"].available


def test_an_allocated_order_carries_its_promise(stack) -> None:
    _stock(SKU, {"DC-CKG": 10})
    order_id = _capture("P-1", [_line("1", SKU, 1)])
    _service().source(order_id)
    (fulfillment,) = container.orders().get(order_id).fulfillments
    assert fulfillment.promise is not None and fulfillment.promise == fulfillment.promise_original
    assert fulfillment.promise.carrier and fulfillment.promise.deliver_latest
    assert fulfillment.ship_by == fulfillment.promise.ship_by


def test_the_http_api_quotes_and_refuses_bad_input_with_422(stack) -> None:
    app = load_handler("functions/promising/app.py")

    def post(body: dict) -> dict:
        event = http_event("POST", "/promises", "/promises", body, "oms_local_ops_key_pos")
        return app.lambda_handler(event, FakeContext())

    ok = post({"destination": {"postal_code": "11530"}, "lines": [{"sku": SKU, "quantity": 1}], "levels": ["regular"]})
    assert ok["statusCode"] == 200 and len(json.loads(ok["body"])["options"]) == 1
    naive = post(
        {"destination": {"city": "Bandung"}, "lines": [{"sku": SKU, "quantity": 1}], "as_of": "2026-12-02T10:00"}
    )
    assert naive["statusCode"] == 422
    assert post({"destination": {"postal_code": "1153"}, "lines": [{"sku": SKU, "quantity": 1}]})["statusCode"] == 422


def test_a_node_reported_delay_re_promises_and_keeps_the_original(stack) -> None:
    from datetime import timedelta

    from oms.domain.events import events_for_change

    _stock(SKU, {"DC-CKG": 10})
    order_id = _capture("P-2", [_line("1", SKU, 1)])
    _service().source(order_id)
    before = container.orders().get(order_id)
    (fulfillment,) = before.fulfillments
    ready_at = fulfillment.promise.ship_by + timedelta(days=3)

    result = _service().delayed(fulfillment.fulfillment_id, ready_at, "conveyor broken")

    after = container.orders().get(order_id)
    (delayed,) = after.fulfillments
    assert result.outcome == "repromised"
    assert delayed.promise_original == fulfillment.promise_original
    assert delayed.promise.ship_by >= ready_at and delayed.promise.deliver_latest > fulfillment.promise.deliver_latest
    kinds = [e.event_type.value for e in events_for_change(before, after)]
    assert kinds == ["OrderUpdated", "PromiseChanged"]
    assert _service().delayed(fulfillment.fulfillment_id, ready_at, "again").outcome == "unchanged"


def test_closed_stores_far_buyers_and_far_dates_get_reasons_not_promises(stack) -> None:
    _stock(SKU, {"DC-CKG": 10, "ST-JKT-GI": 5})
    reference = container.reference_data()
    store = reference.nodes()["ST-JKT-GI"]
    reference.put_node(store.model_copy(update={"calendar": NodeCalendar(hours={})}))  # closed until further notice
    options = _quote(destination={"city": "Jakarta Barat", "province": "DKI Jakarta"})
    assert not options["same_day"].available and "closed" in options["same_day"].reason
    assert not options["pickup"].available and "within 30 km" in options["pickup"].reason
    assert options["regular"].available  # the DC still ships
    far_buyer = _quote(destination={"postal_code": "23111"})  # Banda Aceh: no store near, none placed by postcode
    assert not far_buyer["pickup"].available
    with pytest.raises(ValidationError):
        PromiseRequest.model_validate(
            {
                "destination": {"city": "Bandung"},
                "lines": [{"sku": SKU, "quantity": 1}],
                "as_of": "9999-12-31T00:00:00+07:00",
            }
        )


def test_a_courier_parcel_sold_as_same_day_still_carries_a_promise(stack) -> None:
    _stock(SKU, {"DC-CKG": 10})
    order_id = _capture("P-3", [_line("1", SKU, 1)], service_level="same_day")  # ship, with a "Same Day" title
    _service().source(order_id)
    (fulfillment,) = container.orders().get(order_id).fulfillments
    assert fulfillment.promise is not None and fulfillment.promise.service
