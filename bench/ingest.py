"""End-to-end ingest through the local stack: signed Shopify webhooks over
HTTP -> gateway -> API function -> inbox -> normalizer -> orders ->
publisher -> bus, until every order's OrderReceived has reached the bus.

Also, in the same run: the embedded AWS's raw request rate, the AWS requests
and DynamoDB capacity units per order (metered in the moto process, see
oms_local.meter), the dollars per 1,000 orders, and the throughput again
with 100,000 orders already stored.
"""

from __future__ import annotations

import json
import multiprocessing
import statistics
import tempfile
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench import prices
from bench.orders import OrderFactory
from oms_local import LocalRuntime

ROOT = Path(__file__).resolve().parent.parent
ORDERS = 1000
ROUNDS = 3
SENDERS = 8  # concurrent requests in all
SENDER_PROCESSES = 2
PRELOAD = 100_000
MOTO_CALLS = 3000


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


def _send_all(url: str, prepared: list[tuple[bytes, dict[str, str]]], threads: int) -> list[int]:
    """One sender process: its share of the webhooks, a few at a time."""
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda item: _post(url, *item), prepared))


class Tap:
    """Counts the OMS events that reached the bus, from its archive (every event is archived)."""

    def __init__(self, rt: LocalRuntime) -> None:
        self.events = rt.client("events")
        self.archive = rt.template.resolve(rt.template.resources["EventArchive"]["Properties"]["ArchiveName"])
        self.before = self._archived()

    def _archived(self) -> int:
        return int(self.events.describe_archive(ArchiveName=self.archive)["EventCount"])

    def count(self) -> int:
        return self._archived() - self.before


def moto_rate(rt: LocalRuntime) -> float:
    """Raw PutItem rate of the embedded AWS from one client thread."""
    ddb = rt.client("dynamodb")
    ddb.create_table(
        TableName="bench-raw",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    started = time.perf_counter()
    for n in range(MOTO_CALLS):
        ddb.put_item(TableName="bench-raw", Item={"pk": {"S": f"k{n}"}, "v": {"S": "x" * 200}})
    return MOTO_CALLS / (time.perf_counter() - started)


def meter(rt: LocalRuntime, reset: bool = False) -> dict[str, Any]:
    request = urllib.request.Request(rt.moto_url + "/_oms/meter", method="DELETE" if reset else "GET")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def log_bytes(rt: LocalRuntime) -> int:
    return sum(path.stat().st_size for path in (rt.data_dir / "logs").glob("*Function.log"))


def ingest(rt: LocalRuntime, factory: OrderFactory, first: int, count: int) -> dict[str, Any]:
    tap = Tap(rt)
    prepared = []
    for n in range(first, first + count):
        body = factory.body(n)
        prepared.append((body, factory.headers(body, n)))
    url = rt.url + "/webhooks/shopify"
    rt.drain(timeout=60)
    meter(rt, reset=True)
    functions_before = rt.counters()["functions"]
    logs_before = log_bytes(rt)
    # The channels are other machines: send from other processes, not the runtime's.
    shares = [prepared[i::SENDER_PROCESSES] for i in range(SENDER_PROCESSES)]
    with ProcessPoolExecutor(SENDER_PROCESSES, mp_context=multiprocessing.get_context("spawn")) as senders:
        senders.submit(int, 0).result()  # started before the clock
        started = time.perf_counter()
        futures = [senders.submit(_send_all, url, share, SENDERS // SENDER_PROCESSES) for share in shares]
        statuses = [status for future in futures for status in future.result()]
    acked = time.perf_counter()
    deadline = acked + 600
    while tap.count() < count:
        if time.perf_counter() > deadline:
            raise RuntimeError(f"only {tap.count()} of {count} events reached the bus")
        time.sleep(0.1)
    finished = time.perf_counter()
    rt.drain(timeout=60)
    assert statuses.count(200) == count, f"statuses: {sorted(set(statuses))}"
    functions_after = rt.counters()["functions"]
    return {
        "orders": count,
        "seconds": finished - started,
        "ack_seconds": acked - started,
        "events": tap.count(),
        "meter": meter(rt),
        "invocations": {
            k: v["invocations"] - functions_before.get(k, {}).get("invocations", 0) for k, v in functions_after.items()
        },
        "duration_ms": {
            k: v["duration_ms"] - functions_before.get(k, {}).get("duration_ms", 0) for k, v in functions_after.items()
        },
        "log_bytes": log_bytes(rt) - logs_before,
    }


def costs(rt: LocalRuntime, run: dict[str, Any]) -> dict[str, float]:
    n = run["orders"]
    function_requests = sum(r["count"] for r in run["meter"]["requests"] if r["caller"] != "other")
    wru = sum(run["meter"]["wru"].values())
    rru = sum(run["meter"]["rru"].values())
    memory_gb = {fid: Decimal(spec.memory_size) / 1024 for fid, spec in rt.template.functions().items()}
    invocations = sum(run["invocations"].values())
    gb_seconds = sum(Decimal(str(ms)) / 1000 * memory_gb[fid] for fid, ms in run["duration_ms"].items())
    dollars = (
        n * prices.HTTP_API_PER_REQUEST
        + invocations * prices.LAMBDA_PER_REQUEST
        + gb_seconds * prices.LAMBDA_ARM_PER_GB_SECOND
        + Decimal(wru) * prices.DYNAMODB_PER_WRU
        + Decimal(str(rru)) * prices.DYNAMODB_PER_RRU
        + run["events"] * prices.EVENTBRIDGE_PER_EVENT
        + run["log_bytes"] * prices.LOGS_PER_BYTE
        + invocations * prices.XRAY_SAMPLED * prices.XRAY_PER_TRACE
    )
    return {
        "aws_requests_per_order": round(function_requests / n, 3),
        "wru_per_order": round(wru / n, 3),
        "rru_per_order": round(rru / n, 3),
        "lambda_invocations_per_order": round(invocations / n, 3),
        "usd_per_1000_orders": round(float(dollars / n * 1000), 5),
    }


def preload_state(data_dir: Path, factory: OrderFactory, count: int) -> None:
    """Add stored orders to the runtime's snapshot; the next start loads them without streaming them."""
    from datetime import UTC, datetime

    from oms.adapters.orders import order_to_item
    from oms.channels import shopify
    from oms.domain.capture import build_order, format_order_number
    from oms_local.durable import SNAPSHOT, dumps, loads
    from oms_local.seed import SKUS
    from oms_local.state import encode_item

    snapshot_file = data_dir / "state" / SNAPSHOT  # written by the stack's exit, after its journal
    snapshot = loads(snapshot_file.read_bytes())
    skus = {sku for sku, *_ in SKUS}
    now = datetime.now(UTC)
    items = snapshot["tables"].setdefault(snapshot["names"]["tables"]["OrdersTable"], [])
    for n in range(count):
        order = build_order(
            shopify.normalize(factory.order(10_000_000 + n), "orders/create"),
            order_number=format_order_number("PRE", n),
            known_skus=skus,
            now=now,
        )
        items.append(encode_item(order_to_item(order)))
    snapshot_file.write_text(dumps(snapshot))


def run() -> dict[str, float]:
    """Throughput on one stack, as `make run` is; then the slowdown with 100,000 orders
    stored, from an empty and a full stack side by side in alternating rounds, so that the
    machine's drift over minutes (seen here: ±40 %) falls on both alike."""
    factory = OrderFactory(seed=3)
    results: dict[str, float] = {}
    options: dict[str, Any] = {"port": 0, "moto_port": 0, "seed": True, "snapshot_interval_s": 0}
    with tempfile.TemporaryDirectory(prefix="oms-bench-") as tmp:
        full_dir, empty_dir, alone_dir = Path(tmp) / "full", Path(tmp) / "empty", Path(tmp) / "alone"
        with LocalRuntime(ROOT / "template.yaml", data_dir=alone_dir, **options) as alone:
            results["moto_requests_per_s"] = round(moto_rate(alone), 1)
            ingest(alone, factory, first=0, count=50)  # warm every worker
            measured = [ingest(alone, factory, first=(n + 1) * 10_000, count=ORDERS) for n in range(ROUNDS)]
            rates = [ORDERS / r["seconds"] for r in measured]
            results["ingest_orders_per_s"] = round(statistics.median(rates), 1)
            results.update(costs(alone, measured[0]))
            print(f"  embedded AWS: {results['moto_requests_per_s']} PutItem/s from one thread")
            print(f"  ingest: {', '.join(f'{r:.0f}' for r in rates)} orders/s ({ORDERS} orders a round)")
            print(
                "  requests: "
                + ", ".join(f"{r['caller']}.{r['action']}={r['count']}" for r in measured[0]["meter"]["requests"])
            )
        started = time.perf_counter()
        with LocalRuntime(ROOT / "template.yaml", data_dir=full_dir, **options):
            pass  # a seeded state to add the stored orders to
        preload_state(full_dir, factory, PRELOAD)
        with (
            LocalRuntime(ROOT / "template.yaml", data_dir=full_dir, **options) as full,
            LocalRuntime(ROOT / "template.yaml", data_dir=empty_dir, **options) as empty,
        ):
            print(f"  {PRELOAD} orders stored in {time.perf_counter() - started:.0f} s")
            ingest(empty, factory, first=0, count=50)
            ingest(full, factory, first=1_000_000, count=50)
            paired: dict[str, list[float]] = {"empty": [], "full": []}
            for n in range(ROUNDS):
                paired["empty"].append(ORDERS / ingest(empty, factory, first=(n + 1) * 10_000, count=ORDERS)["seconds"])
                paired["full"].append(
                    ORDERS / ingest(full, factory, first=1_000_000 + (n + 1) * 10_000, count=ORDERS)["seconds"]
                )
            empty_rate, full_rate = statistics.median(paired["empty"]), statistics.median(paired["full"])
            results["ingest_paired_orders_per_s_empty"] = round(empty_rate, 1)
            results["ingest_paired_orders_per_s_at_100k"] = round(full_rate, 1)
            results["ingest_slowdown_at_100k_pct"] = round((empty_rate - full_rate) / empty_rate * 100, 1)
            for name, values in paired.items():
                print(f"  side by side, {name} store: {', '.join(f'{r:.0f}' for r in values)} orders/s")
            full.stop(save=False)  # no 100k snapshot on the way out
    return results
