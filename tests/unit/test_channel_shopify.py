"""Shopify REST Order webhook -> OrderDraft."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from oms.channels import shopify
from oms.errors import NormalizationError
from oms.models.order import Channel, DeliveryMethod, PaymentStatus, ServiceLevel

FIXTURES = Path(__file__).resolve().parents[2] / "events" / "channels"
WIB = timezone(timedelta(hours=7))


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.fixture
def created() -> dict:
    return load("shopify_orders_create")


# --- identity and lines -------------------------------------------------------


def test_maps_order_and_line_ids_skus_and_quantities(created):
    # Given the orders/create body of order 5524887142582 with three lines
    # When it is normalized
    draft = shopify.normalize(created, "orders/create")
    # Then ids are strings of the int64 ids and every line keeps its SKU and quantity
    assert draft.channel is Channel.shopify
    assert draft.channel_order_id == "5524887142582"
    assert [line.line_id for line in draft.lines] == ["13924458561718", "13924458594486", "13924458627254"]
    assert [line.sku for line in draft.lines] == ["BTK-PRG-L", "KOP-GAYO-250", "SMB-BWG-200"]
    assert [line.quantity for line in draft.lines] == [2, 3, 1]
    assert draft.lines[0].name == "Kemeja Batik Parang Lengan Panjang - L"


def test_prices_and_discounts_are_decimals_from_the_strings(created):
    # Given line prices as strings and the discount code spread by discount_allocations
    # When normalized
    draft = shopify.normalize(created)
    # Then unit prices and discounts are exact Decimals, never floats
    for line in draft.lines:
        assert type(line.unit_price) is Decimal
        assert type(line.discount) is Decimal
        assert type(line.tax) is Decimal
    assert [line.unit_price for line in draft.lines] == [Decimal(350000), Decimal(85000), Decimal(45000)]
    # total_discount is "0.00" in the payload: the allocations hold the real amounts
    assert [line.discount for line in draft.lines] == [Decimal("70000"), Decimal("25500"), Decimal("4500")]
    assert draft.lines[1].net_total == Decimal("229500")


def test_line_discount_falls_back_to_total_discount_without_allocations(created):
    # Given a line without discount_allocations but with total_discount
    created["line_items"][0]["discount_allocations"] = []
    created["line_items"][0]["total_discount"] = "15000.00"
    # When normalized
    draft = shopify.normalize(created)
    # Then total_discount is the line discount
    assert draft.lines[0].discount == Decimal("15000.00")


def test_line_tax_sums_tax_lines(created):
    # Given a line with PPN in tax_lines
    created["line_items"][2]["tax_lines"] = [{"title": "PPN", "price": "4950.00", "rate": 0.11}]
    # When normalized
    draft = shopify.normalize(created)
    # Then the line carries that tax as a Decimal
    assert draft.lines[2].tax == Decimal("4950.00")
    assert type(draft.lines[2].tax) is Decimal


def test_totals_come_from_the_order_money_fields(created):
    # Given gross 1.000.000, a 10% discount, JNE REG shipping 18.000
    # When normalized
    totals = shopify.normalize(created).totals
    # Then the totals are the channel's own amounts
    assert totals.subtotal == Decimal("1000000.00")
    assert totals.discount == Decimal("100000.00")
    assert totals.shipping == Decimal("18000.00")
    assert totals.tax == Decimal("0.00")
    assert totals.grand_total == Decimal("918000.00")
    assert all(type(v) is Decimal for v in totals.model_dump().values())


def test_grand_total_prefers_current_total_price_then_total_price(created):
    # Given an order edited down (current_total_price differs), then a payload without current_*
    created["current_total_price"] = "850000.00"
    assert shopify.normalize(created).totals.grand_total == Decimal("850000.00")
    del created["current_total_price"]
    # Then the original total_price is used
    assert shopify.normalize(created).totals.grand_total == Decimal("918000.00")


def test_shipping_falls_back_to_shipping_lines(created):
    # Given an older payload without total_shipping_price_set
    del created["total_shipping_price_set"]
    # When normalized
    # Then shipping is the sum of shipping_lines prices
    assert shopify.normalize(created).totals.shipping == Decimal("18000.00")


# --- address and customer ------------------------------------------------------


def test_shipping_address_keeps_the_indonesian_hierarchy(created):
    # Given a Jakarta shipping address with province_code JK and a local-format phone
    # When normalized
    address = shopify.normalize(created).shipping_address
    # Then the hierarchy, coordinates and an E.164 phone come through
    assert address is not None
    assert address.name == "Siti Rahmawati"
    assert address.line1 == "Jl. Kemang Raya No. 12"
    assert address.line2 == "RT 005/RW 002, Bangka, Mampang Prapatan"
    assert address.city == "Jakarta Selatan"
    assert address.province == "DKI Jakarta"
    assert address.postal_code == "12730"
    assert address.country == "ID"
    assert address.phone == "+6281234567890"
    assert address.lat == Decimal("-6.2607187") and type(address.lat) is Decimal
    assert address.lng == Decimal("106.8137249")
    assert address.missing_for_delivery() == []


def test_unknown_province_code_keeps_shopify_province_name(created):
    # Given a province code we do not know
    created["shipping_address"].update(province="Provinsi Baru", province_code="ZZ")
    # Then Shopify's own province name is kept
    assert shopify.normalize(created).shipping_address.province == "Provinsi Baru"


def test_missing_shipping_address_is_none(created):
    # Given no shipping address (digital goods or pickup)
    created["shipping_address"] = None
    # Then the draft has none, and the customer still has a name
    draft = shopify.normalize(created)
    assert draft.shipping_address is None
    assert draft.customer.name == "Siti Rahmawati"


def test_customer_comes_from_customer_email_and_phone(created):
    # Given the order's customer object
    # When normalized
    customer = shopify.normalize(created).customer
    # Then the customer id is a string and contact data is kept
    assert customer.channel_customer_id == "7012345678901"
    assert customer.name == "Siti Rahmawati"
    assert customer.email == "siti.rahmawati@example.com"
    assert customer.phone == "+6281234567890"


def test_guest_checkout_has_no_customer_id(created):
    # Given a guest order (customer null) with only the shipping phone
    created["customer"] = None
    created["phone"] = None
    # Then the customer falls back to the shipping address
    customer = shopify.normalize(created).customer
    assert customer.channel_customer_id is None
    assert customer.name == "Siti Rahmawati"
    assert customer.phone == "+6281234567890"


# --- status, payment, cancellation ------------------------------------------


@pytest.mark.parametrize(
    ("financial_status", "expected"),
    [
        ("pending", PaymentStatus.pending),
        ("authorized", PaymentStatus.authorized),
        ("paid", PaymentStatus.paid),
        ("partially_paid", PaymentStatus.pending),
        ("partially_refunded", PaymentStatus.partially_refunded),
        ("refunded", PaymentStatus.refunded),
        ("voided", PaymentStatus.voided),
        ("something_new", PaymentStatus.pending),
    ],
)
def test_financial_status_maps_to_payment_status(created, financial_status, expected):
    # Given a financial_status
    created["financial_status"] = financial_status
    # When normalized
    draft = shopify.normalize(created)
    # Then the payment status is mapped and the raw value stays in channel_status
    assert draft.payment.status is expected
    assert draft.channel_status == f"{financial_status}/unfulfilled"


def test_paid_webhook_is_paid_and_newer():
    # Given orders/create then orders/paid for the same order
    created = shopify.normalize(load("shopify_orders_create"), "orders/create")
    paid = shopify.normalize(load("shopify_orders_paid"), "orders/paid")
    # Then the same order id is paid with a later channel_updated_at
    assert paid.channel_order_id == created.channel_order_id == "5524887142582"
    assert paid.payment.status is PaymentStatus.paid
    assert paid.channel_status == "paid/unfulfilled"
    assert paid.channel_updated_at > created.channel_updated_at
    assert paid.channel_updated_at == datetime(2024, 3, 28, 19, 55, 31, tzinfo=WIB)
    assert paid.placed_at == datetime(2024, 3, 28, 19, 42, 10, tzinfo=WIB)


def test_fulfillment_status_is_part_of_channel_status(created):
    # Given a paid and fulfilled order
    created.update(financial_status="paid", fulfillment_status="fulfilled")
    # Then the raw pair is kept
    assert shopify.normalize(created).channel_status == "paid/fulfilled"


def test_cancelled_webhook_sets_cancelled_with_reason():
    # Given the orders/cancelled body (cancelled_at set, reason customer)
    draft = shopify.normalize(load("shopify_orders_cancelled"), "orders/cancelled")
    # Then the draft is cancelled with the channel's reason
    assert draft.cancelled is True
    assert draft.cancel_reason == "customer"
    assert draft.channel_status == "cancelled"
    assert draft.payment.status is PaymentStatus.refunded
    assert draft.channel_updated_at == datetime(2024, 3, 29, 8, 10, 3, tzinfo=WIB)


def test_not_cancelled_without_cancelled_at(created):
    # Given cancel_reason noise but no cancelled_at
    created["cancel_reason"] = "other"
    # Then the order is not cancelled and no reason is kept
    draft = shopify.normalize(created, "orders/updated")
    assert draft.cancelled is False
    assert draft.cancel_reason is None


def test_cod_gateway_is_detected():
    # Given a pending order paid by "Cash on Delivery (COD)"
    draft = shopify.normalize(load("shopify_orders_create_cod"), "orders/create")
    # Then payment is pending COD
    assert draft.payment.cod is True
    assert draft.payment.status is PaymentStatus.pending
    assert draft.payment.method == "Cash on Delivery (COD)"
    assert draft.shipping_address.province == "Jawa Barat"
    assert draft.shipping_address.phone == "+6285722334455"


@pytest.mark.parametrize(
    ("names", "gateway", "cod"),
    [
        (["cash_on_delivery"], None, True),
        ([], "Cash on Delivery (COD)", True),  # only the deprecated `gateway` field
        (["Xendit"], "Xendit", False),
        (["bogus"], None, False),
    ],
)
def test_cod_detection_variants(created, names, gateway, cod):
    created["payment_gateway_names"] = names
    created["gateway"] = gateway
    assert shopify.normalize(created).payment.cod is cod


# --- delivery -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "level"),
    [
        ("JNE REG", ServiceLevel.regular),
        ("JNE YES", ServiceLevel.next_day),
        ("SiCepat Next Day", ServiceLevel.next_day),
        ("GoSend Same Day", ServiceLevel.same_day),
        ("GrabExpress Instant", ServiceLevel.instant),
        ("J&T Express EZ", ServiceLevel.regular),
    ],
)
def test_service_level_from_shipping_line_title(created, title, level):
    created["shipping_lines"][0]["title"] = title
    assert shopify.normalize(created).service_level is level


def test_pickup_only_when_a_shipping_line_says_so(created):
    # Given a shipping line whose code names a pickup
    created["shipping_lines"][0].update(code="Pickup - Toko Kemang", title="Toko Kemang")
    # Then the delivery method is pickup
    assert shopify.normalize(created).delivery_method is DeliveryMethod.pickup


def test_no_shipping_lines_and_no_address_still_ships(created):
    # Given neither shipping lines nor a shipping address
    created["shipping_lines"] = []
    created["shipping_address"] = None
    # Then nothing proves pickup: ship (the OMS holds it for the missing address)
    draft = shopify.normalize(created)
    assert draft.delivery_method is DeliveryMethod.ship
    assert draft.service_level is ServiceLevel.regular


# --- misc fields ----------------------------------------------------------------


def test_tags_and_note(created):
    draft = shopify.normalize(created)
    assert draft.tags == ["lebaran", "vip", "jakarta"]
    assert draft.notes == "Tolong dibungkus rapi, untuk hadiah Lebaran."
    assert draft.currency == "IDR"


def test_input_is_not_mutated(created):
    before = copy.deepcopy(created)
    shopify.normalize(created)
    assert created == before


# --- bad payloads ---------------------------------------------------------------


@pytest.mark.parametrize("payload", [None, [], "order", 42])
def test_non_dict_payload_is_rejected(payload):
    with pytest.raises(NormalizationError, match="JSON object"):
        shopify.normalize(payload)


def test_missing_id_is_rejected(created):
    del created["id"]
    with pytest.raises(NormalizationError, match="missing id"):
        shopify.normalize(created)


@pytest.mark.parametrize("line_items", [[], None])
def test_no_line_items_is_rejected(created, line_items):
    created["line_items"] = line_items
    with pytest.raises(NormalizationError, match="no line_items"):
        shopify.normalize(created)


@pytest.mark.parametrize("bad", ["12.000,00", "Rp 350000", "1.2.3", "NaN"])
def test_unreadable_money_is_rejected(created, bad):
    created["line_items"][0]["price"] = bad
    with pytest.raises(NormalizationError, match=r"line_items\[0\]\.price"):
        shopify.normalize(created)


def test_money_sent_as_a_json_number_goes_through_str(created):
    # Given a JSON float where Shopify normally sends a string
    created["line_items"][0]["price"] = 350000.1
    # Then it becomes the Decimal of its shortest repr, not the binary float
    assert shopify.normalize(created).lines[0].unit_price == Decimal("350000.1")


def test_timestamp_without_offset_is_rejected(created):
    created["updated_at"] = "2024-03-28T19:42:12"
    with pytest.raises(NormalizationError, match="updated_at"):
        shopify.normalize(created)


def test_a_model_error_names_the_field_without_echoing_values(created):
    # Given a customer email the model rejects (too long)
    created["email"] = "x" * 400 + "@example.com"
    # When normalized
    with pytest.raises(NormalizationError) as info:
        shopify.normalize(created)
    # Then the error names the field but carries no customer data
    assert "customer.email" in info.value.message
    assert "example.com" not in str(info.value.details)
    assert "example.com" not in info.value.message


def test_lines_edited_away_are_not_fulfilled(created):
    # Given an order edit that removed the first line and one unit of the second
    created["line_items"][0]["current_quantity"] = 0
    created["line_items"][1]["current_quantity"] = created["line_items"][1]["quantity"] - 1
    # When normalized
    draft = shopify.normalize(created)
    # Then only what is left is on the order
    skus = [(line.sku, line.quantity) for line in draft.lines]
    assert skus == [
        (created["line_items"][1]["sku"], created["line_items"][1]["quantity"] - 1),
        (created["line_items"][2]["sku"], created["line_items"][2]["quantity"]),
    ]


def test_the_channel_order_number_is_kept() -> None:
    import json
    from pathlib import Path

    from oms.channels import shopify

    payload = json.loads((Path(__file__).parents[2] / "events/channels/shopify_orders_create.json").read_text())
    assert shopify.normalize(payload, "orders/create").channel_order_number == payload["name"]
