"""End to end through the local stack (issue 19): parcels shipped on the marketplaces' own couriers
(Shopee pickup with a resi that comes late, Lazada packed then ready to ship, TikTok Shop and Tokopedia
drop-off, both through the TikTok Shop API), a web order booked with the retailer's courier (Biteship)
and drawn on the OMS's own label, one print job for them all, the refusals, and a parcel handed over
when the marketplace says its courier has it."""

from __future__ import annotations

import io
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from pypdf import PdfReader

from oms_local import LocalRuntime
from oms_local.logistics_sim import lazada as lazada_sim
from oms_local.logistics_sim import shopee as shopee_sim
from oms_local.sim_formats import tiktok as tiktok_docs
from tests.e2e.test_marketplaces_local import LINES, oms_order, sim
from tests.e2e.test_sourcing_local import JAKARTA, get_order
from tests.e2e.test_stock_local import OPS, WEB, http
from tests.support import ROOT, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRuntime]:
    runtime = LocalRuntime(
        ROOT / "template.yaml", port=0, moto_port=0, channel_port=0, data_dir=tmp_path_factory.mktemp("oms-ship"),
        seed=True, parameter_overrides={"ResiPollSeconds": "1"},
    )  # fmt: skip
    with runtime:
        yield runtime


def marketplace_parcel(stack: LocalRuntime, channel: str) -> tuple[dict, str]:
    """A new paid order at the channel, captured and allocated: (the simulator's order, its OMS parcel id)."""
    made = sim(stack, "POST", "/_sim/orders", {"channel": channel, "lines": LINES[1:]})
    order = wait_for(lambda: (o := oms_order(stack, channel, made["order_id"])) and o["fulfillments"] and o)
    return made, order["fulfillments"][0]["fulfillment_id"]


def shipping_of(stack: LocalRuntime, parcel_id: str) -> dict[str, Any] | None:
    order = get_order(stack, parcel_id.rsplit("-F", 1)[0])
    return next(f for f in order["fulfillments"] if f["fulfillment_id"] == parcel_id).get("shipping")


def wait_state(stack: LocalRuntime, parcel_id: str, state: str) -> dict[str, Any]:
    return wait_for(lambda: (s := shipping_of(stack, parcel_id)) and s["state"] == state and s, timeout=60)


def test_marketplace_parcels_are_arranged_get_their_resi_and_labels_and_print_in_one_job(stack: LocalRuntime) -> None:
    shopee, shopee_parcel = marketplace_parcel(stack, "shopee")
    lazada, lazada_parcel = marketplace_parcel(stack, "lazada")
    _, tiktok_parcel = marketplace_parcel(stack, "tiktok")
    shopee_sim.set_resi_delay(stack.channels.marketplaces, shopee["order_id"], 2)  # empty twice, then the resi

    status, options = http(stack, "GET", f"/shipping/options?parcel_ids={shopee_parcel},{tiktok_parcel}", None, OPS)
    assert status == 200, options
    assert options[0]["pickup"] and options[0]["slots"], options
    pickup = {"parcel_ids": [shopee_parcel], "handover": "pickup", "slot_id": options[0]["slots"][0]["slot_id"]}
    status, answer = http(stack, "POST", "/shipping/arrange", pickup, OPS)
    assert (status, answer["accepted"]) == (202, 1), answer
    status, answer = http(stack, "POST", "/shipping/arrange",
                          {"parcel_ids": [lazada_parcel, tiktok_parcel], "handover": "dropoff"}, OPS)  # fmt: skip
    assert (status, answer["accepted"]) == (202, 2), answer

    shopee_shipping = wait_state(stack, shopee_parcel, "label_ready")
    assert shopee_shipping["resi"] and shopee_shipping["resi_asks"] == 3  # asked three times: empty, empty, the resi
    lazada_shipping = wait_state(stack, lazada_parcel, "label_ready")
    assert lazada_shipping["resi"] and lazada_shipping["ready_to_ship_at"]  # packed, AWB kept, then ready to ship
    assert sim(stack, "GET", f"/_sim/orders/lazada/{lazada['order_id']}")["status"] == "ready_to_ship"
    wait_state(stack, tiktok_parcel, "label_ready")

    # The lists follow: three to print
    listed = wait_for(lambda: (page := http(stack, "GET", "/shipping/parcels?state=label_ready", None, OPS)[1])
                      and {shopee_parcel, lazada_parcel, tiktok_parcel} <= {r["parcel_id"] for r in page["items"]}
                      and page)  # fmt: skip
    assert {r["channel"] for r in listed["items"]} >= {"shopee", "lazada", "tiktok"}
    # One shop's parcels (a seller prints per shop)
    shop_rows = http(stack, "GET", "/shipping/parcels?state=label_ready&shop_id=880011", None, OPS)[1]["items"]
    assert shopee_parcel in {r["parcel_id"] for r in shop_rows} and {r["shop_id"] for r in shop_rows} == {"880011"}

    # Arranged already: 409 with each parcel's reason
    again = {"parcel_ids": [shopee_parcel], "handover": "pickup"}
    status, refused = http(stack, "POST", "/shipping/arrange", again, OPS)
    assert status == 409 and "arranged already (label_ready)" in refused["details"][0]["reason"], refused

    # One print job: the three labels, a pick list and three packing lists; an unknown parcel is reported
    body = {"parcel_ids": [shopee_parcel, lazada_parcel, tiktok_parcel, "ord_nope-F1"], "layout": "a6"}
    status, job = http(stack, "POST", "/shipping/print-jobs", body, OPS)
    assert status == 201, job
    assert (job["printed"], job["failed"]) == (3, 1)
    with urllib.request.urlopen(job["download_url"], timeout=20) as response:
        pdf = response.read()
    assert pdf.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == job["pages"] >= 3 + 1 + 3
    assert wait_state(stack, shopee_parcel, "printed")["printed_count"] == 1

    # The marketplace's courier picks it up: the parcel is handed over, with its resi as the tracking number
    sim(stack, "POST", f"/_sim/orders/shopee/{shopee['order_id']}", {"status": "SHIPPED", "push": True})
    parcel = wait_for(lambda: (o := get_order(stack, shopee_parcel.rsplit("-F", 1)[0]))
                      and o["fulfillments"][0]["status"] == "shipped" and o["fulfillments"][0])  # fmt: skip
    assert parcel["shipment"]["tracking_number"] == shopee_shipping["resi"]


def test_a_refused_arrange_shows_the_marketplaces_reason_and_may_be_arranged_again(stack: LocalRuntime) -> None:
    made, parcel = marketplace_parcel(stack, "lazada")
    lazada_sim.set_pack_failure(stack.channels.marketplaces, made["order_id"], "700008", "Package weight is invalid")
    assert http(stack, "POST", "/shipping/arrange", {"parcel_ids": [parcel], "handover": "dropoff"}, OPS)[0] == 202
    failed = wait_state(stack, parcel, "arrange_failed")
    assert "Package weight is invalid" in failed["failure"]["message"]
    assert http(stack, "POST", "/shipping/arrange", {"parcel_ids": [parcel], "handover": "dropoff"}, OPS)[0] == 202
    wait_state(stack, parcel, "label_ready")


def test_a_web_order_is_booked_with_biteship_and_gets_the_oms_label(stack: LocalRuntime) -> None:
    body = {
        "channel": "web", "channel_order_id": "W-SHIP-1", "placed_at": "2026-12-08T09:00:00+07:00",
        "customer": {"name": "Siti Rahayu", "email": "siti@example.co.id"},
        "shipping_address": {**JAKARTA, "phone": "+6281234567890"},
        "payment": {"status": "pending", "cod": True, "method": "cod"},
        "lines": [{"line_id": "1", "sku": "TEH-TUBRUK-100", "quantity": 2, "unit_price": "25000"}],
        "totals": {"subtotal": "50000", "shipping": "15000", "grand_total": "65000"},
    }  # fmt: skip
    status, created = http(stack, "POST", "/orders", body, WEB)
    assert status == 201, created
    order = wait_for(lambda: (o := get_order(stack, created["order_id"])) and o["fulfillments"] and o)
    parcel = order["fulfillments"][0]["fulfillment_id"]

    status, rates = http(stack, "GET", f"/shipping/rates?parcel_id={parcel}", None, OPS)
    assert status == 200 and rates, rates
    status, answer = http(stack, "POST", "/shipping/bookings", {"parcel_ids": [parcel]}, OPS)
    assert (status, answer["accepted"]) == (202, 1), answer
    shipping = wait_state(stack, parcel, "label_ready")
    assert shipping["arranged_by"] == "own_courier" and shipping["booking_id"] and shipping["resi"]

    request = urllib.request.Request(f"{stack.url}/shipping/parcels/{parcel}/label", headers=OPS)
    with urllib.request.urlopen(request, timeout=20) as response:
        assert response.headers["content-type"] == "application/pdf"
        text = PdfReader(io.BytesIO(response.read())).pages[0].extract_text()
    assert shipping["resi"] in text and "COD Rp 65.000" in text

    # Booked already: a second booking is refused with the reason
    status, refused = http(stack, "POST", "/shipping/bookings", {"parcel_ids": [parcel]}, OPS)
    assert status == 409 and refused["details"][0]["reason"] == "arranged already (label_ready)", refused


def test_a_second_shopee_shops_order_lands_on_its_own_shop_and_ships_with_its_credentials(stack: LocalRuntime) -> None:
    status, shops = http(stack, "GET", "/shops", None, OPS)
    assert status == 200, shops
    listed = {(s["channel"], s["shop_id"]): s["state"] for s in shops["items"]}
    assert listed[("shopee", "880022")] == listed[("tiktok", "7494049642642441622")] == "connected", listed
    assert len([key for key in listed if key[0] == "shopee"]) == 2 and len([k for k in listed if k[0] == "tiktok"]) == 2

    made = sim(stack, "POST", "/_sim/orders", {"channel": "shopee", "shop_id": "880022", "lines": LINES[1:]})
    order = wait_for(lambda: (o := oms_order(stack, "shopee", made["order_id"])) and o["fulfillments"] and o)
    assert order["shop_id"] == "880022"
    parcel = order["fulfillments"][0]["fulfillment_id"]
    assert http(stack, "POST", "/shipping/arrange", {"parcel_ids": [parcel], "handover": "dropoff"}, OPS)[0] == 202
    wait_state(stack, parcel, "label_ready")  # the simulated Shopee takes only shop 880022's token for it
    calls = sim(stack, "GET", "/_sim/calls?channel=shopee")["calls"]
    arranged = [
        c for c in calls if c["path"].startswith("/api/v2/logistics/") and c["query"].get("shop_id") == "880022"
    ]
    assert arranged, "no logistics call was made as shop 880022"


def test_a_tokopedia_parcel_ships_by_drop_off_through_the_tiktok_shop_api_under_its_own_mark(
    stack: LocalRuntime,
) -> None:
    # Given a Tokopedia order of the second TikTok shop, captured and allocated
    shop = "7494049642642441622"
    made = sim(stack, "POST", "/_sim/orders", {"channel": "tokopedia", "shop_id": shop, "lines": LINES[1:]})
    order = wait_for(lambda: (o := oms_order(stack, "tokopedia", made["order_id"])) and o["fulfillments"] and o)
    assert (order["channel"], order["shop_id"]) == ("tokopedia", shop)
    parcel = order["fulfillments"][0]["fulfillment_id"]
    # When it is arranged for drop-off
    status, answer = http(stack, "POST", "/shipping/arrange", {"parcel_ids": [parcel], "handover": "dropoff"}, OPS)
    assert (status, answer["accepted"]) == (202, 1), answer
    # Then TikTok Shop's package calls shipped it as that shop, and the order moved on at the channel
    shipping = wait_state(stack, parcel, "label_ready")
    assert shipping["resi"]
    view = sim(stack, "GET", f"/_sim/orders/tokopedia/{made['order_id']}")
    assert (view["status"], view["tracking_number"]) == ("AWAITING_COLLECTION", shipping["resi"])
    package = tiktok_docs.order_detail(stack.channels.marketplaces.get("tokopedia", made["order_id"]))["packages"][0]
    calls = sim(stack, "GET", "/_sim/calls?channel=tiktok")["calls"]
    about = [c for c in calls if c["path"].startswith(f"/fulfillment/202309/packages/{package['id']}")]
    assert {c["query"].get("shop_cipher") for c in about} == {"ROW_local_shop_cipher_2"}, about
    assert [c["body"] for c in about if c["path"].endswith("/ship") and c["answered"] == 200] == [
        {"handover_method": "DROP_OFF"}
    ]
    # And its label carries Tokopedia's mark, no TikTok branding
    request = urllib.request.Request(f"{stack.url}/shipping/parcels/{parcel}/label", headers=OPS)
    with urllib.request.urlopen(request, timeout=20) as response:
        text = PdfReader(io.BytesIO(response.read())).pages[0].extract_text()
    assert "Tokopedia & Shop" in text and shipping["resi"] in text
    assert "tiktok" not in text.lower()
