"""TikTok Shop shipping on the platform's couriers: the adapter against the channel simulator, in process
(the simulator checks each call's signature and shop token as TikTok does)."""

from __future__ import annotations

import dataclasses
import io
import re
import time
from collections.abc import Callable

import pytest
from pypdf import PdfReader

from oms.adapters.marketplace_api import tiktok_logistics
from oms.adapters.marketplace_api.documents import DocumentExpired
from oms.adapters.marketplace_api.tiktok import TiktokApi
from oms.adapters.marketplace_api.tiktok_logistics import TiktokLogistics, logistics
from oms.domain.clock import WIB
from oms.errors import DependencyError
from oms.models.common import Channel
from oms.ports.logistics import ArrangeRequest, ShipParcel
from oms_local.logistics_sim import tiktok as tiktok_sim
from oms_local.marketplace_sim import MarketplaceSim
from oms_local.seed import DEFAULTS
from oms_local.sim_formats import SimOrder
from oms_local.sim_formats import tiktok as tiktok_docs
from tests.fakes import FakeSecrets

SHIP_BATCH = "/fulfillment/202309/packages/ship"
LINES = [{"sku": "KOP-GAYO-250", "quantity": 2, "unit_price": 89000}]
SLOT_LABEL = re.compile(r"^(Sen|Sel|Rab|Kam|Jum|Sab|Min) \d{1,2} [A-Z][a-z]{2} 13:00-17:00 WIB$")


class SimHttp:
    """ChannelHttp.request answered by the simulator in process. From call `down_from` on, TikTok is
    throttled past the client's retries, which ChannelHttp reports as DependencyError."""

    def __init__(self, sim: MarketplaceSim, route: Callable | None = None) -> None:
        self.sim = sim
        self.route = route or (
            lambda method, path, query, raw, headers: sim.serve("tiktok", method, path, query, raw, headers)
        )
        self.sent: list[tuple[str, str, dict, bytes]] = []
        self.down_from: int | None = None

    def request(self, method, path, *, query=None, body=None, headers=None, what="API", attempts=3):
        self.sent.append((method, path, dict(query or {}), body or b""))
        if self.down_from is not None and len(self.sent) >= self.down_from:
            raise DependencyError(f"tiktok {what} answered 429 after {attempts} tries")
        lowered = {name.lower(): value for name, value in (headers or {}).items()}
        answer = self.route(method, path, dict(query or {}), body or b"", lowered)
        return answer if answer is not None else (404, None)

    def paths(self, method: str | None = None) -> list[str]:
        return [path for sent_method, path, _, _ in self.sent if method in (None, sent_method)]


def secrets() -> FakeSecrets:
    names = {
        "app_key": "APP_KEY",
        "app_secret": "APP_SECRET",
        "access_token": "ACCESS_TOKEN",
        "shop_cipher": "SHOP_CIPHER",
    }
    return FakeSecrets({f"tiktok/{name}": DEFAULTS[f"OMS_TIKTOK_{setting}"] for name, setting in names.items()})


@pytest.fixture
def sim() -> MarketplaceSim:
    return MarketplaceSim(dict(DEFAULTS))


@pytest.fixture
def http(sim: MarketplaceSim) -> SimHttp:
    return SimHttp(sim)


def adapter(http: SimHttp, fetch: Callable[[str], bytes] | None = None) -> TiktokLogistics:
    api = TiktokApi(http, secrets(), clock=lambda: 1_765_000_000)  # type: ignore[arg-type]
    return logistics(api, fetch=fetch or sim_fetch(http.sim))


def sim_fetch(sim: MarketplaceSim, seconds_later: Callable[[], float] = lambda: 0) -> Callable[[str], bytes]:
    """fetch_document against the simulator's document route, at now + seconds_later()."""

    def fetch(url: str) -> bytes:
        status, _, content = tiktok_sim.document(sim, url.rsplit("/", 1)[-1], now=time.time() + seconds_later())
        if status in (404, 410):
            raise DocumentExpired(f"document link answered {status}")
        return content

    return fetch


def new_order(sim: MarketplaceSim, channel: str = "tiktok") -> tuple[SimOrder, str]:
    # A Tokopedia order is a TikTok Shop order too (its `platform` says TOKOPEDIA).
    order = sim.create({"channel": channel, "lines": LINES})
    assert order.status == "AWAITING_SHIPMENT"
    return order, tiktok_docs.order_detail(order)["packages"][0]["id"]


def parcel(order: SimOrder, package_id: str | None = None, channel: Channel = Channel.tiktok) -> ShipParcel:
    return ShipParcel(f"F-{order.order_id}", channel, None, order.order_id, package_id=package_id)


# --- handover options ---------------------------------------------------------------------------


def test_each_package_offers_pickup_slots_in_wib_and_drop_off(sim, http):
    # Given two paid orders whose packages the OMS does not know yet
    (first, first_package), (second, _) = new_order(sim), new_order(sim)
    # When their handover options are asked
    options = adapter(http).handover_options([parcel(first), parcel(second)])
    # Then each answers pickup and drop-off, the three pickup slots as Ship Package needs them back
    found = options[f"F-{first.order_id}"]
    assert (found.pickup, found.dropoff, found.package_id, found.carrier) == (True, True, first_package, "J&T Express")
    assert len(found.slots) == 3
    for slot in found.slots:
        assert slot.slot_id == f"{int(slot.start.timestamp())}-{int(slot.end.timestamp())}"
        assert slot.start.astimezone(WIB).hour == 13 and SLOT_LABEL.match(slot.label), slot.label
    assert [s.start for s in found.slots] == sorted(s.start for s in found.slots)
    assert found.slots[0].start.timestamp() > time.time()
    # And the packages came from one Get Order Detail call, then one slots call each
    assert http.paths() == [
        "/order/202309/orders",
        f"/fulfillment/202309/packages/{first_package}/handover_time_slots",
        f"/fulfillment/202309/packages/{tiktok_docs.order_detail(second)['packages'][0]['id']}/handover_time_slots",
    ]


def test_a_slot_tiktok_no_longer_takes_is_not_offered():
    data = {"pickup_slots": [{"start_time": 1765335600, "end_time": 1765350000, "avaliable": False},
                             {"start_time": 1765249200, "end_time": 1765263600, "avaliable": True}]}  # fmt: skip
    assert [slot.slot_id for slot in tiktok_logistics._slots(data)] == ["1765249200-1765263600"]


def test_an_order_not_yet_shippable_has_no_options_and_says_why(sim, http):
    order = sim.create({"channel": "tiktok", "lines": LINES, "status": "ON_HOLD"})
    options = adapter(http).handover_options([parcel(order)])
    assert options[f"F-{order.order_id}"].error == f"tiktok order {order.order_id} has no package yet (status ON_HOLD)"


# --- arrange --------------------------------------------------------------------------------------


def test_pickups_and_a_drop_off_are_arranged_in_one_batch_call(sim, http):
    # Given three packages: a pickup in a chosen slot, a pickup in the earliest slot, a drop-off
    orders = [new_order(sim) for _ in range(3)]
    ship = adapter(http)
    chosen = ship.handover_options([parcel(orders[0][0], orders[0][1])])[f"F-{orders[0][0].order_id}"].slots[2]
    http.sent.clear()
    requests = [
        ArrangeRequest(parcel(orders[0][0], orders[0][1]), "pickup", slot_id=chosen.slot_id),
        ArrangeRequest(parcel(orders[1][0], orders[1][1]), "pickup"),
        ArrangeRequest(parcel(orders[2][0], orders[2][1]), "dropoff"),
    ]
    # When they are arranged
    outcomes = ship.arrange(requests)
    # Then all three are ok, through one Batch Ship Packages call (and one slots look for the earliest)
    assert {pid: (o.ok, o.package_id) for pid, o in outcomes.items()} == {
        f"F-{order.order_id}": (True, package) for order, package in orders
    }
    assert http.paths("POST") == [SHIP_BATCH]
    assert http.paths("GET") == [f"/fulfillment/202309/packages/{orders[1][1]}/handover_time_slots"]
    # And TikTok holds each handover as asked, and the orders await collection
    packages = sim.logistics_state["tiktok"]["packages"]
    assert packages[orders[0][1]]["handover_method"] == "PICKUP"
    assert packages[orders[0][1]]["pickup_slot"] == (int(chosen.start.timestamp()), int(chosen.end.timestamp()))
    earliest = ship.handover_options([parcel(orders[1][0], orders[1][1])])[f"F-{orders[1][0].order_id}"].slots[0]
    assert packages[orders[1][1]]["pickup_slot"] == (int(earliest.start.timestamp()), int(earliest.end.timestamp()))
    assert packages[orders[2][1]]["handover_method"] == "DROP_OFF"
    assert {sim.get("tiktok", order.order_id).status for order, _ in orders} == {"AWAITING_COLLECTION"}


def test_one_package_refused_in_the_batch_fails_alone_in_tiktoks_words(sim, http):
    orders = [new_order(sim) for _ in range(3)]
    tiktok_sim.set_ship_failure(sim, "tiktok", orders[1][1], 21011041, "The buyer has requested a cancellation.")
    outcomes = adapter(http).arrange([ArrangeRequest(parcel(o, p), "dropoff") for o, p in orders])
    refused = outcomes[f"F-{orders[1][0].order_id}"]
    assert (refused.ok, refused.error_code, refused.message, refused.retryable) == (
        False, "21011041", "The buyer has requested a cancellation.", False
    )  # fmt: skip
    assert outcomes[f"F-{orders[0][0].order_id}"].ok and outcomes[f"F-{orders[2][0].order_id}"].ok
    assert http.paths("POST") == [SHIP_BATCH]
    assert sim.get("tiktok", orders[1][0].order_id).status == "AWAITING_SHIPMENT"


def test_a_package_arranged_before_counts_as_arranged(sim, http):
    order, package = new_order(sim)
    ship = adapter(http)
    assert ship.arrange([ArrangeRequest(parcel(order, package), "dropoff")])[f"F-{order.order_id}"].ok
    # When the same arrange comes again (its first answer was lost)
    again = ship.arrange([ArrangeRequest(parcel(order, package), "dropoff")])[f"F-{order.order_id}"]
    # Then TikTok's refusal is read against the package's status: arranged, with its resi
    assert (again.ok, again.package_id, again.carrier) == (True, package, "J&T Express")
    assert again.resi == sim.get("tiktok", order.order_id).tracking_number and again.resi


def test_arranging_again_moves_the_pickup_to_a_new_slot(sim, http):
    order, package = new_order(sim)
    ship = adapter(http)
    slots = ship.handover_options([parcel(order, package)])[f"F-{order.order_id}"].slots
    ship.arrange([ArrangeRequest(parcel(order, package), "pickup", slot_id=slots[0].slot_id)])
    outcome = ship.arrange([ArrangeRequest(parcel(order, package), "pickup", slot_id=slots[1].slot_id, again=True)])
    assert outcome[f"F-{order.order_id}"].ok
    moved = sim.logistics_state["tiktok"]["packages"][package]["pickup_slot"]
    assert moved == (int(slots[1].start.timestamp()), int(slots[1].end.timestamp()))


def test_a_slot_tiktok_does_not_offer_is_refused(sim, http):
    order, package = new_order(sim)
    outcome = adapter(http).arrange([ArrangeRequest(parcel(order, package), "pickup", slot_id="1000-2000")])
    refused = outcome[f"F-{order.order_id}"]
    assert (refused.ok, refused.error_code, refused.retryable) == (False, "21011053", False)


# --- resi -------------------------------------------------------------------------------------------


def test_the_resi_comes_late_then_is_there(sim, http):
    # Given a package whose courier assigns the resi only after a look
    order, package = new_order(sim)
    tiktok_sim.set_resi_delay(sim, "tiktok", package, 1)
    ship = adapter(http)
    arranged = ship.arrange([ArrangeRequest(parcel(order, package), "dropoff")])[f"F-{order.order_id}"]
    assert arranged.ok and arranged.resi is None
    # When the resi is asked for: first not yet (ask again later), then there
    first = ship.resi([parcel(order, package)])[f"F-{order.order_id}"]
    assert (first.resi, first.error, first.retryable, first.carrier) == (None, None, True, "J&T Express")
    second = ship.resi([parcel(order, package)])[f"F-{order.order_id}"]
    assert second.resi and second.resi == sim.get("tiktok", order.order_id).tracking_number
    assert (second.package_id, second.carrier) == (package, "J&T Express")


# --- labels -------------------------------------------------------------------------------------------


def test_the_label_is_fetched_from_doc_url_at_once(sim, http):
    order, package = new_order(sim)
    ship = adapter(http)
    ship.arrange([ArrangeRequest(parcel(order, package), "dropoff")])
    labels = ship.labels([parcel(order, package)])
    pdf = labels[f"F-{order.order_id}"].pdf
    assert pdf is not None
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    text = page.extract_text()
    assert (
        "TikTok Shop" in text and order.order_id in text and sim.get("tiktok", order.order_id).tracking_number in text
    )
    assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (298, 420)  # A6, in points
    asked = [query for _, path, query, _ in http.sent if path.endswith("/shipping_documents")]
    assert [(q["document_type"], q["document_size"]) for q in asked] == [("SHIPPING_LABEL", "A6")]


def test_a_link_that_ran_out_is_asked_for_once_more(sim, http):
    # Given a label link that is already past its 24 hours when first fetched
    order, package = new_order(sim)
    late = iter([25 * 3600])
    ship = adapter(http, fetch=sim_fetch(sim, lambda: next(late, 0)))
    ship.arrange([ArrangeRequest(parcel(order, package), "dropoff")])
    # When the label is asked for
    label = ship.labels([parcel(order, package)])[f"F-{order.order_id}"]
    # Then a new link is asked for and fetched
    assert label.pdf is not None and label.pdf.startswith(b"%PDF")
    assert len([path for path in http.paths() if path.endswith("/shipping_documents")]) == 2


def test_the_simulated_link_lasts_24_hours(sim, http):
    order, package = new_order(sim)
    ship = adapter(http)
    ship.arrange([ArrangeRequest(parcel(order, package), "dropoff")])
    urls: list[str] = []
    ship.fetch = lambda url: urls.append(url) or b"%PDF"  # keep the link, fetch nothing
    ship.labels([parcel(order, package)])
    token = urls[0].rsplit("/", 1)[-1]
    assert urls[0].endswith(f"/_sim/documents/{token}")
    assert tiktok_sim.document(sim, token, now=time.time() + 24 * 3600 - 60)[0] == 200
    assert tiktok_sim.document(sim, token, now=time.time() + 24 * 3600 + 60)[0] == 410


def test_a_tokopedia_parcel_takes_the_same_calls_and_its_label_has_no_tiktok_mark(sim, http):
    # Given a Tokopedia storefront's order, served by the same API (TikTok Shop's, signed and shop-checked)
    order, package = new_order(sim, "tokopedia")
    ship = adapter(http)
    tokopedia_parcel = parcel(order, package, Channel.tokopedia)
    # When it is arranged and its label fetched
    assert ship.arrange([ArrangeRequest(tokopedia_parcel, "dropoff")])[f"F-{order.order_id}"].ok
    pdf = ship.labels([tokopedia_parcel])[f"F-{order.order_id}"].pdf
    # Then the label carries Tokopedia's mark and not TikTok's
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert "Tokopedia & Shop" in text and "TikTok" not in text


# --- throttling and outages -------------------------------------------------------------------------


def test_a_package_throttled_in_the_batch_is_for_later(sim, http):
    orders = [new_order(sim) for _ in range(2)]
    tiktok_sim.set_ship_failure(sim, "tiktok", orders[0][1], 36009004, "Too many requests, please try again later.")
    outcomes = adapter(http).arrange([ArrangeRequest(parcel(o, p), "dropoff") for o, p in orders])
    throttled = outcomes[f"F-{orders[0][0].order_id}"]
    assert (throttled.ok, throttled.retryable, throttled.error_code) == (False, True, "36009004")
    assert outcomes[f"F-{orders[1][0].order_id}"].ok
    assert http.paths() == [SHIP_BATCH]  # no look at the package: a throttled package is simply for later


def test_tiktok_throttled_from_the_first_call_is_an_outage(sim, http):
    order, package = new_order(sim)
    http.down_from = 1
    with pytest.raises(DependencyError, match="429"):
        adapter(http).arrange([ArrangeRequest(parcel(order, package), "dropoff")])


def test_throttled_after_some_answers_keeps_them_and_marks_the_rest_for_later(sim, http):
    orders = [new_order(sim) for _ in range(3)]
    ship = adapter(http)
    ship.arrange([ArrangeRequest(parcel(o, p), "dropoff") for o, p in orders])
    http.sent.clear()
    http.down_from = 2  # the second look is throttled past the client's retries
    found = ship.resi([parcel(o, p) for o, p in orders])
    first, *rest = (found[f"F-{o.order_id}"] for o, _ in orders)
    assert first.resi and first.error is None
    assert all(r.resi is None and r.retryable and "429" in r.error for r in rest)
    assert len(http.sent) == 2  # nothing more is asked of a throttled TikTok


def test_calls_counts_the_api_calls_made(sim, http):
    orders = [new_order(sim) for _ in range(4)]
    ship = adapter(http)
    ship.arrange([ArrangeRequest(parcel(o), "dropoff") for o, _ in orders])
    assert ship.calls() == 2 == len(http.sent)  # one Get Order Detail, one Batch Ship Packages
    assert ship.ready_to_ship([parcel(o) for o, _ in orders]) == {}


# --- one order, several parcels: split into packages before arranging -------------------------------

TWO_NODES = [
    {"sku": "KOP-GAYO-250", "quantity": 2, "unit_price": 89000},
    {"sku": "TEH-MELATI-100", "quantity": 1, "unit_price": 25000},
]


def split_parcels(sim: MarketplaceSim, channel: str = "tiktok") -> tuple[SimOrder, ShipParcel, ShipParcel]:
    """An order of 2 + 1 units planned as two parcels (one from each node), each naming the other as its
    sibling, with the OMS's line ids (each line's smallest unit row id)."""
    order = sim.create({"channel": channel, "lines": TWO_NODES})
    rows = tiktok_docs.order_detail(order)["line_items"]
    coffee = min((r["id"] for r in rows if r["seller_sku"] == "KOP-GAYO-250"), key=lambda i: (len(i), i))
    tea = next(r["id"] for r in rows if r["seller_sku"] == "TEH-MELATI-100")
    kind = Channel(channel)
    first = ShipParcel(f"F-{order.order_id}-1", kind, None, order.order_id, line_ids=(coffee,), line_quantities=(2,),
                       siblings=(((tea,), (1,)),))  # fmt: skip
    second = ShipParcel(f"F-{order.order_id}-2", kind, None, order.order_id, line_ids=(tea,), line_quantities=(1,),
                        siblings=(((coffee,), (2,)),))  # fmt: skip
    return order, first, second


def test_an_order_of_two_parcels_is_split_and_each_parcel_ships_its_own_package(sim, http):
    # Given one order planned as two parcels, its one package holding both
    order, first, second = split_parcels(sim)
    ship = adapter(http)
    # When the first parcel is arranged
    arranged = ship.arrange([ArrangeRequest(first, "dropoff")])[first.parcel_id]
    # Then the order was split into two packages, the first parcel's holding its 2 coffee units alone
    detail = tiktok_docs.order_detail(sim.get("tiktok", order.order_id))
    packages = {p["id"] for p in detail["packages"]}
    assert len(packages) == 2 and arranged.ok and arranged.package_id in packages
    held = {r["seller_sku"] for r in detail["line_items"] if r["package_id"] == arranged.package_id}
    assert held == {"KOP-GAYO-250"}
    assert [p for _, p, _, _ in http.sent if p.endswith("/split")] == [
        f"/fulfillment/202309/orders/{order.order_id}/split"
    ]
    # And the order still awaits shipment: the tea is not arranged
    assert sim.get("tiktok", order.order_id).status == "AWAITING_SHIPMENT"
    # When the second parcel is arranged later (another batch, another instance)
    http.sent.clear()
    later = adapter(http).arrange([ArrangeRequest(second, "dropoff")])[second.parcel_id]
    # Then it is not split again, and ships the other package
    assert later.ok and later.package_id == (packages - {arranged.package_id}).pop()
    assert not [p for _, p, _, _ in http.sent if p.endswith("/split")]
    assert sim.get("tiktok", order.order_id).status == "AWAITING_COLLECTION"
    # And each parcel has its own resi and label
    first_id = dataclasses.replace(first, package_id=arranged.package_id)
    second_id = dataclasses.replace(second, package_id=later.package_id)
    resis = ship.resi([first_id, second_id])
    assert resis[first.parcel_id].resi and resis[second.parcel_id].resi
    assert resis[first.parcel_id].resi != resis[second.parcel_id].resi
    labels = ship.labels([first_id, second_id])
    for parcel, package in ((first, arranged.package_id), (second, later.package_id)):
        text = PdfReader(io.BytesIO(labels[parcel.parcel_id].pdf)).pages[0].extract_text()
        assert package in text and resis[parcel.parcel_id].resi in text


def test_options_split_first_and_a_retried_arrange_does_not_split_again(sim, http):
    _, first, second = split_parcels(sim)
    ship = adapter(http)
    options = ship.handover_options([first, second])
    assert options[first.parcel_id].package_id != options[second.parcel_id].package_id
    assert options[first.parcel_id].dropoff and options[second.parcel_id].dropoff
    both = ship.arrange([ArrangeRequest(first, "dropoff"), ArrangeRequest(second, "dropoff")])
    assert both[first.parcel_id].ok and both[second.parcel_id].ok
    again = ship.arrange([ArrangeRequest(first, "dropoff")])[first.parcel_id]
    assert again.ok and again.package_id == options[first.parcel_id].package_id
    assert len([p for _, p, _, _ in http.sent if p.endswith("/split")]) == 1


def test_a_split_tiktok_refuses_is_that_parcels_failure_in_its_words(sim, http):
    # Given two orders in one batch, the first's split refused by TikTok
    order, first, _ = split_parcels(sim)
    other, _ = new_order(sim)
    tiktok_sim.set_split_failure(sim, order.order_id, 21011020, "split same sku in Multi Package not allow")
    outcomes = adapter(http).arrange([ArrangeRequest(first, "dropoff"), ArrangeRequest(parcel(other), "dropoff")])
    # Then that parcel fails in TikTok's words, nothing of its order is shipped, and the other order ships
    refused = outcomes[first.parcel_id]
    assert (refused.ok, refused.error_code, refused.message) == (
        False, "21011020", "split same sku in Multi Package not allow"
    )  # fmt: skip
    assert refused.package_id is None
    assert sim.get("tiktok", order.order_id).status == "AWAITING_SHIPMENT"
    assert outcomes[f"F-{other.order_id}"].ok


def test_an_order_tiktok_will_not_split_fails_the_parcel_not_the_batch(sim, http):
    order, first, _ = split_parcels(sim)
    sim.change("tiktok", order.order_id, {"status": "ON_HOLD"})
    options = adapter(http).handover_options([first])
    assert "has no package yet" in options[first.parcel_id].error
    sim.change("tiktok", order.order_id, {"status": "AWAITING_SHIPMENT", "extra": {"is_buyer_request_cancel": True}})
    refused = adapter(http).arrange([ArrangeRequest(first, "dropoff")])[first.parcel_id]
    assert not refused.ok and refused.message == "The order cannot be split: the buyer has requested a cancellation"
