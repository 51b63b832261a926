"""Marketplace capture through `make run`'s stack and its channel simulator.

channel_ingest_orders_per_s   ORDERS marketplace orders (a quarter each for Shopee, Lazada, TikTok Shop
                              and Tokopedia; two lines each, so Lazada pushes twice per order), pushed by
                              the simulator as each channel does, signed, THREADS at a time: orders stored
                              per second, from the first push to the last order in the orders table
                              (the thin pushes are fetched from the simulated channel APIs on the way)
channel_api_calls_per_order   calls the OMS made to the channels' order APIs for them (detail, items,
                              tokens), per order; stock and shipment calls are not counted
"""

from __future__ import annotations

import json
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

ORDERS = 200
THREADS = 8
CHANNELS = ("shopee", "lazada", "tiktok", "tokopedia")
LINES = [
    {"sku": "BTK-PRG-L", "quantity": 1, "unit_price": 450000},
    {"sku": "TEH-TUBRUK-100", "quantity": 2, "unit_price": 25000},
]
# The simulator paths that are the order APIs (not stock, not shipments).
ORDER_APIS = ("get_order_detail", "/order/get", "/orders/items/get", "/order/202309/orders", "/token",
              "/v2/fs/")  # fmt: skip


def _create(sim_url: str, n: int) -> dict[str, Any]:
    body = {"channel": CHANNELS[n % len(CHANNELS)], "lines": LINES}
    request = urllib.request.Request(
        f"{sim_url}/_sim/orders",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def _stored(rt: Any) -> int:
    dynamodb = rt.client("dynamodb")
    count, start = 0, None
    while True:
        kwargs = {"TableName": rt.table_name("OrdersTable"), "Select": "COUNT", "FilterExpression": "sk = :o",
                  "ExpressionAttributeValues": {":o": {"S": "ORDER"}}}  # fmt: skip
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = dynamodb.scan(**kwargs)
        count += page["Count"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return count


def run() -> dict[str, float]:
    from oms_local import LocalRuntime
    from tests.support import ROOT

    options: dict[str, Any] = {"port": 0, "moto_port": 0, "channel_port": 0, "seed": True, "snapshot_interval_s": 0}
    with (
        tempfile.TemporaryDirectory(prefix="oms-bench-channels-") as data_dir,
        LocalRuntime(ROOT / "template.yaml", data_dir=data_dir, **options) as rt,
    ):
        sim = rt.channels
        sim.marketplaces.push_after_outbound = False
        before = _stored(rt)
        started = time.perf_counter()
        with ThreadPoolExecutor(THREADS) as pool:
            made = list(pool.map(lambda n: _create(sim.url, n), range(ORDERS)))
        refused = [push for order in made for push in order["pushed"] if push.get("status") != 200]
        assert not refused, refused[:2]
        deadline = time.monotonic() + 600
        while _stored(rt) < before + ORDERS:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {_stored(rt) - before} of {ORDERS} orders stored in 600 s")
            time.sleep(0.1)
        elapsed = time.perf_counter() - started
        calls = [
            call for call in sim.calls_for()
            if call["channel"] in CHANNELS and any(marker in call["path"] for marker in ORDER_APIS)
        ]  # fmt: skip
        pushes = sum(len(order["pushed"]) for order in made)
    rate = ORDERS / elapsed
    per_order = len(calls) / ORDERS
    print(f"  {ORDERS} orders ({pushes} pushes) stored in {elapsed:.1f} s: {rate:.1f}/s; "
          f"{len(calls)} order-API calls, {per_order:.2f} per order")  # fmt: skip
    return {"channel_ingest_orders_per_s": round(rate, 1), "channel_api_calls_per_order": round(per_order, 2)}
