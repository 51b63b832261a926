"""Status against moto: node reports through the status API, carrier pushes (Biteship and Standard
Webhooks), the timeline written from the orders stream, and buyer tracking."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from standardwebhooks.webhooks import Webhook

from oms import container
from oms.domain.events import events_for_change
from oms.models.order import FulfillmentStatus, Order
from oms.ports import OrderQuery
from tests.builders import a_draft
from tests.fakes import FakeContext
from tests.integration.conftest import Stack, client
from tests.integration.test_sourcing import JAKARTA, NOW, SKU, _capture, _line, _service, _stock
from tests.support import StreamReader, http_event, load_handler

WMS = "oms_local_ops_key_wms"
BITESHIP = {"x-biteship-secret": "biteship_local_dev_secret", "content-type": "application/json"}
CARRIER_SECRET = "whsec_Y2Fycmllcl9sb2NhbF9kZXZfc2VjcmV0XzMyYnl0ZXM="


def _app():
    return load_handler("functions/status/app.py")


def _report(fulfillment_id: str, body: dict, key: str = WMS) -> tuple[int, dict]:
    path = f"/fulfillments/{fulfillment_id}/events"
    answer = _app().lambda_handler(
        http_event("POST", path, "/fulfillments/{fulfillment_id}/events", body, key), FakeContext()
    )
    return answer["statusCode"], json.loads(answer["body"])


def _push(carrier: str, body: bytes | str, headers: dict[str, str]) -> tuple[int, dict]:
    raw = body if isinstance(body, str) else body.decode()
    event = {
        "routeKey": "POST /webhooks/carriers/{carrier}",
        "rawPath": f"/webhooks/carriers/{carrier}",
        "pathParameters": {"carrier": carrier},
        "body": raw,
        "headers": headers,
        "requestContext": {"http": {"method": "POST", "path": f"/webhooks/carriers/{carrier}"}, "stage": "$default"},
        "isBase64Encoded": False,
    }
    answer = _app().lambda_handler(event, FakeContext())
    return answer["statusCode"], json.loads(answer["body"] or "{}")


def _biteship(waybill: str, status: str, company: str = "jne") -> tuple[int, dict]:
    body = {"event": "order.status", "order_id": "5dd6da88f43bd430ecd5aa2e", "courier_tracking_id": "6d9f0a",
            "courier_waybill_id": waybill, "courier_company": company, "courier_type": "reg", "status": status,
            "order_price": 100000}  # fmt: skip
    return _push("biteship", json.dumps(body), BITESHIP)


def _signed(carrier: str, body: dict, secret: str = CARRIER_SECRET, age_s: int = 0) -> tuple[int, dict]:
    raw = json.dumps(body)
    stamp = datetime.now(UTC) - timedelta(seconds=age_s)
    signature = Webhook(secret).sign("msg_1", stamp, raw)
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(stamp.timestamp())),
               "webhook-signature": signature, "content-type": "application/json"}  # fmt: skip
    return _push(carrier, raw, headers)


def _order(order_id: str) -> Order:
    return container.orders().get(order_id, consistent=True)


def _allocated(channel_order_id: str, quantity: int = 2) -> tuple[str, str]:
    """An order captured and sourced now (the tests' clock): watchers and pollers look back from now."""
    _stock(SKU, {"DC-CKG": 10})
    draft = a_draft(channel_order_id=channel_order_id, shipping_address=JAKARTA, lines=[_line("1", SKU, quantity)])
    order_id = container.capture_service().capture(draft, datetime.now(UTC)).order.order_id
    container.sourcing().source(order_id)
    return order_id, _order(order_id).fulfillments[0].fulfillment_id


def _on_hand(node_id: str) -> int:
    return container.inventory().positions([SKU], consistent=True)[(SKU, node_id)].on_hand


def test_one_order_goes_the_whole_way_and_each_step_is_an_event(stack: Stack) -> None:
    order_id, fid = _allocated("ST-1")
    versions = [_order(order_id)]
    on_hand = _on_hand("DC-CKG")
    for body in ({"type": "accepted"}, {"type": "picked"}, {"type": "packed", "weight_grams": 600}):
        status, answer = _report(fid, body)
        assert (status, answer["outcome"], answer["status"]) == (200, "moved", body["type"]), answer
        versions.append(_order(order_id))
    shipped = {"type": "shipped", "carrier": "JNE", "service": "REG", "tracking_number": "JNE0012345678"}
    status, answer = _report(fid, shipped)
    assert status == 200 and answer["shipment"]["carrier"] == "jne", answer
    assert _on_hand("DC-CKG") == on_hand - 2  # the reservation was consumed
    assert _order(order_id).status.value == "shipped"
    versions.append(_order(order_id))

    for biteship_status, ours in (("picked", "in_transit"), ("dropping_off", "out_for_delivery"),
                                  ("delivered", "delivered")):  # fmt: skip
        status, answer = _biteship("JNE0012345678", biteship_status)
        assert (status, answer["status"], answer["fulfillment"]["status"]) == (200, "applied", ours), answer
        versions.append(_order(order_id))

    delivered = _order(order_id)
    assert delivered.status.value == "delivered"
    assert [s.raw for s in delivered.fulfillments[0].scans][-3:] == ["picked", "dropping_off", "delivered"]
    kinds = [e.event_type.value for old, new in pairwise(versions)
             for e in events_for_change(old, new)]  # fmt: skip
    assert kinds.count("FulfillmentStatusChanged") == 7
    assert "FulfillmentShipped" in kinds and kinds[-1] == "ParcelDelivered"
    (parcel,) = [e for e in events_for_change(versions[-2], versions[-1]) if e.event_type.value == "ParcelDelivered"]
    assert parcel.detail["origin_region"] == "java" and parcel.detail["carrier"] == "jne"
    assert parcel.detail["promised_latest"] == delivered.fulfillments[0].promise_original.deliver_latest.isoformat()


def test_repeats_and_late_reports_change_nothing_and_illegal_moves_are_409(stack: Stack) -> None:
    order_id, fid = _allocated("ST-2")
    assert _report(fid, {"type": "packed"})[1]["outcome"] == "moved"
    assert _report(fid, {"type": "packed"})[1]["outcome"] == "unchanged"
    late = _report(fid, {"type": "accepted"})
    assert late[0] == 200 and late[1]["status"] == "packed"  # a late report never moves it back
    version = _order(order_id).version
    assert _report(fid, {"type": "accepted"})[1]["outcome"] == "unchanged" and _order(order_id).version == version
    assert _report(fid, {"type": "ready_for_pickup"})[0] == 409  # not a pickup parcel
    assert _report("ord_nope-F1", {"type": "accepted"})[0] == 404
    assert _report(fid, {"type": "shipped", "carrier": "jne"})[0] == 422  # no tracking number

    other_id, other_fid = _allocated("ST-3", quantity=1)
    shipped = {"type": "shipped", "carrier": "jne", "tracking_number": "JNE00999"}
    assert _report(fid, shipped)[0] == 200
    taken = _report(other_fid, shipped)
    assert taken[0] == 409 and "another parcel" in taken[1]["message"]  # a tracking number on the wrong order
    assert _report(other_fid, {"type": "rejected", "reason": "damaged"})[1]["outcome"] != "moved"
    assert _report(other_fid, {"type": "picked"})[0] == 409  # rejected: it cannot be picked
    assert _order(other_id).fulfillments[0].status.value == "rejected"


def test_carrier_pushes_are_verified_and_found_by_tracking_number(stack: Stack) -> None:
    _, fid = _allocated("ST-4")
    _report(fid, {"type": "shipped", "carrier": "sicepat", "tracking_number": "SCP000111"})
    assert _push("biteship", "", {})[0] == 200  # the install probe
    forged = {**BITESHIP, "x-biteship-secret": "guess"}
    body = json.dumps({"event": "order.status", "courier_waybill_id": "SCP000111", "courier_company": "sicepat",
                       "status": "delivered"})  # fmt: skip
    assert _push("biteship", body, forged)[0] == 401
    assert _push("biteship", body, {"content-type": "application/json"})[0] == 401
    assert _biteship("SCP999999", "picked", "sicepat")[0] == 404  # no parcel has it
    assert _biteship("SCP000111", "picked", "jne")[0] == 409  # shipped with another carrier
    assert _biteship("SCP000111", "allocated", "sicepat")[1]["fulfillment"]["outcome"] == "unchanged"  # pre-pickup
    price = json.dumps({"event": "order.price", "courier_waybill_id": "SCP000111", "price": 10000})
    assert _push("biteship", price, BITESHIP)[1]["status"] == "ignored"

    good = {"tracking_number": "SCP000111", "status": "in_transit", "occurred_at": datetime.now(UTC).isoformat(),
            "raw_status": "MANIFESTED", "note": "Sorting centre Jakarta"}  # fmt: skip
    status, answer = _signed("sicepat", good)
    assert (status, answer["fulfillment"]["status"]) == (200, "in_transit"), answer
    assert _signed("sicepat", good, secret="whsec_" + "d3Jvbmdfc2VjcmV0X2Zvcl90ZXN0aW5nXzMyYg==")[0] == 401
    assert _signed("sicepat", good, age_s=600)[0] == 401  # outside the five minutes
    assert _signed("sicepat", {**good, "status": "teleported"})[0] == 400
    assert _push("BAD NAME", "{}", {})[0] in (400, 404)


def test_a_pickup_order_reaches_picked_up(stack: Stack) -> None:
    _stock(SKU, {"ST-BDG-PVJ": 5})
    draft = a_draft(channel_order_id="ST-5", lines=[_line("1", SKU, 1)], delivery_method="pickup",
                    pickup_node_id="ST-BDG-PVJ", service_level="pickup", shipping_address=None)  # fmt: skip
    order_id = container.capture_service().capture(draft, NOW).order.order_id
    _service().source(order_id)
    fid = _order(order_id).fulfillments[0].fulfillment_id
    assert _report(fid, {"type": "shipped", "carrier": "jne", "tracking_number": "X1234"})[0] == 409
    assert _report(fid, {"type": "ready_for_pickup"})[1]["status"] == "ready_for_pickup"
    assert _order(order_id).status.value == "ready_for_pickup"
    assert _report(fid, {"type": "picked_up"})[1]["status"] == "picked_up"
    assert _order(order_id).status.value == "delivered"


def test_the_timeline_and_buyer_tracking(stack: Stack) -> None:
    readers: dict[str, StreamReader] = {}
    order_id, fid = _allocated("ST-6")
    _report(fid, {"type": "shipped", "carrier": "jne", "service": "REG", "tracking_number": "JNE0077"})
    _biteship("JNE0077", "dropping_off")
    _pump_orders(stack, readers)

    ingestion = load_handler("functions/ingestion/app.py")
    view = json.loads(ingestion.lambda_handler(
        http_event("GET", f"/orders/{order_id}", "/orders/{order_id}", None, "oms_local_ops_key"), FakeContext()
    )["body"])  # fmt: skip
    timeline = [(e["kind"], e["by"]) for e in view["timeline"]]
    assert timeline[0] == ("received", "channel:pos") and ("allocated", "sourcing") in timeline
    assert ("parcel", "carrier:jne") in timeline and any(by.startswith("node:") for _, by in timeline)

    order = _order(order_id)
    status, tracked = _track(order.order_number, "0812-3456-7890")  # the buyer's phone, written their way
    assert status == 200, tracked
    assert tracked["parcels"][0]["tracking_number"] == "JNE0077" and tracked["status"] == "shipped"
    assert [e["what"] for e in tracked["timeline"]][-2:] == ["Handed to JNE, tracking number JNE0077",
                                                             "Out for delivery"]  # fmt: skip
    text = json.dumps(tracked)
    assert "Siti" not in text and "6281234567890" not in text and "Kebon" not in text and "example" not in text
    assert _track(order.order_number, "SITI@example.co.id")[0] == 200
    wrong, unknown = _track(order.order_number, "0811111111"), _track("OMS-9999999", "0812-3456-7890")
    assert wrong[0] == unknown[0] == 404 and wrong[1]["message"] == unknown[1]["message"]
    for _ in range(10):
        _track(order.order_number, "0811111111")
    assert _track(order.order_number, "0812-3456-7890")[0] == 429  # 11 wrong on it from this address: it waits
    assert _track("OMS-9999999", "0811111111")[0] == 404  # on that number only (test_scopes)


def _track(number: str, contact: str) -> tuple[int, dict]:
    event = http_event("GET", f"/track/{number}", "/track/{order_number}", None, "")
    event["headers"] = {"x-buyer-contact": contact}
    event["pathParameters"] = {"order_number": number}
    answer = _app().lambda_handler(event, FakeContext())
    return answer["statusCode"], json.loads(answer["body"])


def _pump_orders(stack: Stack, readers: dict[str, StreamReader]) -> None:
    """Run the publisher over the orders stream, as Lambda would."""
    publisher = load_handler("functions/ingestion/publisher.py")
    readers.setdefault("OrdersTable", StreamReader(client, stack.resources.streams["OrdersTable"]))
    while (event := readers["OrdersTable"].next_event()) is not None:
        assert publisher.lambda_handler(event, FakeContext()) == {"batchItemFailures": []}


def _change(method: str, path: str, route: str, body: dict, key: str = "oms_local_ops_key_cs") -> tuple[int, dict]:
    answer = _app().lambda_handler(http_event(method, path, route, body, key), FakeContext())
    return answer["statusCode"], json.loads(answer["body"])


def _cancel(order_id: str, body: dict, key: str = "oms_local_ops_key_cs") -> tuple[int, dict]:
    return _change("POST", f"/orders/{order_id}/cancel", "/orders/{order_id}/cancel", body, key)


def _readdress(order_id: str, address: dict) -> tuple[int, dict]:
    path = f"/orders/{order_id}/shipping-address"
    return _change("PATCH", path, "/orders/{order_id}/shipping-address", address)


def test_a_cancel_before_shipping_releases_the_stock_and_after_is_409(stack: Stack) -> None:
    order_id, fid = _allocated("ST-7")
    atp = _atp_of("DC-CKG")
    _report(fid, {"type": "packed"})
    status, order = _cancel(order_id, {"reason": "buyer changed their mind"})
    assert status == 200 and order["status"] == "cancelled", order
    assert order["fulfillments"][0]["status"] == "cancelled" and _atp_of("DC-CKG") == atp + 2
    assert _cancel(order_id, {"reason": "again"})[1]["status"] == "cancelled"  # a repeat
    assert _atp_of("DC-CKG") == atp + 2  # released once
    assert _report(fid, {"type": "shipped", "carrier": "jne", "tracking_number": "JNE0555"})[0] == 409

    shipped_id, shipped_fid = _allocated("ST-8")
    _report(shipped_fid, {"type": "shipped", "carrier": "jne", "tracking_number": "JNE0556"})
    late = _cancel(shipped_id, {"reason": "too late"})
    assert late[0] == 409 and "too late to cancel" in late[1]["message"]
    assert _order(shipped_id).status.value == "shipped"  # nothing changed
    assert _cancel("ord_nope", {"reason": "x"})[0] == 404
    assert _cancel(shipped_id, {"reason": "x", "line_ids": ["9"]})[0] in (400, 409)


def test_cancelling_one_line_releases_its_parcel_and_sources_the_rest_again(stack: Stack) -> None:
    _stock(SKU, {"DC-CKG": 10})
    _stock("TEH-TUBRUK-100", {"DC-CKG": 10})
    order_id = _capture("ST-9", [_line("1", SKU, 1), _line("2", "TEH-TUBRUK-100", 3)])
    _service().source(order_id)
    status, order = _cancel(order_id, {"reason": "out of budget", "line_ids": ["2"]})
    assert status == 200, order
    assert [(f["status"], [x["line_id"] for x in f["lines"]]) for f in order["fulfillments"]] == [
        ("cancelled", ["1", "2"]),
        ("requested", ["1"]),
    ]
    assert [(u["line_id"], u["action"]) for u in order["unfilled"]] == [("2", "cancel")]
    assert order["status"] == "allocated" and _atp_of("DC-CKG", "TEH-TUBRUK-100") == 10


def test_an_address_change_before_packing_re_promises_and_after_is_409(stack: Stack) -> None:
    order_id, fid = _allocated("ST-10")
    before = _order(order_id).fulfillments[0].promise
    makassar = {"name": "Siti", "phone": "+628123", "line1": "Jl. Somba Opu 1", "city": "Makassar",
                "province": "Sulawesi Selatan", "postal_code": "90111", "country": "ID"}  # fmt: skip
    assert _readdress(order_id, {**makassar, "postal_code": "00000"})[0] == 400  # not an Indonesian code
    assert _readdress(order_id, {**makassar, "line1": None})[0] == 400
    status, order = _readdress(order_id, makassar)
    assert status == 200 and order["shipping_address"]["city"] == "Makassar"
    assert _service().address_changed(order_id).outcome == "repromised"  # what OrderAddressChanged triggers
    after = _order(order_id).fulfillments[0].promise
    assert after.deliver_latest > before.deliver_latest and after.ship_by == before.ship_by
    _report(fid, {"type": "packed"})
    assert _readdress(order_id, {**makassar, "line1": "Jl. Lain 2"})[0] == 409


def test_marketplace_orders_change_only_in_their_marketplace_and_channel_keys_only_their_own(stack: Stack) -> None:
    order_id, _ = _allocated("ST-11")
    assert _cancel(order_id, {"reason": "x"}, key="oms_local_ops_key_wms")[0] == 403  # a node key
    shopee = a_draft(channel="shopee", channel_order_id="2411250001", shipping_address=JAKARTA,
                     lines=[_line("1", SKU, 1)])  # fmt: skip
    shopee_id = container.capture_service().capture(shopee, NOW).order.order_id
    answer = _cancel(shopee_id, {"reason": "x"})
    assert answer[0] == 409 and "shopee" in answer[1]["message"]


def _atp_of(node_id: str, sku: str = SKU) -> int:
    position = container.inventory().positions([sku], consistent=True).get((sku, node_id))
    return position.atp if position else 0


def test_a_watcher_flags_a_late_order_and_clears_what_stopped_holding(stack: Stack) -> None:
    from oms.domain.watchers import Watcher

    order_id, fid = _allocated("ST-12")
    promise = _order(order_id).fulfillments[0].promise
    days_later = datetime.combine(promise.deliver_latest + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    watcher = Watcher(container.orders(), lambda: days_later)
    quiet = Watcher(container.orders(), lambda: promise.ship_by - timedelta(hours=1))
    assert quiet.run() == {"looked_at": quiet.run()["looked_at"], "flagged": 0, "cleared": 0, "finished": 1}

    before = _order(order_id)
    result = watcher.run()
    flagged = _order(order_id)
    assert result["flagged"] == 2 and {f.code.value for f in flagged.flags} == {"ship_by_missed", "late"}
    assert "OrderFlagged" in [e.event_type.value for e in events_for_change(before, flagged)]
    assert watcher.run()["flagged"] == 0 and _order(order_id).version == flagged.version  # nothing new: no write

    _report(fid, {"type": "shipped", "carrier": "jne", "tracking_number": "JNE0777"})
    quiet_since_shipping = max(days_later, datetime.now(UTC) + timedelta(hours=49))  # a short promise ends sooner
    watcher.watch(order_id, quiet_since_shipping)
    # Shipped: the missed hand-over is cleared; late stays, and days without a scan since shipping show.
    assert {f.code.value for f in _order(order_id).flags} == {"late", "no_scan"}


def test_operations_list_orders_by_node_attention_and_count_them(stack: Stack) -> None:
    from oms.domain.watchers import Watcher

    readers: dict[str, StreamReader] = {}
    _, first_fid = _allocated("ST-13")
    second_id, _ = _allocated("ST-14", quantity=1)
    _report(first_fid, {"type": "shipped", "carrier": "jne", "tracking_number": "JNE0888"})
    promise = _order(second_id).fulfillments[0].promise
    later_on = datetime.combine(promise.deliver_latest + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    Watcher(container.orders(), lambda: later_on).watch(second_id, later_on)
    _pump_orders(stack, readers)
    ingestion = load_handler("functions/ingestion/app.py")

    def listed(query: dict) -> list[str]:
        event = http_event("GET", "/orders", "/orders", None, "oms_local_ops_key_cs")
        event["queryStringParameters"] = query
        answer = ingestion.lambda_handler(event, FakeContext())
        assert answer["statusCode"] == 200, answer
        return [item["order_id"] for item in json.loads(answer["body"])["items"]]

    assert listed({"node": "DC-CKG"}) == [second_id]  # the shipped one has no work left there
    assert listed({"late": "true"}) == [second_id] and listed({"at_risk": "true"}) == []
    assert listed({"node": "DC-CKG", "status": "shipped"}) == []
    event = http_event("GET", "/orders/stats", "/orders/stats", None, "oms_local_ops_key_cs")
    stats = json.loads(ingestion.lambda_handler(event, FakeContext())["body"])
    assert stats["total"] == 2 and stats["by_status"] == {"shipped": 1, "allocated": 1}
    assert stats["by_channel"] == {"pos": 2}
    both = http_event("GET", "/orders", "/orders", None, "oms_local_ops_key_cs")
    both["queryStringParameters"] = {"node": "DC-CKG", "late": "true"}
    assert ingestion.lambda_handler(both, FakeContext())["statusCode"] == 400


def test_review_cases_pickup_consumes_and_cancels_until_collected(stack: Stack) -> None:
    _stock(SKU, {"ST-BDG-PVJ": 5})
    ids = []
    for n in (1, 2):
        draft = a_draft(channel_order_id=f"ST-R{n}", lines=[_line("1", SKU, 1)], delivery_method="pickup",
                        pickup_node_id="ST-BDG-PVJ", service_level="pickup", shipping_address=None)  # fmt: skip
        order_id = container.capture_service().capture(draft, NOW).order.order_id
        _service().source(order_id)
        ids.append((order_id, _order(order_id).fulfillments[0].fulfillment_id))
    on_hand = container.inventory().positions([SKU], consistent=True)[(SKU, "ST-BDG-PVJ")].on_hand
    for _, fid in ids:
        _report(fid, {"type": "ready_for_pickup"})
    _report(ids[0][1], {"type": "picked_up"})
    position = container.inventory().positions([SKU], consistent=True)[(SKU, "ST-BDG-PVJ")]
    assert position.on_hand == on_hand - 1  # the buyer took it: it left the store's stock
    status, order = _cancel(ids[1][0], {"reason": "never collected"})
    assert status == 200 and order["fulfillments"][0]["status"] == "cancelled"  # still at the counter


def test_review_cases_a_cancel_after_the_stock_left_is_409(stack: Stack) -> None:
    order_id, _ = _allocated("ST-R3")
    fulfillment = _order(order_id).fulfillments[0]
    container.inventory().consume(fulfillment.reservation_id, None, NOW)  # shipped; its report not recorded yet
    answer = _cancel(order_id, {"reason": "x"})
    assert answer[0] == 409 and "has left" in answer[1]["message"]
    assert _order(order_id).status.value == "allocated"


def test_review_cases_a_line_cancelled_while_sourcing_runs_stays_cancelled(stack: Stack, monkeypatch) -> None:
    _stock(SKU, {"DC-CKG": 10})
    _stock("TEH-TUBRUK-100", {"DC-CKG": 10})
    order_id = _capture("ST-R4", [_line("1", SKU, 1), _line("2", "TEH-TUBRUK-100", 3)])
    service = _service()
    original = type(service.rounds)._record
    raced = []

    def record_after_a_cancel(self, order, round_, fulfillments, decision, now):  # type: ignore[no-untyped-def]
        if not raced:
            raced.append(True)
            assert _cancel(order_id, {"reason": "changed mind", "line_ids": ["2"]})[0] == 200
        return original(self, order, round_, fulfillments, decision, now)

    monkeypatch.setattr(type(service.rounds), "_record", record_after_a_cancel)
    service.source(order_id)
    order = _order(order_id)
    live = [f for f in order.fulfillments if f.status.value == "requested"]
    assert [[x.line_id for x in f.lines] for f in live] == [["1"]]
    assert [(u.line_id, u.action.value) for u in order.unfilled] == [("2", "cancel")]
    assert _atp_of("DC-CKG", "TEH-TUBRUK-100") == 10  # nothing of the cancelled line is held


def test_review_cases_who_did_it_and_repeats(stack: Stack) -> None:
    readers: dict[str, StreamReader] = {}
    order_id, fid = _allocated("ST-R5")
    _report(fid, {"type": "rejected", "reason": "water damage"})
    assert _order(order_id).changed_by.startswith("node:")
    version = _order(order_id).version
    assert _cancel(order_id, {"reason": "x", "line_ids": ["1"]})[0] == 200
    again = _order(order_id).version
    assert again > version and _cancel(order_id, {"reason": "x", "line_ids": ["1"]})[0] == 200
    assert _order(order_id).version == again  # nothing left to cancel: nothing written
    other_id, _ = _allocated("ST-R6")
    street = {**JAKARTA, "line1": "Jl. Kebon Jeruk 29"}
    assert _readdress(other_id, street)[0] == 200
    _pump_orders(stack, readers)
    entries = container.orders().timeline(other_id)
    assert [e.what for e in entries if e.kind == "address"] == ["delivery address details changed (same area)"]


def test_a_carrier_without_push_is_polled_through_the_tracking_api(stack: Stack) -> None:
    from oms.adapters.carrier_tracking import BiteshipTracking
    from oms.domain.polling import CarrierPoller
    from oms_local.channel_sim import ChannelSimulator

    order_id, fid = _allocated("ST-15")
    _report(fid, {"type": "shipped", "carrier": "anteraja", "service": "REG", "tracking_number": "ANT0001"})
    simulator = ChannelSimulator().start()
    try:
        tracking = BiteshipTracking(simulator.base_url("biteship"), api_key="biteship_test_key")
        hours_later = datetime.now(UTC) + timedelta(hours=2)
        poller = CarrierPoller(container.orders(), tracking, container.status(), {"anteraja"}, lambda: hours_later,
                               every_minutes=60)  # fmt: skip
        seen = []
        for _ in range(3):
            result = poller.run()
            seen.append(_order(order_id).fulfillments[0].status.value)
            assert result["asked"] == 1 and result["failed"] == 0, result
        assert seen == ["in_transit", "out_for_delivery", "delivered"]
        assert poller.run()["asked"] == 0  # delivered: not asked again
        calls = simulator.calls_for("biteship")
        assert calls[0]["path"] == "/v1/trackings/ANT0001/couriers/anteraja" and len(calls) == 3
        assert tracking.latest("anteraja", "NOPE") is not None  # the simulator knows every waybill
    finally:
        simulator.stop()
    other_id, other_fid = _allocated("ST-16")
    _report(other_fid, {"type": "shipped", "carrier": "jne", "tracking_number": "JNE0999"})
    assert CarrierPoller(container.orders(), tracking, container.status(), {"anteraja"},
                         lambda: hours_later).run()["asked"] == 0  # jne pushes: not polled  # fmt: skip
    assert _order(other_id).fulfillments[0].status.value == "shipped"


def test_a_failed_delivery_attempt_promises_again_from_the_next_working_day(stack: Stack) -> None:
    order_id, fid = _allocated("ST-17")
    _report(fid, {"type": "shipped", "carrier": "jne", "tracking_number": "JNE0321"})
    before = _order(order_id)
    first = before.fulfillments[0].promise
    attempt = datetime.combine(first.deliver_latest, datetime.min.time(), tzinfo=UTC) + timedelta(hours=8)
    container.status().clock = lambda: attempt + timedelta(hours=1)  # the last promised day, that afternoon
    body = json.dumps({"event": "order.status", "courier_waybill_id": "JNE0321", "courier_company": "jne",
                       "status": "on_hold", "updated_at": attempt.isoformat()})  # fmt: skip
    status, answer = _push("biteship", body, BITESHIP)
    assert status == 200 and answer["fulfillment"]["status"] == "failed_attempt", answer
    after = _order(order_id)
    parcel = after.fulfillments[0]
    assert parcel.promise.deliver_latest > first.deliver_latest and parcel.promise_original == first
    assert parcel.reason == "carrier: delivery attempt failed"
    kinds = [e.event_type.value for e in events_for_change(before, after)]
    assert "PromiseChanged" in kinds and "FulfillmentStatusChanged" in kinds


def test_shipments_and_seller_cancels_are_told_to_the_channel(stack: Stack, monkeypatch) -> None:
    from oms_local.channel_sim import ChannelSimulator

    _stock(SKU, {"DC-CKG": 10})
    draft = a_draft(channel="shopify", channel_order_id="5524887100001", shipping_address=JAKARTA,
                    lines=[_line("1", SKU, 1)])  # fmt: skip
    order_id = container.capture_service().capture(draft, NOW).order.order_id
    _service().source(order_id)
    fid = _order(order_id).fulfillments[0].fulfillment_id
    before = _order(order_id)
    _report(fid, {"type": "shipped", "carrier": "jne", "service": "REG", "tracking_number": "JNE0654"})
    shipped = _order(order_id)
    events = [e for e in events_for_change(before, shipped) if e.event_type.value == "FulfillmentShipped"]
    simulator = ChannelSimulator().start()
    try:
        monkeypatch.setenv("OMS_SHOPIFY_API_BASE", simulator.base_url("shopify"))
        container.channel_client.cache_clear()
        worker = load_handler("functions/status/writeback.py")
        bodies = [{"detail-type": e.event_type.value, "source": "oms", "detail": e.model_dump(mode="json")}
                  for e in events]  # fmt: skip
        own = {"detail-type": "OrderCancelled", "source": "oms",
               "detail": {"event_id": "x", "detail": {"channel": "shopify", "channel_order_id": "1",
                                                       "changed_by": "channel:shopify"}}}  # fmt: skip
        records = [{"messageId": f"m{n}", "receiptHandle": "r", "body": json.dumps(b), "attributes": {},
                    "eventSource": "aws:sqs"} for n, b in enumerate([*bodies, own])]  # fmt: skip
        assert worker.lambda_handler({"Records": records}, FakeContext()) == {"batchItemFailures": []}
        (call,) = simulator.calls_for("shopify")  # the channel's own cancel is not told back to it
        assert call["path"] == "/orders/5524887100001/shipped" and call["body"]["tracking_number"] == "JNE0654"
        assert call["idempotency_key"] == events[0].event_id
        simulator.fail_next("shopify", 503, times=3)  # past the client's own two retries
        with pytest.raises(BatchProcessingError):  # the whole batch failed: SQS retries it, then the DLQ
            worker.lambda_handler({"Records": records[:1]}, FakeContext())
    finally:
        simulator.stop()


def test_orders_stored_before_lookups_existed_are_backfilled(stack: Stack, capsys) -> None:
    import importlib.util

    from tests.support import ROOT as REPO

    order_id, _ = _allocated("ST-18")  # stored without the publisher running: no lookup items yet
    order = _order(order_id)
    assert container.orders().by_number(order.order_number) is None
    spec = importlib.util.spec_from_file_location("oms_admin", REPO / "scripts/oms_admin.py")
    admin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(admin)
    admin.main(["--stage", "test", "orders", "backfill-lookups"])
    assert "order(s): lookup items written" in capsys.readouterr().out
    assert container.orders().by_number(order.order_number).order_id == order_id
    ingestion = load_handler("functions/ingestion/app.py")
    event = http_event("GET", "/orders", "/orders", None, "oms_local_ops_key_cs")
    event["queryStringParameters"] = {"node": "DC-CKG"}
    listed = json.loads(ingestion.lambda_handler(event, FakeContext())["body"])["items"]
    assert [item["order_id"] for item in listed] == [order_id]


def test_third_review_flags_end_lookups_never_come_back_and_stats_bounds(stack: Stack) -> None:
    from oms.adapters.orders import lookup_items
    from oms.domain.watchers import Watcher

    order_id, fid = _allocated("ST-19")
    _report(fid, {"type": "shipped", "carrier": "jne", "tracking_number": "JNE0432"})
    later = datetime.now(UTC) + timedelta(hours=49)
    Watcher(container.orders(), lambda: later).run()
    assert "no_scan" in {f.code.value for f in _order(order_id).flags}  # and late, when its promise was shorter
    _biteship("JNE0432", "delivered")
    Watcher(container.orders(), lambda: later).run()  # a delivered order is not watched, but its flags end
    assert {f.code.value for f in _order(order_id).flags} <= {"late"}  # a missed promise stays missed

    other_id, _ = _allocated("ST-20")
    allocated = _order(other_id)
    shipped = allocated.model_copy(update={"version": allocated.version + 1, "fulfillments": [
        allocated.fulfillments[0].model_copy(update={"status": FulfillmentStatus.shipped})]})  # fmt: skip
    orders = container.orders()
    puts, _ = lookup_items(None, allocated)
    _, tombstones = lookup_items(allocated, shipped)
    orders.put_lookups([("put", item) for item in tombstones])  # the newer change: no work left at DC-CKG
    orders.put_lookups([("put", item) for item in puts])  # an older batch replayed afterwards
    assert [i["order_id"] for i in orders.list(OrderQuery(node_id="DC-CKG")).items] == []

    ingestion = load_handler("functions/ingestion/app.py")
    event = http_event("GET", "/orders/stats", "/orders/stats", None, "oms_local_ops_key_cs")
    event["queryStringParameters"] = {"created_to": "0001-01-02T00:00:00+00:00"}
    assert ingestion.lambda_handler(event, FakeContext())["statusCode"] == 422  # out of range, named as a field
