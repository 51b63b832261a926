"""Shopee shipping on its own couriers (oms.adapters.marketplace_api.shopee_logistics) against the simulated
Shopee (oms_local.logistics_sim.shopee), in process: every call signed and checked by the simulator, answered
in the vendor's shapes, over the real ChannelHttp with a pool that hands requests to the simulator."""

from __future__ import annotations

import dataclasses
import io
import json
import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pypdf import PdfReader

from oms.adapters.marketplace_api import http as http_module
from oms.adapters.marketplace_api.http import ChannelHttp, Deadline, RateLimiter
from oms.adapters.marketplace_api.shopee import ShopeeApi, ShopeeError
from oms.adapters.marketplace_api.shopee_logistics import ShopeeLogistics, logistics
from oms.errors import DependencyError
from oms.models.common import Channel
from oms.ports.logistics import ArrangeRequest, ShipParcel
from oms_local.logistics_sim import shopee as shopee_sim
from oms_local.marketplace_sim import MarketplaceSim
from oms_local.sim_formats import shopee as shopee_docs
from tests.fakes import FakeSecrets

SETTINGS = {
    "OMS_SHOPEE_PARTNER_ID": "2001887",
    "OMS_SHOPEE_PARTNER_KEY": "shopee_unit_partner_key",
    "OMS_SHOPEE_SHOP_ID": "880011",
    "OMS_SHOPEE_ACCESS_TOKEN": "shopee_unit_access_token",
    "OMS_SHOPEE_REFRESH_TOKEN": "shopee_unit_refresh_token",
}
SECRETS = {
    "shopee/partner_id": "2001887",
    "shopee/partner_key": "shopee_unit_partner_key",
    "shopee/shop_id": "880011",
    "shopee/access_token": "shopee_unit_access_token",
}
LINES = [{"sku": "KOP-GAYO-250", "quantity": 2, "unit_price": 89000}]
SLOT_LABEL = re.compile(r"^(Sen|Sel|Rab|Kam|Jum|Sab|Min) \d{1,2} [A-Z][a-z]{2} \d\d:\d\d-\d\d:\d\d WIB, Jakarta Timur$")


class SimResponse:
    def __init__(self, status: int, data: bytes) -> None:
        self.status = status
        self.data = data
        self.headers: dict[str, str] = {}


class SimPool:
    """urllib3's PoolManager.request, answered in process by the marketplace simulator (paths are recorded;
    `statuses` are answered first, before the simulator sees the request)."""

    def __init__(self, sim: MarketplaceSim) -> None:
        self.sim = sim
        self.paths: list[str] = []
        self.statuses: list[int] = []

    def request(self, method: str, url: str, body: bytes | None = None, headers: dict | None = None, **_) -> Any:
        parts = urlsplit(url)
        path = parts.path.removeprefix("/shopee")
        self.paths.append(path)
        if self.statuses:
            return SimResponse(self.statuses.pop(0), b'{"error": "simulated failure"}')
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        served = self.sim.serve("shopee", method, path, query, body or b"", headers or {})
        status, payload = served if served is not None else (404, {"error": "not_found", "message": path})
        return SimResponse(status, payload if isinstance(payload, bytes) else json.dumps(payload).encode())

    def count(self, path_end: str) -> int:
        return sum(path.endswith(path_end) for path in self.paths)


@pytest.fixture
def sim() -> MarketplaceSim:
    return MarketplaceSim(SETTINGS)


@pytest.fixture
def pool(sim: MarketplaceSim) -> SimPool:
    return SimPool(sim)


def connect(pool: SimPool, **secrets: str) -> ShopeeLogistics:
    http = ChannelHttp("shopee", "http://shopee.sim/shopee", RateLimiter(10_000, burst=10_000), Deadline(), pool)
    return logistics(ShopeeApi(http, FakeSecrets({**SECRETS, **secrets}), clock=lambda: 1_765_000_000))


@pytest.fixture
def shopee(pool: SimPool) -> ShopeeLogistics:
    return connect(pool)


def new_orders(sim: MarketplaceSim, count: int) -> list[ShipParcel]:
    made = [sim.create({"channel": "shopee", "lines": LINES}) for _ in range(count)]
    return [ShipParcel(f"F-{o.order_id}", Channel.shopee, None, o.order_id) for o in made]


def status_of(sim: MarketplaceSim, parcel: ShipParcel) -> str:
    return sim.get("shopee", parcel.channel_order_id).status


def handover_of(sim: MarketplaceSim, package_id: str) -> dict:
    return sim.logistics_state["shopee"]["packages"][package_id]["handover"]


def arranged(shopee: ShopeeLogistics, parcels: list[ShipParcel], method: str = "pickup") -> list[ShipParcel]:
    outcomes = shopee.arrange([ArrangeRequest(p, method) for p in parcels])
    assert all(o.ok for o in outcomes.values())
    return [dataclasses.replace(p, package_id=outcomes[p.parcel_id].package_id) for p in parcels]


# --- handover options


def test_options_name_the_pickup_slots_in_wib_with_the_address_city(sim, pool, shopee):
    [parcel] = new_orders(sim, 1)
    options = shopee.handover_options([parcel])[parcel.parcel_id]
    assert options.error is None
    assert options.pickup and options.dropoff
    assert options.package_id.startswith("OFG")
    assert options.carrier == "J&T Express"
    assert len(options.slots) == 3
    for slot in options.slots:
        assert re.fullmatch(r"20011:\d+", slot.slot_id)  # "<address_id>:<pickup_time_id>"
        assert SLOT_LABEL.match(slot.label), slot.label
        assert slot.start.utcoffset() == timedelta(hours=7)
        assert slot.start < slot.end
    assert [s.start for s in options.slots] == sorted(s.start for s in options.slots)
    assert pool.count("get_order_detail") == 1 and pool.count("get_shipping_parameter") == 1


def test_options_for_many_packages_of_one_channel_take_one_mass_call(sim, pool, shopee):
    parcels = new_orders(sim, 3)
    options = shopee.handover_options(parcels)
    assert all(len(o.slots) == 3 and o.error is None for o in options.values())
    assert pool.count("get_mass_shipping_parameter") == 1
    assert pool.count("get_shipping_parameter") == 0
    assert shopee.calls() == 2  # the orders' packages, then the parameters


def test_an_order_shopee_does_not_know_gets_no_options(sim, shopee):
    parcel = ShipParcel("F-1", Channel.shopee, None, "261207NOSUCH01")
    options = shopee.handover_options([parcel])[parcel.parcel_id]
    assert options.error == "shopee does not know order 261207NOSUCH01"
    assert not options.pickup and not options.slots


# --- arrange


def test_sixty_pickups_take_two_mass_ship_order_calls(sim, pool, shopee):
    parcels = new_orders(sim, 60)
    options = shopee.handover_options(parcels)
    slot = options[parcels[0].parcel_id].slots[1]
    before = shopee.calls()
    outcomes = shopee.arrange([ArrangeRequest(p, "pickup", slot_id=slot.slot_id) for p in parcels])
    assert shopee.calls() - before == 2  # 50 + 10 packages of one channel: two mass_ship_order calls
    assert pool.count("mass_ship_order") == 2
    assert all(o.ok for o in outcomes.values()) and len(outcomes) == 60
    assert {status_of(sim, p) for p in parcels} == {"PROCESSED"}
    package_id = outcomes[parcels[59].parcel_id].package_id
    assert handover_of(sim, package_id) == {"address_id": 20011, "pickup_time_id": slot.slot_id.split(":")[1]}


def test_a_pickup_without_a_slot_takes_the_earliest(sim, pool, shopee):
    [parcel] = new_orders(sim, 1)
    earliest = shopee.handover_options([parcel])[parcel.parcel_id].slots[0]
    [outcome] = shopee.arrange([ArrangeRequest(parcel, "pickup")]).values()
    assert outcome.ok
    assert pool.count("/ship_order") == 1  # one parcel: ship_order, not the mass call
    assert handover_of(sim, outcome.package_id)["pickup_time_id"] == earliest.slot_id.split(":")[1]


def test_dropoff_goes_to_the_first_branch_shopee_offers(sim, shopee):
    parcels = new_orders(sim, 2)
    outcomes = shopee.arrange([ArrangeRequest(p, "dropoff") for p in parcels])
    assert all(o.ok for o in outcomes.values())
    assert {status_of(sim, p) for p in parcels} == {"PROCESSED"}
    assert handover_of(sim, outcomes[parcels[0].parcel_id].package_id) == {"branch_id": 41001}


def test_a_dropoff_asking_for_the_senders_name_gets_the_shop_name(sim, pool):
    [parcel] = new_orders(sim, 1)
    shopee_sim.require_sender_real_name(sim, parcel.channel_order_id)
    shopee = connect(pool, **{"shopee/shop_name": "Kopi Nusantara Official"})
    [outcome] = shopee.arrange([ArrangeRequest(parcel, "dropoff")]).values()
    assert outcome.ok
    assert handover_of(sim, outcome.package_id)["sender_real_name"] == "Kopi Nusantara Official"


def test_one_refusal_in_a_batch_leaves_the_others_arranged(sim, shopee):
    parcels = new_orders(sim, 3)
    words = "Alamat pickup di luar area layanan kurir"
    shopee_sim.set_arrange_failure(sim, parcels[1].channel_order_id, "logistics.address_out_of_service", words)
    outcomes = shopee.arrange([ArrangeRequest(p, "pickup") for p in parcels])
    refused = outcomes[parcels[1].parcel_id]
    assert not refused.ok and not refused.retryable
    assert refused.message == words  # mass_ship_order's fail_reason, the vendor's own words
    assert refused.package_id is not None
    assert [outcomes[p.parcel_id].ok for p in (parcels[0], parcels[2])] == [True, True]
    assert status_of(sim, parcels[1]) == "READY_TO_SHIP"


def test_a_lone_refusal_keeps_shopees_error_code(sim, shopee):
    [parcel] = new_orders(sim, 1)
    shopee_sim.set_arrange_failure(sim, parcel.channel_order_id, "logistics.address_out_of_service", "Di luar area")
    [outcome] = shopee.arrange([ArrangeRequest(parcel, "pickup")]).values()
    assert not outcome.ok
    assert (outcome.error_code, outcome.message) == ("logistics.address_out_of_service", "Di luar area")


def test_an_unknown_slot_is_refused_without_a_call(sim, shopee):
    [parcel] = new_orders(sim, 1)
    shopee.handover_options([parcel])
    before = shopee.calls()
    [outcome] = shopee.arrange([ArrangeRequest(parcel, "pickup", slot_id="tomorrow")]).values()
    assert not outcome.ok and outcome.message == "not a shopee pickup slot: tomorrow"
    assert status_of(sim, parcel) == "READY_TO_SHIP"
    assert shopee.calls() - before == 1  # only the check that the order is not arranged after all


def test_an_already_arranged_parcel_counts_as_arranged(sim, pool, shopee):
    parcels = arranged(shopee, new_orders(sim, 2))
    # Asked again on the same instance (it read the orders before they were arranged): Shopee refuses, the
    # orders read again show them arranged.
    again = shopee.arrange([ArrangeRequest(p, "pickup") for p in parcels])
    assert all(o.ok and o.package_id for o in again.values())
    # Asked by a new instance: the orders it reads show them arranged, and nothing is sent.
    fresh = connect(pool)
    shipped_before = pool.count("ship_order")
    assert all(o.ok for o in fresh.arrange([ArrangeRequest(p, "pickup") for p in parcels]).values())
    assert pool.count("ship_order") == shipped_before
    assert fresh.calls() == 1


def test_a_failed_pickup_is_arranged_again_with_update_shipping_order(sim, pool, shopee):
    [parcel] = arranged(shopee, new_orders(sim, 1))
    sim.change("shopee", parcel.channel_order_id, {"status": "RETRY_SHIP"})
    [outcome] = shopee.arrange([ArrangeRequest(parcel, "pickup", again=True)]).values()
    assert outcome.ok
    assert pool.count("update_shipping_order") == 1
    assert status_of(sim, parcel) == "PROCESSED"


# --- resi


@pytest.mark.parametrize("count", [1, 2])
def test_the_resi_comes_late_empty_twice_then_present(sim, pool, shopee, count):
    parcels = arranged(shopee, new_orders(sim, count))
    for parcel in parcels:
        shopee_sim.set_resi_delay(sim, parcel.channel_order_id, 2)
    asks = [shopee.resi(parcels) for _ in range(3)]
    for parcel in parcels:
        first, second, third = (answer[parcel.parcel_id] for answer in asks)
        assert (first.resi, second.resi) == (None, None)
        assert first.error is None and first.retryable
        assert third.resi and third.resi.startswith("SPXID")
        assert third.package_id == parcel.package_id
    assert pool.count("get_mass_tracking_number" if count > 1 else "get_tracking_number") == 3


def test_a_resi_before_arranging_is_shopees_refusal(sim, shopee):
    [parcel] = new_orders(sim, 1)
    outcome = shopee.resi([parcel])[parcel.parcel_id]
    assert outcome.resi is None and not outcome.retryable
    assert outcome.error == "The order has not been arranged shipment yet."


# --- labels


def with_resi(shopee: ShopeeLogistics, parcels: list[ShipParcel]) -> list[ShipParcel]:
    found = shopee.resi(parcels)
    return [dataclasses.replace(p, resi=found[p.parcel_id].resi) for p in parcels]


def test_a_label_is_processing_then_a_pdf_with_the_resi(sim, shopee):
    parcels = with_resi(shopee, arranged(shopee, new_orders(sim, 2)))
    first = shopee.labels(parcels)
    assert all(o.pending and o.pdf is None and o.error is None for o in first.values())
    second = shopee.labels(parcels)
    for parcel in parcels:
        pdf = second[parcel.parcel_id].pdf
        assert pdf is not None and pdf.startswith(b"%PDF")
        text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
        assert "SHOPEE" in text and parcel.channel_order_id in text and parcel.resi in text


def test_a_thermal_label_shopee_zips_is_unzipped(sim, shopee):
    shopee_sim.set_thermal_zip(sim)
    [parcel] = with_resi(shopee, arranged(shopee, new_orders(sim, 1)))
    shopee.labels([parcel])
    outcome = shopee.labels([parcel])[parcel.parcel_id]
    assert outcome.pdf is not None and outcome.pdf.startswith(b"%PDF")


def test_a_label_needs_the_resi_first(sim, pool, shopee):
    [parcel] = arranged(shopee, new_orders(sim, 1))
    before = shopee.calls()
    outcome = shopee.labels([parcel])[parcel.parcel_id]
    assert (outcome.error, outcome.retryable, outcome.pdf) == ("no tracking number yet", True, None)
    assert shopee.calls() == before


def test_a_label_for_an_unarranged_order_is_shopees_refusal(sim, shopee):
    [parcel] = new_orders(sim, 1)
    outcome = shopee.labels([dataclasses.replace(parcel, resi="SPXID000000000001")])[parcel.parcel_id]
    assert outcome.error == "The package can not print now." and not outcome.retryable and not outcome.pending


# --- Shopee busy, Shopee down


def test_a_busy_shopee_is_retryable(sim, shopee):
    parcels = new_orders(sim, 2)
    shopee.handover_options(parcels)
    shopee_sim.set_busy(sim, times=1)
    outcomes = shopee.arrange([ArrangeRequest(p, "pickup") for p in parcels])
    assert all(not o.ok and o.retryable and o.error_code == "error_busi_system" for o in outcomes.values())
    assert {status_of(sim, p) for p in parcels} == {"READY_TO_SHIP"}
    assert all(o.ok for o in shopee.arrange([ArrangeRequest(p, "pickup") for p in parcels]).values())


def test_a_busy_shopee_leaves_resi_and_labels_to_later(sim, shopee):
    parcels = with_resi(shopee, arranged(shopee, new_orders(sim, 2)))
    shopee_sim.set_busy(sim, times=2)
    assert all(o.retryable and o.resi is None and o.error for o in shopee.resi(parcels).values())
    assert all(o.retryable and o.pdf is None and o.error for o in shopee.labels(parcels).values())


def test_an_unreachable_shopee_raises_dependency_error(sim, pool, shopee, monkeypatch):
    monkeypatch.setattr(http_module, "BACKOFF_S", 0.0)  # the client's retries, without their waits
    parcels = new_orders(sim, 1)
    pool.statuses = [503, 503, 503]
    with pytest.raises(DependencyError, match="503"):
        shopee.arrange([ArrangeRequest(p, "pickup") for p in parcels])


# --- the simulator keeps the vendor's limits


def test_the_simulator_refuses_a_batch_over_fifty(pool):
    api = connect(pool).api
    body = {"package_list": [{"package_number": f"OFG{n}"} for n in range(51)], "pickup": {"address_id": 20011}}
    with pytest.raises(ShopeeError) as refused:
        api.call("POST", "/api/v2/logistics/mass_ship_order", None, {}, json.dumps(body).encode())
    assert refused.value.error == "error_param"


def test_the_sellers_own_courier_is_left_to_the_simulators_ship_order(sim, pool):
    [parcel] = new_orders(sim, 1)
    body = {"order_sn": parcel.channel_order_id, "non_integrated": {"tracking_number": "JNE0012345678"}}
    connect(pool).api.call("POST", "/api/v2/logistics/ship_order", None, {}, json.dumps(body).encode())
    assert status_of(sim, parcel) == "SHIPPED"


def test_shopee_has_no_ready_to_ship_step(shopee):
    assert shopee.ready_to_ship([]) == {}


# --- one order, several parcels: split into packages before arranging


TWO_NODES = [
    {"sku": "KOP-GAYO-250", "quantity": 2, "unit_price": 89000},
    {"sku": "TEH-MELATI-100", "quantity": 1, "unit_price": 25000},
]


def split_parcels(sim: MarketplaceSim, lines: list[dict] | None = None) -> tuple[str, ShipParcel, ShipParcel]:
    """An order of 2 + 1 units planned as two parcels (one from each node), each naming the other as its
    sibling by the OMS's line ids ("<order_item_id>-<model_id>")."""
    order = sim.create({"channel": "shopee", "lines": lines or TWO_NODES})
    items = shopee_docs.order_detail(order)["item_list"]
    coffee, tea = (f"{i['order_item_id']}-{i['model_id']}" for i in items)
    first = ShipParcel(f"F-{order.order_id}-1", Channel.shopee, None, order.order_id, line_ids=(coffee,),
                       line_quantities=(2,), siblings=(((tea,), (1,)),))  # fmt: skip
    second = ShipParcel(f"F-{order.order_id}-2", Channel.shopee, None, order.order_id, line_ids=(tea,),
                        line_quantities=(1,), siblings=(((coffee,), (2,)),))  # fmt: skip
    return order.order_id, first, second


def packages_of(sim: MarketplaceSim, order_sn: str) -> dict[str, set[str]]:
    detail = shopee_docs.order_detail(sim.get("shopee", order_sn))
    skus = {i["item_id"]: i["model_sku"] for i in detail["item_list"]}
    return {p["package_number"]: {skus[i["item_id"]] for i in p["item_list"]} for p in detail["package_list"]}


def test_an_order_of_two_parcels_is_split_and_each_parcel_ships_its_own_package(sim, pool, shopee):
    # Given one order planned as two parcels, its one package holding both
    order_sn, first, second = split_parcels(sim)
    # When the first parcel is arranged
    done = shopee.arrange([ArrangeRequest(first, "dropoff")])[first.parcel_id]
    # Then the order was split (one split_order call) into two packages, the first's holding the coffee alone
    packages = packages_of(sim, order_sn)
    assert done.ok and len(packages) == 2 and packages[done.package_id] == {"KOP-GAYO-250"}
    assert pool.count("/split_order") == 1
    assert sim.get("shopee", order_sn).status == "READY_TO_SHIP"  # the tea is not arranged yet
    # When the second parcel is arranged later, by another instance
    later = connect(pool).arrange([ArrangeRequest(second, "dropoff")])[second.parcel_id]
    # Then the order is not split again and the other package is arranged
    assert later.ok and packages[later.package_id] == {"TEH-MELATI-100"}
    assert pool.count("/split_order") == 1
    assert sim.get("shopee", order_sn).status == "PROCESSED"
    # And each parcel gets its own resi and label
    both = [
        dataclasses.replace(first, package_id=done.package_id),
        dataclasses.replace(second, package_id=later.package_id),
    ]
    resis = shopee.resi(both)
    assert resis[first.parcel_id].resi and resis[second.parcel_id].resi
    assert resis[first.parcel_id].resi != resis[second.parcel_id].resi
    with_resi = [dataclasses.replace(p, resi=resis[p.parcel_id].resi) for p in both]
    assert all(label.pending for label in shopee.labels(with_resi).values())
    labels = shopee.labels(with_resi)
    for parcel in with_resi:
        text = PdfReader(io.BytesIO(labels[parcel.parcel_id].pdf)).pages[0].extract_text()
        assert parcel.resi in text


def test_options_split_first_and_a_retried_arrange_does_not_split_again(sim, pool, shopee):
    _, first, second = split_parcels(sim)
    options = shopee.handover_options([first, second])
    assert options[first.parcel_id].package_id != options[second.parcel_id].package_id
    assert options[first.parcel_id].error is None and options[second.parcel_id].pickup
    both = shopee.arrange([ArrangeRequest(first, "dropoff"), ArrangeRequest(second, "dropoff")])
    assert both[first.parcel_id].package_id == options[first.parcel_id].package_id
    assert all(o.ok for o in both.values())
    again = connect(pool).arrange([ArrangeRequest(first, "dropoff")])[first.parcel_id]
    assert again.ok and again.package_id == options[first.parcel_id].package_id
    assert pool.count("/split_order") == 1


def test_a_split_shopee_refuses_is_that_parcels_failure_in_its_words(sim, shopee):
    # Given a shop without Shopee's split permission, and another order in the same batch
    order_sn, first, _ = split_parcels(sim)
    [other] = new_orders(sim, 1)
    words = "You don't have the permission to split order."
    shopee_sim.set_split_failure(sim, order_sn, "error_permission", words)
    outcomes = shopee.arrange([ArrangeRequest(first, "dropoff"), ArrangeRequest(other, "dropoff")])
    # Then that parcel fails in Shopee's words, nothing of its order is arranged, and the other order is
    assert (outcomes[first.parcel_id].ok, outcomes[first.parcel_id].message) == (False, words)
    assert sim.get("shopee", order_sn).status == "READY_TO_SHIP" and len(packages_of(sim, order_sn)) == 1
    assert outcomes[other.parcel_id].ok


def test_units_of_one_item_across_parcels_are_refused_for_an_indonesian_shop(sim, shopee):
    # Given one order of 3 units of one model, planned 2 + 1 (unit-level split: whitelisted shops only)
    order = sim.create({"channel": "shopee", "lines": [{"sku": "KOP-GAYO-250", "quantity": 3, "unit_price": 89000}]})
    [item] = shopee_docs.order_detail(order)["item_list"]
    line = f"{item['order_item_id']}-{item['model_id']}"
    parcel = ShipParcel("F-1", Channel.shopee, None, order.order_id, line_ids=(line,), line_quantities=(2,),
                        siblings=(((line,), (1,)),))  # fmt: skip
    # Then its options say Shopee's refusal, and nothing was split
    options = shopee.handover_options([parcel])["F-1"]
    assert options.error == "Unit-level split is only for whitelisted shops in SG/TH/TW/MY."
    assert len(packages_of(sim, order.order_id)) == 1


def test_an_order_no_longer_ready_to_ship_cannot_be_split(sim, shopee):
    order_sn, first, _ = split_parcels(sim)
    sim.change("shopee", order_sn, {"status": "IN_CANCEL"})
    refused = shopee.arrange([ArrangeRequest(first, "pickup")])[first.parcel_id]
    assert not refused.ok and refused.message == "Orders can be split only when the order status is READY_TO_SHIP."
