"""Returns through the local stack (`make run`'s runtime), over HTTP.

returns_per_s             ORDERS delivered web orders (allocated, shipped by the WMS, delivered by a Biteship push;
                          not timed), then each one's return taken to its disposition, THREADS at a time: POST
                          /returns (drop-off at a store, or shipped back to the nearest return center), receive,
                          inspect (every third unit damaged, the rest resellable and restocked): RMAs per second of
                          wall time, RMA to disposition
return_refund_settle_s    from the first return asked to the last refund completed at the payment provider (the
                          returns worker, through the channel simulator's refund API), in seconds
return_http_calls_per_rma HTTP calls each RMA took (3: ask, receive, inspect)
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

ORDERS = 60
THREADS = 12
SKU = "TSHIRT-BLK-M"
STORES = ("ST-JKT-GI", "ST-BDG-PVJ")


def _order(n: int) -> tuple[str, str, dict, str]:
    body = {
        "channel": "web", "channel_order_id": f"RT-BENCH-{n}", "placed_at": "2026-11-26T09:00:00+07:00",
        "customer": {"email": f"buyer{n}@example.co.id"},
        "shipping_address": {"name": "Buyer", "phone": "+628111", "line1": "Jl. Sudirman 1", "city": "Jakarta Selatan",
                             "province": "DKI Jakarta", "postal_code": "12190"},
        "payment": {"status": "paid", "method": "qris", "reference": f"pr-rt-{n}"},
        "lines": [{"line_id": "1", "sku": SKU, "quantity": 1, "unit_price": "149000"}],
        "totals": {"subtotal": "149000", "grand_total": "149000"},
    }  # fmt: skip
    return ("POST", "/orders", body, "web")


def _deliver(rt: Any, fulfillment_id: str, n: int) -> None:
    import json
    import urllib.request

    from bench.stock import request

    tracking = f"JNER{n:06d}"
    shipped = {"type": "shipped", "carrier": "jne", "service": "REG", "tracking_number": tracking}
    status, answer = request(rt.url, ("POST", f"/fulfillments/{fulfillment_id}/events", shipped, "wms"))
    assert status == 200, answer
    push = {"event": "order.status", "courier_waybill_id": tracking, "courier_company": "jne", "status": "delivered"}
    headers = {"x-biteship-secret": "biteship_local_dev_secret", "content-type": "application/json"}
    req = urllib.request.Request(rt.url + "/webhooks/carriers/biteship", data=json.dumps(push).encode(),
                                 method="POST", headers=headers)  # fmt: skip
    with urllib.request.urlopen(req, timeout=60) as response:
        assert response.status == 200


def _return(rt: Any, order_id: str, n: int) -> int:
    """One RMA from request to disposition; the HTTP calls it took."""
    from bench.stock import request

    drop_off = {"method": "store_drop_off", "drop_off_node_id": STORES[n % 4 // 2]}
    ask = {"method": "ship_back"} if n % 2 else drop_off
    body = {"order_id": order_id, "lines": [{"line_id": "1", "quantity": 1, "reason": "wrong_size"}], **ask}
    status, accepted = request(rt.url, ("POST", "/returns", body, "ops"))
    assert status == 201, accepted
    rma_id = accepted["rmas"][0]["rma_id"]
    received = {"lines": [{"line_id": "1", "quantity": 1}]}
    status, answer = request(rt.url, ("POST", f"/returns/{rma_id}/receive", received, "wms"))
    assert status == 200, answer
    condition = "damaged" if n % 3 == 0 else "resellable"
    inspected = {"units": [{"line_id": "1", "condition": condition, "quantity": 1}]}
    status, answer = request(rt.url, ("POST", f"/returns/{rma_id}/inspect", inspected, "wms"))
    assert status == 200, answer
    return 3


def run() -> dict[str, float]:
    from bench.stock import request, request_all
    from oms_local import LocalRuntime
    from tests.support import ROOT

    options: dict[str, Any] = {"port": 0, "moto_port": 0, "seed": True, "snapshot_interval_s": 0}
    with (
        tempfile.TemporaryDirectory(prefix="oms-bench-returns-") as data_dir,
        LocalRuntime(ROOT / "template.yaml", data_dir=data_dir, **options) as rt,
    ):
        answers = request_all(rt.url, [_order(n) for n in range(ORDERS)], 8)
        assert all(status == 201 for status, _ in answers), answers[:2]
        rt.drain(timeout=180)
        orders = [answer["order_id"] for _, answer in answers]
        parcels = [request(rt.url, ("GET", f"/orders/{oid}", None, "ops"))[1]["fulfillments"][0]["fulfillment_id"]
                   for oid in orders]  # fmt: skip
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(lambda item: _deliver(rt, item[1], item[0]), enumerate(parcels)))
        rt.drain(timeout=180)  # the NUMBER# lookups an RMA id is found by

        started = time.perf_counter()
        with ThreadPoolExecutor(THREADS) as pool:
            calls = sum(pool.map(lambda item: _return(rt, item[1], item[0]), enumerate(orders)))
        disposed = time.perf_counter() - started
        deadline = time.monotonic() + 300
        while True:
            _, page = request(rt.url, ("GET", "/returns?status=closed&limit=200", None, "ops"))
            settled = len(page["items"])
            if settled >= ORDERS or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        settle = time.perf_counter() - started
        assert settled == ORDERS, f"{settled} of {ORDERS} returns closed"
    return {
        "returns_per_s": round(ORDERS / disposed, 1),
        "return_refund_settle_s": round(settle, 1),
        "return_http_calls_per_rma": round(calls / ORDERS, 2),
    }
