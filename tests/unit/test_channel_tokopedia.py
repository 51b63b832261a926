"""Tokopedia webhooks, Get Single Order and the encrypted buyer data -> OrderDraft."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from oms.channels import tokopedia
from oms.channels.marketplace import ChannelState
from oms.channels.tokopedia import crypto as tokopedia_crypto
from oms.errors import NormalizationError
from oms.models.order import Channel, PaymentStatus
from oms_local.sim_formats import SimLine, SimOrder
from oms_local.sim_formats import tokopedia as sim

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "events" / "channels"
ORDER = "1893342201"
GAYO, TORAJA = "3322108841", "3322108907"


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    """A fresh RSA key pair: (private PEM, public PEM)."""
    return tokopedia_crypto.new_key_pair()


def sim_order(**changes) -> SimOrder:
    base = {
        "channel": "tokopedia",
        "order_id": "1234567890",
        "shop_id": "987654",
        "status": "220",
        "created": 1764032400,
        "updated": 1764036000,
        "lines": [SimLine("KOP-GAYO-250", 2, 85000, "Kopi Gayo 250 g", 10000), SimLine("KOP-TORAJA-250", 1, 90000)],
        "shipping_fee": 12000,
        "ship_by": 1764201600,
    }
    base.update(changes)
    return SimOrder(**base)


# --- states ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0, ChannelState.cancelled),
        ("3", ChannelState.cancelled),
        ("10", ChannelState.cancelled),
        ("15", ChannelState.cancelled),
        ("100", ChannelState.unpaid),
        (200, ChannelState.unpaid),
        ("220", ChannelState.ready),
        ("400", ChannelState.ready),
        ("450", ChannelState.arranged),
        ("500", ChannelState.shipped),
        ("501", ChannelState.shipped),
        ("540", ChannelState.shipped),
        ("550", ChannelState.returned),
        ("600", ChannelState.delivered),
        ("601", ChannelState.return_requested),
        ("690", ChannelState.on_hold),
        ("698", ChannelState.on_hold),
        ("699", ChannelState.cancelled),
        ("700", ChannelState.completed),
        (701, ChannelState.completed),
        (" 220 ", ChannelState.ready),
        ("999", ChannelState.unknown),
        ("paid", ChannelState.unknown),
        (None, ChannelState.unknown),
        (True, ChannelState.unknown),
        (2.5, ChannelState.unknown),
    ],
)
def test_states(raw, expected):
    assert tokopedia.state(raw) is expected


def test_state_keys_are_decimal_codes():
    assert all(code.isdigit() and str(int(code)) == code for code in tokopedia.STATES)


# --- pushes ----------------------------------------------------------------------


def test_order_notification_is_an_order_notice():
    (notice,) = tokopedia.notices(load("tokopedia_order_notification"))
    assert notice.channel is Channel.tokopedia
    assert (notice.channel_order_id, notice.kind, notice.status) == (ORDER, "order", "220")
    assert notice.shop_id == "11874402"
    assert notice.extra == {"fs_id": "15123"}


def test_order_status_push_is_an_order_status_notice():
    (notice,) = tokopedia.notices(load("tokopedia_order_status"))
    assert (notice.channel_order_id, notice.kind, notice.status) == (ORDER, "order_status", "400")
    assert notice.updated_at is None


@pytest.mark.parametrize(
    "body",
    [
        {"fs_id": 15123, "shop_id": 1},
        {"fs_id": 15123, "order_status": 400, "product_details": []},  # no order id
        {"fs_id": 15123, "order_id": 1, "order_status": None, "product_details": []},
        {"fs_id": 15123, "order_id": 1, "order_status": "shipped", "product_details": []},
    ],
)
def test_undocumented_pushes_are_refused(body):
    with pytest.raises(NormalizationError):
        tokopedia.notices(body)


# --- the order notification ------------------------------------------------------


def test_notification_lines_amounts_and_totals():
    draft = tokopedia.normalize_notification(load("tokopedia_order_notification"))
    assert draft.channel_order_id == ORDER
    assert draft.channel_order_number == "INV/20251125/MPL/3672254419"
    assert [(line.line_id, line.sku, line.quantity, line.unit_price) for line in draft.lines] == [
        (GAYO, "KOP-GAYO-250", 2, Decimal(128500)),
        (TORAJA, "KOP-TORAJA-250", 1, Decimal(80000)),
    ]
    assert all(type(line.unit_price) is Decimal for line in draft.lines)
    totals = draft.totals
    # Insurance (1.500) travels with the shipping (15.000)
    assert (totals.subtotal, totals.shipping, totals.discount, totals.grand_total) == (
        Decimal(337000),
        Decimal(16500),
        Decimal(15000),
        Decimal(338500),
    )


def test_notification_buyer_address_and_state():
    draft = tokopedia.normalize_notification(load("tokopedia_order_notification"))
    assert draft.customer.name == "Andi Wijaya"
    assert draft.customer.phone == "+6281233408812"
    assert draft.customer.email == "andi.wijaya@example.co.id"
    assert draft.customer.channel_customer_id == "220031877"
    address = draft.shipping_address
    assert address.line1.startswith("Jl. Raya Darmo Permai III No. 21")
    assert (address.district, address.city, address.province, address.postal_code, address.country) == (
        "Dukuhpakis",
        "Kota Surabaya",
        "Jawa Timur",
        "60226",
        "ID",
    )
    assert (address.lat, address.lng) == (Decimal("-7.2897611"), Decimal("112.6754021"))
    assert address.missing_for_delivery() == []
    assert draft.placed_at == draft.channel_updated_at == datetime(2025, 11, 25, 2, 58, 12, tzinfo=UTC)
    assert (draft.channel_status, draft.channel_state) == ("220", ChannelState.ready)
    assert draft.payment.status is PaymentStatus.paid
    assert draft.notes == "Giling kasar ya"


def test_encrypted_notification_without_a_key_stays_masked():
    draft = tokopedia.normalize_notification(load("tokopedia_order_notification_encrypted"))
    address = draft.shipping_address
    assert (draft.customer.name, draft.customer.phone, draft.customer.email) == (None, None, None)
    assert (address.name, address.phone, address.line1) == (None, None, None)
    assert address.city == "Kota Surabaya"  # the region is sent in clear
    assert set(address.missing_for_delivery()) == {"name", "line1"}  # the OMS holds it: intended


def test_encrypted_notification_with_the_wrong_key_is_refused(keys):
    private, _ = keys
    with pytest.raises(NormalizationError, match="private key") as caught:
        tokopedia.normalize_notification(
            load("tokopedia_order_notification_encrypted"), tokopedia_crypto.decryptor(private)
        )
    assert "Wijaya" not in str(caught.value)


def test_get_all_orders_entries_read_like_notifications():
    (entry,) = load("tokopedia_get_all_orders_response")["data"]
    draft = tokopedia.normalize_notification(entry)  # "buyer" there, "customer" in the webhook
    assert draft.customer.name == "Andi Wijaya"
    assert draft.channel_state is ChannelState.arranged
    assert draft.channel_order_number == "INV/20251125/MPL/3672254419"
    assert [line.line_id for line in draft.lines] == [GAYO, TORAJA]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b.pop("order_id"), "order_id"),
        (lambda b: b.update(products=[]), "products"),
        (lambda b: b["products"][0].update(quantity=0), "quantity"),
        (lambda b: b["products"][0].update(price="Wijaya"), "price"),
        (lambda b: b.pop("create_time"), "create_time"),
        (lambda b: b["products"][1].pop("id"), "id"),
    ],
)
def test_bad_notifications_name_the_field_never_the_buyer(change, field):
    body = load("tokopedia_order_notification")
    change(body)
    with pytest.raises(NormalizationError, match=field) as caught:
        tokopedia.normalize_notification(body)
    assert "Wijaya" not in str(caught.value) and "Andi" not in str(caught.value)


def test_unknown_status_code_is_kept_as_unknown():
    body = load("tokopedia_order_notification")
    body["order_status"] = 777
    draft = tokopedia.normalize_notification(body)
    assert (draft.channel_status, draft.channel_state) == ("777", ChannelState.unknown)
    assert draft.payment.status is PaymentStatus.pending


# --- Get Single Order --------------------------------------------------------------


def test_single_order_document():
    draft = tokopedia.normalize(load("tokopedia_get_single_order_response")["data"])
    assert (draft.channel_order_id, draft.channel_status, draft.channel_state) == (
        ORDER,
        "450",
        ChannelState.arranged,
    )
    # The same line ids as the notification's: an update never renames a line
    assert [(line.line_id, line.sku, line.quantity) for line in draft.lines] == [
        (GAYO, "KOP-GAYO-250", 2),
        (TORAJA, "KOP-TORAJA-250", 1),
    ]
    assert (draft.totals.subtotal, draft.totals.shipping, draft.totals.discount, draft.totals.grand_total) == (
        Decimal(337000),
        Decimal(16500),
        Decimal(15000),
        Decimal(338500),
    )
    assert draft.placed_at == datetime(2025, 11, 25, 2, 58, 12, 417281, tzinfo=UTC)  # nanoseconds cut
    assert draft.channel_updated_at == datetime(2025, 11, 25, 5, 12, 40, 883120, tzinfo=UTC)
    assert draft.ship_by == datetime(2025, 11, 28, 16, 59, 59, tzinfo=UTC)
    assert draft.payment.status is PaymentStatus.paid
    assert draft.payment.method == "BCA Virtual Account"
    address = draft.shipping_address
    assert (address.name, address.phone, address.city, address.postal_code) == (
        "Andi Wijaya",
        "+6281233408812",
        "Kota Surabaya",
        "60226",
    )
    assert draft.customer.email == "andi.wijaya@example.co.id"


def test_single_order_later_than_the_notification():
    first = tokopedia.normalize_notification(load("tokopedia_order_notification"))
    later = tokopedia.normalize(load("tokopedia_get_single_order_response")["data"])
    assert later.channel_order_id == first.channel_order_id
    assert later.channel_updated_at > first.channel_updated_at


def test_single_order_without_details_is_refused():
    data = load("tokopedia_get_single_order_response")["data"]
    data["order_info"]["order_detail"] = []
    with pytest.raises(NormalizationError, match="order_detail"):
        tokopedia.normalize(data)


# --- crypto ------------------------------------------------------------------------


def test_encryption_round_trip_with_a_fresh_key(keys):
    private, public = keys
    secret = {
        "customer": {"Name": "Rina Kartika", "phone": "0812"},
        "recipient": {"address": {"address_full": "Jl. A"}},
    }
    encryption = tokopedia_crypto.encrypt_for(public, secret)
    assert set(encryption) == {"secret", "content"}
    assert tokopedia_crypto.decryptor(private)(encryption) == secret


def test_content_layout_is_ciphertext_tag_then_nonce(keys):
    # Decrypt by hand, the way the public decryptors do, to pin the layout down
    private, public = keys
    encryption = tokopedia_crypto.encrypt_for(public, {"a": 1})
    key = serialization.load_pem_private_key(private.encode(), password=None)
    aes_key = key.decrypt(base64.b64decode(encryption["secret"]), tokopedia_crypto._oaep())
    assert len(aes_key) == 32
    content = base64.b64decode(encryption["content"])
    assert json.loads(AESGCM(aes_key).decrypt(content[-12:], content[:-12], None)) == {"a": 1}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: e.update(secret="not base64!"), "encryption.secret is not base64"),
        (lambda e: e.update(content=""), "missing encryption.content"),
        (lambda e: e.update(content=base64.b64encode(b"short").decode()), "too short"),
        (
            lambda e: e.update(content=base64.b64encode(b"\0" + base64.b64decode(e["content"])[1:]).decode()),
            "authentication",
        ),
    ],
)
def test_damaged_encryption_is_refused(keys, change, message):
    private, public = keys
    encryption = tokopedia_crypto.encrypt_for(public, {"customer": {"Name": "Rina Kartika"}})
    change(encryption)
    with pytest.raises(NormalizationError, match=message) as caught:
        tokopedia_crypto.decryptor(private)(encryption)
    assert "Rina" not in str(caught.value)


@pytest.mark.parametrize("pem", ["not a key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"])
def test_a_bad_private_key_is_refused(pem):
    with pytest.raises(NormalizationError, match="private key"):
        tokopedia_crypto.decryptor(pem)


def test_cryptography_is_imported_only_when_used():
    code = "import sys, oms.channels.tokopedia.crypto; print('cryptography' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": f"{ROOT / 'shared'}"},
    )
    assert out.stdout.strip() == "False"


# --- the simulator's documents round-trip -----------------------------------------


def test_builder_notification_round_trip_with_encryption(keys):
    private, public = keys
    order = sim_order()
    body = sim.order_notification(order, public)
    masked = tokopedia.normalize_notification(body)
    assert masked.shipping_address.name is None and masked.customer.email is None
    draft = tokopedia.normalize_notification(body, tokopedia_crypto.decryptor(private))
    assert [(line.sku, line.quantity, line.unit_price) for line in draft.lines] == [
        ("KOP-GAYO-250", 2, Decimal(85000)),
        ("KOP-TORAJA-250", 1, Decimal(90000)),
    ]
    assert (draft.totals.subtotal, draft.totals.shipping, draft.totals.discount, draft.totals.grand_total) == (
        Decimal(260000),
        Decimal(12000),
        Decimal(10000),  # Tokopedia has no line discount here: the seller's discount is the voucher
        Decimal(262000),
    )
    assert (draft.customer.name, draft.customer.phone, draft.customer.email) == (
        order.buyer_name,
        "+6281234567890",
        order.buyer_email,
    )
    address = draft.shipping_address
    assert address.name == order.buyer_name
    assert address.line1.startswith(order.line1)
    assert (address.district, address.city, address.province, address.postal_code) == (
        order.district,
        order.city,
        order.province,
        order.postal_code,
    )
    assert address.missing_for_delivery() == []
    assert draft.placed_at == datetime.fromtimestamp(order.created, UTC)
    assert (draft.channel_status, draft.channel_state) == ("220", ChannelState.ready)


def test_builder_notification_without_a_key_is_plain():
    body = sim.order_notification(sim_order(), None)
    assert body["encryption"] == {"secret": "", "content": ""}
    assert tokopedia.normalize_notification(body).customer.name == "Budi Santoso"


@pytest.mark.parametrize(
    ("status", "state", "payment"),
    [
        ("100", ChannelState.unpaid, PaymentStatus.pending),
        ("220", ChannelState.ready, PaymentStatus.paid),
        ("450", ChannelState.arranged, PaymentStatus.paid),
        ("500", ChannelState.shipped, PaymentStatus.paid),
        ("10", ChannelState.cancelled, PaymentStatus.paid),  # rejected after payment: a refund is owed
        ("700", ChannelState.completed, PaymentStatus.paid),
    ],
)
def test_builder_single_order_round_trip(status, state, payment):
    order = sim_order(status=status, tracking_number="JNE0012345678")
    draft = tokopedia.normalize(sim.single_order_response(order)["data"])
    assert (draft.channel_status, draft.channel_state, draft.payment.status) == (status, state, payment)
    assert draft.cancelled is (state is ChannelState.cancelled)
    assert [(line.sku, line.quantity, line.unit_price) for line in draft.lines] == [
        ("KOP-GAYO-250", 2, Decimal(85000)),
        ("KOP-TORAJA-250", 1, Decimal(90000)),
    ]
    assert draft.totals.grand_total == Decimal(262000)
    assert draft.placed_at == datetime.fromtimestamp(order.created, UTC)
    assert draft.channel_updated_at == datetime.fromtimestamp(order.updated, UTC)
    assert draft.ship_by == datetime.fromtimestamp(order.ship_by, UTC)
    assert draft.shipping_address.line1.startswith(order.line1)
    # The notification and the fetched order name the same lines
    notified = tokopedia.normalize_notification(sim.order_notification(order, None))
    assert [line.line_id for line in notified.lines] == [line.line_id for line in draft.lines]


def test_builder_status_push_and_list():
    order = sim_order(status="500")
    (notice,) = tokopedia.notices(sim.status_push(order))
    assert (notice.channel_order_id, notice.kind, notice.status) == (order.order_id, "order_status", "500")
    (entry,) = sim.order_list_response([order])["data"]
    draft = tokopedia.normalize_notification(entry)
    assert (draft.channel_order_id, draft.channel_state) == (order.order_id, ChannelState.shipped)
    assert draft.customer.email == order.buyer_email


def test_builder_cod_order():
    order = sim_order(cod=True, status="400")
    draft = tokopedia.normalize(sim.single_order_response(order)["data"])
    assert draft.payment.cod is True
    assert draft.payment.status is PaymentStatus.pending
