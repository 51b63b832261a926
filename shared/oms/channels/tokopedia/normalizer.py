"""Tokopedia (legacy Fulfillment Service, fs_id): webhooks and Get Single Order -> OrderDraft.

Two webhooks name orders:

* the order notification: the full order (``products``, ``customer``,
  ``recipient``, ``logistics``, ``amt``, ``order_status``, ``create_time`` in
  Unix seconds), sent once payment is verified; buyer PII may be masked and
  sent encrypted in ``encryption`` {secret, content} (see crypto.py);
* the order status push: ``order_status`` code, ``order_id``, ``fs_id``,
  ``shop_id``, ``product_details``; the order is then fetched with
  Get Single Order (``GET /v2/fs/{fs_id}/order?order_id=``), whose ``data``
  is what ``normalize`` reads.

Amounts are JSON numbers in rupiah. Statuses are numeric codes, kept as
their decimal string ("220").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from oms.channels.common import (
    build_draft,
    money,
    normalize_phone,
    require_dict,
    require_id,
    says_pickup,
    service_level_from,
    text,
)
from oms.channels.marketplace import ChannelNotice, ChannelState, from_epoch, payment_for
from oms.channels.tokopedia.status import state, status_code
from oms.errors import NormalizationError
from oms.models.order import Channel, OrderDraft, ServiceLevel

Decrypt = Callable[[dict], dict]

_ZERO = Decimal(0)
_JAKARTA = timezone(timedelta(hours=7))  # Tokopedia's naive times are WIB


_FRACTION = re.compile(r"(\.\d{6})\d+")  # Go stamps nanoseconds; Python reads microseconds


def notices(push: dict) -> list[ChannelNotice]:
    """A verified Tokopedia order webhook -> the order it names."""
    body = require_dict(push, "tokopedia")
    if isinstance(body.get("products"), list):
        kind = "order"  # the order notification carries the whole order
    elif "order_status" in body and isinstance(body.get("product_details"), list | type(None)):
        kind = "order_status"
    else:
        raise NormalizationError("tokopedia push is neither an order notification nor an order status push")
    order_id = require_id(body.get("order_id"), "order_id")
    status = status_code(body.get("order_status"))
    if kind == "order_status" and status is None:
        raise NormalizationError("missing order_status")
    shop = body.get("shop_id")
    fs_id = body.get("fs_id")
    return [
        ChannelNotice(
            channel=Channel.tokopedia,
            channel_order_id=order_id,
            kind=kind,
            shop_id=str(shop).strip() if shop not in (None, "", 0) else None,
            status=status,
            updated_at=None,  # neither push stamps the change; dedupe on (order_id, status)
            extra={"fs_id": str(fs_id).strip()} if fs_id not in (None, "") else {},
        )
    ]


# --- the order notification (and Get All Orders entries, the same shape) ------------


def normalize_notification(body: dict, decrypt: Decrypt | None = None) -> OrderDraft:
    """The order notification (or one Get All Orders entry) -> OrderDraft.

    With ``decrypt`` the encrypted buyer data replaces the masked fields; without
    it they stay masked and the OMS holds the order for an incomplete address.
    """
    doc = _opened(require_dict(body, "tokopedia"), decrypt)
    order_id = require_id(doc.get("order_id"), "order_id")
    raw_status = status_code(doc.get("order_status"))
    channel_state = state(raw_status)
    created = _when(doc.get("create_time"), "create_time")
    lines = _product_lines(doc.get("products"), "products")
    customer = _section(doc, "customer") or _section(doc, "buyer")  # Get All Orders says "buyer"
    recipient = _section(doc, "recipient")
    address = _section(recipient, "address")
    logistics = _section(doc, "logistics")
    amt = _section(doc, "amt")
    cod = doc.get("is_cod_mitra") is True
    gross = sum((line["unit_price"] * line["quantity"] for line in lines), _ZERO)
    subtotal = money(amt.get("ttl_product_price"), "amt.ttl_product_price", gross)
    # Insurance is charged with the shipping, so it counts as shipping here.
    shipping = money(amt.get("shipping_cost"), "amt.shipping_cost", _ZERO) + money(
        amt.get("insurance_cost"), "amt.insurance_cost", _ZERO
    )
    discount = money(amt.get("voucher_amount"), "amt.voucher_amount", _ZERO)
    titles = [logistics.get("shipping_agency"), logistics.get("service_type")]
    return build_draft(
        {
            "channel": Channel.tokopedia,
            "channel_order_id": order_id,
            "channel_order_number": text(doc.get("invoice_num")) or text(doc.get("invoice_ref_num")),
            "channel_status": raw_status,
            "channel_state": channel_state,
            # The notification stamps only the order's creation; later fetches carry update_time.
            "channel_updated_at": created,
            "placed_at": created,
            "currency": "IDR",
            "customer": {
                "channel_customer_id": _id_or_none(customer.get("id")),
                "name": _name(customer),
                "email": text(customer.get("email")),
                "phone": normalize_phone(customer.get("phone")),
            },
            "shipping_address": {
                "name": _name(recipient),
                "phone": normalize_phone(recipient.get("phone")),
                "line1": text(address.get("address_full")),
                "district": text(address.get("district")),
                "city": text(address.get("city")),
                "province": text(address.get("province")),
                "postal_code": text(address.get("postal_code")),
                "country": _country(address.get("country")),
                **_geo(address.get("geo")),
            },
            "service_level": _service_level(titles, same_day=False),
            "payment": {
                # Tokopedia notifies once it verified the payment (220); an unknown code is not trusted.
                "status": payment_for(
                    channel_state, cod, channel_state not in (ChannelState.unpaid, ChannelState.unknown) and not cod
                ),
                "cod": cod,
            },
            "lines": lines,
            "totals": {
                "subtotal": subtotal,
                "shipping": shipping,
                "discount": discount,
                "grand_total": money(
                    amt.get("ttl_amount"), "amt.ttl_amount", max(subtotal + shipping - discount, _ZERO)
                ),
            },
            "cancelled": channel_state is ChannelState.cancelled,
            "cancel_reason": f"cancelled in Tokopedia (status {raw_status})"
            if channel_state is ChannelState.cancelled
            else None,
            "notes": _notes(doc.get("products")),
        },
        "tokopedia",
    )


# --- Get Single Order ------------------------------------------------------------


def normalize(detail: dict, decrypt: Decrypt | None = None) -> OrderDraft:
    """The ``data`` of Get Single Order -> OrderDraft (``decrypt`` as for the notification)."""
    doc = _opened(require_dict(detail, "tokopedia"), decrypt)
    order_id = require_id(doc.get("order_id"), "order_id")
    raw_status = status_code(doc.get("order_status"))
    channel_state = state(raw_status)
    info = _section(doc, "order_info")
    lines = _detail_lines(info.get("order_detail"))
    destination = _section(info, "destination")
    shipping_info = _section(info, "shipping_info")
    buyer = _section(doc, "buyer_info")
    payment_info = _section(doc, "payment_info")
    fulfillment = _section(doc, "shipment_fulfillment")
    created = _when(doc.get("create_time"), "create_time")
    stamps = [created] + [
        t for t in (_when_optional(doc.get(k), k) for k in ("update_time", "payment_date")) if t is not None
    ]
    paid_at = _when_optional(doc.get("payment_date"), "payment_date") or _when_optional(
        payment_info.get("payment_date"), "payment_info.payment_date"
    )
    cod = "cod" in (text(payment_info.get("gateway_name")) or "").lower()
    gross = sum((line["unit_price"] * line["quantity"] for line in lines), _ZERO)
    subtotal = money(doc.get("item_price"), "item_price", gross)
    shipping = money(shipping_info.get("shipping_price"), "shipping_info.shipping_price", _ZERO) + money(
        shipping_info.get("insurance_price"), "shipping_info.insurance_price", _ZERO
    )
    discount = money(payment_info.get("discount_amount"), "payment_info.discount_amount", _ZERO)
    titles = [shipping_info.get("logistic_name"), shipping_info.get("logistic_service")]
    origin = _section(doc, "origin_info")
    return build_draft(
        {
            "channel": Channel.tokopedia,
            "channel_order_id": order_id,
            "channel_order_number": text(doc.get("invoice_number")),
            "channel_status": raw_status,
            "channel_state": channel_state,
            "channel_updated_at": max(stamps),
            "placed_at": created,
            "currency": "IDR",
            "customer": {
                "channel_customer_id": _id_or_none(buyer.get("buyer_id")),
                "name": text(buyer.get("buyer_fullname")),
                "email": text(buyer.get("buyer_email")),
                "phone": normalize_phone(buyer.get("buyer_phone")),
            },
            "shipping_address": {
                "name": text(destination.get("receiver_name")),
                "phone": normalize_phone(destination.get("receiver_phone")),
                "line1": text(destination.get("address_street")),
                "district": text(destination.get("address_district")),
                "city": text(destination.get("address_city")),
                "province": text(destination.get("address_province")),
                "postal_code": text(destination.get("address_postal")),
                "country": "ID",  # Tokopedia delivers only in Indonesia
                **_geo(origin.get("destination_geo")),
            },
            "service_level": _service_level(titles, same_day=fulfillment.get("is_same_day") is True),
            "payment": {
                "status": payment_for(channel_state, cod, paid_at is not None and not cod),
                "cod": cod,
                "method": (text(payment_info.get("gateway_name")) or "")[:100] or None,
            },
            "lines": lines,
            "totals": {
                "subtotal": subtotal,
                "shipping": shipping,
                "discount": discount,
                "grand_total": money(doc.get("open_amt"), "open_amt", max(subtotal + shipping - discount, _ZERO)),
            },
            "cancelled": channel_state is ChannelState.cancelled,
            "cancel_reason": (
                (text(doc.get("cancel_request_info")) or f"cancelled in Tokopedia (status {raw_status})")[:500]
                if channel_state is ChannelState.cancelled
                else None
            ),
            "notes": (text(doc.get("comment")) or "")[:2000] or None,
            "ship_by": _when_optional(fulfillment.get("confirm_shipping_deadline"), "confirm_shipping_deadline"),
        },
        "tokopedia",
    )


# --- pieces ----------------------------------------------------------------------


def _opened(doc: dict[str, Any], decrypt: Decrypt | None) -> dict[str, Any]:
    """The document with its encrypted buyer data merged in (when there is some and a key)."""
    encryption = doc.get("encryption")
    if decrypt is None or not isinstance(encryption, dict):
        return doc
    if not text(encryption.get("secret")) or not text(encryption.get("content")):
        return doc  # Tokopedia sends empty strings when nothing is encrypted
    return _merge(doc, decrypt(encryption))


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` laid on ``base`` (the decrypted content mirrors the document's own sections)."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        elif value not in (None, ""):
            merged[key] = value
    return merged


def _product_lines(products: object, where: str) -> list[dict[str, Any]]:
    if not isinstance(products, list) or not products:
        raise NormalizationError(f"tokopedia order has no {where}")
    lines, seen = [], set()
    for index, product in enumerate(products):
        if not isinstance(product, dict):
            raise NormalizationError(f"{where}[{index}] is not an object")
        line_id = require_id(product.get("id"), f"{where}[{index}].id")
        if line_id in seen:  # the same product twice (e.g. a bundle and a single): keep both, distinct
            line_id = f"{line_id}-{index}"
        seen.add(line_id)
        lines.append(
            {
                "line_id": line_id,
                "sku": text(product.get("sku")) or "",
                "name": text(product.get("Name")) or text(product.get("name")),
                "quantity": _quantity(product.get("quantity"), f"{where}[{index}].quantity"),
                # The price the buyer pays: Tokopedia applies slash prices before it.
                "unit_price": money(product.get("price"), f"{where}[{index}].price"),
            }
        )
    return lines


def _detail_lines(details: object) -> list[dict[str, Any]]:
    if not isinstance(details, list) or not details:
        raise NormalizationError("tokopedia order has no order_info.order_detail")
    lines, seen = [], set()
    for index, detail in enumerate(details):
        where = f"order_info.order_detail[{index}]"
        if not isinstance(detail, dict):
            raise NormalizationError(f"{where} is not an object")
        # The product id, as the notification's lines use it: the line keeps its id across documents.
        line_id = require_id(detail.get("product_id"), f"{where}.product_id")
        if line_id in seen:
            line_id = f"{line_id}-{index}"
        seen.add(line_id)
        lines.append(
            {
                "line_id": line_id,
                "sku": text(detail.get("sku")) or "",
                "name": text(detail.get("product_name")),
                "quantity": _quantity(detail.get("quantity"), f"{where}.quantity"),
                "unit_price": money(detail.get("product_price"), f"{where}.product_price"),
            }
        )
    return lines


def _quantity(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise NormalizationError(f"{field} must be a positive integer")
    return value


def _notes(products: object) -> str | None:
    notes = [text(p.get("notes")) for p in products if isinstance(p, dict)] if isinstance(products, list) else []
    joined = "\n".join(n for n in notes if n)
    return joined[:2000] or None


def _service_level(titles: list[object], *, same_day: bool) -> ServiceLevel:
    if same_day:
        return ServiceLevel.same_day
    if says_pickup(*titles):
        return ServiceLevel.regular  # a courier pickup from the seller, not a store pickup
    return service_level_from(titles)


def _when(value: object, field: str) -> datetime:
    found = _when_optional(value, field)
    if found is None:
        raise NormalizationError(f"missing {field}")
    return found


def _when_optional(value: object, field: str) -> datetime | None:
    """Unix seconds, RFC 3339 (Go's, up to nanoseconds), or a naive WIB "YYYY-MM-DD HH:MM:SS"."""
    if value is None or value in ("", 0):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return from_epoch(value, field)
    if not isinstance(value, str):
        raise NormalizationError(f"{field} is not a date-time")
    raw = value.strip()
    if raw.isdigit():
        return from_epoch(raw, field)
    try:
        parsed = datetime.fromisoformat(_FRACTION.sub(r"\1", raw.replace(" ", "T", 1)))
    except ValueError:
        raise NormalizationError(f"{field} is not a date-time") from None
    if parsed.year <= 1:
        return None  # Go's zero time: unset
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=_JAKARTA)


def _geo(value: object) -> dict[str, Decimal]:
    """ "lat,lng" -> coordinates; anything unreadable (or 0,0) is left out rather than guessed."""
    raw = text(value)
    if raw is None or "," not in raw:
        return {}
    try:
        lat, lng = (Decimal(part.strip()) for part in raw.split(",", 1))
    except ArithmeticError:
        return {}
    if not (lat.is_finite() and lng.is_finite()) or (lat == 0 and lng == 0):
        return {}
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        return {}
    return {"lat": lat.quantize(Decimal("0.0000001")), "lng": lng.quantize(Decimal("0.0000001"))}


def _country(value: object) -> str:
    name = (text(value) or "ID").strip()
    return name.upper() if len(name) == 2 else "ID"  # "Indonesia": Tokopedia ships domestically only


def _name(section: dict[str, Any]) -> str | None:
    return text(section.get("Name")) or text(section.get("name"))


def _id_or_none(value: object) -> str | None:
    if isinstance(value, bool) or value in (None, "", 0, "0"):
        return None
    return str(value).strip()


def _section(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key)
    return value if isinstance(value, dict) else {}
