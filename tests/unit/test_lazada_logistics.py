"""Lazada's own couriers: the adapter (oms.adapters.marketplace_api.lazada_logistics) against the simulator's
new fulfillment API (oms_local.logistics_sim.lazada), in process: providers, pack, PrintAWB, ReadyToShip."""

from __future__ import annotations

import io
import json

import pytest
from pypdf import PdfReader

from oms.adapters.marketplace_api.documents import DocumentExpired
from oms.adapters.marketplace_api.lazada import LazadaApi
from oms.adapters.marketplace_api.lazada_logistics import (
    PACK_PATH,
    PRINT_AWB_PATH,
    PROVIDERS_PATH,
    REPACK_PATH,
    RTS_PATH,
    logistics,
)
from oms.errors import DependencyError
from oms.models.common import Channel
from oms.ports import SecretsProvider
from oms.ports.logistics import ArrangeRequest, ShipParcel
from oms_local.logistics_sim import lazada as lazada_sim
from oms_local.marketplace_sim import MarketplaceSim
from oms_local.seed import local_settings
from oms_local.sim_formats import lazada as lazada_docs


class Secrets(SecretsProvider):
    def __init__(self, settings: dict[str, str]) -> None:
        self.settings = settings

    def channel_secret(self, channel: str, name: str) -> str | None:
        return self.settings.get(f"OMS_{channel.upper()}_{name.upper()}")


class SimHttp:
    """ChannelHttp's request(), answered by the simulator in process; remembers what was asked."""

    def __init__(self, sim: MarketplaceSim) -> None:
        self.sim = sim
        self.sent: list[tuple[str, dict]] = []
        self.unreachable_after: int | None = None  # calls answered before Lazada goes away

    def request(self, method: str, path: str, *, query=None, body=None, headers=None, what="API", attempts=3):
        if self.unreachable_after is not None and len(self.sent) >= self.unreachable_after:
            raise DependencyError(f"lazada {what} ConnectTimeoutError after {attempts} tries")
        query = {name: str(value) for name, value in (query or {}).items()}
        self.sent.append((path, query))
        return self.sim.serve("lazada", method, path, query, body or b"", {})

    def to(self, path: str) -> list[dict]:
        return [query for sent, query in self.sent if sent == path]


@pytest.fixture
def sim() -> MarketplaceSim:
    return MarketplaceSim(local_settings())


@pytest.fixture
def http(sim) -> SimHttp:
    return SimHttp(sim)


@pytest.fixture
def api(sim, http) -> LazadaApi:
    return LazadaApi(http, Secrets(sim.settings), clock=lambda: 1_765_000_000)


def sim_fetch(sim: MarketplaceSim, expire_first: bool = False):
    """fetch_document against the simulator's document route; with expire_first, the first link is
    fetched a second after it ran out (as when a batch took long), the others at once."""
    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        token = url.rsplit("/", 1)[-1]
        expires_at = sim.logistics_state["lazada"]["documents"][token]["expires_at"]
        late = expire_first and not fetched
        fetched.append(token)
        status, _, body = lazada_sim.document(sim, token, now=expires_at + 1 if late else expires_at - 1)
        if status in (401, 403, 404, 410):
            raise DocumentExpired(f"document link answered {status}")
        return body

    return fetch


def new_order(sim: MarketplaceSim, quantity: int = 1, sku: str = "KOP-GAYO-250"):
    return sim.create({"channel": "lazada", "lines": [{"sku": sku, "quantity": quantity, "unit_price": 85000}]})


def item_ids(order) -> tuple[str, ...]:
    return tuple(str(row["order_item_id"]) for row in lazada_docs.items_response(order)["data"])


def parcel_of(order, n: int = 0, line_ids: tuple[str, ...] | None = None, **fields) -> ShipParcel:
    return ShipParcel(
        parcel_id=f"F-{order.order_id}-{n}",
        channel=Channel.lazada,
        shop_id=None,
        channel_order_id=order.order_id,
        line_ids=item_ids(order) if line_ids is None else line_ids,
        **fields,
    )


def arrange_all(lazada, parcels):
    return lazada.arrange([ArrangeRequest(parcel, "pickup") for parcel in parcels])


def packed(parcel: ShipParcel, outcome) -> ShipParcel:
    return ShipParcel(**{**parcel.__dict__, "package_id": outcome.package_id, "resi": outcome.resi})


# --- handover options


def test_options_come_from_get_shipment_provider_20_orders_a_call(sim, http, api):
    orders = [new_order(sim) for _ in range(25)]
    lazada = logistics(api)

    options = lazada.handover_options([parcel_of(order) for order in orders])

    assert len(http.to(PROVIDERS_PATH)) == 2 and lazada.calls() == 2
    first = json.loads(http.to(PROVIDERS_PATH)[0]["getShipmentProvidersReq"])
    assert len(first["orders"]) == 20 and first["orders"][0]["order_item_ids"] == [int(item_ids(orders[0])[0])]
    option = options[parcel_of(orders[0]).parcel_id]
    # Lazada applies the seller's own first-mile setting and has no pickup slots
    assert (option.pickup, option.dropoff, option.slots, option.carrier) == (True, True, (), "J&T Express")
    assert len(options) == 25


# --- arrange (Pack)


def test_45_parcels_are_packed_in_3_calls_each_with_package_and_resi(sim, http, api):
    orders = [new_order(sim, quantity=2) for _ in range(45)]
    parcels = [parcel_of(order) for order in orders]
    lazada = logistics(api)

    outcomes = arrange_all(lazada, parcels)

    packs = [json.loads(query["packReq"]) for query in http.to(PACK_PATH)]
    assert [len(pack["pack_order_list"]) for pack in packs] == [20, 20, 5]
    assert lazada.calls() == 4  # the seller's allocation once, then three packs
    assert packs[0]["delivery_type"] == "dropship" and packs[0]["shipping_allocate_type"] == "TFS"
    assert "shipment_provider_code" not in packs[0]  # Lazada allocates the courier for a local seller
    assert packs[0]["pack_order_list"][0]["order_item_list"] == [int(i) for i in parcels[0].line_ids]
    assert len(outcomes) == 45 and all(o.ok for o in outcomes.values())
    first = outcomes[parcels[0].parcel_id]
    assert first.package_id.startswith("FP") and first.resi and first.carrier == "J&T Express"
    assert sim.get("lazada", orders[0].order_id).status == "packed"


def test_one_failed_item_inside_a_success_answer_fails_only_its_parcel(sim, http, api):
    orders = [new_order(sim) for _ in range(3)]
    lazada_sim.set_pack_failure(sim, orders[1].order_id, "1003", "3pl allocation failed")

    outcomes = arrange_all(logistics(api), [parcel_of(order) for order in orders])

    refused = outcomes[parcel_of(orders[1]).parcel_id]
    assert (refused.ok, refused.error_code, refused.message, refused.retryable) == (
        False,
        "1003",
        "3pl allocation failed",
        False,
    )
    assert outcomes[parcel_of(orders[0]).parcel_id].ok and outcomes[parcel_of(orders[2]).parcel_id].ok
    assert sim.get("lazada", orders[1].order_id).status == "pending"


def test_the_simulator_answers_success_with_a_failed_row_inside(sim):
    order = new_order(sim)
    lazada_sim.set_pack_failure(sim, order.order_id, "700026", "item current status not allow to pack")
    body = {"pack_order_list": [{"order_id": int(order.order_id), "order_item_list": [int(item_ids(order)[0])]}],
            "delivery_type": "dropship", "shipping_allocate_type": "TFS"}  # fmt: skip

    _, answer = lazada_sim.serve(sim, "lazada", "POST", PACK_PATH, {"packReq": json.dumps(body)}, b"")

    assert answer["code"] == "0" and answer["result"]["success"] is True
    row = answer["result"]["data"]["pack_order_list"][0]["order_item_list"][0]
    assert (row["item_err_code"], row["msg"]) == ("700026", "item current status not allow to pack")


def test_two_parcels_of_one_order_go_in_different_calls_and_get_two_packages(sim, http, api):
    order = new_order(sim, quantity=2)
    first_unit, second_unit = item_ids(order)
    parcels = [parcel_of(order, 1, (first_unit,)), parcel_of(order, 2, (second_unit,))]

    outcomes = arrange_all(logistics(api), parcels)

    assert len(http.to(PACK_PATH)) == 2
    assert outcomes[parcels[0].parcel_id].package_id != outcomes[parcels[1].parcel_id].package_id


def test_a_repeated_arrange_finds_the_earlier_pack(sim, api):
    order = new_order(sim)
    lazada = logistics(api)
    first = arrange_all(lazada, [parcel_of(order)])[parcel_of(order).parcel_id]

    again = arrange_all(lazada, [parcel_of(order)])[parcel_of(order).parcel_id]

    assert again.ok and (again.package_id, again.resi) == (first.package_id, first.resi)


def test_arrange_again_repacks_then_packs_anew(sim, http, api):
    order = new_order(sim)
    lazada = logistics(api)
    first = arrange_all(lazada, [parcel_of(order)])[parcel_of(order).parcel_id]

    parcel = packed(parcel_of(order), first)
    again = lazada.arrange([ArrangeRequest(parcel, "pickup", again=True)])[parcel.parcel_id]

    assert json.loads(http.to(REPACK_PATH)[0]["rePackReq"]) == {"packages": [{"package_id": first.package_id}]}
    assert again.ok and again.package_id != first.package_id and again.resi != first.resi


def test_throttled_is_retryable_and_nothing_more_is_sent(sim, http, api):
    orders = [new_order(sim) for _ in range(25)]
    lazada_sim.set_throttled(sim, calls=1)

    outcomes = arrange_all(logistics(api, fetch=sim_fetch(sim)), [parcel_of(order) for order in orders])

    assert len(outcomes) == 25
    assert all(not o.ok and o.retryable and "ApiCallLimit" in o.message for o in outcomes.values())
    assert http.to(PACK_PATH) == []  # the first call was refused: the second batch waits too
    assert sim.get("lazada", orders[0].order_id).status == "pending"


def test_lazada_unreachable_at_once_raises_dependency_error(sim, http, api):
    http.unreachable_after = 0
    with pytest.raises(DependencyError):
        arrange_all(logistics(api), [parcel_of(new_order(sim))])


def test_lazada_gone_after_a_first_batch_still_answers_every_parcel(sim, http, api):
    orders = [new_order(sim) for _ in range(25)]
    http.unreachable_after = 2  # the allocation and the first pack are answered

    outcomes = arrange_all(logistics(api), [parcel_of(order) for order in orders])

    assert sum(o.ok for o in outcomes.values()) == 20
    assert all(o.retryable for o in outcomes.values() if not o.ok) and len(outcomes) == 25


# --- resi


def test_resi_is_read_back_from_the_order_items_when_lost(sim, api):
    order = new_order(sim)
    lazada = logistics(api)
    outcome = arrange_all(lazada, [parcel_of(order)])[parcel_of(order).parcel_id]
    parcel = ShipParcel(**{**parcel_of(order).__dict__, "package_id": outcome.package_id})

    resi = lazada.resi([parcel])[parcel.parcel_id]

    assert (resi.resi, resi.carrier, resi.package_id) == (outcome.resi, "J&T Express", outcome.package_id)


def test_resi_not_assigned_yet_is_none_and_retryable(sim, api):
    order = new_order(sim)

    resi = logistics(api).resi([parcel_of(order)])[parcel_of(order).parcel_id]

    assert resi.resi is None and resi.error is None and resi.retryable


# --- labels (PrintAWB)


def test_labels_are_fetched_from_pdf_url_one_package_a_call(sim, http, api):
    orders = [new_order(sim) for _ in range(3)]
    lazada = logistics(api, fetch=sim_fetch(sim))
    arranged = arrange_all(lazada, [parcel_of(order) for order in orders])
    parcels = [packed(parcel_of(order), arranged[parcel_of(order).parcel_id]) for order in orders]

    labels = lazada.labels(parcels)

    requests = [json.loads(query["getDocumentReq"]) for query in http.to(PRINT_AWB_PATH)]
    assert [len(request["packages"]) for request in requests] == [1, 1, 1]
    assert requests[0]["doc_type"] == "PDF"
    text = PdfReader(io.BytesIO(labels[parcels[0].parcel_id].pdf)).pages[0].extract_text()
    assert "LAZADA" in text and parcels[0].package_id in text and parcels[0].resi in text


def test_an_expired_pdf_url_is_asked_for_again_once(sim, http, api):
    order = new_order(sim)
    lazada = logistics(api, fetch=sim_fetch(sim, expire_first=True))
    parcel = packed(parcel_of(order), arrange_all(lazada, [parcel_of(order)])[parcel_of(order).parcel_id])

    label = lazada.labels([parcel])[parcel.parcel_id]

    assert len(http.to(PRINT_AWB_PATH)) == 2
    assert label.pdf.startswith(b"%PDF") and label.error is None


def test_a_parcel_not_packed_has_no_label(sim, http, api):
    label = logistics(api).labels([parcel_of(new_order(sim))])
    assert next(iter(label.values())).error and http.sent == []


def test_the_document_link_runs_out_after_600_seconds(sim, api):
    order = new_order(sim)
    lazada = logistics(api)
    package = arrange_all(lazada, [parcel_of(order)])[parcel_of(order).parcel_id].package_id
    request = {"doc_type": "PDF", "packages": [{"package_id": package}]}
    _, answer = lazada_sim.serve(sim, "lazada", "GET", PRINT_AWB_PATH, {"getDocumentReq": json.dumps(request)}, b"")
    token = answer["result"]["data"]["pdf_url"].rsplit("/", 1)[-1]
    issued = sim.logistics_state["lazada"]["documents"][token]["expires_at"] - 600

    assert lazada_sim.document(sim, token, now=issued + 599)[:2] == (200, "application/pdf")
    assert lazada_sim.document(sim, token, now=issued + 601)[0] == 410
    assert lazada_sim.document(sim, "no-such-token")[0] == 404


# --- ReadyToShip


def test_ready_to_ship_moves_the_packages_and_answers_per_package(sim, http, api):
    orders = [new_order(sim) for _ in range(3)]
    lazada = logistics(api)
    arranged = arrange_all(lazada, [parcel_of(order) for order in orders[:2]])
    parcels = [packed(parcel_of(order), arranged[parcel_of(order).parcel_id]) for order in orders[:2]]
    unknown = ShipParcel(**{**parcel_of(orders[2]).__dict__, "package_id": "FP99999999"})

    errors = lazada.ready_to_ship([*parcels, unknown])

    assert errors == {parcels[0].parcel_id: None, parcels[1].parcel_id: None, unknown.parcel_id: "package not found"}
    assert len(http.to(RTS_PATH)) == 1
    assert sim.get("lazada", orders[0].order_id).status == "ready_to_ship"


def test_ready_to_ship_again_is_done_not_refused(sim, http, api):
    order = new_order(sim)
    lazada = logistics(api)
    parcel = packed(parcel_of(order), arrange_all(lazada, [parcel_of(order)])[parcel_of(order).parcel_id])
    lazada.ready_to_ship([parcel])

    errors = lazada.ready_to_ship([parcel])  # the first answer was lost: Lazada refuses, its items show it done

    assert errors == {parcel.parcel_id: None}
    assert json.loads(http.sent[-2][1]["readyToShipReq"]) == {"packages": [{"package_id": parcel.package_id}]}


def test_ready_to_ship_when_lazada_is_busy_raises_for_a_retry(sim, api):
    order = new_order(sim)
    lazada = logistics(api)
    parcel = packed(parcel_of(order), arrange_all(lazada, [parcel_of(order)])[parcel_of(order).parcel_id])
    lazada_sim.set_throttled(sim)

    with pytest.raises(DependencyError):
        lazada.ready_to_ship([parcel])


def test_the_simulator_refuses_more_than_20_packages(sim):
    request = {"packages": [{"package_id": f"FP{n:08d}"} for n in range(21)]}
    _, answer = lazada_sim.serve(sim, "lazada", "POST", RTS_PATH, {"readyToShipReq": json.dumps(request)}, b"")
    assert answer["result"] == {"success": False, "error_code": "700022", "error_msg": "batch size out of limit"}
