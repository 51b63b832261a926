"""`make demo`: marketplace orders end to end against a running `make run`.

For each of Shopee, Lazada, TikTok Shop and Tokopedia, as the channel would: a new order pushed signed
with the channel's scheme (the OMS fetches it from the simulated channel API and captures it), the same
push with a wrong signature (401), the push repeated (one order), a later status then an old one arriving
late (the later one stands), a push that never arrives (recovered by the reconciliation pull), and the
node's shipment told back to the channel in its own call, with the stock it shows. Tokopedia's storefront
runs on the TikTok Shop API (its Open API closed on 30 Sep 2025): its orders are a TikTok shop's, pushed
to /webhooks/tiktok, pulled and told through TikTok Shop's calls, and its stock is that shop's.

Environment: PORT (3000), OMS_CHANNELS_PORT (4598), OMS_API_KEY (oms_local_ops_key).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
API = f"http://127.0.0.1:{os.environ.get('PORT', '3000')}"
SIM = f"http://127.0.0.1:{os.environ.get('OMS_CHANNELS_PORT', '4598')}"
KEY = os.environ.get("OMS_API_KEY", "oms_local_ops_key")
CHANNELS = ("shopee", "lazada", "tiktok", "tokopedia")
SHIPPED = {"shopee": "SHIPPED", "lazada": "ready_to_ship", "tiktok": "IN_TRANSIT", "tokopedia": "IN_TRANSIT"}
TRANSPORT = {"tokopedia": "tiktok"}  # the API that serves a storefront's orders, pulls and stock
LINES = [
    {"sku": "BTK-PRG-L", "quantity": 2, "unit_price": 450000, "discount": 50000},
    {"sku": "TEH-TUBRUK-100", "quantity": 3, "unit_price": 25000},
]


def call(url: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"content-type": "application/json", **(headers or {})}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - local URLs
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - local URLs only
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def order_in_oms(channel: str, channel_order_id: str) -> dict | None:
    _, page = call(f"{API}/orders?channel={channel}&channel_order_id={channel_order_id}", headers={"x-api-key": KEY})
    if not page or not page.get("items"):
        return None
    return call(f"{API}/orders/{page['items'][0]['order_id']}", headers={"x-api-key": KEY})[1]


def wait(probe: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise SystemExit(f"  FAILED: {what} not within {timeout:.0f}s")
        time.sleep(0.25)
    return value


def step(text: str) -> None:
    print(f"  - {text}")


def demo(channel: str) -> None:
    print(f"\n{channel}")
    made = call(f"{SIM}/_sim/orders", "POST", {"channel": channel, "lines": LINES, "shipping_fee": 15000})[1]
    order_id = made["order_id"]
    step(f"order {order_id} pushed ({len(made['pushed'])} push(es), answered {[p['status'] for p in made['pushed']]})")
    order = wait(lambda: order_in_oms(channel, order_id), "the order in the OMS")
    lines = ", ".join(f"{line['sku']} x{line['quantity']} @ {line['unit_price']}" for line in order["lines"])
    address = order["shipping_address"] or {}
    channel_says = f"{order['channel_status']} ({order['channel_state']})"
    total = order["totals"]["grand_total"]
    step(f"captured as {order['order_number']} ({order['status']}): {lines}; total {total}; "
         f"to {address.get('city')} {address.get('postal_code')}; channel says {channel_says}")  # fmt: skip
    bad = call(f"{SIM}/_sim/push/{channel}/{order_id}", "POST", {"bad_signature": True})[1]
    step(f"wrong signature: answered {[p['status'] for p in bad['pushed']]}")
    for _ in range(2):
        call(f"{SIM}/_sim/push/{channel}/{order_id}", "POST", {})
    time.sleep(2)
    _, page = call(f"{API}/orders?channel={channel}&channel_order_id={order_id}", headers={"x-api-key": KEY})
    step(f"the push twice more: {len(page['items'])} order")

    changed = call(f"{SIM}/_sim/orders/{channel}/{order_id}", "POST", {"status": SHIPPED[channel]})[1]
    call(f"{SIM}/_sim/push/{channel}/{order_id}", "POST", {"status": made["status"]})  # the old news, late
    final = wait(
        lambda: (o := order_in_oms(channel, order_id)) and o["channel_status"] == changed["status"] and o,
        "the later status",
    )
    step(f"{changed['status']} pushed, then the old {made['status']} late: the OMS shows {final['channel_status']}")

    missed = call(f"{SIM}/_sim/orders", "POST", {"channel": channel, "lines": LINES[:1], "push": False, "age_s": 300})[
        1
    ]
    step(f"order {missed['order_id']} placed, its push lost; the reconciliation pull runs")
    env = {**os.environ, "PYTHONPATH": "shared:local:."}
    pulled = subprocess.run(
        [sys.executable, "scripts/oms_admin.py", "--stage", "local", "channel", "job", "--name", "reconcile",
         "--channel", TRANSPORT.get(channel, channel)],
        cwd=ROOT, env={**env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{os.environ.get('OMS_MOTO_PORT', '4599')}",
                       "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
        capture_output=True, text=True, check=True,
    ).stdout.strip().splitlines()[-1]  # fmt: skip
    recovered = wait(lambda: order_in_oms(channel, missed["order_id"]), "the missed order")
    step(f"reconcile {pulled}: recovered as {recovered['order_number']}")

    fresh = call(f"{SIM}/_sim/orders", "POST", {"channel": channel, "lines": LINES[:1]})[1]
    allocated = wait(
        lambda: (o := order_in_oms(channel, fresh["order_id"])) and o["fulfillments"] and o, "an allocated order"
    )
    parcel = allocated["fulfillments"][0]
    tracking = f"JNE{fresh['order_id'][-9:]}"
    report = {"type": "shipped", "carrier": "jne", "service": "REG", "tracking_number": tracking}
    status, _ = call(
        f"{API}/fulfillments/{parcel['fulfillment_id']}/events", "POST", report, {"x-api-key": KEY + "_wms"}
    )
    told = wait(
        lambda: (v := call(f"{SIM}/_sim/orders/{channel}/{fresh['order_id']}")[1])["tracking_number"] and v,
        "the shipment at the channel",
    )
    shows = f"{told['status']} {told['tracking_number']}"
    step(f"{parcel['node_id']} shipped {fresh['order_id']} ({status}): the channel shows {shows}")
    stock = call(f"{SIM}/_sim/stock?channel={TRANSPORT.get(channel, channel)}")[1]["stock"]
    shown = {sku: figure["atp"] for sku, figure in sorted(stock.items()) if sku in ("BTK-PRG-L", "TEH-TUBRUK-100")}
    step(f"stock the channel shows: {shown}")


def main() -> None:
    if call(f"{SIM}/_sim/calls?channel=none")[0] != 200:
        raise SystemExit("the channel simulator is not answering: start `make run` first")
    for channel in sys.argv[1:] or CHANNELS:
        demo(channel)
    print("\ndone: every step above went through the OMS's HTTP API and the simulated channels' APIs")


if __name__ == "__main__":
    main()
