"""TikTok Shop 202309: webhooks -> ChannelNotice, Get Order Detail -> OrderDraft, and the simulator's documents."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from oms.channels import tiktok
from oms.channels.marketplace import ChannelState
from oms.errors import NormalizationError
from oms.models.order import Channel, PaymentStatus, ServiceLevel
from oms_local.sim_formats import SimLine, SimOrder
from oms_local.sim_formats import tiktok as sim

FIXTURES = Path(__file__).resolve().parents[2] / "events" / "channels"


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.fixture
def awaiting() -> dict:
    return load("tiktok_get_order_detail_response")["data"]["orders"][0]


@pytest.fixture
def searched() -> list[dict]:
    return load("tiktok_search_orders_response")["data"]["orders"]


def sim_order(**changes) -> SimOrder:
    order = SimOrder(
        channel="tiktok",
        order_id="579200000000000001",
        shop_id="7495829164037125432",
        status="AWAITING_SHIPMENT",
        created=1732770000,
        updated=1732770300,
        lines=[
            SimLine(sku="KOP-GAYO-250", quantity=3, unit_price=89000, name="Kopi Gayo", discount=30000),
            SimLine(sku="TEH-TUBRUK-100", quantity=2, unit_price=25000, name="Teh Tubruk"),
        ],
        shipping_fee=9000,
        ship_by=1732942800,
    )
    for key, value in changes.items():
        setattr(order, key, value)
    return order


# --- states -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("UNPAID", ChannelState.unpaid),
        ("ON_HOLD", ChannelState.on_hold),
        ("AWAITING_SHIPMENT", ChannelState.ready),
        ("PARTIALLY_SHIPPING", ChannelState.shipped),
        ("AWAITING_COLLECTION", ChannelState.arranged),
        ("IN_TRANSIT", ChannelState.shipped),
        ("DELIVERED", ChannelState.delivered),
        ("COMPLETED", ChannelState.completed),
        ("CANCELLED", ChannelState.cancelled),
        ("CANCEL", ChannelState.cancelled),
    ],
)
def test_documented_statuses_map_to_one_state(raw, expected):
    assert tiktok.state(raw) is expected


@pytest.mark.parametrize("raw", [None, "", "TO_SHIP", "100", "RETURNED"])
def test_unknown_status_is_unknown_never_a_guess(raw):
    assert tiktok.state(raw) is ChannelState.unknown


# --- notices ----------------------------------------------------------------------


def test_order_status_change_names_the_order():
    [notice] = tiktok.notices(load("tiktok_order_status_change"))
    assert notice.channel is Channel.tiktok
    assert notice.kind == "order_status"
    assert notice.channel_order_id == "579102384756102938"
    assert notice.status == "AWAITING_SHIPMENT"
    assert notice.shop_id == "7495829164037125432"
    assert notice.updated_at == datetime(2024, 11, 27, 7, 0, tzinfo=UTC)
    assert notice.extra == {"is_on_hold_order": "false"}


def test_cancellation_status_change_is_a_cancellation_notice():
    [notice] = tiktok.notices(load("tiktok_cancellation_status_change"))
    assert notice.kind == "cancellation"
    assert notice.status == "CANCELLATION_REQUEST_PENDING"
    # create_time is when the request was made, not this change: no time, so the order is always fetched
    assert notice.updated_at is None
    assert notice.extra == {"cancel_id": "4038812265590012345", "cancellations_role": "BUYER"}


def test_package_update_gives_one_notice_per_order():
    # Given two packages, one order in both
    found = tiktok.notices(load("tiktok_package_update"))
    assert [n.channel_order_id for n in found] == ["579102384756102938", "579102384756109911", "579102384756110022"]
    assert {n.kind for n in found} == {"package"}
    assert found[1].extra["package_ids"] == "1154729033348812001,1154729033348812002"
    assert found[0].updated_at == datetime(2024, 11, 27, 9, 0, tzinfo=UTC)


def test_return_status_change_is_a_reverse_notice():
    [notice] = tiktok.notices(load("tiktok_return_status_change"))
    assert notice.kind == "reverse"
    assert notice.status == "RETURN_OR_REFUND_REQUEST_PENDING"
    assert notice.extra["return_id"] == "4039123456789012345"


def test_legacy_reverse_update_and_address_update_name_their_order():
    [reverse] = tiktok.notices(
        {
            "type": 2,
            "shop_id": "1",
            "timestamp": 1,
            "data": {
                "order_id": "579",
                "reverse_order_id": "402",
                "reverse_order_status": 1,
                "reverse_event_type": "ORDER_REQUEST_CANCEL",
                "reverse_type": 4,
                "update_time": 1732690800,
            },
        }
    )
    assert (reverse.kind, reverse.status, reverse.extra["reverse_event_type"]) == (
        "reverse",
        "1",
        "ORDER_REQUEST_CANCEL",
    )
    [address] = tiktok.notices({"type": 3, "shop_id": "1", "data": {"order_id": "579", "update_time": 1732690800}})
    assert (address.kind, address.extra) == ("order", {"change": "recipient_address"})


@pytest.mark.parametrize("kind", [5, 6, 7, 13, 14, 16])
def test_webhooks_about_no_order_give_nothing(kind):
    assert tiktok.notices({"type": kind, "shop_id": "1", "timestamp": 1, "data": {"product_id": "9"}}) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": 1, "data": {"order_status": "UNPAID", "update_time": 1}}, "order_id"),
        ({"type": 1, "data": {"order_id": "", "order_status": "UNPAID", "update_time": 1}}, "order_id"),
        ({"type": 1, "data": {"order_id": "579", "update_time": 1}}, "order_status"),
        ({"type": 1, "data": {"order_id": "579", "order_status": "UNPAID", "update_time": "soon"}}, "update_time"),
        ({"type": 1}, "data"),
        ({"type": 11, "data": {"order_id": "579", "create_time": 1}}, "cancel_status"),
        ({"type": 11, "data": {"cancel_status": "X", "create_time": 1}}, "order_id"),
        ({"type": 4, "data": {"package_list": []}}, "package_list"),
        ({"type": 4, "data": {"package_list": [{"package_id": "1", "order_id_list": []}]}}, "order_id_list"),
        ({"type": 4, "data": {"package_list": [{"package_id": "1", "order_id_list": [None]}]}}, "order_id_list"),
        ({"data": {"order_id": "579"}}, "type"),
        ({"type": "1", "data": {"order_id": "579"}}, "type"),
    ],
)
def test_malformed_webhooks_are_rejected(body, field):
    with pytest.raises(NormalizationError, match=field):
        tiktok.notices(body)


# --- normalize: fixture -------------------------------------------------------------


def test_identity_status_and_times(awaiting):
    draft = tiktok.normalize(awaiting)
    assert draft.channel is Channel.tiktok
    assert draft.channel_order_id == "579102384756102938"
    assert draft.channel_status == "AWAITING_SHIPMENT"
    assert draft.channel_state is ChannelState.ready
    assert draft.placed_at == datetime(2024, 11, 27, 6, 0, tzinfo=UTC)
    assert draft.channel_updated_at == datetime(2024, 11, 27, 7, 0, tzinfo=UTC)
    assert draft.ship_by == datetime(2024, 11, 29, 6, 0, tzinfo=UTC)  # rts_sla_time
    assert draft.currency == "IDR"


@pytest.mark.parametrize(
    ("platform", "channel"),
    [("TOKOPEDIA", Channel.tokopedia), ("tokopedia", Channel.tokopedia), ("TIKTOK_SHOP", Channel.tiktok),
     (None, Channel.tiktok)],
)  # fmt: skip
def test_the_orders_platform_names_its_storefront(awaiting, platform, channel):
    # Tokopedia's storefronts run on the TikTok Shop API: the order's `platform` says which storefront sold it
    draft = tiktok.normalize({**awaiting, "platform": platform})
    assert draft.channel is channel
    assert draft.channel_order_id == "579102384756102938" and draft.channel_status == "AWAITING_SHIPMENT"


def test_unit_rows_group_into_lines(awaiting):
    # Given two rows of KOP-GAYO-250 (ids ...202 then ...201) and one of TEH-TUBRUK-100
    lines = tiktok.normalize(awaiting).lines
    assert [(line.sku, line.quantity) for line in lines] == [("KOP-GAYO-250", 2), ("TEH-TUBRUK-100", 1)]
    assert lines[0].line_id == "577201938475610201"  # the group's smallest row id
    assert lines[0].name == "Kopi Arabika Gayo Bubuk (250 gram)"


def test_line_money_is_original_price_and_summed_discounts(awaiting):
    line = tiktok.normalize(awaiting).lines[0]
    assert type(line.unit_price) is Decimal and type(line.discount) is Decimal
    assert line.unit_price == Decimal(89000)
    assert line.discount == Decimal(20000)  # 2 x seller 10.000
    assert line.net_total == Decimal(158000)  # 2 x sale price 79.000


def test_rows_with_a_different_sale_price_stay_apart(awaiting):
    # Given a third Gayo unit sold at list price
    extra = copy.deepcopy(awaiting["line_items"][0])
    extra.update(id="577201938475610299", sale_price="89000", seller_discount="0")
    awaiting["line_items"].append(extra)
    lines = tiktok.normalize(awaiting).lines
    assert [(line.sku, line.quantity, line.discount) for line in lines] == [
        ("KOP-GAYO-250", 2, Decimal(20000)),
        ("TEH-TUBRUK-100", 1, Decimal(0)),
        ("KOP-GAYO-250", 1, Decimal(0)),
    ]


def test_row_ids_compare_as_numbers(awaiting):
    for row, row_id in zip(awaiting["line_items"][:2], ["99", "100"], strict=True):
        row["id"] = row_id
    assert tiktok.normalize(awaiting).lines[0].line_id == "99"


def test_cancelled_units_of_a_live_order_are_not_lines(awaiting):
    awaiting["line_items"][2]["display_status"] = "CANCELLED"
    assert [line.sku for line in tiktok.normalize(awaiting).lines] == ["KOP-GAYO-250"]


def test_missing_seller_sku_stays_empty_and_is_not_merged(awaiting):
    for row in awaiting["line_items"]:
        row["seller_sku"] = ""
    lines = tiktok.normalize(awaiting).lines
    assert [(line.sku, line.quantity) for line in lines] == [("", 2), ("", 1)]


def test_totals_from_payment_strings(awaiting):
    totals = tiktok.normalize(awaiting).totals
    assert all(type(value) is Decimal for value in totals.model_dump().values())
    assert totals.subtotal == Decimal(203000)
    assert totals.shipping == Decimal(9000)  # after the platform's shipping discount
    assert totals.discount == Decimal(20000)
    assert totals.grand_total == Decimal(192000)
    assert totals.subtotal + totals.shipping - totals.discount + totals.tax == totals.grand_total


def test_address_from_district_info(awaiting):
    address = tiktok.normalize(awaiting).shipping_address
    assert address.name == "Siti Nurhaliza"
    assert address.phone == "+6281320001234"
    assert address.line1.startswith("Jl. Dipatiukur No. 80")
    assert (address.village, address.district, address.city, address.province) == (
        "Lebakgede",
        "Coblong",
        "Kota Bandung",
        "Jawa Barat",
    )
    assert address.postal_code == "40132"
    assert address.country == "ID"
    assert address.missing_for_delivery() == []


def test_customer_payment_notes(awaiting):
    draft = tiktok.normalize(awaiting)
    assert draft.customer.channel_customer_id == "7012345678901234567"
    assert draft.customer.email == "v3x9k2m8q1@scs.tiktokw.us"
    assert draft.payment.status is PaymentStatus.paid
    assert draft.payment.cod is False
    assert draft.payment.method == "GoPay"
    assert draft.notes == "Kirim cepat ya, untuk kado"
    assert draft.service_level is ServiceLevel.regular


def test_unpaid_order_has_no_address_yet(searched):
    draft = tiktok.normalize(searched[0])
    assert draft.channel_state is ChannelState.unpaid
    assert draft.shipping_address is None
    assert draft.payment.status is PaymentStatus.pending


def test_cancelled_cod_order_keeps_its_lines_and_reason(searched):
    draft = tiktok.normalize(searched[1])
    assert draft.cancelled is True
    assert draft.channel_state is ChannelState.cancelled
    assert draft.cancel_reason == "Ingin mengubah alamat pengiriman"
    assert draft.payment.cod is True
    assert draft.payment.status is PaymentStatus.voided
    assert [(line.sku, line.quantity, line.line_id) for line in draft.lines] == [
        ("TEH-TUBRUK-100", 2, "577201938475610021")
    ]


def test_buyer_cancel_request_holds_a_ready_order(awaiting):
    awaiting.update(is_buyer_request_cancel=True, cancel_reason="Berubah pikiran")
    draft = tiktok.normalize(awaiting)
    assert draft.channel_status == "AWAITING_SHIPMENT"  # raw value kept
    assert draft.channel_state is ChannelState.cancel_requested
    assert draft.cancelled is False
    assert draft.cancel_reason == "Berubah pikiran"


def test_ship_by_falls_back_to_shipping_due_time(awaiting):
    awaiting["rts_sla_time"] = 0
    assert tiktok.normalize(awaiting).ship_by == datetime(2024, 12, 1, 6, 0, tzinfo=UTC)
    awaiting["shipping_due_time"] = 0
    assert tiktok.normalize(awaiting).ship_by is None


def test_unknown_status_is_kept_and_flagged(awaiting):
    awaiting["status"] = "RETURNING"
    draft = tiktok.normalize(awaiting)
    assert draft.channel_status == "RETURNING"
    assert draft.channel_state is ChannelState.unknown


@pytest.mark.parametrize(
    ("name", "level"),
    [("Instant", ServiceLevel.instant), ("Same Day", ServiceLevel.same_day), ("Economy", ServiceLevel.regular)],
)
def test_service_level_from_delivery_option(awaiting, name, level):
    awaiting["delivery_option_name"] = name
    assert tiktok.normalize(awaiting).service_level is level


# --- normalize: bad input -----------------------------------------------------------------


@pytest.mark.parametrize("order_id", [None, "", True])
def test_missing_id_is_rejected(awaiting, order_id):
    awaiting["id"] = order_id
    with pytest.raises(NormalizationError, match="missing id"):
        tiktok.normalize(awaiting)


@pytest.mark.parametrize("rows", [None, [], "x"])
def test_missing_line_items_is_rejected(awaiting, rows):
    awaiting["line_items"] = rows
    with pytest.raises(NormalizationError, match="line_items"):
        tiktok.normalize(awaiting)


@pytest.mark.parametrize(
    ("field", "value"),
    [("id", None), ("original_price", "Rp89.000"), ("original_price", None), ("seller_discount", "sepuluh")],
)
def test_bad_row_fields_are_rejected_by_name(awaiting, field, value):
    awaiting["line_items"][0][field] = value
    with pytest.raises(NormalizationError, match=rf"line_items\[0\]\.{field}"):
        tiktok.normalize(awaiting)


def test_missing_total_is_rejected(awaiting):
    del awaiting["payment"]["total_amount"]
    with pytest.raises(NormalizationError, match="total_amount"):
        tiktok.normalize(awaiting)


@pytest.mark.parametrize("field", ["update_time", "create_time", "status"])
def test_missing_required_order_fields_are_rejected(awaiting, field):
    del awaiting[field]
    with pytest.raises(NormalizationError, match=field):
        tiktok.normalize(awaiting)


def test_non_object_detail_is_rejected():
    with pytest.raises(NormalizationError, match="JSON object"):
        tiktok.normalize("579102384756102938")


# --- simulator round trip ---------------------------------------------------------------


def test_builder_writes_one_row_per_unit():
    document = sim.order_detail(sim_order())
    assert len(document["line_items"]) == 5
    assert all(isinstance(row["sale_price"], str) for row in document["line_items"])
    assert all(isinstance(value, str) for key, value in document["payment"].items())


def test_builder_round_trips_through_normalize():
    order = sim_order()
    draft = tiktok.normalize(sim.order_detail(order))
    assert draft.channel_order_id == order.order_id
    assert [(line.sku, line.quantity) for line in draft.lines] == [("KOP-GAYO-250", 3), ("TEH-TUBRUK-100", 2)]
    assert [line.unit_price for line in draft.lines] == [Decimal(89000), Decimal(25000)]
    assert [line.discount for line in draft.lines] == [Decimal(30000), Decimal(0)]
    assert draft.totals.subtotal == Decimal(89000 * 3 + 25000 * 2)
    assert draft.totals.shipping == Decimal(9000)
    assert draft.totals.grand_total == Decimal(89000 * 3 - 30000 + 25000 * 2 + 9000)
    address = draft.shipping_address
    assert (address.village, address.district, address.city, address.province, address.postal_code) == (
        order.village,
        order.district,
        order.city,
        order.province,
        order.postal_code,
    )
    assert address.phone == "+6281234567890"
    assert draft.channel_state is ChannelState.ready
    assert draft.placed_at == datetime.fromtimestamp(order.created, UTC)
    assert draft.channel_updated_at == datetime.fromtimestamp(order.updated, UTC)
    assert draft.ship_by == datetime.fromtimestamp(order.ship_by, UTC)
    assert draft.payment.status is PaymentStatus.paid


def test_builder_uneven_discount_splits_by_sale_price():
    # Given 3 units with a 10.000 discount (3.334 + 3.333 + 3.333)
    order = sim_order(lines=[SimLine(sku="KOP-GAYO-250", quantity=3, unit_price=89000, discount=10000)])
    lines = tiktok.normalize(sim.order_detail(order)).lines
    assert [(line.quantity, line.discount) for line in lines] == [(1, Decimal(3334)), (2, Decimal(6666))]
    assert sum(line.net_total for line in lines) == Decimal(89000 * 3 - 10000)


@pytest.mark.parametrize(
    ("status", "cod", "payment", "has_address"),
    [
        ("UNPAID", False, PaymentStatus.pending, False),
        ("ON_HOLD", False, PaymentStatus.paid, False),
        ("AWAITING_SHIPMENT", True, PaymentStatus.pending, True),
        ("IN_TRANSIT", False, PaymentStatus.paid, True),
        ("COMPLETED", True, PaymentStatus.paid, True),
        ("CANCELLED", False, PaymentStatus.voided, True),
    ],
)
def test_builder_statuses_payment_and_address(status, cod, payment, has_address):
    draft = tiktok.normalize(sim.order_detail(sim_order(status=status, cod=cod, cancel_reason="Stok habis")))
    assert draft.channel_state is tiktok.state(status)
    assert draft.payment.status is payment
    assert (draft.shipping_address is not None) is has_address
    assert draft.cancelled is (status == "CANCELLED")
    assert sum(line.quantity for line in draft.lines) == 5  # a cancelled order keeps its lines


def test_builder_line_ids_are_stable_across_fetches():
    first = tiktok.normalize(sim.order_detail(sim_order()))
    again = tiktok.normalize(sim.order_detail(sim_order(status="IN_TRANSIT", updated=1732800000)))
    assert [line.line_id for line in first.lines] == [line.line_id for line in again.lines]


def test_builder_detail_and_search_responses():
    orders = [sim_order(), sim_order(order_id="579200000000000002", status="UNPAID")]
    detail = sim.detail_response(orders)
    assert detail["code"] == 0
    assert [tiktok.normalize(o).channel_order_id for o in detail["data"]["orders"]] == [
        "579200000000000001",
        "579200000000000002",
    ]
    search = sim.search_response(orders, "tok-2")
    assert search["data"]["next_page_token"] == "tok-2"
    assert search["data"]["total_count"] == 2
    assert [tiktok.normalize(o).channel_status for o in search["data"]["orders"]] == ["AWAITING_SHIPMENT", "UNPAID"]


def test_builder_pushes_round_trip_through_notices():
    order = sim_order(status="AWAITING_COLLECTION")
    [status] = tiktok.notices(sim.status_push(order, "744001"))
    assert (status.kind, status.channel_order_id, status.status) == (
        "order_status",
        order.order_id,
        "AWAITING_COLLECTION",
    )
    assert status.updated_at == datetime.fromtimestamp(order.updated, UTC)
    [cancel] = tiktok.notices(sim.cancellation_push(order, "744002"))
    assert (cancel.kind, cancel.status) == ("cancellation", "CANCELLATION_REQUEST_PENDING")
    assert sim.cancellation_push(order, "744002")["tts_notification_id"] == "744002"
