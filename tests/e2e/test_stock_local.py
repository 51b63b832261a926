"""End to end through the local stack: stock, availability, checkout holds,
counts and reconciliation, as a web store, a WMS and an operator would."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from oms_local import LocalRuntime
from oms_local.seed import DEFAULTS
from tests.support import ROOT, admin, wait_for

pytestmark = pytest.mark.e2e

OPS = {"x-api-key": DEFAULTS["OMS_API_KEY"], "content-type": "application/json"}
WEB = {"x-api-key": DEFAULTS["OMS_API_KEY"] + "_pos", "content-type": "application/json"}
WMS = {"x-api-key": DEFAULTS["OMS_API_KEY"] + "_wms", "content-type": "application/json"}
SKU = "SMB-BWG-200"

# 4,000 SKUs' movements go through the stream and the channel push (about 12 ms of moto each):
# minutes on a busy 2-core machine. A bound on a stuck stack, not a target.
BIG_COUNT_DEADLINE_S = 900


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRuntime]:
    runtime = LocalRuntime(
        ROOT / "template.yaml", port=0, moto_port=0, data_dir=tmp_path_factory.mktemp("oms-stock"), seed=True
    )
    with runtime:
        yield runtime


def http(stack: LocalRuntime, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(stack.url + path, data=data, method=method, headers=headers or OPS)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def web_atp(stack: LocalRuntime, sku: str = SKU) -> int:
    status, body = http(stack, "GET", f"/availability?skus={sku}&channel=web")
    assert status == 200, body
    return body["items"][0]["atp"]


def stock_only_at_dc(stack: LocalRuntime, units: int, sku: str = SKU) -> None:
    """`units` of sku sellable at DC-CKG, nothing anywhere else (a count at each DC, damage at stores)."""
    _, body = http(stack, "GET", f"/availability?skus={sku}&channel=web")
    for node in body["items"][0]["nodes"]:
        if node["kind"] == "dc":
            on_hand = units + node["safety_stock"] if node["node_id"] == "DC-CKG" else 0
            part = {
                "snapshot_id": f"set-{node['node_id']}-{time.time_ns()}",
                "node_id": node["node_id"],
                "as_of": datetime.now(UTC).isoformat(),
                "rows": [{"sku": sku, "on_hand": on_hand}],
            }
            assert http(stack, "POST", "/inventory/snapshots", part, WMS)[0] == 202
        elif node["on_hand"]:
            damage = {
                "adjustment_id": f"dmg-{sku}-{node['node_id']}",
                "kind": "damage",
                "node_id": node["node_id"],
                "lines": [{"sku": sku, "quantity": node["on_hand"]}],
            }
            assert http(stack, "POST", "/inventory/adjustments", damage, WMS)[0] == 200
    stack.drain()


def test_stock_set_at_a_node_is_visible_and_concurrent_holds_never_oversell(stack: LocalRuntime) -> None:
    stock_only_at_dc(stack, 10)
    assert web_atp(stack) == 10

    def hold(_: int) -> int:
        return http(stack, "POST", "/reservations", {"channel": "web", "lines": [{"sku": SKU, "quantity": 1}]}, WEB)

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(hold, range(50)))
    statuses = sorted(status for status, _ in answers)
    assert statuses.count(201) == 10 and statuses.count(409) == 40
    short = next(body for status, body in answers if status == 409)
    assert short["error"] == "insufficient_stock" and short["details"]["short"][0]["available"] == 0
    assert web_atp(stack) == 0

    held = next(body for status, body in answers if status == 201)
    status, released = http(stack, "DELETE", f"/reservations/{held['reservation_id']}", headers=WEB)
    assert (status, released["status"]) == (200, "released")
    assert web_atp(stack) == 1
    assert http(stack, "DELETE", f"/reservations/{held['reservation_id']}", headers=WEB)[0] == 200  # idempotent


def test_an_expired_hold_releases_itself(stack: LocalRuntime) -> None:
    sku = "TEH-TUBRUK-100"
    stock_only_at_dc(stack, 3, sku)
    status, hold = http(
        stack,
        "POST",
        "/reservations",
        {"channel": "web", "ttl_seconds": 1, "lines": [{"sku": sku, "quantity": 2}]},
        WEB,
    )
    assert status == 201 and web_atp(stack, sku) == 1

    def expired() -> bool:  # once its second has passed, the expiry job releases it
        stack.pump.fire_schedule("StockJobsFunction", "ExpireHolds")
        return http(stack, "GET", f"/reservations/{hold['reservation_id']}", headers=WEB)[1]["status"] == "expired"

    wait_for(expired, interval=0.2)
    assert web_atp(stack, sku) == 3


def test_bad_stock_input_gets_clear_4xx(stack: LocalRuntime) -> None:
    cases = [
        ({"channel": "web", "lines": [{"sku": SKU, "quantity": 1.5}]}, 422),
        ({"channel": "web", "lines": [{"sku": SKU, "quantity": -1}]}, 422),
        ({"channel": "web", "lines": [{"sku": "NOPE-404", "quantity": 1}]}, 422),
        ({"channel": "web", "lines": [{"sku": SKU, "quantity": 1}, {"sku": SKU, "quantity": 2, "node_id": "X1"}]}, 422),
        ({"channel": "web", "lines": [{"sku": SKU, "quantity": 100000}]}, 409),
    ]
    for body, expected in cases:
        status, answer = http(stack, "POST", "/reservations", body, WEB)
        assert status == expected, (body, answer)
    bad_node = {"adjustment_id": "x1", "kind": "receipt", "node_id": "NOWHERE", "lines": [{"sku": SKU, "quantity": 1}]}
    assert http(stack, "POST", "/inventory/adjustments", bad_node, WMS)[0] == 404
    assert (
        http(stack, "POST", "/reservations", {"channel": "shopee", "lines": [{"sku": SKU, "quantity": 1}]}, WEB)[0]
        == 403
    )


def test_a_big_count_in_parts_is_applied_and_reconciliation_reports_injected_drift(stack: LocalRuntime) -> None:
    skus = [f"BULK-{i:05d}" for i in range(4000)]
    dynamodb = stack.client("dynamodb")
    catalog = stack.env_for("StockApiFunction")["CATALOG_TABLE"]
    for start in range(0, len(skus), 25):
        dynamodb.batch_write_item(
            RequestItems={
                catalog: [
                    {"PutRequest": {"Item": {"pk": {"S": f"SKU#{sku}"}, "sku": {"S": sku}}}}
                    for sku in skus[start : start + 25]
                ]
            }
        )
    as_of = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for part in (1, 2):
        rows = [{"sku": sku, "on_hand": 7} for sku in skus[(part - 1) * 2000 : part * 2000]]
        body = {"snapshot_id": "BULK-1", "node_id": "DC-SBY", "as_of": as_of, "part": part, "parts": 2, "rows": rows}
        status, accepted = http(stack, "POST", "/inventory/snapshots", body, WMS)
        assert (status, accepted["outcome"]) == (202, "queued")
    assert http(stack, "POST", "/inventory/snapshots", body, WMS)[1]["outcome"] == "duplicate"
    stack.drain(timeout=BIG_COUNT_DEADLINE_S)
    status, progress = http(stack, "GET", "/inventory/snapshots/BULK-1", headers=WMS)
    assert (progress["status"], progress["rows_applied"]) == ("applied", 4000)
    older = {**body, "snapshot_id": "BULK-0", "as_of": "2020-01-01T00:00:00Z", "part": 1, "parts": 1, "rows": rows[:1]}
    assert http(stack, "POST", "/inventory/snapshots", older, WMS)[0] == 409

    # Drift: a write that bypasses every movement (as a bug or a manual edit would).
    table = stack.env_for("StockApiFunction")["INVENTORY_TABLE"]
    dynamodb.update_item(
        TableName=table,
        Key={"pk": {"S": "SKU#BULK-00042"}, "sk": {"S": "NODE#DC-SBY"}},
        UpdateExpression="SET on_hand = :oh, atp = :atp",
        ExpressionAttributeValues={":oh": {"N": "4"}, ":atp": {"N": "4"}},
    )
    stack.pump.fire_schedule("StockJobsFunction", "Reconcile")
    status, report = http(stack, "GET", "/inventory/reports/reconcile")
    drift = [line for line in report["lines"] if line["sku"] == "BULK-00042"]
    assert drift and drift[0]["drift"] == -3 and drift[0]["expected_on_hand"] == 7
    stack.drain()  # the correction's movement comes through the stream
    status, detail = http(stack, "GET", "/inventory/stock/BULK-00042/DC-SBY")
    assert status == 200 and detail["movements"][0]["kind"] == "reconcile"
    assert detail["movements"][0]["d_on_hand"] == 3 and detail["buckets"][0]["on_hand"] == 7
    stack.pump.fire_schedule("StockJobsFunction", "Audit")
    status, audit = http(stack, "GET", "/inventory/reports/audit")
    assert status == 200 and audit["checked"] >= 4000


def test_stock_changes_reach_the_channels_through_the_simulator(stack: LocalRuntime) -> None:
    sku = "KOP-GAYO-250"
    assert stack.channels is not None
    stack.drain()
    stack.channels.fail_next("shopee", 503, times=4)  # every attempt of the next call: it goes to the retry queue
    receipt = {
        "adjustment_id": "push-e2e-1",
        "kind": "receipt",
        "node_id": "DC-SBY",
        "lines": [{"sku": sku, "quantity": 25}],
    }
    assert http(stack, "POST", "/inventory/adjustments", receipt, WMS)[0] == 200
    stack.drain()
    # Tokopedia's listings are its TikTok shop's products (one stock, TikTok Shop's figure): no call of its own
    for channel in ("shopee", "lazada", "tiktok"):
        status, body = http(stack, "GET", f"/availability?skus={sku}&channel={channel}")
        assert status == 200, body
        shown = stack.channels.shown(channel)
        assert shown[sku]["atp"] == body["items"][0]["atp"], channel  # marketplaces take a quantity, not a level
    # Shopee's calls failed four times (the push went to the retry queue), then its stock call landed
    calls = stack.channels.calls_for("shopee")
    first_failure = next(n for n, call in enumerate(calls) if call["answered"] == 503)
    assert [c["answered"] for c in calls[first_failure : first_failure + 4]] == [503, 503, 503, 503]
    after = calls[first_failure + 4 :]
    assert any(c["path"].endswith("/update_stock") and c["answered"] == 200 for c in after), after
    assert stack.channels.calls_for("web") == []  # the web store reads /availability itself (push off)


def test_operators_redrive_a_dead_lettered_push_and_run_a_stock_job_now(stack: LocalRuntime) -> None:
    sku = "TEH-TUBRUK-100"
    assert stack.channels is not None
    stack.drain()
    # A push that failed every retry, as the retry queue's redrive leaves it in the DLQ
    retry = {"channel": "lazada", "skus": [sku], "error": "lazada stock API answered 503"}
    stack.client("sqs").send_message(QueueUrl=stack.queue_url("ChannelStockPushDLQ"), MessageBody=json.dumps(retry))
    stack.channels.clear()
    out = admin(stack, "dlq", "replay", "--queue", "stock-push")
    assert "replayed 1" in out
    stack.drain()
    # the lazada figure was already told, so the redriven retry finds nothing new to send;
    # push-all --force sends it again regardless, and the simulator shows it
    out = admin(stack, "stock", "push-all", "--channel", "lazada", "--sku", sku, "--force")
    assert "sent {'lazada': 1}" in out and "0 failed" in out
    status, body = http(stack, "GET", f"/availability?skus={sku}&channel=lazada")
    assert status == 200, body
    assert stack.channels.shown("lazada")[sku]["atp"] == body["items"][0]["atp"]

    report = json.loads(admin(stack, "stock", "job", "--name", "audit").strip().splitlines()[-1])  # after the logs
    assert report["job"] == "audit" and report["checked"] > 0
