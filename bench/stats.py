"""Order stats: GET /orders/stats over 92 days with 10,000 orders stored, through the local stack.

stats_92d_p99_ms  ORDERS orders created over the 93 WIB days of a 92-day range (several channels and
                  statuses), stored as the runtime's saved state with their counts as the orders-stream
                  publisher writes them (not streamed: the write path is the integration tests' business);
                  then REQUESTS GET /orders/stats?created_from=…&created_to=… (92 days apart) over HTTP to
                  the stack, one at a time: the 99th percentile of the answer time
"""

from __future__ import annotations

import json
import tempfile
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ORDERS = 10_000
REQUESTS = 300
END = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)  # 12:00 WIB
START = END - timedelta(days=92)
CHANNELS = ("web", "pos", "callcenter", "social")
STATUSES = ("received", "allocated", "shipped", "delivered", "cancelled")


def _orders() -> list[Any]:
    from oms.domain.capture import build_order, format_order_number
    from oms.models.order import OrderStatus
    from tests.builders import a_draft

    out = []
    span = (END - START).total_seconds()
    for n in range(ORDERS):
        at = START + timedelta(seconds=span * n / ORDERS)
        draft = a_draft(channel=CHANNELS[n % len(CHANNELS)], channel_order_id=f"STATS-BENCH-{n}",
                        channel_updated_at=at, placed_at=at)  # fmt: skip
        order = build_order(draft, order_number=format_order_number("STB", n), known_skus=set(), now=at)
        out.append(order.model_copy(update={"status": OrderStatus(STATUSES[n % len(STATUSES)])}))
    return out


def _preload(data_dir: Path) -> None:
    """The orders and their counts (as the publisher writes them: a mark beside each order, a count item per
    WIB day) as a stored state (tables.json, by logical id): the runtime loads it without streaming it."""
    from collections import Counter

    from oms.adapters.counters import count_name, day_key, mark_key
    from oms.adapters.orders import order_to_item
    from oms.domain.order_stats import count_key
    from oms_local.state import encode_item

    items: list[dict[str, Any]] = []
    days: dict[Any, Counter[str]] = {}
    for order in _orders():
        key = count_key(order)
        days.setdefault(key.day, Counter())[count_name(key.status, key.channel)] += 1
        items.append(encode_item(order_to_item(order)))
        mark = {**mark_key(order.order_id), "version": {"N": str(order.version)}, "counted": {"S": key.text()}}
        items.append(encode_item(mark))
    for day, counts in days.items():
        items.append(encode_item({**day_key(day), **{name: {"N": str(n)} for name, n in counts.items()}}))
    (data_dir / "state").mkdir(parents=True)
    (data_dir / "state" / "tables.json").write_text(json.dumps({"OrdersTable": items}))


def run() -> dict[str, float]:
    from bench.stock import request
    from oms_local import LocalRuntime
    from tests.support import ROOT

    options: dict[str, Any] = {"port": 0, "moto_port": 0, "seed": True, "snapshot_interval_s": 0}
    query = urllib.parse.urlencode({"created_from": START.isoformat(), "created_to": END.isoformat()})
    with tempfile.TemporaryDirectory(prefix="oms-bench-stats-") as tmp:
        data_dir = Path(tmp)
        _preload(data_dir)  # no demo data (no nodes, SKUs or stock): API keys are set at every start
        started = time.perf_counter()
        with LocalRuntime(ROOT / "template.yaml", data_dir=data_dir, **options) as rt:
            print(f"  {ORDERS} orders stored in {time.perf_counter() - started:.0f} s")
            status, stats = request(rt.url, ("GET", f"/orders/stats?{query}", None, "ops"))
            assert status == 200 and stats["total"] == ORDERS, (status, stats)
            timings = []
            for _ in range(REQUESTS):
                began = time.perf_counter()
                status, _ = request(rt.url, ("GET", f"/orders/stats?{query}", None, "ops"))
                timings.append((time.perf_counter() - began) * 1000)
                assert status == 200
            rt.stop(save=False)
    timings.sort()
    p99 = timings[int(len(timings) * 0.99) - 1]
    print(
        f"  GET /orders/stats over 92 days, {ORDERS} orders: p50 {timings[len(timings) // 2]:.1f} ms, p99 {p99:.1f} ms"
    )
    return {"stats_92d_p99_ms": round(p99, 1)}
