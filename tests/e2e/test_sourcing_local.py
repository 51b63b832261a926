"""End to end through the local stack: orders captured over HTTP are sourced by
the sourcing function from its queue, as a till, a store and an operator see it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from oms_local import LocalRuntime
from tests.e2e.test_stock_local import WEB, WMS, http, stock_only_at_dc
from tests.support import ROOT, admin

pytestmark = pytest.mark.e2e

SKU = "TEH-TUBRUK-100"
JAKARTA = {
    "name": "Siti Rahayu", "phone": "+6281234567890", "line1": "Jl. Kebon Jeruk Raya 27",
    "city": "Jakarta Barat", "province": "DKI Jakarta", "postal_code": "11530",
}  # fmt: skip


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRuntime]:
    runtime = LocalRuntime(
        ROOT / "template.yaml", port=0, moto_port=0, data_dir=tmp_path_factory.mktemp("oms-sourcing"), seed=True
    )
    with runtime:
        yield runtime


def order_body(number: str, lines: list[tuple[str, int]], **changes: Any) -> dict[str, Any]:
    body = {
        "channel": "web",
        "channel_order_id": number,
        "channel_updated_at": "2026-11-26T09:00:00+07:00",
        "placed_at": "2026-11-26T09:00:00+07:00",
        "customer": {"name": "Siti Rahayu", "email": "siti@example.co.id"},
        "shipping_address": JAKARTA,
        "payment": {"status": "paid", "method": "qris"},
        "lines": [
            {"line_id": str(i + 1), "sku": sku, "quantity": qty, "unit_price": "25000"}
            for i, (sku, qty) in enumerate(lines)
        ],
        "totals": {"subtotal": "25000", "grand_total": "25000"},
    }
    return body | changes


def capture(stack: LocalRuntime, body: dict[str, Any]) -> str:
    status, answer = http(stack, "POST", "/orders", body, WEB)
    assert status == 201, answer
    return answer["order_id"]


def get_order(stack: LocalRuntime, order_id: str) -> dict[str, Any]:
    status, order = http(stack, "GET", f"/orders/{order_id}")
    assert status == 200, order
    return order


def test_an_order_is_allocated_where_the_stated_cost_says_and_the_trace_says_why(stack: LocalRuntime) -> None:
    order_id = capture(stack, order_body("SRC-1", [("KOP-GAYO-250", 2), ("BTK-PRG-M", 1)]))
    stack.drain()

    order = get_order(stack, order_id)
    assert order["status"] == "allocated"
    (fulfillment,) = order["fulfillments"]
    status, decisions = http(stack, "GET", f"/orders/{order_id}/sourcing")
    assert status == 200
    (decision,) = decisions["decisions"]
    trace = decision["plan"]["trace"]
    assert trace["winner"] == [fulfillment["node_id"]] == ["DC-CKG"]  # Bekasi: Jakarta's metro rate
    compared = {tuple(c["nodes"]): int(c["total"]) for c in trace["compared"]}
    assert compared[("DC-CKG",)] == min(compared.values())
    removed = {n["node_id"]: n["removed"] for n in trace["nodes"]}
    assert removed["ST-MKS-TP"].startswith("store 1403 km away")


def test_fifty_concurrent_orders_for_ten_units_allocate_ten_and_backorder_forty(stack: LocalRuntime) -> None:
    stock_only_at_dc(stack, 10, SKU)

    with ThreadPoolExecutor(max_workers=25) as pool:
        order_ids = list(pool.map(lambda n: capture(stack, order_body(f"RUSH-{n}", [(SKU, 1)])), range(50)))
    stack.drain()

    statuses = [get_order(stack, order_id)["status"] for order_id in order_ids]
    assert statuses.count("allocated") == 10 and statuses.count("backordered") == 40
    _, availability = http(stack, "GET", f"/availability?skus={SKU}&channel=web")
    dc = next(n for n in availability["items"][0]["nodes"] if n["node_id"] == "DC-CKG")
    assert (dc["reserved"], dc["atp"]) == (10, 0)  # not one unit oversold

    # Stock arrives: the backorder sweep sources the waiting orders, oldest first.
    receipt = {
        "adjustment_id": "rcv-teh-1",
        "kind": "receipt",
        "node_id": "DC-CKG",
        "lines": [{"sku": SKU, "quantity": 5}],
    }
    assert http(stack, "POST", "/inventory/adjustments", receipt, WMS)[0] == 200
    stack.invoke("SourcingWorkerFunction", {"job": "backorders"})
    stack.drain()
    statuses = [get_order(stack, order_id)["status"] for order_id in order_ids]
    assert statuses.count("allocated") == 15 and statuses.count("backordered") == 35


def test_a_node_rejection_re_sources_the_lines_elsewhere(stack: LocalRuntime) -> None:
    order_id = capture(stack, order_body("SRC-REJ", [("KOP-TORAJA-250", 1)]))
    stack.drain()
    first = get_order(stack, order_id)["fulfillments"][0]

    event = {"type": "rejected", "reason": "forklift down"}
    status, answer = http(stack, "POST", f"/fulfillments/{first['fulfillment_id']}/events", event, WMS)
    assert (status, answer["outcome"]) == (200, "allocated"), answer
    stack.drain()

    order = get_order(stack, order_id)
    assert [(f["node_id"], f["status"]) for f in order["fulfillments"]] == [
        (first["node_id"], "rejected"),
        (order["fulfillments"][1]["node_id"], "requested"),
    ]
    assert order["fulfillments"][1]["node_id"] != first["node_id"]
    assert http(stack, "POST", "/fulfillments/ord_nope-F1/events", event, WMS)[0] == 404
    assert http(stack, "POST", f"/fulfillments/{first['fulfillment_id']}/events", {"type": "shipped"}, WMS)[0] == 422


def test_a_pickup_order_goes_to_its_pickup_store(stack: LocalRuntime) -> None:
    body = order_body(
        "SRC-PICK", [("KOP-GAYO-250", 1)], delivery_method="pickup", pickup_node_id="ST-BDG-PVJ",
        service_level="pickup", shipping_address=None,
    )  # fmt: skip
    order_id = capture(stack, body)
    stack.drain()
    order = get_order(stack, order_id)
    assert order["status"] == "allocated"
    assert [(f["node_id"], f["delivery_method"]) for f in order["fulfillments"]] == [("ST-BDG-PVJ", "pickup")]


def test_the_dry_run_and_the_replay_of_proposed_rules(stack: LocalRuntime) -> None:
    cart = {
        "destination": {"city": "Makassar", "province": "Sulawesi Selatan"},
        "lines": [{"sku": "KOP-GAYO-250", "quantity": 1}],
    }
    status, plan = http(stack, "POST", "/sourcing/plan", cart)
    assert status == 200 and plan["outcome"] == "allocated"
    assert plan["shipments"][0]["node_id"] == "ST-MKS-TP"  # ship from the Makassar store beats flying it in
    assert http(stack, "POST", "/sourcing/plan", {"lines": []})[0] == 422
    no_rate = {**cart, "destination": {"city": "Atlantis"}}
    status, plan = http(stack, "POST", "/sourcing/plan", no_rate)
    assert (status, plan["outcome"]) == (200, "unroutable")

    _, rules = http(stack, "GET", "/sourcing/rules")
    rules["default_channel"]["nodes"] = ["DC-SBY"]
    path = stack.data_dir / "proposed.json"
    path.write_text(json.dumps(rules))
    report = json.loads(admin(stack, "sourcing", "replay", "--rules", str(path), "--days", "3"))
    assert report["decisions"] >= 3 and report["changed"] >= 1
    assert report["cost_change"] > 0  # where both fill every line, Surabaya ships to Jakarta dearer
    assert report["unfilled_units_change"] > 0  # and what only Cikarang had is left unfilled


def test_a_quote_by_postal_code_names_nodes_and_dates_for_every_level(stack: LocalRuntime) -> None:
    cart = {
        "destination": {"postal_code": "11530"},
        "lines": [{"sku": "KOP-GAYO-250", "quantity": 1}],
        "as_of": "2026-12-23T16:00:00+07:00",  # the eve of cuti bersama and Christmas
    }
    status, quote = http(stack, "POST", "/promises", cart, WEB)
    assert status == 200, quote
    options = {option["level"]: option for option in quote["options"]}
    assert quote["destination"]["city"] == "jakarta pusat"  # placed from its postal code
    regular = options["regular"]
    assert regular["available"] and regular["ship_by"] == "2026-12-26T13:00:00+07:00"  # Saturday: the DC closes at 13
    assert options["pickup"]["available"] and options["pickup"]["ready_at"].startswith("2026-12-23T18:00")
    bad = {**cart, "as_of": "2026-12-23T16:00:00"}
    assert http(stack, "POST", "/promises", bad, WEB)[0] == 422
