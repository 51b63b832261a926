"""End to end through the local stack: a delivered order's return, as cs, the store and the payment
provider take it (issue 8's "done when"), over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from oms_local import LocalRuntime
from oms_local.seed import DEFAULTS
from tests.e2e.test_sourcing_local import JAKARTA, get_order
from tests.e2e.test_stock_local import OPS, WEB, WMS, http
from tests.support import ROOT

pytestmark = pytest.mark.e2e

CS = {"x-api-key": DEFAULTS["OMS_API_KEY"] + "_cs", "content-type": "application/json"}
SKU = "BTK-PRG-L"
STORE = "ST-JKT-GI"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRuntime]:
    runtime = LocalRuntime(
        ROOT / "template.yaml", port=0, moto_port=0, data_dir=tmp_path_factory.mktemp("oms-returns"), seed=True
    )
    with runtime:
        yield runtime


def delivered(stack: LocalRuntime, number: str, *, days_ago: int = 0) -> dict[str, Any]:
    """A web order of two shirts (Rp 450,000 each, Rp 50,000 off the line, Rp 20,000 shipping), shipped by the DC
    and delivered by the carrier `days_ago` days ago."""
    body = {
        "channel": "web", "channel_order_id": number, "placed_at": "2026-11-01T09:00:00+07:00",
        "customer": {"name": "Siti Rahayu", "email": "siti@example.co.id"}, "shipping_address": JAKARTA,
        "payment": {"status": "paid", "method": "qris", "reference": f"pr-{number}"},
        "lines": [{"line_id": "1", "sku": SKU, "quantity": 2, "unit_price": "450000", "discount": "50000"}],
        "totals": {"subtotal": "900000", "discount": "50000", "shipping": "20000", "grand_total": "870000"},
    }  # fmt: skip
    status, answer = http(stack, "POST", "/orders", body, WEB)
    assert status == 201, answer
    stack.drain()
    order = get_order(stack, answer["order_id"])
    parcel = order["fulfillments"][0]["fulfillment_id"]
    tracking = f"JNE{number.replace('-', '')}"
    shipped = {"type": "shipped", "carrier": "jne", "service": "REG", "tracking_number": tracking}
    assert http(stack, "POST", f"/fulfillments/{parcel}/events", shipped, WMS)[0] == 200
    at = datetime.now(UTC) - timedelta(days=days_ago)
    push = json.dumps({"tracking_number": tracking, "status": "delivered", "occurred_at": at.isoformat()})
    signature = Webhook(DEFAULTS["OMS_CARRIER_SECRET"]).sign(f"msg-{number}", datetime.now(UTC), push)
    headers = {"webhook-id": f"msg-{number}", "webhook-timestamp": str(int(datetime.now(UTC).timestamp())),
               "webhook-signature": signature, "content-type": "application/json"}  # fmt: skip
    status, answer = http(stack, "POST", "/webhooks/carriers/jne", json.loads(push), headers)
    assert status == 200, answer
    stack.drain()
    order = get_order(stack, order["order_id"])
    assert order["status"] == "delivered"
    return order


def store_atp(stack: LocalRuntime) -> int:
    _, answer = http(stack, "GET", f"/availability?skus={SKU}&channel=web", None, OPS)
    return next(node["atp"] for node in answer["items"][0]["nodes"] if node["node_id"] == STORE)


def test_a_store_return_is_restocked_refunded_by_policy_and_shown_on_the_timeline(stack: LocalRuntime) -> None:
    order = delivered(stack, "RET-E2E-1")
    before = store_atp(stack)
    ask = {"order_id": order["order_id"], "method": "store_drop_off", "drop_off_node_id": STORE,
           "lines": [{"line_id": "1", "quantity": 2, "reason": "changed_mind"}]}  # fmt: skip
    status, accepted = http(stack, "POST", "/returns", ask, CS)
    assert status == 201, accepted
    rma_id = accepted["rmas"][0]["rma_id"]

    received = {"lines": [{"line_id": "1", "quantity": 2}]}
    assert http(stack, "POST", f"/returns/{rma_id}/receive", received, WMS)[0] == 200
    inspected = {"units": [{"line_id": "1", "condition": "resellable", "quantity": 1},
                           {"line_id": "1", "condition": "damaged", "quantity": 1, "note": "torn seam"}]}  # fmt: skip
    status, rma = http(stack, "POST", f"/returns/{rma_id}/inspect", inspected, WMS)
    assert status == 200, rma
    assert store_atp(stack) == before + 1  # the resellable unit only: the damaged one is never available
    # The policy's default rule: what the buyer paid per unit ((870,000 - 20,000 shipping) / 2), and a damaged
    # unit on a change of mind is not refunded; a drop-off costs no return shipping.
    assert (rma["refund"]["status"], rma["refund"]["amount"]) == ("requested", "425000")

    stack.drain()
    status, view = http(stack, "GET", f"/returns/{rma_id}", None, CS)
    assert (view["rma"]["status"], view["rma"]["refund"]["status"]) == ("closed", "completed")
    refunds = [c for c in stack.channels.calls_for("payments") if c["path"] == "/refunds"]
    assert [(c["body"]["amount"], c["idempotency_key"]) for c in refunds] == [(425000, f"{rma_id}-1")]

    timeline = [entry["what"] for entry in get_order(stack, order["order_id"])["timeline"]]
    for expected in (f"{rma_id} authorized", f"{rma_id} received at {STORE}: 2 of 2", "resellable -> restocked",
                     "damaged -> quarantined", "refund of IDR 425000 completed", f"{rma_id} closed"):  # fmt: skip
        assert any(expected in what for what in timeline), (expected, timeline)
    status, tracked = http(stack, "GET", f"/track/{order['order_number']}", None,
                           {"x-buyer-contact": "siti@example.co.id"})  # fmt: skip
    assert status == 200 and tracked["returns"][0]["refund_status"] == "completed"
    assert "Refund completed" in [event["what"] for event in tracked["timeline"]]

    status, page = http(stack, "GET", f"/returns?node_id={STORE}&reason=changed_mind", None, OPS)
    assert [item["rma_id"] for item in page["items"]] == [rma_id]
    status, stats = http(stack, "GET", "/returns/stats", None, OPS)
    row = next(row for row in stats["skus"] if row["sku"] == SKU)
    assert row["returned_units"] == 2 and row["by_reason"]["changed_mind"] == 2


def test_a_return_after_the_window_or_for_too_much_is_refused_with_the_rule(stack: LocalRuntime) -> None:
    order = delivered(stack, "RET-E2E-2", days_ago=20)
    ask = {"order_id": order["order_id"], "method": "ship_back",
           "lines": [{"line_id": "1", "quantity": 1, "reason": "changed_mind"}]}  # fmt: skip
    status, refused = http(stack, "POST", "/returns", ask, CS)
    assert status == 422, refused
    assert refused["details"][0]["rule"] == "return_window"
    assert "14 days from delivery" in refused["message"]
    too_many = {**ask, "lines": [{"line_id": "1", "quantity": 3, "reason": "defective"}]}
    status, refused = http(stack, "POST", "/returns", too_many, CS)
    assert status == 422 and refused["details"][0]["rule"] == "quantity"
    assert get_order(stack, order["order_id"])["returns"] == []
