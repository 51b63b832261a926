"""WooCommerce `wc/v3` order webhook (order.created, order.updated) -> OrderDraft.

The body is the full REST order: money as strings (except line `price`, a
JSON number), `date_*_gmt` in UTC without an offset.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from oms.channels.common import (
    build_draft,
    fit_amount,
    join_name,
    money,
    normalize_phone,
    parse_datetime,
    province_name,
    require_dict,
    require_id,
    says_pickup,
    service_level_from,
    text,
)
from oms.errors import NormalizationError
from oms.models.order import Channel, DeliveryMethod, OrderDraft, PaymentStatus

_ZERO = Decimal(0)

_PAYMENT_STATUS = {
    "pending": PaymentStatus.pending,  # awaiting payment
    "on-hold": PaymentStatus.pending,  # awaiting manual confirmation, e.g. bank transfer
    "processing": PaymentStatus.paid,
    "completed": PaymentStatus.paid,
    "failed": PaymentStatus.failed,
    "refunded": PaymentStatus.refunded,
}

_CANCELLED = frozenset({"cancelled", "trash"})

# Core local pickup ("local_pickup") and the block checkout's pickup ("pickup_location").
_PICKUP_METHOD_IDS = frozenset({"local_pickup", "pickup_location"})


def normalize(payload: dict, topic: str | None = None) -> OrderDraft:
    order = require_dict(payload, "woocommerce")
    order_id = require_id(order.get("id"), "id")
    if topic == "order.deleted":
        # The deleted webhook carries only {"id": ...}: there is no order to normalize.
        raise NormalizationError("woocommerce order.deleted carries no order body")
    status = (text(order.get("status")) or "").lower()
    if not status:
        raise NormalizationError("missing status")
    lines = _lines(order.get("line_items"))
    shipping_lines = [s for s in order.get("shipping_lines") or [] if isinstance(s, dict)]
    delivery = _delivery_method(shipping_lines)
    placed_at = parse_datetime(order.get("date_created_gmt"), "date_created_gmt", assume_utc=True)
    modified = order.get("date_modified_gmt")
    return build_draft(
        {
            "channel": Channel.woocommerce,
            "channel_order_id": order_id,
            "channel_order_number": text(order.get("number")),  # may differ from id with numbering plugins
            "channel_status": status,
            "channel_updated_at": (
                parse_datetime(modified, "date_modified_gmt", assume_utc=True) if modified else placed_at
            ),
            "placed_at": placed_at,
            "currency": text(order.get("currency")) or "IDR",
            "customer": _customer(order),
            "shipping_address": _shipping_address(order, delivery),
            "delivery_method": delivery,
            "service_level": service_level_from(s.get("method_title") for s in shipping_lines),
            "payment": _payment(order, status),
            "lines": lines,
            "totals": _totals(order, lines),
            "cancelled": status in _CANCELLED,
            "cancel_reason": "trashed in WooCommerce" if status == "trash" else None,
            "notes": (text(order.get("customer_note")) or "")[:2000] or None,
        },
        "woocommerce",
    )


def _lines(items: object) -> list[dict[str, Any]]:
    if not isinstance(items, list) or not items:
        raise NormalizationError("woocommerce order has no line_items")
    return [_line(item, index) for index, item in enumerate(items)]


def _line(item: object, index: int) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise NormalizationError(f"line_items[{index}] is not an object")
    where = f"line_items[{index}]"
    quantity = item.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise NormalizationError(f"{where}.quantity must be a positive integer")
    subtotal = money(item.get("subtotal"), f"{where}.subtotal")  # before coupons
    total = money(item.get("total"), f"{where}.total")  # after coupons
    # Woo's `price` is total / quantity (after coupons): the list price is subtotal / quantity,
    # so that unit_price * quantity - discount == total.
    money(item.get("price"), f"{where}.price", _ZERO)  # still reject a malformed price
    return {
        "line_id": require_id(item.get("id"), f"{where}.id"),
        "sku": text(item.get("sku")) or "",  # empty SKU: the OMS holds the order, we don't guess
        "name": text(item.get("name")),
        "quantity": quantity,
        "unit_price": fit_amount(subtotal / quantity),
        "discount": max(subtotal - total, _ZERO),
        "tax": money(item.get("total_tax"), f"{where}.total_tax", _ZERO),
    }


def _totals(order: dict[str, Any], lines: list[dict[str, Any]]) -> dict[str, Any]:
    gross = sum((line["unit_price"] * line["quantity"] for line in lines), _ZERO)
    return {
        "subtotal": gross,
        "shipping": money(order.get("shipping_total"), "shipping_total", _ZERO),
        "discount": money(order.get("discount_total"), "discount_total", _ZERO),
        "tax": money(order.get("total_tax"), "total_tax", _ZERO),
        "grand_total": money(order.get("total"), "total"),
    }


def _payment(order: dict[str, Any], status: str) -> dict[str, Any]:
    method = text(order.get("payment_method"))
    cod = (method or "").lower() == "cod"
    if status in _CANCELLED:
        # Cancelled before payment voids it; after payment the money still needs a refund.
        payment_status = PaymentStatus.paid if text(order.get("date_paid_gmt")) else PaymentStatus.voided
    elif cod and status == "processing":
        # COD orders go to processing at checkout: the cash is collected on delivery.
        payment_status = PaymentStatus.pending
    else:
        payment_status = _PAYMENT_STATUS.get(status, PaymentStatus.pending)  # unknown/custom: not paid
    return {
        "status": payment_status,
        "cod": cod,
        "method": (text(order.get("payment_method_title")) or method or "")[:100] or None,
    }


def _customer(order: dict[str, Any]) -> dict[str, Any]:
    billing = _section(order, "billing")
    customer_id = order.get("customer_id")
    return {
        # 0 is WooCommerce's guest checkout, not a customer.
        "channel_customer_id": str(customer_id) if customer_id not in (None, "", 0, "0") else None,
        "name": join_name(billing.get("first_name"), billing.get("last_name")),
        "email": text(billing.get("email")),
        "phone": normalize_phone(billing.get("phone"), text(billing.get("country"))),
    }


def _shipping_address(order: dict[str, Any], delivery: DeliveryMethod) -> dict[str, Any] | None:
    billing = _section(order, "billing")
    shipping = _section(order, "shipping")
    if not text(shipping.get("address_1")):
        if delivery is DeliveryMethod.pickup:
            return None
        shipping = billing  # no separate shipping address (virtual cart or theme quirk): ship to billing
    country = text(shipping.get("country")) or "ID"
    return {
        "name": join_name(shipping.get("first_name"), shipping.get("last_name")),
        # `shipping.phone` exists only since WooCommerce 5.6 and is often blank.
        "phone": normalize_phone(shipping.get("phone") or billing.get("phone"), country),
        "company": text(shipping.get("company")),
        "line1": text(shipping.get("address_1")),
        "line2": text(shipping.get("address_2")),
        "city": text(shipping.get("city")),
        "province": province_name(shipping.get("state"), country),
        "postal_code": text(shipping.get("postcode")),
        "country": country,
    }


def _section(order: dict[str, Any], key: str) -> dict[str, Any]:
    value = order.get(key)
    return value if isinstance(value, dict) else {}


def _delivery_method(shipping_lines: list[dict]) -> DeliveryMethod:
    for line in shipping_lines:
        method_id = (text(line.get("method_id")) or "").lower()
        if method_id in _PICKUP_METHOD_IDS or says_pickup(method_id):
            return DeliveryMethod.pickup
    return DeliveryMethod.ship
