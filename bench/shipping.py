"""Shipping through the local stack (`make run`'s runtime and its channel simulator), over HTTP.

PARCELS marketplace orders (one unit each) are placed at the simulated Shopee, Lazada, TikTok Shop and
Tokopedia (a storefront of the TikTok shop, on TikTok Shop's API), pushed, captured and allocated (not
timed). Then one POST /shipping/arrange names them all (drop-off), and the shipping worker arranges them
in each marketplace's batches, gets each resi and keeps each label.

arrange_calls_per_parcel     the marketplaces' arrange calls (Shopee mass_ship_order / ship_order, Lazada
                             pack, TikTok Shop batch ship) over the parcels: the batching at work
shipping_calls_per_parcel    every logistics and document call (options, arrange, resi, labels,
                             ready-to-ship) over the parcels
arrange_to_labels_s          from the arrange request to the last parcel's label kept, in seconds
print_job_parcels_per_s      one print job of all the parcels (A4, four labels a page, with the pick list and
                             a packing list per parcel), parcels per second of the request's wall time
label_pdf_bytes_per_parcel   that PDF's size over the parcels
"""

from __future__ import annotations

import json
import tempfile
import time
import urllib.request
from typing import Any

PARCELS = 200
CHANNELS = ("shopee", "lazada", "tiktok", "tokopedia")  # where the orders are placed
API_CHANNELS = ("shopee", "lazada", "tiktok")  # whose APIs are called (Tokopedia's orders: TikTok Shop's)
SKUS = ("BTK-PRG-L", "BTK-PRG-M", "KRD-VOAL-SAGE", "TEH-TUBRUK-100")
ARRANGE_PATHS = {
    "shopee": ("/api/v2/logistics/ship_order", "/api/v2/logistics/mass_ship_order",
               "/api/v2/logistics/update_shipping_order"),
    "lazada": ("/order/fulfill/pack",),
    "tiktok": ("/fulfillment/202309/packages/ship",),
}  # fmt: skip
LOGISTICS_PREFIXES = ("/api/v2/logistics/", "/order/fulfill/", "/order/package/", "/order/shipment/",
                      "/fulfillment/202309/packages")  # fmt: skip


def _sim(rt: Any, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(rt.channels.url + path, data=data, method=method,
                                 headers={"content-type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(req, timeout=60) as response:
        return json.loads(response.read() or b"null")


def _is_arrange(channel: str, path: str) -> bool:
    if channel == "tiktok":  # the batch call, or one package's ship (not a self-shipment)
        return path == ARRANGE_PATHS["tiktok"][0] or (path.startswith("/fulfillment/202309/packages/")
                                                     and path.endswith("/ship"))  # fmt: skip
    return path in ARRANGE_PATHS[channel]


def run() -> dict[str, float]:
    from bench.stock import request
    from oms_local import LocalRuntime
    from tests.support import ROOT

    options: dict[str, Any] = {"port": 0, "moto_port": 0, "channel_port": 0, "seed": True, "snapshot_interval_s": 0,
                               "parameter_overrides": {"ResiPollSeconds": "1"}}  # fmt: skip
    with (
        tempfile.TemporaryDirectory(prefix="oms-bench-shipping-") as data_dir,
        LocalRuntime(ROOT / "template.yaml", data_dir=data_dir, **options) as rt,
    ):
        made = []
        for n in range(PARCELS):
            channel = CHANNELS[n % len(CHANNELS)]
            line = {"sku": SKUS[n % len(SKUS)], "quantity": 1, "unit_price": 100000}
            made.append((channel, _sim(rt, "POST", "/_sim/orders", {"channel": channel, "lines": [line]})["order_id"]))
        rt.drain(timeout=300)
        parcels = []
        for channel, channel_order_id in made:
            _, page = request(rt.url, ("GET", f"/orders?channel={channel}&channel_order_id={channel_order_id}",
                                       None, "ops"))  # fmt: skip
            order = request(rt.url, ("GET", f"/orders/{page['items'][0]['order_id']}", None, "ops"))[1]
            parcels.append(order["fulfillments"][0]["fulfillment_id"])
        before = len(_sim(rt, "GET", "/_sim/calls")["calls"])  # (DELETE /_sim/calls would forget the orders too)

        started = time.perf_counter()
        body = {"parcel_ids": parcels, "handover": "dropoff"}
        status, answer = request(rt.url, ("POST", "/shipping/arrange", body, "ops"))
        assert status == 202 and answer["accepted"] == PARCELS, answer
        deadline = time.monotonic() + 600
        while True:
            _, counts = request(rt.url, ("GET", "/shipping/counts", None, "ops"))
            if counts.get("label_ready", 0) >= PARCELS or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        labels_kept = time.perf_counter() - started
        assert counts.get("label_ready", 0) >= PARCELS, counts
        calls = _sim(rt, "GET", "/_sim/calls")["calls"][before:]
        arrange_calls = sum(1 for c in calls if c["channel"] in API_CHANNELS and _is_arrange(c["channel"], c["path"]))
        logistics_calls = sum(1 for c in calls
                              if c["channel"] in API_CHANNELS and c["path"].startswith(LOGISTICS_PREFIXES))  # fmt: skip

        started = time.perf_counter()
        body = {"parcel_ids": parcels, "layout": "a4x4"}
        status, job = request(rt.url, ("POST", "/shipping/print-jobs", body, "ops"))
        printed = time.perf_counter() - started
        assert status == 201 and job["printed"] == PARCELS, job
    return {
        "arrange_calls_per_parcel": round(arrange_calls / PARCELS, 3),
        "shipping_calls_per_parcel": round(logistics_calls / PARCELS, 2),
        "arrange_to_labels_s": round(labels_kept, 1),
        "print_job_parcels_per_s": round(PARCELS / printed, 1),
        "label_pdf_bytes_per_parcel": round(job["bytes"] / PARCELS),
    }
