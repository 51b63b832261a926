"""Status: node and carrier events applied through the local stack, and buyer tracking in process.

status_events_per_s  ORDERS allocated orders, each taken through seven reports over HTTP to `make run`'s
                     stack (accepted, picked, packed, shipped by the WMS; in transit, out for delivery,
                     delivered by Biteship pushes), THREADS at a time, one order's reports in sequence:
                     reports applied per second of wall time (the stream readers keep running meanwhile)
tracking_p99_ms      GET /track/{order_number}'s work in process (order read, contact check, parcels,
                     public timeline) over an in-memory order store, 2,000 lookups, 99th percentile
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from typing import Any

ORDERS = 60
THREADS = 12
TRACKS = 2_000
BITESHIP = {"x-biteship-secret": "biteship_local_dev_secret", "content-type": "application/json"}


def _order(n: int) -> tuple[str, str, dict, str]:
    body = {
        "channel": "web", "channel_order_id": f"ST-BENCH-{n}", "channel_updated_at": "2026-11-26T09:00:00+07:00",
        "placed_at": "2026-11-26T09:00:00+07:00", "customer": {"email": f"buyer{n}@example.co.id"},
        "shipping_address": {"name": "Buyer", "phone": "+628111", "line1": "Jl. Sudirman 1", "city": "Jakarta Selatan",
                             "province": "DKI Jakarta", "postal_code": "12190"},
        "payment": {"status": "paid"},
        "lines": [{"line_id": "1", "sku": "KOP-GAYO-250", "quantity": 1, "unit_price": "95000"}],
        "totals": {"subtotal": "95000", "grand_total": "95000"},
    }  # fmt: skip
    return ("POST", "/orders", body, "web")


def _reports(rt: Any, fulfillment_id: str, n: int) -> int:
    """One parcel's seven reports, in order; the number applied (200)."""
    import json
    import urllib.request

    from bench.stock import request

    applied = 0
    path = f"/fulfillments/{fulfillment_id}/events"
    tracking = f"JNEB{n:06d}"
    for body in ({"type": "accepted"}, {"type": "picked"}, {"type": "packed"},
                 {"type": "shipped", "carrier": "jne", "service": "REG", "tracking_number": tracking}):  # fmt: skip
        status, _ = request(rt.url, ("POST", path, body, "wms"))
        applied += status == 200
    for biteship in ("picked", "dropping_off", "delivered"):
        push = {"event": "order.status", "courier_waybill_id": tracking, "courier_company": "jne", "status": biteship}
        req = urllib.request.Request(rt.url + "/webhooks/carriers/biteship", data=json.dumps(push).encode(),
                                     method="POST", headers=BITESHIP)  # fmt: skip
        with urllib.request.urlopen(req, timeout=60) as response:
            applied += response.status == 200
    return applied


def events_per_second() -> tuple[float, int]:
    from concurrent.futures import ThreadPoolExecutor

    from bench.stock import request, request_all
    from oms_local import LocalRuntime
    from tests.support import ROOT

    options: dict[str, Any] = {"port": 0, "moto_port": 0, "seed": True, "snapshot_interval_s": 0}
    with (
        tempfile.TemporaryDirectory(prefix="oms-bench-status-") as data_dir,
        LocalRuntime(ROOT / "template.yaml", data_dir=data_dir, **options) as rt,
    ):
        answers = request_all(rt.url, [_order(n) for n in range(ORDERS)], 8)
        assert all(status == 201 for status, _ in answers), answers[:2]
        rt.drain(timeout=180)
        parcels = []
        for _, answer in answers:
            _, order = request(rt.url, ("GET", f"/orders/{answer['order_id']}", None, "ops"))
            parcels.append(order["fulfillments"][0]["fulfillment_id"])
        started = time.perf_counter()
        with ThreadPoolExecutor(THREADS) as pool:
            applied = sum(pool.map(lambda item: _reports(rt, item[1], item[0]), enumerate(parcels)))
        elapsed = time.perf_counter() - started
        rt.drain(timeout=180)
        _, last = request(rt.url, ("GET", f"/orders/{answers[-1][1]['order_id']}", None, "ops"))
        assert last["status"] == "delivered", last["status"]
    return applied / elapsed, applied


def tracking_p99() -> float:
    from oms.domain.capture import build_order
    from oms.domain.tracking import Failures, TrackingService
    from oms.models.timeline import TimelineEntry
    from tests.builders import a_draft

    now = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    orders, timelines = {}, {}
    for n in range(200):
        order = build_order(a_draft(channel_order_id=f"T{n}"), order_number=f"OMS-{n:07d}",
                            known_skus={"TSHIRT-BLK-M", "CAP-NAVY"}, now=now)  # fmt: skip
        orders[order.order_number] = order
        entries = []
        for v in range(1, 13):
            public = f"Step {v}" if v % 2 else None
            entries.append(TimelineEntry(order_id=order.order_id, version=v, seq=0, at=now + timedelta(hours=v),
                                         kind="parcel", what=f"step {v}", by="carrier:jne", public=public))  # fmt: skip
        timelines[order.order_id] = entries

    class Store:
        def by_number(self, number: str):  # type: ignore[no-untyped-def]
            return orders.get(number)

        def timeline(self, order_id: str):  # type: ignore[no-untyped-def]
            return timelines[order_id]

    class Attempts:  # the right contact is never counted: only the waits are read
        def failures(self, key: str, at: datetime) -> Failures:
            return Failures()

        def hash_key(self) -> bytes:
            return b"bench"

    service = TrackingService(Store(), Attempts(), dict)
    numbers = list(orders)
    timings = []
    for n in range(TRACKS):
        started = time.perf_counter()
        service.track(numbers[n % len(numbers)], "0812-3456-7890", now)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return timings[int(len(timings) * 0.99) - 1]


def run() -> dict[str, float]:
    rate, applied = events_per_second()
    p99 = tracking_p99()
    print(f"  {applied} reports applied at {rate:.1f}/s ({THREADS} at a time); tracking p99 {p99:.3f} ms in process")
    return {"status_events_per_s": round(rate, 1), "tracking_p99_ms": round(p99, 3)}
