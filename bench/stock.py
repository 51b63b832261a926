"""Inventory through the local stack, as `make run` is: checkout holds racing for
one SKU, the write units a hold costs, a 100,000-row count, availability reads.

oversold_units   200 concurrent holds of 1 unit against 100 sellable, ROUNDS times:
                 the holds granted beyond 100 (must be 0).
lost_updates     holds, releases and receipts racing on one stock item, ROUNDS times:
                 |stored figure - what the granted requests add up to|, summed over
                 on hand, reserved and atp (must be 0).
reservation_wru  DynamoDB write units per granted hold, every function included
                 (the hold's transaction and the ledger entry its stream record makes).
reservations_per_s  granted holds per second on one hot SKU, from other processes.
hot_sku_design_reservations_per_s  what the AWS design allows for one SKU at one node,
                 from its arithmetic (see hot_sku_design and docs/architecture.md).
snapshot_100k_rows_s  a 100,000-row first count in 50 parts: first part sent to applied.
channel_push_skus_per_s  SKUs a second whose new figures reach every channel, behind that count.
availability_p99_ms   GET /availability for a 5-SKU cart, one client, over HTTP.
"""

from __future__ import annotations

import json
import multiprocessing
import statistics
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.ingest import meter
from oms_local import LocalRuntime
from oms_local.seed import DEFAULTS

ROOT = Path(__file__).resolve().parent.parent
NODE = "DC-CKG"
ROUNDS = 5
HOLDERS = 200
STOCK = 100
RACE_RECEIPTS = 50
RATE_HOLDS = 2000
RATE_PROCESSES = 2
RATE_THREADS = 8  # per process
SNAPSHOT_ROWS = 100_000
PUSH_SAMPLE_S = 60
PART_ROWS = 2000
PART_ATTEMPTS = 3
AVAILABILITY_READS = 1000

# DynamoDB's published limits, and what one hold writes (see reserve() in oms.domain.stock).
PARTITION_WCU_PER_S = 1000  # one item lives in one partition
TABLE_WCU_PER_S = 40_000  # on-demand table default quota (raisable)
TRANSACTIONAL_FACTOR = 2  # prepare + commit
HOLD_ITEM_KB = 1  # a stock item is well under 1 KB

OPS = {"x-api-key": DEFAULTS["OMS_API_KEY"], "content-type": "application/json"}
WEB = {"x-api-key": DEFAULTS["OMS_API_KEY"] + "_pos", "content-type": "application/json"}
WMS = {"x-api-key": DEFAULTS["OMS_API_KEY"] + "_wms", "content-type": "application/json"}
KEYS = {"ops": OPS, "web": WEB, "wms": WMS}

Call = tuple[str, str, Any, str]  # method, path, body, key name


def request(base: str, call: Call) -> tuple[int, Any]:
    method, path, body, key = call
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers=KEYS[key])
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def request_all(base: str, calls: list[Call], threads: int) -> list[tuple[int, Any]]:
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda call: request(base, call), calls))


def hold(sku: str, n: int = 1) -> Call:
    return ("POST", "/reservations", {"channel": "web", "lines": [{"sku": sku, "quantity": n}]}, "web")


def receipt(sku: str, units: int, adjustment_id: str) -> Call:
    body = {
        "adjustment_id": adjustment_id,
        "kind": "receipt",
        "node_id": NODE,
        "lines": [{"sku": sku, "quantity": units}],
    }
    return ("POST", "/inventory/adjustments", body, "wms")


def add_skus(rt: LocalRuntime, skus: list[str]) -> None:
    dynamodb = rt.client("dynamodb")
    catalog = rt.env_for("StockApiFunction")["CATALOG_TABLE"]
    for start in range(0, len(skus), 25):
        batch = [{"PutRequest": {"Item": {"pk": {"S": f"SKU#{s}"}, "sku": {"S": s}}}} for s in skus[start : start + 25]]
        dynamodb.batch_write_item(RequestItems={catalog: batch})


def level(rt: LocalRuntime, sku: str) -> dict[str, int]:
    status, body = request(rt.url, ("GET", f"/inventory/stock/{sku}/{NODE}", None, "ops"))
    assert status == 200, body
    figures = {"on_hand": 0, "reserved": 0, "atp": 0, "safety_stock": 0}
    for bucket in body["buckets"]:
        for name in figures:
            figures[name] += bucket[name]
    return figures


def sellable(rt: LocalRuntime, sku: str, units: int) -> dict[str, int]:
    """`units` sellable of a SKU new to the node (a receipt of units + the node's safety stock)."""
    status, body = request(rt.url, receipt(sku, units, f"setup-{sku}"))
    assert status == 200, body
    safety = level(rt, sku)["safety_stock"]
    if safety:
        status, body = request(rt.url, receipt(sku, safety, f"setup-safety-{sku}"))
        assert status == 200, body
    figures = level(rt, sku)
    assert figures["atp"] == units, figures
    return figures


def oversold(rt: LocalRuntime) -> tuple[int, list[int]]:
    over, granted_per_round = 0, []
    for n in range(ROUNDS):
        sku = f"HOT-OVER-{n}"
        sellable(rt, sku, STOCK)
        answers = request_all(rt.url, [hold(sku)] * HOLDERS, HOLDERS)
        statuses = [status for status, _ in answers]
        assert set(statuses) <= {201, 409}, sorted(set(statuses))
        granted = statuses.count(201)
        granted_per_round.append(granted)
        over += max(0, granted - STOCK) + max(0, -level(rt, sku)["atp"])
    return over, granted_per_round


class Racer:
    """Sends one racing call; every other granted hold is released at once (list.append is atomic)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.granted: list[str] = []
        self.released: list[str] = []

    def __call__(self, call: Call) -> None:
        status, body = request(self.base, call)
        if call[1] != "/reservations":
            assert status == 200, body
            return
        if status != 201:
            assert status == 409, body
            return
        self.granted.append(body["reservation_id"])
        if len(self.granted) % 2:
            status, _ = request(self.base, ("DELETE", f"/reservations/{body['reservation_id']}", None, "web"))
            assert status == 200
            self.released.append(body["reservation_id"])


def lost_updates(rt: LocalRuntime) -> int:
    """Holds, releases of granted holds and receipts all racing on one stock item."""
    lost = 0
    for n in range(ROUNDS):
        sku = f"HOT-RACE-{n}"
        start = sellable(rt, sku, STOCK)
        calls = [hold(sku) for _ in range(HOLDERS)] + [receipt(sku, 1, f"race-{sku}-{i}") for i in range(RACE_RECEIPTS)]
        racer = Racer(rt.url)
        with ThreadPoolExecutor(HOLDERS) as pool:
            list(pool.map(racer, calls[::2] + calls[1::2]))  # interleaved
        end = level(rt, sku)
        want_on_hand = start["on_hand"] + RACE_RECEIPTS
        want_reserved = len(racer.granted) - len(racer.released)
        want_atp = want_on_hand - want_reserved - end["safety_stock"]
        lost += abs(end["on_hand"] - want_on_hand) + abs(end["reserved"] - want_reserved) + abs(end["atp"] - want_atp)
    return lost


def wru_per_hold(rt: LocalRuntime) -> tuple[float, dict[str, float]]:
    sku = "HOT-WRU"
    sellable(rt, sku, 1000)
    rt.drain(timeout=60)
    meter(rt, reset=True)
    answers = request_all(rt.url, [hold(sku)] * 200, 8)
    assert all(status == 201 for status, _ in answers)
    rt.drain(timeout=60)
    wru = meter(rt)["wru"]
    return round(sum(wru.values()) / len(answers), 3), {k: round(v / len(answers), 3) for k, v in wru.items()}


def hold_rate(rt: LocalRuntime, sku: str) -> float:
    sellable(rt, sku, RATE_HOLDS)
    calls = [hold(sku)] * RATE_HOLDS
    shares = [calls[i::RATE_PROCESSES] for i in range(RATE_PROCESSES)]
    with ProcessPoolExecutor(RATE_PROCESSES, mp_context=multiprocessing.get_context("spawn")) as senders:
        senders.submit(int, 0).result()  # started before the clock
        started = time.perf_counter()
        futures = [senders.submit(request_all, rt.url, share, RATE_THREADS) for share in shares]
        statuses = [status for future in futures for status, _ in future.result()]
        elapsed = time.perf_counter() - started
    assert statuses.count(201) == RATE_HOLDS, sorted(set(statuses))
    assert level(rt, sku)["atp"] == 0
    return RATE_HOLDS / elapsed


def hot_sku_design() -> dict[str, float]:
    """Holds per second for one SKU at one node in AWS, from DynamoDB's limits.

    A hold is one transaction: the reservation (its own partition key, so spread
    everywhere) and +reserved/-atp on one stock bucket. The bucket is the hot item:
    PARTITION_WCU_PER_S / (TRANSACTIONAL_FACTOR * HOLD_ITEM_KB) holds a second each,
    times MAX_BUCKETS buckets (each its own partition key, so DynamoDB can split them
    apart), and no more than the table's quota allows for the inventory table's share.
    """
    from oms.models.inventory import MAX_BUCKETS

    per_bucket = PARTITION_WCU_PER_S / (TRANSACTIONAL_FACTOR * HOLD_ITEM_KB)
    table_cap = TABLE_WCU_PER_S / (TRANSACTIONAL_FACTOR * HOLD_ITEM_KB)
    return {
        "hot_sku_single_item_reservations_per_s": per_bucket,
        "hot_sku_design_reservations_per_s": min(per_bucket * MAX_BUCKETS, table_cap),
    }


def count(rt: LocalRuntime, snapshot_id: str, skus: list[str], on_hand: int) -> float:
    """Seconds from the first part sent to the count applied (GET /inventory/snapshots/{id})."""
    as_of = datetime.now(UTC).isoformat()
    parts = -(-len(skus) // PART_ROWS)
    calls: list[Call] = []
    for part in range(1, parts + 1):
        rows = [{"sku": sku, "on_hand": on_hand} for sku in skus[(part - 1) * PART_ROWS : part * PART_ROWS]]
        body = {"snapshot_id": snapshot_id, "node_id": "DC-SBY", "as_of": as_of, "part": part, "parts": parts}
        calls.append(("POST", "/inventory/snapshots", {**body, "rows": rows}, "wms"))
    rt.drain(timeout=60)
    started = time.perf_counter()
    retries = 0
    for call in calls:  # one part after another, as a WMS uploads; a part is safe to resend
        for attempt in range(PART_ATTEMPTS):
            status, answer = request(rt.url, call)
            if status == 202:
                break
            assert status >= 500 and attempt < PART_ATTEMPTS - 1, (status, answer)
            retries += 1
    sent = time.perf_counter() - started
    while True:
        _, progress = request(rt.url, ("GET", f"/inventory/snapshots/{snapshot_id}", None, "wms"))
        if progress.get("status") == "applied":
            break
        if time.perf_counter() - started > 3600:
            raise RuntimeError(f"snapshot not applied within an hour: {progress}")
        time.sleep(0.5)
    elapsed = time.perf_counter() - started
    assert progress["rows_applied"] == len(skus), progress
    print(
        f"  count {snapshot_id}: {len(skus)} rows sent in {sent:.1f} s ({retries} part(s) resent after a 5xx), "
        f"applied after {elapsed:.1f} s"
    )
    return elapsed


def snapshots(rt: LocalRuntime) -> dict[str, float]:
    """A first count of SNAPSHOT_ROWS SKUs new to the node; then the rate at which the channel
    push tells the channels about them (it runs behind the count, sharing the embedded AWS)."""
    skus = [f"BULK-{i:06d}" for i in range(SNAPSHOT_ROWS)]
    add_skus(rt, skus)
    first = count(rt, "BENCH-FIRST", skus, 7)
    assert rt.channels is not None
    before = len(rt.channels.shown("shopee"))
    time.sleep(PUSH_SAMPLE_S)
    pushed = len(rt.channels.shown("shopee")) - before
    print(f"  channel push behind the count: {pushed} SKUs told to every channel in {PUSH_SAMPLE_S} s")
    return {"snapshot_100k_rows_s": round(first, 1), "channel_push_skus_per_s": round(pushed / PUSH_SAMPLE_S, 1)}


def availability_latency(rt: LocalRuntime) -> float:
    from oms_local.seed import SKUS

    cart = ",".join(sku for sku, *_ in SKUS[:5])
    call: Call = ("GET", f"/availability?skus={cart}&channel=web", None, "web")
    for _ in range(50):
        request(rt.url, call)
    timings = []
    for _ in range(AVAILABILITY_READS):
        started = time.perf_counter()
        status, _ = request(rt.url, call)
        timings.append((time.perf_counter() - started) * 1000)
        assert status == 200
    timings.sort()
    p99 = timings[int(len(timings) * 0.99) - 1]
    print(f"  availability of a 5-SKU cart: p50 {statistics.median(timings):.1f} ms, p99 {p99:.1f} ms")
    return p99


def run() -> dict[str, float]:
    results: dict[str, float] = {}
    options: dict[str, Any] = {"port": 0, "moto_port": 0, "seed": True, "snapshot_interval_s": 0}
    with (
        tempfile.TemporaryDirectory(prefix="oms-bench-stock-") as tmp,
        LocalRuntime(ROOT / "template.yaml", data_dir=Path(tmp), **options) as rt,
    ):
        add_skus(rt, [f"HOT-OVER-{n}" for n in range(ROUNDS)] + [f"HOT-RACE-{n}" for n in range(ROUNDS)])
        add_skus(rt, ["HOT-WRU"] + [f"HOT-RATE-{n}" for n in range(3)])
        over, granted = oversold(rt)
        results["oversold_units"] = over
        print(f"  {HOLDERS} holds against {STOCK}, {ROUNDS} rounds: granted {granted}, oversold {over}")
        results["lost_updates"] = lost_updates(rt)
        print(f"  lost updates over {ROUNDS} racing rounds: {results['lost_updates']}")
        results["reservation_wru"], by_caller = wru_per_hold(rt)
        print(f"  write units per hold: {by_caller}")
        rates = [hold_rate(rt, f"HOT-RATE-{n}") for n in range(3)]
        results["reservations_per_s"] = round(statistics.median(rates), 1)
        print(f"  holds on one SKU: {', '.join(f'{r:.0f}' for r in rates)}/s")
        results.update(hot_sku_design())
        results["availability_p99_ms"] = round(availability_latency(rt), 2)
        results.update(snapshots(rt))
        rt.stop(save=False)
    return results
