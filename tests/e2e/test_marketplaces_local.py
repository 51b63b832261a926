"""End to end, for each marketplace: the simulated channel pushes in its documented format, signed with
its documented scheme; the OMS fetches the order from the channel's API (the simulator, as
OMS_<CHANNEL>_API_BASE) and captures it. Wrong signatures, repeats, statuses out of order and a missed
push recovered by the reconciliation pull, through the local stack.

Tokopedia's storefront runs on the TikTok Shop API (its Open API closed on 30 Sep 2025): its orders are
TikTok Shop orders of a TikTok shop whose `platform` says TOKOPEDIA, pushed to /webhooks/tiktok, pulled
and told through TikTok Shop's calls; the OMS files them as channel tokopedia."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from oms_local import LocalRuntime
from oms_local.seed import DEFAULTS, SHOPS
from tests.support import ROOT, wait_for

pytestmark = pytest.mark.e2e

OPS = {"x-api-key": DEFAULTS["OMS_API_KEY"]}
LINES = [
    {"sku": "BTK-PRG-L", "quantity": 2, "unit_price": 450000, "discount": 50000},
    {"sku": "TEH-TUBRUK-100", "quantity": 3, "unit_price": 25000},
]
# What each channel says when the seller has shipped, and later statuses.
SHIPPED = {"shopee": "SHIPPED", "lazada": "ready_to_ship", "tiktok": "IN_TRANSIT", "tokopedia": "IN_TRANSIT"}
# The API that serves a storefront (its pulls, its shops, its stock): Tokopedia's is TikTok Shop's.
TRANSPORT = {"tokopedia": "tiktok"}
TIKTOK_SHOPS = [shop["shop_id"] for shop in SHOPS if shop["channel"] == "tiktok"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRuntime]:
    runtime = LocalRuntime(
        ROOT / "template.yaml", port=0, moto_port=0, channel_port=0, data_dir=tmp_path_factory.mktemp("oms"), seed=True
    )
    with runtime:
        yield runtime


def http(url: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"content-type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def sim(stack: LocalRuntime, method: str, path: str, body: Any = None) -> Any:
    status, answer = http(stack.channels.url + path, method, body)
    assert status < 300, answer
    return answer


def oms_order(stack: LocalRuntime, channel: str, channel_order_id: str) -> dict | None:
    status, page = http(f"{stack.url}/orders?channel={channel}&channel_order_id={channel_order_id}", headers=OPS)
    assert status == 200, page
    if not page["items"]:
        return None
    return http(f"{stack.url}/orders/{page['items'][0]['order_id']}", headers=OPS)[1]


@pytest.mark.parametrize("channel", ["shopee", "lazada", "tiktok", "tokopedia"])
def test_a_pushed_order_is_fetched_and_captured(stack: LocalRuntime, channel: str) -> None:
    # Given a new order at the channel, pushed to the OMS signed as the channel signs
    made = sim(stack, "POST", "/_sim/orders", {"channel": channel, "lines": LINES, "shipping_fee": 15000})
    assert {push["status"] for push in made["pushed"]} == {200}, made["pushed"]
    # Then the OMS holds it with the channel's SKUs, quantities, amounts and address
    order = wait_for(lambda: oms_order(stack, channel, made["order_id"]))
    lines = sorted((line["sku"], line["quantity"], Decimal(line["unit_price"])) for line in order["lines"])
    assert lines == [("BTK-PRG-L", 2, 450000), ("TEH-TUBRUK-100", 3, 25000)]
    assert order["shipping_address"]["postal_code"] == "10220"
    assert order["shipping_address"]["city"]
    assert order["channel_state"] == "ready"
    assert order["status"] in ("received", "allocated", "partially_allocated", "backordered")
    # And the timeline says where it came from
    wait_for(
        lambda: any(
            entry["by"] == f"channel:{channel}" for entry in oms_order(stack, channel, made["order_id"])["timeline"]
        )
    )


@pytest.mark.parametrize("channel", ["shopee", "lazada", "tiktok", "tokopedia"])
def test_a_wrong_signature_is_401_and_repeats_make_one_order(stack: LocalRuntime, channel: str) -> None:
    made = sim(stack, "POST", "/_sim/orders", {"channel": channel, "lines": LINES[:1], "push": False})
    bad = sim(stack, "POST", f"/_sim/push/{channel}/{made['order_id']}", {"bad_signature": True})
    assert {push["status"] for push in bad["pushed"]} == {401}
    stack.drain()
    assert oms_order(stack, channel, made["order_id"]) is None
    for _ in range(3):
        sim(stack, "POST", f"/_sim/push/{channel}/{made['order_id']}", {})
    order = wait_for(lambda: oms_order(stack, channel, made["order_id"]))
    stack.drain()
    _, page = http(f"{stack.url}/orders?channel={channel}&channel_order_id={made['order_id']}", headers=OPS)
    assert len(page["items"]) == 1
    assert order["version"] >= 1


@pytest.mark.parametrize("channel", ["shopee", "lazada", "tiktok", "tokopedia"])
def test_statuses_arriving_out_of_order_end_in_the_right_state(stack: LocalRuntime, channel: str) -> None:
    made = sim(stack, "POST", "/_sim/orders", {"channel": channel, "lines": LINES[1:]})
    wait_for(lambda: oms_order(stack, channel, made["order_id"]))
    # The channel ships it and pushes; then its older push (the first status) arrives late
    changed = {"status": SHIPPED[channel], "tracking_number": "JP1234567890"}
    sim(stack, "POST", f"/_sim/orders/{channel}/{made['order_id']}", changed)
    sim(stack, "POST", f"/_sim/push/{channel}/{made['order_id']}", {"status": made["status"]})
    stack.drain()
    # Then the order ends shipped, as the channel now says
    order = wait_for(
        lambda: (
            (found := oms_order(stack, channel, made["order_id"]))
            and found["channel_status"] == SHIPPED[channel]
            and found
        )
    )
    assert order["channel_status"] == SHIPPED[channel]


@pytest.mark.parametrize("channel", ["shopee", "lazada", "tiktok", "tokopedia"])
def test_a_missed_push_is_recovered_by_the_reconciliation_pull(stack: LocalRuntime, channel: str) -> None:
    # Given an order placed five minutes ago whose push never arrived
    made = sim(stack, "POST", "/_sim/orders", {"channel": channel, "lines": LINES, "push": False, "age_s": 300})
    stack.drain()
    assert oms_order(stack, channel, made["order_id"]) is None
    # When the reconciliation pull runs for the API that serves the channel (Tokopedia's: TikTok Shop's)
    api = TRANSPORT.get(channel, channel)
    result = stack.invoke("ChannelReconcileFunction", {"channel": api})
    assert result[api]["requested"] >= 1
    if channel == "shopee":  # Shopee also kept the push itself: taken back through its lost-push API
        assert result[channel]["recovered"] >= 1
    # Then the order is fetched and captured
    order = wait_for(lambda: oms_order(stack, channel, made["order_id"]))
    assert {line["sku"] for line in order["lines"]} == {"BTK-PRG-L", "TEH-TUBRUK-100"}
    # And a second pass finds nothing new to fetch for it
    stack.drain()
    again = stack.invoke("ChannelReconcileFunction", {"channel": api})
    assert again[api]["requested"] == 0


@pytest.mark.parametrize("channel", ["shopee", "lazada", "tiktok", "tokopedia"])
def test_stock_and_the_shipment_reach_the_channel_in_its_own_calls(stack: LocalRuntime, channel: str) -> None:
    # Given a marketplace order the OMS allocated to a node (the figure its API shows forgotten first)
    api = TRANSPORT.get(channel, channel)  # Tokopedia's listings are its TikTok shop's products: one stock
    with stack.channels.lock:
        stack.channels.stock.get(api, {}).pop("BTK-PRG-L", None)
    made = sim(stack, "POST", "/_sim/orders", {"channel": channel, "lines": LINES[:1]})
    order = wait_for(lambda: (found := oms_order(stack, channel, made["order_id"])) and found["fulfillments"] and found)
    parcel = order["fulfillments"][0]["fulfillment_id"]
    # Then the stock it reserved reaches the channel (its own stock call, through the channel push)
    shown = wait_for(lambda: sim(stack, "GET", f"/_sim/stock?channel={api}")["stock"].get("BTK-PRG-L"))
    assert shown["atp"] >= 0
    # When the node hands the parcel to the carrier
    tracking = f"JNE{made['order_id'][-8:]}"
    report = {"type": "shipped", "carrier": "jne", "service": "REG", "tracking_number": tracking}
    status, answer = http(
        f"{stack.url}/fulfillments/{parcel}/events", "POST", report, {"x-api-key": DEFAULTS["OMS_API_KEY"] + "_wms"}
    )
    assert status == 200, answer
    # Then the channel is told, in its own call, with the tracking number
    at_channel = wait_for(
        lambda: (view := sim(stack, "GET", f"/_sim/orders/{channel}/{made['order_id']}"))["tracking_number"] and view
    )
    assert (at_channel["tracking_number"], at_channel["status"]) == (tracking, SHIPPED[channel])
    # And the channel's own push about it brings the OMS's view of the channel along
    wait_for(lambda: oms_order(stack, channel, made["order_id"])["channel_status"] == SHIPPED[channel])


def test_a_tokopedia_and_a_tiktok_order_of_one_tiktok_shop_are_filed_under_their_storefronts(
    stack: LocalRuntime,
) -> None:
    # Given a Tokopedia order and a TikTok order of the same TikTok shop (the seller's second), both pushed
    # by TikTok Shop to /webhooks/tiktok
    shop = TIKTOK_SHOPS[1]
    made = {
        channel: sim(stack, "POST", "/_sim/orders", {"channel": channel, "lines": LINES[:1], "shop_id": shop})
        for channel in ("tokopedia", "tiktok")
    }
    for channel, answer in made.items():
        assert (answer["channel"], answer["shop_id"], len(answer["order_id"])) == (channel, shop, 18)
        assert {push["status"] for push in answer["pushed"]} == {200}, answer["pushed"]
    # Then the OMS files each under its storefront, both of that shop
    for channel, answer in made.items():
        order = wait_for(lambda c=channel, a=answer: oms_order(stack, c, a["order_id"]))
        assert (order["channel"], order["channel_order_id"], order["shop_id"]) == (channel, answer["order_id"], shop)
        assert order["channel_status"] == "AWAITING_SHIPMENT"
    # And neither is filed under the other storefront
    for channel, other in (("tokopedia", "tiktok"), ("tiktok", "tokopedia")):
        assert oms_order(stack, other, made[channel]["order_id"]) is None
    # And the OMS fetched both from that shop's TikTok Shop API (its cipher)
    cipher = next(s["shop_cipher"] for s in SHOPS if s["shop_id"] == shop)
    fetched = [
        call["query"].get("ids", "")
        for call in stack.channels.calls_for("tiktok")
        if call["path"] == "/order/202309/orders" and call["query"].get("shop_cipher") == cipher
    ]
    for answer in made.values():
        assert any(answer["order_id"] in ids.split(",") for ids in fetched), fetched


@pytest.mark.parametrize("channel", ["shopee", "tiktok", "tokopedia"])
def test_a_buyers_cancel_request_becomes_the_oms_cancel(stack: LocalRuntime, channel: str) -> None:
    # Given a marketplace order the OMS allocated, still at its node
    made = sim(stack, "POST", "/_sim/orders", {"channel": channel, "lines": LINES[:1]})
    wait_for(lambda: (found := oms_order(stack, channel, made["order_id"])) and found["fulfillments"])
    # When the buyer asks the channel to cancel (and the channel pushes it)
    asked = {"status": "IN_CANCEL"} if channel == "shopee" else {"extra": {"is_buyer_request_cancel": True}}
    sim(stack, "POST", f"/_sim/orders/{channel}/{made['order_id']}", asked)
    # Then the OMS accepts it at the channel, the channel cancels, and the OMS order is cancelled, its stock released
    order = wait_for(
        lambda: (found := oms_order(stack, channel, made["order_id"])) and found["status"] == "cancelled" and found
    )
    assert sim(stack, "GET", f"/_sim/orders/{channel}/{made['order_id']}")["status"] == "CANCELLED"
    assert order["flags"] == []
    released = wait_for(
        lambda: all(p["status"] == "cancelled" for p in oms_order(stack, channel, made["order_id"])["fulfillments"])
    )
    assert released
