"""Quotes and promises against moto with the demo nodes: every service level answers,
an unknown place says so, and an allocation carries its promise."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from oms import container
from oms.domain.calendar import Holidays, carrier_days_between
from oms.domain.lane_learning import lane_key
from oms.models.promising import NodeCalendar, PromiseRequest
from tests.builders import a_draft, later
from tests.integration.test_sourcing import JAKARTA, NOW, SKU, _capture, _line, _service, _stock
from tests.support import ROOT, FakeContext, http_event, load_handler

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


def test_an_address_change_after_allocation_re_promises_from_the_same_hand_over(stack) -> None:
    from oms.domain.events import events_for_change

    _stock(SKU, {"DC-CKG": 10})
    order_id = _capture("P-4", [_line("1", SKU, 1)])
    _service().source(order_id)
    allocated = container.orders().get(order_id)
    (fulfillment,) = allocated.fulfillments
    makassar = {**JAKARTA, "city": "Makassar", "province": "Sulawesi Selatan", "postal_code": "90111"}
    moved = a_draft(channel_order_id="P-4", shipping_address=makassar, lines=[_line("1", SKU, 1)],
                    channel_updated_at=later(5))  # fmt: skip
    container.capture_service().capture(moved, NOW)
    changed = container.orders().get(order_id)
    assert "OrderAddressChanged" in [e.event_type.value for e in events_for_change(allocated, changed)]

    result = _service().address_changed(order_id)

    after = container.orders().get(order_id)
    (repromised,) = after.fulfillments
    assert result.outcome == "repromised" and repromised.reason == "address changed"
    assert repromised.promise.ship_by == fulfillment.promise.ship_by  # the node hands over as planned
    assert repromised.promise.deliver_latest > fulfillment.promise.deliver_latest  # Sulawesi is further
    assert repromised.promise.buyer_tz == "Asia/Makassar" and repromised.promise_original == fulfillment.promise
    assert [e.event_type.value for e in events_for_change(changed, after)] == ["OrderUpdated", "PromiseChanged"]
    assert _service().address_changed(order_id).outcome == "unchanged"  # a repeat moves nothing
    ready_at = repromised.promise.ship_by + timedelta(days=4)
    _service().delayed(repromised.fulfillment_id, ready_at, "stock take")
    delayed = container.orders().get(order_id).fulfillments[0].promise
    back = a_draft(channel_order_id="P-4", shipping_address=JAKARTA, lines=[_line("1", SKU, 1)],
                   channel_updated_at=later(7))  # fmt: skip
    container.capture_service().capture(back, NOW)
    assert _service().address_changed(order_id).outcome == "repromised"
    assert container.orders().get(order_id).fulfillments[0].promise.ship_by == delayed.ship_by  # the delay stays
    same_place = a_draft(channel_order_id="P-4", shipping_address={**JAKARTA, "line1": "Jl. Lain 1",
                         "district": "Kembangan"}, lines=[_line("1", SKU, 1)], channel_updated_at=later(9))  # fmt: skip
    before_street = container.orders().get(order_id)
    container.capture_service().capture(same_place, NOW)
    street_only = container.orders().get(order_id)
    assert street_only.version > before_street.version  # stored, but not a move for delivery
    assert "OrderAddressChanged" not in [e.event_type.value for e in events_for_change(before_street, street_only)]


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


def _delivered_event(fulfillment_id: str, ship_by: datetime, delivered_at: datetime, latest: date) -> dict:
    detail = {"fulfillment_id": fulfillment_id, "node_id": "DC-CKG", "carrier": "jne", "service": "REG",
              "origin_region": "java", "destination_region": "sulawesi", "destination_province": "Sulawesi Selatan",
              "promised_ship_by": ship_by.isoformat(), "delivered_at": delivered_at.isoformat(),
              "promised_latest": latest.isoformat()}  # fmt: skip
    event = {
        "event_id": f"evt-{fulfillment_id}",
        "event_type": "ParcelDelivered",
        "occurred_at": delivered_at.isoformat(),
        "order_id": fulfillment_id.rsplit("-", 1)[0],
        "detail": detail,
    }
    return {"detail-type": "ParcelDelivered", "source": "oms", "detail": event}


def _deliver(worker, bodies: list) -> dict:
    texts = [body if isinstance(body, str) else json.dumps(body) for body in bodies]
    records = [
        {"messageId": f"m{n}", "receiptHandle": f"m{n}", "body": text, "attributes": {}, "eventSource": "aws:sqs"}
        for n, text in enumerate(texts)
    ]
    return worker.lambda_handler({"Records": records}, FakeContext())


def test_deliveries_are_counted_once_and_a_slow_lane_learns_its_days(stack) -> None:
    rules = container.reference_data().promising_rules()
    key = ("jne", "REG", "java", "sulawesi")
    stated = next(x for x in rules.lanes if lane_key(x) == key and not x.postal_prefix)
    wita = ZoneInfo("Asia/Makassar")
    delivered_at = datetime.now(wita).replace(second=0, microsecond=0) - timedelta(hours=1)  # just delivered
    ship_by = datetime.combine(delivered_at.date() - timedelta(days=12), time(15), ZoneInfo("Asia/Jakarta"))
    transit = carrier_days_between(stated, ship_by.date(), delivered_at.date(), Holidays(rules.extra_holidays),
                                   "Sulawesi Selatan")  # fmt: skip
    assert transit > stated.days_max  # slower than the rules say
    late = ship_by.date() + timedelta(days=3)
    bodies = [_delivered_event(f"ord_{n}-F1", ship_by, delivered_at, late) for n in range(25)]
    worker = load_handler("functions/promising/worker.py")
    answer = _deliver(worker, [*bodies, bodies[0], "not json"])
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m26"}]}  # the broken one goes back to SQS (then DLQ)

    app = load_handler("functions/promising/app.py")
    event = http_event("GET", "/promising/performance", "/promising/performance", None, "oms_local_ops_key_cs")
    event["queryStringParameters"] = {"days": "7"}
    performance = json.loads(app.lambda_handler(event, FakeContext())["body"])
    assert performance["on_time"]["node"] == [{"name": "DC-CKG", "delivered": 25, "on_time": 0, "on_time_pct": 0.0}]
    (lane,) = [x for x in performance["lanes"] if x["lane"] == "jne#REG#java#sulawesi"]
    assert lane["stated"] == [stated.days_min, stated.days_max]
    assert (lane["promised"], lane["parcels"], lane["histogram"]) == ([transit, transit], 25, {str(transit): 25})

    container.promiser().forget_learning()
    promiser = container.promiser()()
    assert promiser.learned(key, (stated.days_min, stated.days_max), delivered_at.date()) == (transit, transit)
    sample = json.loads((ROOT / "events/bus/parcel_delivered.json").read_text())  # the documented sample
    assert worker.lambda_handler(sample, FakeContext()) == {"batchItemFailures": []}
    bad_days = http_event("GET", "/promising/performance", "/promising/performance", None, "oms_local_ops_key_cs")
    bad_days["queryStringParameters"] = {"days": "0"}
    assert app.lambda_handler(bad_days, FakeContext())["statusCode"] == 422


def test_learning_loads_once_per_refresh_and_a_failed_load_keeps_promising(stack) -> None:
    from oms.domain.lane_learning import LaneLearner
    from oms.wiring.sourcing import PromiserCache

    loads = []

    class Stats:
        def learner(self, rules, today):
            loads.append(today)
            if len(loads) == 2:
                raise RuntimeError("throttled")
            return LaneLearner(rules)

    rules = container.reference_data().promising_rules()
    fresh = iter(rules.model_copy() for _ in range(10))  # every read of the rules is a new object (30 s cache)
    cache = PromiserCache(lambda: next(fresh), Stats, refresh_seconds=600)
    first = [cache() for _ in range(4)]
    assert len(loads) == 1 and first[0].learned is not None
    cache.forget_learning()  # as when the refresh time has passed
    assert cache().learned is not None and len(loads) == 2  # the load failed: what was loaded before stands
    assert cache().learned is not None and len(loads) == 2  # and it is not retried on every quote
