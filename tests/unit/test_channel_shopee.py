"""Shopee Open Platform v2: pushes -> ChannelNotice, get_order_detail -> OrderDraft, and the simulator's documents."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from oms.channels import shopee
from oms.channels.marketplace import ChannelState
from oms.errors import NormalizationError
from oms.models.order import Channel, PaymentStatus, ServiceLevel
from oms_local.sim_formats import SimLine, SimOrder
from oms_local.sim_formats import shopee as sim

FIXTURES = Path(__file__).resolve().parents[2] / "events" / "channels"


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.fixture
def paid() -> dict:
    return load("shopee_get_order_detail_response")["response"]["order_list"][0]


@pytest.fixture
def cancelled() -> dict:
    return load("shopee_get_order_detail_response")["response"]["order_list"][1]


def sim_order(**changes) -> SimOrder:
    order = SimOrder(
        channel="shopee",
        order_id="241128SIM0001A",
        shop_id="802113456",
        status="READY_TO_SHIP",
        created=1732770000,
        updated=1732770300,
        lines=[
            SimLine(sku="KOP-GAYO-250", quantity=3, unit_price=89000, name="Kopi Gayo", discount=30000),
            SimLine(sku="TEH-TUBRUK-100", quantity=1, unit_price=25000, name="Teh Tubruk"),
        ],
        shipping_fee=15000,
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
        ("READY_TO_SHIP", ChannelState.ready),
        ("PROCESSED", ChannelState.arranged),
        ("RETRY_SHIP", ChannelState.arranged),
        ("SHIPPED", ChannelState.shipped),
        ("TO_CONFIRM_RECEIVE", ChannelState.delivered),
        ("IN_CANCEL", ChannelState.cancel_requested),
        ("CANCELLED", ChannelState.cancelled),
        ("TO_RETURN", ChannelState.return_requested),
        ("COMPLETED", ChannelState.completed),
        ("PENDING", ChannelState.on_hold),
        ("INVOICE_PENDING", ChannelState.on_hold),
        ("ready_to_ship", ChannelState.ready),
    ],
)
def test_documented_statuses_map_to_one_state(raw, expected):
    assert shopee.state(raw) is expected


@pytest.mark.parametrize("raw", [None, "", "   ", "TO_RETRY_LOGISTICS", "LOST"])
def test_unknown_status_is_unknown_never_a_guess(raw):
    assert shopee.state(raw) is ChannelState.unknown


# --- notices ----------------------------------------------------------------------


def test_order_status_push_names_the_order_and_its_status():
    # Given a code 3 push
    [notice] = shopee.notices(load("shopee_order_status_push"))
    # Then the notice carries the order, the raw status, the shop and the change time (UTC)
    assert notice.channel is Channel.shopee
    assert notice.kind == "order_status"
    assert notice.channel_order_id == "241127RK2M8X5A"
    assert notice.status == "READY_TO_SHIP"
    assert notice.shop_id == "802113456"
    assert notice.updated_at == datetime(2024, 11, 27, 5, 47, tzinfo=UTC)


def test_tracking_number_push_is_a_tracking_notice():
    [notice] = shopee.notices(load("shopee_tracking_number_push"))
    assert notice.kind == "tracking"
    assert notice.channel_order_id == "241127RK2M8X5A"
    assert notice.status is None
    assert notice.extra["tracking_no"] == "JX3318845520"
    assert notice.extra["package_number"] == "OFG187654321098765"


def test_shipping_document_push_keeps_the_document_status_apart():
    [notice] = shopee.notices(load("shopee_shipping_document_push"))
    assert notice.kind == "shipping_document"
    assert notice.status is None  # READY is the document's status, not the order's
    assert notice.extra["document_status"] == "READY"


def test_verification_push_names_no_order():
    assert shopee.notices(load("shopee_verification_push")) == []


@pytest.mark.parametrize(
    "body",
    [
        {"code": 1, "shop_id": 802113456, "data": {"success": 1}, "timestamp": 1},  # shop authorized
        {"code": 8, "data": {"item_id": 1, "model_id": 2}},  # reserved stock
        {"code": 12, "data": None},
    ],
)
def test_pushes_about_no_order_give_nothing(body):
    assert shopee.notices(body) == []


def test_other_push_naming_an_order_is_an_order_notice():
    [notice] = shopee.notices({"code": 99, "shop_id": 1, "data": {"ordersn": "241127X"}})
    assert notice.kind == "order"
    assert notice.extra == {"code": "99"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"code": 3, "data": {"status": "SHIPPED", "update_time": 1}}, "ordersn"),
        ({"code": 3, "data": {"ordersn": "", "status": "SHIPPED", "update_time": 1}}, "ordersn"),
        ({"code": 3, "data": {"ordersn": "A1", "update_time": 1}}, "status"),
        ({"code": 3, "data": {"ordersn": "A1", "status": "SHIPPED"}}, "update_time"),
        ({"code": 3}, "data"),
        ({"code": 4, "data": {"tracking_no": "X"}}, "ordersn"),
        ({"data": {"ordersn": "A1"}}, "code"),
        ({"code": "3", "data": {"ordersn": "A1"}}, "code"),
    ],
)
def test_malformed_order_pushes_are_rejected(body, field):
    with pytest.raises(NormalizationError, match=field):
        shopee.notices(body)


def test_non_object_push_is_rejected():
    with pytest.raises(NormalizationError, match="JSON object"):
        shopee.notices([])


# --- normalize: fixture -------------------------------------------------------------


def test_identity_status_and_times(paid):
    draft = shopee.normalize(paid)
    assert draft.channel is Channel.shopee
    assert draft.channel_order_id == "241127RK2M8X5A"
    assert draft.channel_status == "READY_TO_SHIP"
    assert draft.channel_state is ChannelState.ready
    assert draft.placed_at == datetime(2024, 11, 27, 5, 0, tzinfo=UTC)
    assert draft.channel_updated_at == datetime(2024, 11, 27, 5, 47, tzinfo=UTC)
    assert draft.ship_by == datetime(2024, 11, 29, 5, 0, tzinfo=UTC)
    assert draft.currency == "IDR"


def test_lines_use_model_sku_then_item_sku_and_unique_line_ids(paid):
    # Given a variation (model_sku set) and an item without variations (model_id 0, model_sku "")
    lines = shopee.normalize(paid).lines
    assert [line.sku for line in lines] == ["KOP-GAYO-250", "KOP-TORAJA-250"]
    assert [line.line_id for line in lines] == ["24781230456-187650012345", "24781230999-0"]
    assert [line.quantity for line in lines] == [2, 1]
    assert lines[0].name == "Kopi Arabika Gayo Bubuk (250 gram)"


def test_unit_price_is_original_and_discount_is_per_line(paid):
    # Given 2 units at 89.000 list, 79.000 after the seller's promotion
    line = shopee.normalize(paid).lines[0]
    assert type(line.unit_price) is Decimal and type(line.discount) is Decimal
    assert line.unit_price == Decimal(89000)
    assert line.discount == Decimal(20000)
    assert line.net_total == Decimal(158000)


def test_totals_keep_the_channel_total_and_add_up(paid):
    # Given goods 253.000 after item discounts and total_amount 261.000
    totals = shopee.normalize(paid).totals
    assert all(type(value) is Decimal for value in totals.model_dump().values())
    assert totals.grand_total == Decimal(261000)
    assert totals.subtotal == Decimal(273000)
    assert totals.shipping == Decimal(8000)  # what the buyer paid beyond the goods
    assert totals.discount == Decimal(20000)
    assert totals.subtotal + totals.shipping - totals.discount == totals.grand_total


def test_vouchers_larger_than_shipping_become_order_discount(cancelled):
    # Given goods 135.000 and total_amount 120.000 (a 15.000 voucher, free shipping)
    totals = shopee.normalize(cancelled).totals
    assert totals.shipping == Decimal(0)
    assert totals.discount == Decimal(15000)
    assert totals.subtotal + totals.shipping - totals.discount == totals.grand_total


def test_address_hierarchy_and_phone(paid):
    address = shopee.normalize(paid).shipping_address
    assert address.name == "Rina Wulandari"
    assert address.phone == "+6281234567801"
    assert address.line1.startswith("Jl. Raya Gubeng No. 45")
    assert (address.village, address.district, address.city, address.province) == (
        "GUBENG",
        "GUBENG",
        "KOTA SURABAYA",
        "JAWA TIMUR",
    )
    assert address.postal_code == "60281"
    assert address.country == "ID"
    assert address.missing_for_delivery() == []


def test_masked_phone_is_kept_as_sent(paid):
    paid["recipient_address"]["phone"] = "******01"
    assert shopee.normalize(paid).shipping_address.phone == "******01"


def test_customer_payment_notes(paid):
    draft = shopee.normalize(paid)
    assert draft.customer.channel_customer_id == "318820457"
    assert draft.customer.name == "rinawulan88"
    assert draft.payment.status is PaymentStatus.paid
    assert draft.payment.cod is False
    assert draft.payment.method == "ShopeePay"
    assert draft.notes == "Tolong dibungkus bubble wrap ya kak"
    assert draft.cancelled is False
    assert draft.cancel_reason is None


def test_cancelled_cod_order(cancelled):
    draft = shopee.normalize(cancelled)
    assert draft.cancelled is True
    assert draft.channel_state is ChannelState.cancelled
    assert draft.cancel_reason == "Need to Modify Order (by buyer)"
    assert draft.payment.cod is True
    assert draft.payment.status is PaymentStatus.voided  # never paid


@pytest.mark.parametrize(
    ("status", "cod", "pay_time", "expected"),
    [
        ("UNPAID", False, 0, PaymentStatus.pending),
        ("READY_TO_SHIP", True, 0, PaymentStatus.pending),  # COD: cash comes on delivery
        ("COMPLETED", True, 1732900000, PaymentStatus.paid),
        ("CANCELLED", False, 1732683712, PaymentStatus.paid),  # paid, then cancelled: refund due
    ],
)
def test_payment_follows_state_cod_and_pay_time(paid, status, cod, pay_time, expected):
    paid.update(order_status=status, cod=cod, pay_time=pay_time)
    assert shopee.normalize(paid).payment.status is expected


def test_in_cancel_keeps_the_buyer_reason(paid):
    paid.update(order_status="IN_CANCEL", buyer_cancel_reason="Ingin mengubah alamat")
    draft = shopee.normalize(paid)
    assert draft.channel_state is ChannelState.cancel_requested
    assert draft.cancelled is False
    assert draft.cancel_reason == "Ingin mengubah alamat"


def test_unknown_status_is_kept_and_flagged(paid):
    paid["order_status"] = "TO_RETRY_LOGISTICS"
    draft = shopee.normalize(paid)
    assert draft.channel_status == "TO_RETRY_LOGISTICS"
    assert draft.channel_state is ChannelState.unknown
    assert draft.payment.status is PaymentStatus.paid  # pay_time is set


@pytest.mark.parametrize(
    ("carrier", "level"),
    [
        ("SPX Instant", ServiceLevel.instant),
        ("GoSend Same Day", ServiceLevel.same_day),
        ("Hemat", ServiceLevel.regular),
    ],
)
def test_service_level_from_carrier_names(paid, carrier, level):
    paid["checkout_shipping_carrier"] = carrier
    assert shopee.normalize(paid).service_level is level


def test_no_ship_by_date_is_none(paid):
    paid["ship_by_date"] = 0
    assert shopee.normalize(paid).ship_by is None


def test_same_model_twice_gets_distinct_line_ids(paid):
    # Given the same model once at list price and once in an add-on deal
    twin = copy.deepcopy(paid["item_list"][0])
    twin.update(model_discounted_price=69000, model_quantity_purchased=1, add_on_deal=True)
    paid["item_list"].append(twin)
    ids = [line.line_id for line in shopee.normalize(paid).lines]
    assert ids == ["24781230456-187650012345", "24781230999-0", "24781230456-187650012345-2"]


def test_float_prices_become_exact_decimals(paid):
    paid["item_list"][0].update(model_original_price=89000.0, model_discounted_price=79000.5)
    line = shopee.normalize(paid).lines[0]
    assert line.unit_price == Decimal("89000.0")
    assert line.discount == Decimal("19999.0")


# --- normalize: bad input -----------------------------------------------------------------


@pytest.mark.parametrize("order_sn", [None, "", True])
def test_missing_order_sn_is_rejected(paid, order_sn):
    paid["order_sn"] = order_sn
    with pytest.raises(NormalizationError, match="order_sn"):
        shopee.normalize(paid)


@pytest.mark.parametrize("item_list", [None, [], "x"])
def test_missing_item_list_is_rejected(paid, item_list):
    paid["item_list"] = item_list
    with pytest.raises(NormalizationError, match="item_list"):
        shopee.normalize(paid)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("model_quantity_purchased", 0, "model_quantity_purchased"),
        ("model_quantity_purchased", "2", "model_quantity_purchased"),
        ("model_original_price", "Rp 89.000", "model_original_price"),
        ("model_original_price", None, "model_original_price"),
    ],
)
def test_bad_item_fields_are_rejected_by_name(paid, field, value, match):
    paid["item_list"][0][field] = value
    with pytest.raises(NormalizationError, match=match):
        shopee.normalize(paid)


@pytest.mark.parametrize("field", ["update_time", "create_time", "total_amount", "order_status"])
def test_missing_required_order_fields_are_rejected(paid, field):
    del paid[field]
    with pytest.raises(NormalizationError, match=field):
        shopee.normalize(paid)


def test_errors_never_quote_customer_data(paid):
    paid["recipient_address"]["name"] = "X" * 300  # too long for the model
    with pytest.raises(NormalizationError) as caught:
        shopee.normalize(paid)
    assert "XXXX" not in str(caught.value)
    assert "XXXX" not in json.dumps(caught.value.details)


# --- simulator round trip ---------------------------------------------------------------


def test_builder_round_trips_through_normalize():
    # Given a simulated order with a discounted line and shipping
    order = sim_order()
    # When its get_order_detail document is normalized
    draft = shopee.normalize(sim.order_detail(order))
    # Then SKUs, quantities, amounts, address, status and times survive
    assert draft.channel_order_id == order.order_id
    assert [(line.sku, line.quantity) for line in draft.lines] == [("KOP-GAYO-250", 3), ("TEH-TUBRUK-100", 1)]
    assert [line.unit_price for line in draft.lines] == [Decimal(89000), Decimal(25000)]
    assert [line.discount for line in draft.lines] == [Decimal(30000), Decimal(0)]
    assert draft.totals.shipping == Decimal(15000)
    assert draft.totals.grand_total == Decimal(89000 * 3 - 30000 + 25000 + 15000)
    address = draft.shipping_address
    assert (address.village, address.district, address.city, address.province, address.postal_code) == (
        order.village,
        order.district,
        order.city,
        order.province,
        order.postal_code,
    )
    assert address.phone == "+6281234567890"
    assert draft.channel_status == "READY_TO_SHIP"
    assert draft.channel_state is ChannelState.ready
    assert draft.placed_at == datetime.fromtimestamp(order.created, UTC)
    assert draft.channel_updated_at == datetime.fromtimestamp(order.updated, UTC)
    assert draft.ship_by == datetime.fromtimestamp(order.ship_by, UTC)
    assert draft.payment.status is PaymentStatus.paid


def test_builder_line_ids_are_stable_across_fetches():
    first = shopee.normalize(sim.order_detail(sim_order()))
    again = shopee.normalize(sim.order_detail(sim_order(status="SHIPPED", updated=1732800000)))
    assert [line.line_id for line in first.lines] == [line.line_id for line in again.lines]


@pytest.mark.parametrize(
    ("status", "cod", "payment"),
    [
        ("UNPAID", False, PaymentStatus.pending),
        ("READY_TO_SHIP", True, PaymentStatus.pending),
        ("COMPLETED", True, PaymentStatus.paid),
        ("CANCELLED", False, PaymentStatus.voided),
    ],
)
def test_builder_statuses_and_payment(status, cod, payment):
    draft = shopee.normalize(sim.order_detail(sim_order(status=status, cod=cod, cancel_reason="Out of stock")))
    assert draft.channel_state is shopee.state(status)
    assert draft.payment.status is payment
    assert draft.cancelled is (status == "CANCELLED")


def test_builder_money_is_json_numbers_and_reads_as_decimal():
    document = sim.order_detail(sim_order())
    assert isinstance(document["total_amount"], int)
    assert isinstance(document["item_list"][0]["model_original_price"], int)
    draft = shopee.normalize(json.loads(json.dumps(document)))
    assert all(type(value) is Decimal for value in draft.totals.model_dump().values())


def test_builder_detail_and_list_responses():
    orders = [sim_order(), sim_order(order_id="241128SIM0002B", status="SHIPPED")]
    detail = sim.detail_response(orders)
    assert detail["error"] == ""
    assert [shopee.normalize(o).channel_order_id for o in detail["response"]["order_list"]] == [
        "241128SIM0001A",
        "241128SIM0002B",
    ]
    listing = sim.order_list_response(orders, more=True, next_cursor="2")
    assert listing["response"] == {
        "more": True,
        "next_cursor": "2",
        "order_list": [
            {"order_sn": "241128SIM0001A", "order_status": "READY_TO_SHIP"},
            {"order_sn": "241128SIM0002B", "order_status": "SHIPPED"},
        ],
    }
    assert sim.order_list_response(orders, more=False, next_cursor="9")["response"]["next_cursor"] == ""


def test_builder_status_push_round_trips_through_notices():
    order = sim_order(status="PROCESSED")
    [notice] = shopee.notices(sim.status_push(order, "msg-1"))
    assert (notice.channel_order_id, notice.status, notice.shop_id) == (order.order_id, "PROCESSED", "802113456")
    assert notice.updated_at == datetime.fromtimestamp(order.updated, UTC)
    assert sim.status_push(order, "msg-1")["msg_id"] == "msg-1"
    assert "msg_id" not in sim.status_push(order, None)
