"""Hardening (issue 17) against moto, through the handlers: a key limited to nodes or channels reaches
only those on every route it may call, and buyer tracking throttles the guesser, never the right contact."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from oms import container
from oms.adapters.attempts import DynamoAttempts
from oms.domain.apikeys import new_key
from oms.domain.events import events_for_change
from oms.domain.tracking import Failures
from oms.models.api import OrderCreate
from oms.models.apikey import Role
from oms.models.inventory import HoldCreate
from oms.models.order import Channel
from tests.builders import a_draft
from tests.integration.conftest import Stack, client
from tests.integration.test_returns import _delivered, _worker
from tests.integration.test_sourcing import JAKARTA, NOW, SKU, _stock
from tests.integration.test_status import _allocated, _order, _pump_orders
from tests.support import FakeContext, StreamReader, http_event, load_handler

OPS, CS = "oms_local_ops_key", "oms_local_ops_key_cs"
PVJ, GI, BOTH, CKG, WEB = "key_pvj", "key_gi", "key_both", "key_ckg", "key_web"


@pytest.fixture
def keys(stack: Stack) -> None:
    for key, roles, nodes, channels in (
        (PVJ, [Role.node], ["ST-BDG-PVJ"], None),
        (GI, [Role.node], ["ST-JKT-GI"], None),
        (BOTH, [Role.node], ["ST-JKT-GI", "ST-BDG-PVJ"], None),
        (CKG, [Role.node], ["DC-CKG"], None),
        (WEB, [Role.channel], None, [Channel.web]),
    ):
        container.api_keys().put(new_key(key, roles, NOW, channels=channels, nodes=nodes, key=key)[1])


def _call(function: str, method: str, path: str, route: str, body: Any = None, key: str = OPS,
          headers: dict[str, str] | None = None, source_ip: str | None = None) -> tuple[int, dict, dict]:  # fmt: skip
    event = http_event(method, path, route, body, key)
    if method == "GET":
        event["body"] = None
        if "?" in path:
            event["rawPath"], query = path.split("?", 1)
            event["queryStringParameters"] = dict(part.split("=", 1) for part in query.split("&"))
    event["headers"].update(headers or {})
    if source_ip:
        event["requestContext"]["http"]["sourceIp"] = source_ip
    answer = load_handler(f"functions/{function}/app.py").lambda_handler(event, FakeContext())
    return answer["statusCode"], json.loads(answer["body"] or "{}"), answer.get("headers") or {}


def _stock_api(method: str, path: str, route: str, body: Any = None, key: str = OPS) -> tuple[int, dict]:
    status, answer, _ = _call("stock_sync", method, path, route, body, key)
    return status, answer


def _on_hand(node_id: str) -> int:
    return container.inventory().positions([SKU], consistent=True)[(SKU, node_id)].on_hand


# ---------------------------------------------------------------- stock feeds


def test_a_node_key_adjusts_and_counts_its_own_nodes_only(stack: Stack, keys: None) -> None:
    _stock(SKU, {"DC-SBY": 298, "ST-BDG-PVJ": 10})
    sby = _on_hand("DC-SBY")
    adjust = {
        "adjustment_id": "A-1",
        "kind": "adjustment",
        "node_id": "DC-SBY",
        "lines": [{"sku": SKU, "quantity": -297}],
    }
    status, refused = _stock_api("POST", "/inventory/adjustments", "/inventory/adjustments", adjust, PVJ)
    assert (status, refused["error"]) == (403, "forbidden"), refused
    assert refused["message"] == "this key may not move stock of node DC-SBY: it acts for ST-BDG-PVJ only"
    assert _on_hand("DC-SBY") == sby  # the finding: DC-SBY's 298 set to 1 by a store's key

    own = {**adjust, "node_id": "ST-BDG-PVJ", "lines": [{"sku": SKU, "quantity": -1}]}
    assert _stock_api("POST", "/inventory/adjustments", "/inventory/adjustments", own, PVJ)[0] == 200
    for source, target in (("ST-BDG-PVJ", "DC-SBY"), ("DC-SBY", "ST-BDG-PVJ")):  # either end another's: 403
        transfer = {"adjustment_id": f"T-{source}", "kind": "transfer", "node_id": source, "to_node_id": target,
                    "lines": [{"sku": SKU, "quantity": 1}]}  # fmt: skip
        status, refused = _stock_api("POST", "/inventory/adjustments", "/inventory/adjustments", transfer, PVJ)
        assert status == 403 and "node DC-SBY" in refused["message"], refused
        assert _stock_api("POST", "/inventory/adjustments", "/inventory/adjustments", transfer, BOTH)[0] == 403
    between_own = {"adjustment_id": "T-own", "kind": "transfer", "node_id": "ST-BDG-PVJ", "to_node_id": "ST-JKT-GI",
                   "lines": [{"sku": SKU, "quantity": 1}]}  # fmt: skip
    assert _stock_api("POST", "/inventory/adjustments", "/inventory/adjustments", between_own, BOTH)[0] == 200
    assert _stock_api("POST", "/inventory/adjustments", "/inventory/adjustments", {**between_own,
                      "adjustment_id": "T-ops", "node_id": "DC-SBY"}, OPS)[0] == 200  # fmt: skip
    assert _on_hand("DC-SBY") == sby - 1

    count = {"snapshot_id": "CNT-SBY", "node_id": "DC-SBY", "as_of": NOW.isoformat(), "rows": [{"sku": SKU,
             "on_hand": 1}]}  # fmt: skip
    status, refused = _stock_api("POST", "/inventory/snapshots", "/inventory/snapshots", count, PVJ)
    assert status == 403 and refused["message"].startswith("this key may not count stock of node DC-SBY"), refused
    assert _stock_api("POST", "/inventory/snapshots", "/inventory/snapshots", count, OPS)[0] == 202
    status, refused = _stock_api("GET", "/inventory/snapshots/CNT-SBY", "/inventory/snapshots/{snapshot_id}", None,
                                 PVJ)  # fmt: skip
    assert status == 403 and "node DC-SBY" in refused["message"], refused
    mine = {**count, "snapshot_id": "CNT-PVJ", "node_id": "ST-BDG-PVJ"}
    assert _stock_api("POST", "/inventory/snapshots", "/inventory/snapshots", mine, PVJ)[0] == 202
    status, progress = _stock_api("GET", "/inventory/snapshots/CNT-PVJ", "/inventory/snapshots/{snapshot_id}",
                                  None, PVJ)  # fmt: skip
    assert (status, progress["node_id"]) == (200, "ST-BDG-PVJ")
    assert _stock_api("GET", "/inventory/snapshots/CNT-SBY", "/inventory/snapshots/{snapshot_id}")[0] == 200  # ops


# ---------------------------------------------------------------- fulfillments


def test_a_node_key_reports_on_its_own_nodes_parcels_only(stack: Stack, keys: None) -> None:
    _, fid = _allocated("SC-1")  # at DC-CKG
    route = "/fulfillments/{fulfillment_id}/events"
    delayed = {"type": "delayed", "reason": "late truck", "ready_at": (NOW + timedelta(days=1)).isoformat()}
    for body in ({"type": "accepted"}, {"type": "rejected", "reason": "no stock"}, delayed):
        status, refused, _ = _call("status", "POST", f"/fulfillments/{fid}/events", route, body, PVJ)
        assert (status, refused["message"]) == (403, "this key may not act for node DC-CKG"), (body, refused)
    status, moved, _ = _call("status", "POST", f"/fulfillments/{fid}/events", route, {"type": "accepted"}, CKG)
    assert (status, moved["status"]) == (200, "accepted"), moved


# ---------------------------------------------------------------- returns


def test_a_node_key_sees_receives_and_inspects_its_own_nodes_returns_only(stack: Stack, keys: None) -> None:
    readers: dict[str, StreamReader] = {}
    order = _delivered(stack, readers, "SC-RET-1")
    body = {"order_id": order.order_id, "method": "store_drop_off", "drop_off_node_id": "ST-JKT-GI",
            "lines": [{"line_id": "1", "quantity": 1, "reason": "changed_mind"}]}  # fmt: skip
    status, accepted, _ = _call("returns", "POST", "/returns", "/returns", body, CS)
    assert status == 201, accepted
    rma_id = accepted["rmas"][0]["rma_id"]
    assert _worker(events_for_change(order, _order(order.order_id))) == {"batchItemFailures": []}

    def returns(method: str, path: str, route: str, body: Any = None, key: str = PVJ) -> tuple[int, dict]:
        status, answer, _ = _call("returns", method, path, route, body, key)
        return status, answer

    status, refused = returns("GET", f"/returns/{rma_id}", "/returns/{rma_id}")
    assert (status, refused["message"]) == (403, f"{rma_id} goes to node:ST-JKT-GI: this key acts for ST-BDG-PVJ only")
    receipt = {"lines": [{"line_id": "1", "quantity": 1}]}
    inspection = {"units": [{"line_id": "1", "condition": "resellable", "quantity": 1}]}
    for step, payload in (("receive", receipt), ("inspect", inspection)):
        status, refused = returns("POST", f"/returns/{rma_id}/{step}", f"/returns/{{rma_id}}/{step}", payload)
        assert status == 403 and "node:ST-JKT-GI" in refused["message"], (step, refused)
    status, refused = returns("GET", "/returns?node_id=ST-JKT-GI", "/returns")
    assert (status, refused["message"]) == (403, "this key may not list returns of node ST-JKT-GI: it acts for "
                                                 "ST-BDG-PVJ only")  # fmt: skip
    assert returns("GET", "/returns", "/returns") == (200, {"items": [], "next_cursor": None})  # its own node: none

    status, listed = returns("GET", "/returns", "/returns", key=GI)  # one node: its node without asking
    assert status == 200 and [item["rma_id"] for item in listed["items"]] == [rma_id]
    status, refused = returns("GET", "/returns", "/returns", key=BOTH)  # several nodes: name one
    assert status == 400 and "send node_id (one of ST-BDG-PVJ, ST-JKT-GI)" in refused["message"], refused
    assert [i["rma_id"] for i in returns("GET", "/returns?node_id=ST-JKT-GI", "/returns", key=BOTH)[1]["items"]] == [
        rma_id
    ]
    assert returns("GET", f"/returns/{rma_id}", "/returns/{rma_id}", key=GI)[0] == 200
    assert returns("POST", f"/returns/{rma_id}/receive", "/returns/{rma_id}/receive", receipt, GI)[0] == 200
    assert returns("POST", f"/returns/{rma_id}/inspect", "/returns/{rma_id}/inspect", inspection, GI)[0] == 200

    for key in (OPS, GI):  # an empty node filter is refused, not a DynamoDB error
        status, invalid = returns("GET", "/returns?node_id=", "/returns", key=key)
        assert (status, invalid["error"]) == (422, "validation_failed"), invalid
        assert "node_id" in invalid["message"]


# ---------------------------------------------------------------- channels


def _order_body() -> dict[str, Any]:
    """A pos order as POST /orders takes it."""
    draft = json.loads(a_draft(channel_order_id="SC-CH-2").model_dump_json(exclude_none=True))
    return {name: value for name, value in draft.items() if name in OrderCreate.model_fields}


def test_a_channel_key_acts_for_its_own_channels_only(stack: Stack, keys: None) -> None:
    _stock(SKU, {"DC-CKG": 10})
    order_id, _ = _allocated("SC-CH-1")  # a pos order
    hold = container.inventory().hold(HoldCreate(channel=Channel.pos, lines=[{"sku": SKU, "quantity": 1}]), NOW)
    hold_id = hold.reservation.reservation_id
    cart = {"lines": [{"sku": SKU, "quantity": 1}]}
    calls = [
        ("stock_sync", "GET", f"/availability?skus={SKU}&channel=pos", "/availability", None),
        ("stock_sync", "POST", "/reservations", "/reservations", {**cart, "channel": "pos"}),
        ("stock_sync", "GET", f"/reservations/{hold_id}", "/reservations/{reservation_id}", None),
        ("stock_sync", "DELETE", f"/reservations/{hold_id}", "/reservations/{reservation_id}", None),
        ("promising", "POST", "/promises", "/promises",
         {**cart, "channel": "pos", "destination": {"postal_code": "11530"}}),
        ("ingestion", "POST", "/orders", "/orders", _order_body()),
        ("status", "POST", f"/orders/{order_id}/cancel", "/orders/{order_id}/cancel", {"reason": "buyer asked"}),
        ("status", "PATCH", f"/orders/{order_id}/shipping-address", "/orders/{order_id}/shipping-address", JAKARTA),
        ("returns", "POST", "/returns", "/returns", {"order_id": order_id, "method": "ship_back",
                                                     "lines": [{"line_id": "1", "quantity": 1,
                                                                "reason": "changed_mind"}]}),
    ]  # fmt: skip
    for function, method, path, route, body in calls:
        status, refused, _ = _call(function, method, path, route, body, WEB)
        assert status == 403 and "pos" in refused["message"], (path, status, refused)
    assert _order(order_id).status.value != "cancelled"
    assert container.inventory().get(hold_id).status == hold.reservation.status  # not released
    promise = {**cart, "channel": "web", "destination": {"postal_code": "11530"}, "levels": ["regular"]}
    assert _call("promising", "POST", "/promises", "/promises", promise, WEB)[0] == 200


# ---------------------------------------------------------------- tracking


class _Clock:
    """The status function's clock, moved by the test."""

    now_at = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)

    @classmethod
    def now(cls, tz: Any = None) -> datetime:
        return cls.now_at


def _track(number: str, contact: str, source_ip: str, clock: type[_Clock]) -> tuple[int, dict, dict]:
    event = http_event("GET", f"/track/{number}", "/track/{order_number}", None, "")
    event["headers"] = {"x-buyer-contact": contact}
    event["pathParameters"] = {"order_number": number}
    event["requestContext"]["http"]["sourceIp"] = source_ip
    module = load_handler("functions/status/app.py")
    module.datetime = clock  # the route's datetime.now(UTC)
    answer = module.lambda_handler(event, FakeContext())
    return answer["statusCode"], json.loads(answer["body"]), answer.get("headers") or {}


def test_tracking_throttles_the_guesser_and_always_answers_the_buyer(stack: Stack) -> None:
    order_id, _ = _allocated("SC-TR-1")
    other_id, _ = _allocated("SC-TR-2")
    _pump_orders(stack, {})  # the order-number lookup
    number, other = _order(order_id).order_number, _order(other_id).order_number
    buyer, wrong, attacker = "0812-3456-7890", "0811111111", "203.0.113.9"

    class Clock(_Clock):
        pass

    for _ in range(10):  # an address's free wrong answers on one number
        assert _track(number, wrong, attacker, Clock)[0] == 404
    status, answer, headers = _track(number, wrong, attacker, Clock)
    assert (status, answer["error"], headers.get("Retry-After")) == (429, "too_many_requests", "60"), answer
    assert answer["details"] == {"retry_after_seconds": 60}
    status, answer, headers = _track(number, buyer, attacker, Clock)  # waiting on it: not even evaluated
    assert (status, headers.get("Retry-After")) == (429, "60"), answer
    assert _track(other, buyer, attacker, Clock)[0] == 200  # a neighbour behind the same address, another number
    assert _track(number, buyer, "198.51.100.7", Clock)[0] == 200  # the buyer elsewhere: answered

    for n in range(20):  # many addresses on the one number: each slowed at its first wrong answer
        status, _, headers = _track(number, wrong, f"10.1.0.{n}", Clock)
        assert (status, headers.get("Retry-After")) == (429, "60")
    assert _track(number, buyer, "198.51.100.7", Clock)[0] == 200
    assert _track(number, "SITI@example.co.id", "198.51.100.8", Clock)[0] == 200

    Clock.now_at += timedelta(seconds=60)
    assert _track(number, buyer, attacker, Clock)[0] == 200  # its wait is over

    names = [item["name"]["S"] for item in client("dynamodb").scan(TableName=stack.env["COUNTERS_TABLE"])["Items"]]
    tracked = [name for name in names if name.startswith("track#")]
    assert f"track#number#{number}" in tracked and len(tracked) == 43  # the number, 21 addresses and their pairs
    assert sum(name.startswith("track#pair#") for name in tracked) == 21
    assert not any("203.0.113.9" in name or "10.1.0." in name for name in names)  # addresses are not stored


def test_the_attempts_adapter_forgets_a_quiet_key(stack: Stack) -> None:
    attempts = DynamoAttempts(stack.env["COUNTERS_TABLE"])
    t0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert attempts.failures("track#client#x", t0).count == 0
    assert attempts.count_failure("track#client#x", t0, 1, timedelta(hours=1)).count == 1
    second = attempts.count_failure("track#client#x", t0 + timedelta(minutes=5), 10, timedelta(hours=1))
    assert (second.count, second.last_at) == (11, t0 + timedelta(minutes=5))
    assert attempts.failures("track#client#x", t0 + timedelta(minutes=64)).count == 11
    later = t0 + timedelta(minutes=65)  # an hour after the last: forgotten, though TTL has not removed it yet
    assert attempts.failures("track#client#x", later).count == 0
    assert attempts.count_failure("track#client#x", later, 1, timedelta(hours=1)).count == 1


def test_the_attempts_adapter_counts_by_compare_and_set(stack: Stack) -> None:
    attempts = DynamoAttempts(stack.env["COUNTERS_TABLE"], key_source=lambda: "a secret")
    assert attempts.hash_key() == b"a secret"
    t0, day = datetime(2026, 12, 1, 8, 0, tzinfo=UTC), timedelta(hours=24)
    seen = attempts.failures("track#pair#x#OMS-1", t0)
    assert seen == Failures()
    assert attempts.put("track#pair#x#OMS-1", seen, Failures(1, t0), day, t0)
    assert not attempts.put("track#pair#x#OMS-1", seen, Failures(1, t0), day, t0)  # counted since it was read
    again = attempts.failures("track#pair#x#OMS-1", t0)
    assert (again.count, again.last_at, again.version) == (1, t0, 1)
    assert attempts.put("track#pair#x#OMS-1", again, Failures(11, t0 + timedelta(minutes=1)), day, t0)
    assert attempts.failures("track#pair#x#OMS-1", t0 + timedelta(minutes=2)).count == 11
    forgotten = attempts.failures("track#pair#x#OMS-1", t0 + timedelta(minutes=1) + day)
    assert (forgotten.count, forgotten.version) == (0, 2)  # past purge_at, not yet removed by TTL
    assert attempts.put("track#pair#x#OMS-1", forgotten, Failures(1, t0 + day * 2), day, t0 + day * 2)
    assert attempts.failures("track#pair#x#OMS-1", t0 + day * 2).count == 1
    derived = [DynamoAttempts(table, key_source=lambda: None).hash_key() for table in ("x", "x", "y")]
    assert derived[0] == derived[1] != derived[2]  # no parameter: a key derived from the table's name
