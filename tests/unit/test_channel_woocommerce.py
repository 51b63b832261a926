"""WooCommerce wc/v3 order webhook -> OrderDraft."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from oms.channels import woocommerce
from oms.errors import NormalizationError
from oms.models.order import Channel, DeliveryMethod, PaymentStatus, ServiceLevel

FIXTURES = Path(__file__).resolve().parents[2] / "events" / "channels"


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.fixture
def created() -> dict:
    return load("woocommerce_order_created")


# --- identity and lines -------------------------------------------------------


def test_maps_ids_skus_and_quantities(created):
    # Given order 4187 with two lines, the second without a SKU
    # When normalized
    draft = woocommerce.normalize(created, "order.created")
    # Then ids are strings and the empty SKU is kept empty (the OMS holds the order)
    assert draft.channel is Channel.woocommerce
    assert draft.channel_order_id == "4187"
    assert [line.line_id for line in draft.lines] == ["1201", "1202"]
    assert [line.sku for line in draft.lines] == ["KRD-VOAL-SAGE", ""]
    assert [line.quantity for line in draft.lines] == [2, 1]
    assert draft.lines[1].name == "Bros Mutiara Custom"


def test_unit_price_is_pre_coupon_and_discount_is_subtotal_minus_total(created):
    # Given line 1: subtotal 250.000, total 225.000, quantity 2 (Woo's price 112500 is after coupons)
    # When normalized
    line = woocommerce.normalize(created).lines[0]
    # Then unit_price = subtotal / quantity, discount = subtotal - total, all Decimals
    assert type(line.unit_price) is Decimal and type(line.discount) is Decimal and type(line.tax) is Decimal
    assert line.unit_price == Decimal("125000")
    assert line.discount == Decimal("25000")
    assert line.net_total == Decimal("225000")


def test_line_tax_is_total_tax(created):
    created["line_items"][0]["total_tax"] = "24750.00"
    assert woocommerce.normalize(created).lines[0].tax == Decimal("24750.00")


def test_uneven_unit_price_is_kept_to_four_places(created):
    # Given 3 units for 100.000 (not divisible)
    created["line_items"][1].update(quantity=3, subtotal="100000.00", total="100000.00", price=33333.333333333336)
    # Then the unit price fits the model's four decimal places
    assert woocommerce.normalize(created).lines[1].unit_price == Decimal("33333.3333")


def test_totals(created):
    # Given shipping 22.000, coupon 32.500, total 314.500
    totals = woocommerce.normalize(created).totals
    # Then the totals are Decimals from the strings, subtotal is the pre-coupon line sum
    assert all(type(value) is Decimal for value in totals.model_dump().values())
    assert totals.subtotal == Decimal("325000")
    assert totals.shipping == Decimal("22000.00")
    assert totals.discount == Decimal("32500.00")
    assert totals.tax == Decimal("0.00")
    assert totals.grand_total == Decimal("314500.00")


# --- dates ----------------------------------------------------------------------


def test_gmt_dates_get_utc_attached(created):
    # Given date_*_gmt without an offset
    draft = woocommerce.normalize(created)
    # Then they are read as UTC, not as the store's local time
    assert draft.placed_at == datetime(2024, 4, 2, 7, 20, 31, tzinfo=UTC)
    assert draft.channel_updated_at == datetime(2024, 4, 2, 7, 20, 33, tzinfo=UTC)


def test_completed_update_is_newer_and_paid():
    # Given the created then the completed webhook for the same order
    first = woocommerce.normalize(load("woocommerce_order_created"), "order.created")
    later = woocommerce.normalize(load("woocommerce_order_updated_completed"), "order.updated")
    # Then the later one carries date_modified_gmt and the completed status
    assert later.channel_order_id == first.channel_order_id
    assert later.channel_updated_at == datetime(2024, 4, 5, 3, 2, 47, tzinfo=UTC)
    assert later.channel_updated_at > first.channel_updated_at
    assert later.channel_status == "completed"
    assert later.payment.status is PaymentStatus.paid


def test_local_dates_are_not_used_when_gmt_is_missing(created):
    # Given only the store-local date (no offset, unknown zone)
    del created["date_created_gmt"]
    # Then we refuse rather than guess the zone
    with pytest.raises(NormalizationError, match="date_created_gmt"):
        woocommerce.normalize(created)


# --- address and customer ------------------------------------------------------


def test_shipping_address_with_province_name_and_billing_phone(created):
    # Given a shipping address with state "JB" and a blank shipping phone
    address = woocommerce.normalize(created).shipping_address
    # Then the province is named and the billing phone is used, in E.164
    assert address.name == "Dewi Lestari"
    assert address.line1 == "Jl. Dago Asri II No. 5"
    assert address.line2 == "Dago, Coblong"
    assert address.city == "Bandung"
    assert address.province == "Jawa Barat"
    assert address.postal_code == "40135"
    assert address.country == "ID"
    assert address.phone == "+6281321109988"
    assert address.company is None  # "" is unset in WooCommerce
    assert address.missing_for_delivery() == []


def test_shipping_phone_wins_over_billing_phone(created):
    created["shipping"]["phone"] = "628119876543"
    assert woocommerce.normalize(created).shipping_address.phone == "+628119876543"


@pytest.mark.parametrize(
    ("state", "province"),
    [
        ("JK", "DKI Jakarta"),
        ("JB", "Jawa Barat"),
        ("JT", "Jawa Tengah"),
        ("JI", "Jawa Timur"),
        ("BA", "Bali"),
        ("YO", "Daerah Istimewa Yogyakarta"),
        ("SN", "Sulawesi Selatan"),
        ("jk", "DKI Jakarta"),
        ("XX", "XX"),  # unknown codes pass through
        ("Jawa Barat", "Jawa Barat"),  # already a name
    ],
)
def test_indonesian_state_codes_become_province_names(created, state, province):
    created["shipping"]["state"] = state
    assert woocommerce.normalize(created).shipping_address.province == province


def test_state_codes_of_other_countries_pass_through(created):
    # Given a Malaysian address whose state code collides with an Indonesian one
    created["shipping"].update(country="MY", state="JK")
    address = woocommerce.normalize(created).shipping_address
    assert address.country == "MY"
    assert address.province == "JK"


def test_blank_shipping_falls_back_to_billing(created):
    # Given a store that left the shipping section blank
    created["shipping"] = {key: "" for key in created["shipping"]}
    # Then the billing address is the delivery address
    address = woocommerce.normalize(created).shipping_address
    assert address.line1 == "Jl. Dago Asri II No. 5"
    assert address.province == "Jawa Barat"


def test_customer_from_billing(created):
    customer = woocommerce.normalize(created).customer
    assert customer.channel_customer_id == "318"
    assert customer.name == "Dewi Lestari"
    assert customer.email == "dewi.lestari@example.com"
    assert customer.phone == "+6281321109988"


def test_guest_customer_id_zero_is_no_customer(created):
    created["customer_id"] = 0
    assert woocommerce.normalize(created).customer.channel_customer_id is None


# --- status and payment ----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "payment", "cancelled"),
    [
        ("pending", PaymentStatus.pending, False),
        ("on-hold", PaymentStatus.pending, False),
        ("processing", PaymentStatus.paid, False),
        ("completed", PaymentStatus.paid, False),
        ("failed", PaymentStatus.failed, False),
        ("refunded", PaymentStatus.refunded, False),
        ("cancelled", PaymentStatus.voided, True),
        ("trash", PaymentStatus.voided, True),
        ("checkout-draft", PaymentStatus.pending, False),
    ],
)
def test_status_maps_to_payment_and_cancellation(created, status, payment, cancelled):
    # Given a WooCommerce status (no date_paid)
    created["status"] = status
    # When normalized
    draft = woocommerce.normalize(created, "order.updated")
    # Then payment and cancellation follow, and the raw status is kept
    assert draft.payment.status is payment
    assert draft.cancelled is cancelled
    assert draft.channel_status == status


def test_cancelled_after_payment_stays_paid_for_the_refund(created):
    created.update(status="cancelled", date_paid_gmt="2024-04-02T09:45:10")
    draft = woocommerce.normalize(created)
    assert draft.cancelled is True
    assert draft.payment.status is PaymentStatus.paid


def test_cod_processing_is_not_paid_yet(created):
    # Given a COD order in processing (Woo puts COD there at checkout)
    created.update(status="processing", payment_method="cod", payment_method_title="Bayar di Tempat (COD)")
    # Then payment is pending COD until the cash is collected
    payment = woocommerce.normalize(created).payment
    assert payment.cod is True
    assert payment.status is PaymentStatus.pending
    assert payment.method == "Bayar di Tempat (COD)"


def test_cod_completed_is_paid(created):
    created.update(status="completed", payment_method="cod")
    payment = woocommerce.normalize(created).payment
    assert payment.cod is True
    assert payment.status is PaymentStatus.paid


def test_bank_transfer_is_not_cod(created):
    payment = woocommerce.normalize(created).payment
    assert payment.cod is False
    assert payment.method == "Transfer Bank BCA"


# --- delivery -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "level"),
    [
        ("JNE YES", ServiceLevel.next_day),
        ("JNE REG", ServiceLevel.regular),
        ("GoSend Instant", ServiceLevel.instant),
        ("Grab Same Day", ServiceLevel.same_day),
        ("Flat Rate", ServiceLevel.regular),
    ],
)
def test_service_level_from_method_title(created, title, level):
    created["shipping_lines"][0]["method_title"] = title
    assert woocommerce.normalize(created).service_level is level


@pytest.mark.parametrize("method_id", ["local_pickup", "pickup_location"])
def test_local_pickup(created, method_id):
    # Given a pickup shipping method and no shipping address
    created["shipping_lines"][0].update(method_id=method_id, method_title="Ambil di Toko Dago")
    created["shipping"] = {key: "" for key in created["shipping"]}
    # Then the draft is a pickup with no delivery address
    draft = woocommerce.normalize(created)
    assert draft.delivery_method is DeliveryMethod.pickup
    assert draft.shipping_address is None


def test_no_shipping_lines_ships(created):
    created["shipping_lines"] = []
    assert woocommerce.normalize(created).delivery_method is DeliveryMethod.ship


def test_customer_note(created):
    assert woocommerce.normalize(created).notes == "Kirim sore hari ya, terima kasih."


# --- bad payloads ---------------------------------------------------------------


@pytest.mark.parametrize("payload", [None, [], "webhook_id=12", 7])
def test_non_dict_payload_is_rejected(payload):
    with pytest.raises(NormalizationError, match="JSON object"):
        woocommerce.normalize(payload)


@pytest.mark.parametrize("order_id", [None, "", True])
def test_missing_id_is_rejected(created, order_id):
    created["id"] = order_id
    with pytest.raises(NormalizationError, match="missing id"):
        woocommerce.normalize(created)


@pytest.mark.parametrize("line_items", [[], None, "x"])
def test_no_line_items_is_rejected(created, line_items):
    created["line_items"] = line_items
    with pytest.raises(NormalizationError, match="no line_items"):
        woocommerce.normalize(created)


@pytest.mark.parametrize(("field", "bad"), [("subtotal", "250.000,00"), ("total", "abc"), ("price", "Rp 5")])
def test_unreadable_line_money_is_rejected(created, field, bad):
    created["line_items"][0][field] = bad
    with pytest.raises(NormalizationError, match=rf"line_items\[0\]\.{field}"):
        woocommerce.normalize(created)


def test_unreadable_order_total_is_rejected(created):
    created["total"] = "tiga ratus ribu"
    with pytest.raises(NormalizationError, match="total"):
        woocommerce.normalize(created)


def test_zero_quantity_is_rejected(created):
    created["line_items"][0]["quantity"] = 0
    with pytest.raises(NormalizationError, match="quantity"):
        woocommerce.normalize(created)


def test_deleted_webhook_is_rejected_clearly():
    # Given order.deleted, which carries only the id
    with pytest.raises(NormalizationError, match=r"order\.deleted"):
        woocommerce.normalize({"id": 4187}, "order.deleted")
