"""Returns against moto: the returns API from request to refund, the worker's rows, rates and provider
refunds, the events and timeline the orders stream makes of each step."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from oms import container
from oms.adapters.refund_gateway import HttpRefundGateway
from oms.domain.events import events_for_change
from oms.domain.return_followups import ReturnFollowUps
from oms.models.order import ChannelState, Order
from oms.ports.returns import GatewayAnswer, RefundPending
from oms_local.channel_sim import ChannelSimulator
from tests.builders import a_draft
from tests.fakes import FakeContext
from tests.fakes.returns import FakeRefundGateway
from tests.integration.conftest import Stack, client
from tests.integration.test_sourcing import JAKARTA, _stock
from tests.integration.test_status import _pump_orders, _report, _signed
from tests.support import StreamReader, http_event, load_handler, sample

CS = "oms_local_ops_key_cs"
OPS = "oms_local_ops_key"
WMS = "oms_local_ops_key_wms"
SKU = "TSHIRT-BLK-M"


def _api(method: str, path: str, route: str, body: object = None, key: str = CS) -> tuple[int, dict]:
    event = http_event(method, path, route, body, key)
    if method == "GET":
        event["body"] = None
        if "?" in path:
            event["rawPath"], query = path.split("?", 1)
            event["queryStringParameters"] = dict(part.split("=", 1) for part in query.split("&"))
    answer = load_handler("functions/returns/app.py").lambda_handler(event, FakeContext())
    return answer["statusCode"], json.loads(answer["body"] or "{}")


def _order(order_id: str) -> Order:
    return container.orders().get(order_id, consistent=True)


def _delivered(stack: Stack, readers: dict, channel_order_id: str, *, channel: str = "web", quantity: int = 2,
               shipping: str = "20000") -> Order:  # fmt: skip
    """A web order of `quantity` t-shirts (Rp 149,000 each, Rp 20,000 off the order), shipped and delivered."""
    _stock(SKU, {"DC-CKG": 10})
    subtotal = Decimal(149000 * quantity)
    draft = a_draft(
        channel=channel,
        channel_order_id=channel_order_id,
        payment={"status": "paid", "method": "qris", "reference": f"pr-{channel_order_id}"},
        shipping_address=JAKARTA,
        lines=[{"line_id": "1", "sku": SKU, "quantity": quantity, "unit_price": "149000"}],
        totals={
            "subtotal": str(subtotal),
            "discount": "20000",
            "shipping": shipping,
            "grand_total": str(subtotal - 20000 + Decimal(shipping)),
        },
    )
    order_id = container.capture_service().capture(draft, datetime.now(UTC)).order.order_id
    container.sourcing().source(order_id)
    parcel = _order(order_id).fulfillments[0].fulfillment_id
    tracking = f"JNE{channel_order_id.replace('-', '')}X"
    assert _report(parcel, {"type": "shipped", "carrier": "jne", "service": "REG", "tracking_number": tracking},
                   WMS)[0] == 200  # fmt: skip
    status, _ = _signed("jne", {"tracking_number": tracking, "status": "delivered",
                                "occurred_at": datetime.now(UTC).isoformat()})  # fmt: skip
    assert status == 200
    _pump_orders(stack, readers)  # the NUMBER# lookup an RMA id is found by
    order = _order(order_id)
    assert order.status.value == "delivered"
    return order


def _on_hand(sku: str, node_id: str) -> int:
    return container.inventory().store.levels([(sku, node_id)], consistent=True)[0].on_hand


def _worker(events: list, gateway: object = None, queue: object = None) -> dict:
    """The returns worker over the stack; `gateway` and `queue` stand in for the payment provider and SQS."""
    worker = load_handler("functions/returns/worker.py")
    records = [
        {"messageId": f"m{n}", "receiptHandle": f"m{n}", "eventSource": "aws:sqs", "attributes": {},
         "body": json.dumps({"detail-type": e.event_type.value, "source": "oms", "detail": e.model_dump(mode="json")})}
        for n, e in enumerate(events)
    ]  # fmt: skip
    wired = container.followups()
    followups = ReturnFollowUps(
        wired.returns, wired.store, (lambda: gateway) if gateway else wired.gateway, wired.expire_after_days
    )
    wiring = worker.Worker(followups, queue or container.returns_queue())
    return worker.lambda_handler({"Records": records}, FakeContext(), worker=wiring)


def test_a_store_drop_off_is_received_inspected_restocked_and_refunded(stack) -> None:
    readers: dict[str, StreamReader] = {}
    order = _delivered(stack, readers, "RET-1")
    before = _on_hand(SKU, "ST-JKT-GI")
    body = {"order_id": order.order_id, "method": "store_drop_off", "drop_off_node_id": "ST-JKT-GI",
            "lines": [{"line_id": "1", "quantity": 1, "reason": "changed_mind"}]}  # fmt: skip
    status, accepted = _api("POST", "/returns", "/returns", body)
    assert status == 201, accepted
    rma = accepted["rmas"][0]
    rma_id = rma["rma_id"]
    assert rma_id == f"RMA-{order.order_number}-1"
    assert rma["destination"] == {"node_id": "ST-JKT-GI", "supplier": None, "why": "drop-off store"}
    assert rma["lines"][0]["unit_refund"] == "139000"  # Rp 20,000 off the order, spread over two units

    receive = f"/returns/{rma_id}/receive"
    assert (
        _api("POST", receive, "/returns/{rma_id}/receive", {"lines": [{"line_id": "1", "quantity": 1}]}, WMS)[0] == 200
    )
    again = _api("POST", receive, "/returns/{rma_id}/receive", {"lines": [{"line_id": "1", "quantity": 1}]}, WMS)
    assert again[0] == 409 and again[1]["details"]["rule"] == "received_once"

    inspect = f"/returns/{rma_id}/inspect"
    status, inspected = _api("POST", inspect, "/returns/{rma_id}/inspect",
                             {"units": [{"line_id": "1", "condition": "resellable", "quantity": 1}]}, WMS)  # fmt: skip
    assert status == 200, inspected
    assert inspected["lines"][0]["inspections"][0]["disposition"] == "restocked"
    assert _on_hand(SKU, "ST-JKT-GI") == before + 1  # on hand (and ATP) rose by the unit
    refund = inspected["refund"]
    assert (refund["status"], refund["amount"], refund["method"]) == ("requested", "139000", "gateway")

    gateway = FakeRefundGateway(GatewayAnswer(True, "rfd-1"))
    events = events_for_change(order, _order(order.order_id))
    kinds = [e.event_type.value for e in events]
    for kind in ("ReturnAuthorized", "ReturnReceived", "ReturnInspected", "RefundRequested"):
        assert kind in kinds
    assert _worker(events, gateway) == {"batchItemFailures": []}
    assert gateway.calls[0]["amount"] == Decimal(139000) and gateway.calls[0]["attempt"] == 1
    closed = _api("GET", f"/returns/{rma_id}", "/returns/{rma_id}")[1]["rma"]
    assert (closed["status"], closed["refund"]["status"], closed["refund"]["reference"]) == (
        "closed", "completed", "rfd-1")  # fmt: skip
    assert _worker(events, gateway) == {"batchItemFailures": []}  # a repeat asks the provider nothing
    assert len(gateway.calls) == 1

    _pump_orders(stack, readers)
    timeline = [entry.what for entry in container.orders().timeline(order.order_id)]
    assert any(f"{rma_id} authorized" in what for what in timeline)
    assert any("resellable -> restocked" in what for what in timeline)
    assert any("refund of IDR 139000 completed" in what for what in timeline)

    listed = _api("GET", "/returns?node_id=ST-JKT-GI", "/returns")[1]["items"]
    assert [item["rma_id"] for item in listed] == [rma_id]
    by_reason = _api("GET", "/returns?reason=changed_mind", "/returns")[1]["items"]
    assert [item["rma_id"] for item in by_reason] == [rma_id]


def test_refusals_name_the_rule_and_change_nothing(stack) -> None:
    readers: dict[str, StreamReader] = {}
    order = _delivered(stack, readers, "RET-2", quantity=1)
    base = {"order_id": order.order_id, "method": "ship_back"}
    too_many = _api("POST", "/returns", "/returns",
                    {**base, "lines": [{"line_id": "1", "quantity": 2, "reason": "wrong_size"}]})  # fmt: skip
    assert too_many[0] == 422 and too_many[1]["details"][0]["rule"] == "quantity"
    unknown = _api("POST", "/returns", "/returns", {**base, "lines": [{"line_id": "9", "quantity": 1,
                                                                        "reason": "wrong_size"}]})  # fmt: skip
    assert unknown[0] == 422 and unknown[1]["details"][0]["rule"] == "unknown_line"
    assert _order(order.order_id).version == order.version

    late = order.model_copy(deep=True)
    for parcel in late.fulfillments:
        parcel.status_at = datetime.now(UTC) - timedelta(days=20)
    container.orders().replace(late.model_copy(update={"version": order.version + 1}), expected_version=order.version)
    window = _api("POST", "/returns", "/returns", {**base, "lines": [{"line_id": "1", "quantity": 1,
                                                                       "reason": "changed_mind"}]})  # fmt: skip
    assert window[0] == 422 and window[1]["details"][0]["rule"] == "return_window"
    assert "14 days from delivery" in window[1]["message"]

    assert _api("POST", "/returns/RMA-OMS-9999999-1/receive", "/returns/{rma_id}/receive",
                {"lines": [{"line_id": "1", "quantity": 1}]}, WMS)[0] == 404  # fmt: skip


def test_a_damaged_unit_is_never_available_and_not_refunded_on_a_change_of_mind(stack) -> None:
    readers: dict[str, StreamReader] = {}
    order = _delivered(stack, readers, "RET-3")
    before = _on_hand(SKU, "DC-CKG")
    body = {"order_id": order.order_id, "method": "ship_back",
            "lines": [{"line_id": "1", "quantity": 2, "reason": "changed_mind"}]}  # fmt: skip
    rma = _api("POST", "/returns", "/returns", body)[1]["rmas"][0]
    assert rma["destination"]["node_id"] == "DC-CKG" and rma["destination"]["why"] == "nearest return center"
    rma_id = rma["rma_id"]
    inspect = f"/returns/{rma_id}/inspect"
    early = _api("POST", inspect, "/returns/{rma_id}/inspect",
                 {"units": [{"line_id": "1", "condition": "resellable", "quantity": 1}]}, WMS)  # fmt: skip
    assert early[0] == 409 and early[1]["details"]["rule"] == "not_received"
    _api(
        "POST", f"/returns/{rma_id}/receive", "/returns/{rma_id}/receive", {"lines": [{"line_id": "1", "quantity": 2}]}
    )
    status, done = _api("POST", inspect, "/returns/{rma_id}/inspect",
                        {"units": [{"line_id": "1", "condition": "resellable", "quantity": 1},
                                   {"line_id": "1", "condition": "damaged", "quantity": 1}]}, WMS)  # fmt: skip
    assert status == 200, done
    assert _on_hand(SKU, "DC-CKG") == before + 1  # the damaged one is quarantined, never stock
    # One unit refunded, less the buyer's return shipping (Rp 15,000 by the default rule).
    assert done["refund"]["amount"] == str(139000 - 15000)
    assert [p["label"] for p in done["refund"]["parts"]] == ["goods", "return shipping"]


def test_return_rates_count_deliveries_and_returns_once(stack) -> None:
    readers: dict[str, StreamReader] = {}
    order = _delivered(stack, readers, "RET-4")
    first = container.orders().get(order.order_id)
    body = {"order_id": order.order_id, "method": "ship_back", "request_id": "r-1",
            "lines": [{"line_id": "1", "quantity": 1, "reason": "wrong_size"}]}  # fmt: skip
    status, accepted = _api("POST", "/returns", "/returns", body)
    assert status == 201
    assert _api("POST", "/returns", "/returns", body)[0] == 200  # the same request_id: the same RMA
    rma_id = accepted["rmas"][0]["rma_id"]
    received = {"lines": [{"line_id": "1", "quantity": 1}]}
    assert _api("POST", f"/returns/{rma_id}/receive", "/returns/{rma_id}/receive", received, WMS)[0] == 200
    after = _order(order.order_id)
    assert len(after.returns) == 1
    delivered_event = [e for e in events_for_change(
        first.model_copy(update={"version": first.version - 1, "fulfillments": [
            f.model_copy(update={"status": "in_transit"}) for f in first.fulfillments]}), first)
        if e.event_type.value == "FulfillmentStatusChanged"]  # fmt: skip
    events = [*delivered_event, *events_for_change(first, after)]
    assert _worker(events) == {"batchItemFailures": []}
    assert _worker(events) == {"batchItemFailures": []}  # counted once
    stats = _api("GET", "/returns/stats", "/returns/stats")[1]
    row = next(row for row in stats["skus"] if row["sku"] == SKU)
    assert (row["delivered_units"], row["returned_units"], row["return_rate"]) == (2, 1, "0.5000")
    assert row["by_reason"] == {"wrong_size": 1}


def test_the_policy_is_data_with_versions(stack) -> None:
    status, policy = _api("GET", "/returns/policy", "/returns/policy")
    assert status == 200 and policy["version"] == 1
    policy["rules"][-1]["restocking_fee_pct"] = "10"
    assert _api("PUT", "/returns/policy", "/returns/policy", policy, CS)[0] == 403
    status, saved = _api("PUT", "/returns/policy", "/returns/policy", policy, OPS)
    assert status == 200 and saved["version"] == 2
    assert _api("PUT", "/returns/policy", "/returns/policy", policy, OPS)[0] == 409


def test_the_refund_gateway_speaks_the_providers_refund_api() -> None:
    sim = ChannelSimulator().start()
    try:
        gateway = HttpRefundGateway(sim.base_url("payments"), lambda: "xnd_test_key")
        call = {"rma_id": "RMA-OMS-0000001-1", "attempt": 1, "amount": Decimal(139000), "currency": "IDR",
                "payment_reference": "pr-W-1", "order_id": "ord_x", "order_number": "OMS-0000001",
                "channel_order_id": "W-1"}  # fmt: skip
        first = gateway.refund(**call)
        assert first.completed and first.reference
        assert gateway.refund(**call).reference == first.reference  # the same key: the same refund
        assert gateway.refund(**{**call, "attempt": 2}).reference != first.reference
        sim.fail_next("payments", 400)
        refused = gateway.refund(**{**call, "attempt": 3})
        assert not refused.completed and refused.failure
        sim.fail_next("payments", 409)  # the key still being processed: asked again later, never a new key
        with pytest.raises(RefundPending):
            gateway.refund(**{**call, "attempt": 4})
        declined = gateway.refund(**{**call, "attempt": 5, "payment_reference": "pr-fail-1"})
        assert (declined.completed, declined.failure) == (False, "REFUND_NOT_SUPPORTED")
        with pytest.raises(RefundPending):
            gateway.refund(**{**call, "attempt": 6, "payment_reference": "pr-pending-1"})
        assert gateway.refund(**{**call, "attempt": 6, "payment_reference": "pr-pending-1"}).completed
        sent = sim.calls_for("payments")[0]
        assert sent["idempotency_key"] == "RMA-OMS-0000001-1-1" and sent["body"]["amount"] == 139000
    finally:
        sim.stop()


@pytest.fixture(autouse=True)
def _no_network(monkeypatch) -> None:
    monkeypatch.setenv("OMS_PAYMENTS_API_BASE", "http://127.0.0.1:9")


_ = client


def test_a_marketplace_buyers_return_request_becomes_an_rma_once(stack) -> None:
    _stock(SKU, {"DC-CKG": 10})
    lines = [{"line_id": "1", "sku": SKU, "quantity": 1, "unit_price": "149000"}]
    totals = {"subtotal": "149000", "grand_total": "149000"}
    now = datetime.now(UTC)
    draft = a_draft(channel="shopee", channel_order_id="2611260001", shipping_address=JAKARTA, lines=lines,
                    totals=totals, channel_state="ready", channel_status="READY_TO_SHIP",
                    channel_updated_at=now - timedelta(days=3))  # fmt: skip
    order_id = container.capture_service().capture(draft, now).order.order_id
    container.sourcing().source(order_id)
    parcel = _order(order_id).fulfillments[0].fulfillment_id
    assert _report(parcel, {"type": "shipped", "carrier": "jne", "tracking_number": "JNESHP0001"}, WMS)[0] == 200
    readers: dict[str, StreamReader] = {}
    _pump_orders(stack, readers)
    shipped = _order(order_id)
    asked = draft.model_copy(update={"channel_state": ChannelState.return_requested, "channel_status": "TO_RETURN",
                                     "channel_updated_at": now - timedelta(hours=1)})  # fmt: skip
    container.capture_service().capture(asked, now)
    flagged = _order(order_id)
    assert [flag.code.value for flag in flagged.flags] == ["return_requested"]
    events = [e for e in events_for_change(shipped, flagged) if e.event_type.value == "OrderFlagged"]
    assert _worker(events) == {"batchItemFailures": []}
    assert _worker(events) == {"batchItemFailures": []}  # a repeat makes no second RMA
    (rma,) = _order(order_id).returns
    assert (rma.by, rma.method.value, rma.refund.method.value) == ("channel:shopee", "ship_back", "channel")
    assert rma.lines[0].quantity == 1 and rma.lines[0].note == "asked in shopee (status TO_RETURN)"

    # It comes back, and the marketplace (which refunds its own buyers) then says the order is returned.
    _receive_and_inspect(rma.rma_id)
    assert _order(order_id).returns[0].refund.status.value == "requested"  # the marketplace's to pay
    before = _order(order_id)
    returned = asked.model_copy(update={"channel_state": ChannelState.returned, "channel_status": "COMPLETED",
                                        "channel_updated_at": now})  # fmt: skip
    container.capture_service().capture(returned, now)
    updates = [e for e in events_for_change(before, _order(order_id)) if e.event_type.value == "OrderUpdated"]
    assert updates[0].detail["channel_state"] == "returned"
    assert _worker(updates) == {"batchItemFailures": []}
    settled = _order(order_id).returns[0]
    assert (settled.status.value, settled.refund.status.value, settled.refund.reference) == (
        "closed", "completed", "shopee: returned")  # fmt: skip


def _ask(order: Order, **changes: object) -> dict:
    body = {"order_id": order.order_id, "method": "store_drop_off", "drop_off_node_id": "ST-JKT-GI",
            "lines": [{"line_id": "1", "quantity": 1, "reason": "wrong_size"}]}  # fmt: skip
    return body | changes


def _receive_and_inspect(rma_id: str, condition: str = "resellable") -> dict:
    received = {"lines": [{"line_id": "1", "quantity": 1}]}
    assert _api("POST", f"/returns/{rma_id}/receive", "/returns/{rma_id}/receive", received, WMS)[0] == 200
    units = {"units": [{"line_id": "1", "condition": condition, "quantity": 1}]}
    status, rma = _api("POST", f"/returns/{rma_id}/inspect", "/returns/{rma_id}/inspect", units, WMS)
    assert status == 200, rma
    return rma


def test_an_exchange_is_a_new_order_through_capture_once(stack) -> None:
    readers: dict[str, StreamReader] = {}
    order = _delivered(stack, readers, "RET-5")
    lines = [{"line_id": "1", "quantity": 1, "reason": "wrong_size", "exchange_sku": "BTK-PRG-M"}]
    refused = _api("POST", "/returns", "/returns", _ask(order, resolution="exchange", lines=lines))
    assert refused[0] == 422 and refused[1]["details"][0]["rule"] == "exchange_price"  # Rp 450,000, not 149,000
    lines[0]["exchange_sku"] = SKU  # the same shirt again (another one of the size)
    status, accepted = _api("POST", "/returns", "/returns", _ask(order, resolution="exchange", lines=lines))
    assert status == 201, accepted
    rma = _receive_and_inspect(accepted["rmas"][0]["rma_id"])
    assert rma["refund"]["status"] == "not_due" and rma["status"] == "closed"
    replacement = _order(rma["exchange_order_id"])
    assert (replacement.channel.value, replacement.channel_order_id) == ("web", rma["rma_id"])
    assert [(line.sku, line.quantity, line.unit_price) for line in replacement.lines] == [(SKU, 1, Decimal(139000))]
    assert replacement.payment.method == "exchange" and replacement.payment.reference is None
    before = _order(order.order_id)
    events = [e for e in events_for_change(order, before) if e.event_type.value == "ExchangeRequested"]
    assert len(events) == 1 and _worker(events) == {"batchItemFailures": []}  # the worker's repeat: the same order
    assert _order(rma["exchange_order_id"]).version == replacement.version


def test_a_return_not_yet_arrived_can_be_cancelled_and_asked_again(stack) -> None:
    readers: dict[str, StreamReader] = {}
    order = _delivered(stack, readers, "RET-6", quantity=1)
    rma_id = _api("POST", "/returns", "/returns", _ask(order))[1]["rmas"][0]["rma_id"]
    assert _api("POST", "/returns", "/returns", _ask(order))[1]["details"][0]["rule"] == "quantity"
    status, cancelled = _api("POST", f"/returns/{rma_id}/cancel", "/returns/{rma_id}/cancel", {"reason": "kept it"})
    assert status == 200 and cancelled["status"] == "cancelled"
    receive = _api("POST", f"/returns/{rma_id}/receive", "/returns/{rma_id}/receive",
                   {"lines": [{"line_id": "1", "quantity": 1}]}, WMS)  # fmt: skip
    assert receive[0] == 409 and receive[1]["details"]["rule"] == "cancelled"
    assert _api("POST", "/returns", "/returns", _ask(order))[0] == 201  # its unit may be returned again


def test_a_declined_refund_is_retried_as_a_new_attempt_and_never_settled_by_hand(stack) -> None:
    readers: dict[str, StreamReader] = {}
    order = _delivered(stack, readers, "RET-7")
    rma_id = _api("POST", "/returns", "/returns", _ask(order))[1]["rmas"][0]["rma_id"]
    _receive_and_inspect(rma_id)
    by_hand = _api("POST", f"/returns/{rma_id}/refund", "/returns/{rma_id}/refund", {"outcome": "completed"}, OPS)
    assert by_hand[0] == 409 and by_hand[1]["details"]["rule"] == "provider_refund"

    declined = FakeRefundGateway(GatewayAnswer(False, "rfd-9", "REFUND_NOT_SUPPORTED"))
    requested = _order(order.order_id)
    asked = [e for e in events_for_change(order, requested) if e.event_type.value == "RefundRequested"]
    assert _worker(asked, declined) == {"batchItemFailures": []}
    failed = _api("GET", f"/returns/{rma_id}", "/returns/{rma_id}")[1]["rma"]["refund"]
    assert (failed["status"], failed["failure"]) == ("failed", "REFUND_NOT_SUPPORTED")

    assert _api("POST", f"/returns/{rma_id}/refund/retry", "/returns/{rma_id}/refund/retry", None, CS)[0] == 403
    status, retried = _api("POST", f"/returns/{rma_id}/refund/retry", "/returns/{rma_id}/refund/retry", None, OPS)
    assert status == 200 and (retried["refund"]["status"], retried["refund"]["attempt"]) == ("requested", 2)
    paid = FakeRefundGateway(GatewayAnswer(True, "rfd-10"))
    again = _order(order.order_id)
    asked = [e for e in events_for_change(requested, again) if e.event_type.value == "RefundRequested"]
    assert _worker(asked, paid) == {"batchItemFailures": []}
    assert paid.calls[0]["attempt"] == 2 and paid.calls[0]["payment_reference"] == "pr-RET-7"
    assert _api("GET", f"/returns/{rma_id}", "/returns/{rma_id}")[1]["rma"]["status"] == "closed"


def test_a_refund_the_provider_is_still_settling_is_asked_again_later(stack) -> None:
    from oms.ports.returns import RefundPending

    readers: dict[str, StreamReader] = {}
    order = _delivered(stack, readers, "RET-8")
    rma_id = _api("POST", "/returns", "/returns", _ask(order))[1]["rmas"][0]["rma_id"]
    _receive_and_inspect(rma_id)

    class Pending:
        def refund(self, **call: object) -> GatewayAnswer:
            raise RefundPending("PENDING")

    class Queue:
        delays: list[int] = []

        def retry_later(self, receipt_handle: str, seconds: int) -> None:
            self.delays.append(seconds)

    queue = Queue()
    events = [e for e in events_for_change(order, _order(order.order_id)) if e.event_type.value == "RefundRequested"]
    answer = _worker(events, Pending(), queue)
    assert len(answer["batchItemFailures"]) == 1 and queue.delays == [60]
    assert _api("GET", f"/returns/{rma_id}", "/returns/{rma_id}")[1]["rma"]["refund"]["status"] == "requested"


def test_the_sample_events_are_answered(stack) -> None:
    app = load_handler("functions/returns/app.py")
    answer = app.lambda_handler(sample("http/post_returns.json"), FakeContext())
    assert answer["statusCode"] == 404 and "ord_placeholder" in json.loads(answer["body"])["message"]
    answer = app.lambda_handler(sample("http/post_returns_inspect.json"), FakeContext())
    assert answer["statusCode"] == 404 and "RMA-OMS-0000001-1" in json.loads(answer["body"])["message"]


def test_a_repeated_exchange_request_leaves_the_replacement_order_alone(stack) -> None:
    readers: dict[str, StreamReader] = {}
    order = _delivered(stack, readers, "SCR-1")
    status, policy = _api("GET", "/returns/policy", "/returns/policy")
    for rule in policy["rules"]:
        rule["refund_timing"] = "on_request"
    assert _api("PUT", "/returns/policy", "/returns/policy", policy, OPS)[0] == 200
    status, accepted = _api("POST", "/returns", "/returns", _ask(order, resolution="exchange"))
    assert status == 201, accepted
    rma = accepted["rmas"][0]
    replacement = _order(rma["exchange_order_id"])
    assert replacement is not None
    after_create = _order(order.order_id)
    events = [e for e in events_for_change(order, after_create) if e.event_type.value == "ExchangeRequested"]
    # the goods arrive before the worker reads ExchangeRequested (or the message is replayed from the DLQ)
    received = {"lines": [{"line_id": "1", "quantity": 1}]}
    assert _api("POST", f"/returns/{rma['rma_id']}/receive", "/returns/{rma_id}/receive", received, WMS)[0] == 200
    assert _worker(events) == {"batchItemFailures": []}
    again = _order(rma["exchange_order_id"])
    assert (again.version, again.placed_at) == (replacement.version, replacement.placed_at)


def test_returns_whose_goods_never_come_are_cancelled_by_the_daily_job(stack) -> None:
    readers: dict[str, StreamReader] = {}
    order = _delivered(stack, readers, "RET-9")
    old_rma = _api("POST", "/returns", "/returns", _ask(order))[1]["rmas"][0]["rma_id"]
    young_rma = _api("POST", "/returns", "/returns", _ask(order))[1]["rmas"][0]["rma_id"]
    assert _worker(events_for_change(order, _order(order.order_id))) == {"batchItemFailures": []}  # the list rows
    followups = container.followups()  # what the worker's daily job runs
    assert followups.expire(datetime.now(UTC)) == {"cancelled": 0, "kept": 0}  # nothing is 30 days old yet
    # 31 days on, both are old enough; the young one arrives first and is kept.
    received = {"lines": [{"line_id": "1", "quantity": 1}]}
    assert _api("POST", f"/returns/{young_rma}/receive", "/returns/{rma_id}/receive", received, WMS)[0] == 200
    assert followups.expire(datetime.now(UTC) + timedelta(days=31)) == {"cancelled": 1, "kept": 1}
    rmas = {rma.rma_id: rma for rma in _order(order.order_id).returns}
    assert (rmas[old_rma].status.value, rmas[old_rma].cancel_reason) == ("cancelled", "nothing arrived within 30 days")
    assert rmas[young_rma].status.value == "received"
