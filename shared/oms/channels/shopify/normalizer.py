"""Shopify REST Order webhook (orders/create, updated, paid, cancelled) -> OrderDraft.

The webhook body is the full REST Order: ids are int64, money is a string in
the shop currency, times are ISO 8601 with an offset.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from oms.channels.common import (
    ID_PROVINCES,
    build_draft,
    join_name,
    money,
    normalize_phone,
    parse_datetime,
    require_dict,
    require_id,
    says_pickup,
    service_level_from,
    text,
)
from oms.errors import NormalizationError
from oms.models.order import Channel, DeliveryMethod, OrderDraft, PaymentStatus

_ZERO = Decimal(0)

# partially_paid is not payable yet: it waits like pending; the raw value stays in channel_status.
_PAYMENT_STATUS = {
    "pending": PaymentStatus.pending,
    "authorized": PaymentStatus.authorized,
    "partially_paid": PaymentStatus.pending,
    "paid": PaymentStatus.paid,
    "partially_refunded": PaymentStatus.partially_refunded,
    "refunded": PaymentStatus.refunded,
    "voided": PaymentStatus.voided,
    "expired": PaymentStatus.voided,
}

_COD_GATEWAYS = ("cash on delivery", "cash_on_delivery", "(cod)", "bayar di tempat")


def normalize(payload: dict, topic: str | None = None) -> OrderDraft:
    order = require_dict(payload, "shopify")
    order_id = require_id(order.get("id"), "id")
    lines = _lines(order.get("line_items"))
    shipping_lines = [s for s in order.get("shipping_lines") or [] if isinstance(s, dict)]
    cancelled = bool(order.get("cancelled_at")) or topic == "orders/cancelled"
    return build_draft(
        {
            "channel": Channel.shopify,
            "channel_order_id": order_id,
            "channel_order_number": text(order.get("name")),  # "#1042": what buyers and staff quote
            "channel_status": _channel_status(order, cancelled),
            "channel_updated_at": parse_datetime(order.get("updated_at") or order.get("created_at"), "updated_at"),
            "placed_at": parse_datetime(order.get("created_at"), "created_at"),
            "currency": text(order.get("currency")) or "IDR",
            "customer": _customer(order),
            "shipping_address": _address(order.get("shipping_address")),
            "delivery_method": _delivery_method(shipping_lines),
            "service_level": service_level_from(s.get("title") for s in shipping_lines),
            "payment": _payment(order),
            "lines": lines,
            "totals": _totals(order, lines, shipping_lines),
            "cancelled": cancelled,
            "cancel_reason": text(order.get("cancel_reason")) if cancelled else None,
            "notes": (text(order.get("note")) or "")[:2000] or None,
            "tags": _tags(order.get("tags")),
        },
        "shopify",
    )


def _channel_status(order: dict[str, Any], cancelled: bool) -> str:
    """Shopify has two status axes; keep both ("paid/unfulfilled") unless cancelled."""
    if cancelled:
        return "cancelled"
    financial = text(order.get("financial_status")) or "unknown"
    fulfillment = text(order.get("fulfillment_status")) or "unfulfilled"  # null means nothing shipped yet
    return f"{financial}/{fulfillment}"


def _lines(items: object) -> list[dict[str, Any]]:
    if not isinstance(items, list) or not items:
        raise NormalizationError("shopify order has no line_items")
    lines = [_line(item, index) for index, item in enumerate(items)]
    # current_quantity is what is left after order edits and restocking refunds; a line
    # edited away is not to be fulfilled. An order with nothing left keeps its lines.
    remaining = [line for line in lines if line["quantity"] > 0]
    if not remaining:
        remaining = [line | {"quantity": line["original_quantity"]} for line in lines]
    return [{k: v for k, v in line.items() if k != "original_quantity"} for line in remaining]


def _line(item: object, index: int) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise NormalizationError(f"line_items[{index}] is not an object")
    where = f"line_items[{index}]"
    quantity = item.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise NormalizationError(f"{where}.quantity must be an integer")
    current = item.get("current_quantity")
    original = quantity
    if isinstance(current, int) and not isinstance(current, bool) and 0 <= current <= quantity:
        quantity = current
    return {
        "original_quantity": original,
        "line_id": require_id(item.get("id"), f"{where}.id"),
        "sku": text(item.get("sku")) or "",  # empty SKU: the OMS holds the order, we don't guess
        "name": text(item.get("name")) or text(item.get("title")),
        "quantity": quantity,
        "unit_price": money(item.get("price"), f"{where}.price"),
        "discount": _line_discount(item, where),
        "tax": sum(
            (
                money(t.get("price"), f"{where}.tax_lines.price", _ZERO)
                for t in item.get("tax_lines") or []
                if isinstance(t, dict)
            ),
            _ZERO,
        ),
    }


def _line_discount(item: dict[str, Any], where: str) -> Decimal:
    """discount_allocations carry the real amounts; total_discount is often "0.00" beside them."""
    allocations = [a for a in item.get("discount_allocations") or [] if isinstance(a, dict)]
    if allocations:
        field = f"{where}.discount_allocations.amount"
        return sum((money(a.get("amount"), field) for a in allocations), _ZERO)
    return money(item.get("total_discount"), f"{where}.total_discount", _ZERO)


def _totals(order: dict[str, Any], lines: list[dict[str, Any]], shipping_lines: list[dict]) -> dict[str, Any]:
    # current_* reflect order edits and refunds; fall back to the originals on older payloads.
    gross = sum((line["unit_price"] * line["quantity"] for line in lines), _ZERO)
    return {
        "subtotal": money(order.get("total_line_items_price"), "total_line_items_price", gross),
        "shipping": _shipping_total(order, shipping_lines),
        "discount": money(_first(order, "current_total_discounts", "total_discounts"), "total_discounts", _ZERO),
        "tax": money(_first(order, "current_total_tax", "total_tax"), "total_tax", _ZERO),
        "grand_total": money(_first(order, "current_total_price", "total_price"), "current_total_price"),
    }


def _shipping_total(order: dict[str, Any], shipping_lines: list[dict]) -> Decimal:
    """total_shipping_price_set is before shipping discounts (those are in total_discounts)."""
    shop_money = (order.get("total_shipping_price_set") or {}).get("shop_money") or {}
    if shop_money.get("amount") is not None:
        return money(shop_money.get("amount"), "total_shipping_price_set.shop_money.amount")
    return sum((money(s.get("price"), "shipping_lines.price", _ZERO) for s in shipping_lines), _ZERO)


def _first(order: dict[str, Any], *keys: str) -> object:
    return next((order[key] for key in keys if order.get(key) not in (None, "")), None)


def _payment(order: dict[str, Any]) -> dict[str, Any]:
    gateways = [g for g in (text(name) for name in order.get("payment_gateway_names") or []) if g]
    if not gateways and text(order.get("gateway")):  # `gateway` is deprecated but still sent
        gateways = [text(order.get("gateway"))]
    financial = (text(order.get("financial_status")) or "pending").lower()
    return {
        "status": _PAYMENT_STATUS.get(financial, PaymentStatus.pending),  # unknown: treat as not paid
        "cod": any(marker in g.lower() for g in gateways for marker in _COD_GATEWAYS),
        "method": gateways[0][:100] if gateways else None,
    }


def _customer(order: dict[str, Any]) -> dict[str, Any]:
    customer = order.get("customer") if isinstance(order.get("customer"), dict) else {}
    address = order.get("shipping_address") if isinstance(order.get("shipping_address"), dict) else {}
    country = text(address.get("country_code")) or "ID"
    customer_id = customer.get("id")
    return {
        "channel_customer_id": str(customer_id) if customer_id not in (None, "") else None,
        "name": join_name(customer.get("first_name"), customer.get("last_name")) or text(address.get("name")),
        "email": text(order.get("email")) or text(order.get("contact_email")) or text(customer.get("email")),
        "phone": normalize_phone(_first(order, "phone") or customer.get("phone") or address.get("phone"), country),
    }


def _address(address: object) -> dict[str, Any] | None:
    if not isinstance(address, dict):
        return None
    country = text(address.get("country_code")) or "ID"
    return {
        "name": text(address.get("name")) or join_name(address.get("first_name"), address.get("last_name")),
        "phone": normalize_phone(address.get("phone"), country),
        "company": text(address.get("company")),
        "line1": text(address.get("address1")),
        "line2": text(address.get("address2")),
        "city": text(address.get("city")),
        "province": _province(address, country),
        "postal_code": text(address.get("zip")),
        "country": country,
        "lat": _coordinate(address.get("latitude"), "shipping_address.latitude"),
        "lng": _coordinate(address.get("longitude"), "shipping_address.longitude"),
    }


def _province(address: dict[str, Any], country: str) -> str | None:
    """Shopify's ID province codes are ISO 3166-2 like WooCommerce's: one spelling across channels."""
    code = (text(address.get("province_code")) or "").upper()
    if country.upper() == "ID" and code in ID_PROVINCES:
        return ID_PROVINCES[code]
    return text(address.get("province")) or text(address.get("province_code"))


def _coordinate(value: object, field: str) -> Decimal | None:
    return None if value in (None, "") else money(value, field)


def _delivery_method(shipping_lines: list[dict]) -> DeliveryMethod:
    """Pickup only when a shipping line says so; no shipping line alone proves nothing."""
    for line in shipping_lines:
        if says_pickup(line.get("code"), line.get("source"), line.get("delivery_category")):
            return DeliveryMethod.pickup
    return DeliveryMethod.ship


def _tags(tags: object) -> list[str]:
    """Shopify sends tags as one comma-separated string."""
    raw = tags if isinstance(tags, list) else (text(tags) or "").split(",")
    return [t for t in (text(item) for item in raw) if t][:50]
