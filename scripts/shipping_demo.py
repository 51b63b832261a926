"""`make demo`, second part: ship a Shopee, a Lazada, a TikTok Shop, a Tokopedia and a web order against a
running `make run`, and print their labels in one PDF.

Shopee: arranged for pickup in the first slot offered; the simulated Shopee keeps the resi back twice
(the OMS asks again). Lazada: packed (the resi comes at once), its AWB kept, then ready to ship. TikTok
Shop and Tokopedia: drop-off, both through the TikTok Shop API (Tokopedia's storefront runs on it; its
label carries the "Tokopedia & Shop" mark, no TikTok branding). The web order: booked with Biteship (the
cheapest courier) and drawn on the OMS's own label. Then one print job (A6) of the five, written to
.oms/demo-labels.pdf.

Environment: PORT (3000), OMS_CHANNELS_PORT (4598), OMS_API_KEY (oms_local_ops_key).
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path
from typing import Any

from marketplace_demo import API, KEY, SIM, call, order_in_oms, wait  # its neighbour (the script's folder)

ROOT = Path(__file__).resolve().parent.parent
OPS = {"x-api-key": KEY}
LINE = [{"sku": "TEH-TUBRUK-100", "quantity": 2, "unit_price": 25000}]


def parcel_of(channel: str, channel_order_id: str) -> str:
    order = wait(lambda: (o := order_in_oms(channel, channel_order_id)) and o["fulfillments"] and o,
                 f"{channel} order {channel_order_id} allocated")  # fmt: skip
    return order["fulfillments"][0]["fulfillment_id"]


def shipping_of(parcel_id: str) -> dict[str, Any]:
    _, order = call(f"{API}/orders/{parcel_id.rsplit('-F', 1)[0]}", headers=OPS)
    parcel = next(f for f in order["fulfillments"] if f["fulfillment_id"] == parcel_id)
    return parcel.get("shipping") or {}


def main() -> None:
    print("Shipping: a Shopee, a Lazada, a TikTok Shop, a Tokopedia and a web order, and one print job")
    parcels = {}
    for channel in ("shopee", "lazada", "tiktok", "tokopedia"):
        _, made = call(f"{SIM}/_sim/orders", "POST", {"channel": channel, "lines": LINE})
        parcels[channel] = (made["order_id"], parcel_of(channel, made["order_id"]))
    web = {
        "channel": "web", "channel_order_id": f"W-DEMO-{int(time.time())}", "placed_at": "2026-12-08T09:00:00+07:00",
        "customer": {"name": "Siti Rahayu", "email": "siti@example.co.id"},
        "shipping_address": {"name": "Siti Rahayu", "phone": "+6281234567890", "line1": "Jl. Kebon Jeruk Raya 27",
                             "district": "Kebon Jeruk", "city": "Jakarta Barat", "province": "DKI Jakarta",
                             "postal_code": "11530"},
        "payment": {"status": "pending", "cod": True, "method": "cod"},
        "lines": [{"line_id": "1", "sku": "TEH-TUBRUK-100", "quantity": 2, "unit_price": "25000"}],
        "totals": {"subtotal": "50000", "shipping": "15000", "grand_total": "65000"},
    }  # fmt: skip
    status, created = call(f"{API}/orders", "POST", web, {"x-api-key": KEY + "_pos"})
    assert status == 201, created
    parcels["web"] = (web["channel_order_id"], parcel_of("web", web["channel_order_id"]))

    call(f"{SIM}/_sim/logistics", "POST", {"channel": "shopee", "order_id": parcels["shopee"][0], "resi_delay": 2})
    _, options = call(f"{API}/shipping/options?parcel_ids={parcels['shopee'][1]}", headers=OPS)
    slot = options[0]["slots"][0]
    print(f"  shopee    {parcels['shopee'][1]}: pickup, slot {slot['label']}")
    arrange = {"parcel_ids": [parcels["shopee"][1]], "handover": "pickup", "slot_id": slot["slot_id"]}
    status, answer = call(f"{API}/shipping/arrange", "POST", arrange, OPS)
    assert status == 202, answer
    dropoff = [parcels["lazada"][1], parcels["tiktok"][1], parcels["tokopedia"][1]]
    status, answer = call(f"{API}/shipping/arrange", "POST", {"parcel_ids": dropoff, "handover": "dropoff"}, OPS)
    assert status == 202, answer
    status, answer = call(f"{API}/shipping/bookings", "POST", {"parcel_ids": [parcels["web"][1]]}, OPS)
    assert status == 202, answer

    for channel in ("shopee", "lazada", "tiktok", "tokopedia", "web"):
        parcel = parcels[channel][1]
        shipping = wait(lambda p=parcel: (s := shipping_of(p)).get("state") == "label_ready" and s,
                        f"{channel} label", timeout=120)  # fmt: skip
        extra = f", resi asked {shipping['resi_asks']} times" if channel == "shopee" else ""
        extra += ", ready to ship told" if shipping.get("ready_to_ship_at") else ""
        print(f"  {channel:<9} {parcel}: resi {shipping['resi']} ({shipping.get('carrier') or '-'}){extra}")

    ids = [parcels[c][1] for c in ("shopee", "lazada", "tiktok", "tokopedia", "web")]
    status, job = call(f"{API}/shipping/print-jobs", "POST", {"parcel_ids": ids, "layout": "a6"}, OPS)
    assert status == 201, job
    out = ROOT / ".oms" / "demo-labels.pdf"
    out.parent.mkdir(exist_ok=True)
    with urllib.request.urlopen(job["download_url"], timeout=30) as response:  # noqa: S310 - the local S3
        out.write_bytes(response.read())
    print(f"  print job {job['job_id']}: {job['printed']} printed, {job['pages']} pages, {job['bytes']} bytes -> {out}")
    print(json.dumps({"print_job": job["job_id"], "pdf": str(out)}))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
