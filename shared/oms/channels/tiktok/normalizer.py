"""TikTok Shop API 202309: webhook bodies -> ChannelNotice, Get Order Detail -> OrderDraft.

The same API serves Tokopedia's storefronts: an order whose `platform` says TOKOPEDIA is a `tokopedia`
order (storefront()), fetched, shipped and cancelled through its TikTok Shop shop. Pushes name the shop,
not the storefront, so every notice says `tiktok`; the fetched order decides.

Webhooks share one envelope (`type`, `tts_notification_id`, `shop_id`,
`timestamp`, `data`) and name orders only; the order is one element of
`data.orders` of Get Order Detail (`GET /order/202309/orders?ids=`), the same
document Search Orders returns. Money is strings in the shop's currency;
times are Unix seconds. `line_items` has ONE ROW PER UNIT.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from oms.channels.common import (
    build_draft,
    money,
    normalize_phone,
    require_dict,
    require_id,
    service_level_from,
    text,
)
from oms.channels.marketplace import ChannelNotice, ChannelState, from_epoch, payment_for
from oms.channels.tiktok.status import state
from oms.errors import NormalizationError
from oms.models.order import Channel, OrderDraft

_ZERO = Decimal(0)


# States where the buyer's pending cancellation request (is_buyer_request_cancel) still matters.
_CANCELLABLE = frozenset({ChannelState.on_hold, ChannelState.ready, ChannelState.arranged})


def notices(push: dict) -> list[ChannelNotice]:
    """The orders a verified webhook body names.

    Type 1 order status change, 2 reverse status update (legacy), 3 recipient address update,
    4 package update (one notice per order of every package), 11 cancellation status change,
    12 return status change. Other types (products, authorization, chat) name no order: [].
    """
    body = require_dict(push, "tiktok webhook")
    kind_of = body.get("type")
    if isinstance(kind_of, bool) or not isinstance(kind_of, int):
        raise NormalizationError("tiktok webhook has no integer type")
    parse = _PARSERS.get(kind_of)
    if parse is None:
        return []
    data = body.get("data")
    if not isinstance(data, dict):
        raise NormalizationError(f"tiktok webhook type {kind_of} has no data object")
    shop_id = text(body.get("shop_id"))
    return parse(data, shop_id)


def _order_status(data: dict, shop_id: str | None) -> list[ChannelNotice]:
    status = text(data.get("order_status"))
    if status is None:
        raise NormalizationError("tiktok webhook type 1 has no data.order_status")
    extra = {"is_on_hold_order": str(data["is_on_hold_order"]).lower()} if "is_on_hold_order" in data else {}
    return [_notice(data, shop_id, "order_status", status=status, extra=extra, time_field="update_time")]


def _reverse_legacy(data: dict, shop_id: str | None) -> list[ChannelNotice]:
    # Type 2 (legacy, replaced by 11 and 12): reverse_order_status is a number, e.g. 1 or 51.
    status = text(data.get("reverse_order_status"))
    extra = _texts(data, "reverse_order_id", "reverse_event_type", "reverse_type")
    return [_notice(data, shop_id, "reverse", status=status, extra=extra, time_field="update_time")]


def _address_update(data: dict, shop_id: str | None) -> list[ChannelNotice]:
    # The buyer changed the delivery address: re-fetch before anything ships.
    return [_notice(data, shop_id, "order", extra={"change": "recipient_address"}, time_field="update_time")]


def _package_update(data: dict, shop_id: str | None) -> list[ChannelNotice]:
    packages = data.get("package_list")
    if not isinstance(packages, list) or not packages:
        raise NormalizationError("tiktok webhook type 4 has no data.package_list")
    package_ids: dict[str, list[str]] = {}  # order id -> its packages, in order of appearance
    for index, package in enumerate(packages):
        if not isinstance(package, dict):
            raise NormalizationError(f"data.package_list[{index}] is not an object")
        order_ids = package.get("order_id_list")
        if not isinstance(order_ids, list) or not order_ids:
            raise NormalizationError(f"data.package_list[{index}] has no order_id_list")
        package_id = text(package.get("package_id"))
        for position, order_id in enumerate(order_ids):
            found = package_ids.setdefault(
                require_id(order_id, f"data.package_list[{index}].order_id_list[{position}]"), []
            )
            if package_id and package_id not in found:
                found.append(package_id)
    updated = data.get("update_time")
    updated_at = from_epoch(updated, "update_time") if updated else None
    common = _texts(data, "sc_type")  # COMBINE / SPLIT
    return [
        ChannelNotice(
            channel=Channel.tiktok,
            channel_order_id=order_id,
            kind="package",
            shop_id=shop_id,
            updated_at=updated_at,
            extra={**common, **({"package_ids": ",".join(ids)} if ids else {})},
        )
        for order_id, ids in package_ids.items()
    ]


def _cancellation(data: dict, shop_id: str | None) -> list[ChannelNotice]:
    status = text(data.get("cancel_status"))
    if status is None:
        raise NormalizationError("tiktok webhook type 11 has no data.cancel_status")
    extra = _texts(data, "cancel_id", "cancellations_role")
    # create_time is when the request was made, not when this change (approved, rejected) happened:
    # without update_time the push says nothing about the change's time, so the order is always fetched.
    return [_notice(data, shop_id, "cancellation", status=status, extra=extra, time_field="update_time")]


def _return_status(data: dict, shop_id: str | None) -> list[ChannelNotice]:
    status = text(data.get("return_status"))
    if status is None:
        raise NormalizationError("tiktok webhook type 12 has no data.return_status")
    extra = _texts(data, "return_id", "return_type", "return_role")
    return [_notice(data, shop_id, "reverse", status=status, extra=extra, time_field="update_time")]


_PARSERS = {
    1: _order_status,
    2: _reverse_legacy,
    3: _address_update,
    4: _package_update,
    11: _cancellation,
    12: _return_status,
}


def _notice(
    data: dict,
    shop_id: str | None,
    kind: str,
    *,
    status: str | None = None,
    extra: dict[str, str] | None = None,
    time_field: str,
) -> ChannelNotice:
    when = data.get(time_field)
    return ChannelNotice(
        channel=Channel.tiktok,
        channel_order_id=require_id(data.get("order_id"), "data.order_id"),
        kind=kind,
        shop_id=shop_id,
        status=status,
        updated_at=from_epoch(when, time_field) if when else None,
        extra=extra or {},
    )


def _texts(data: dict, *keys: str) -> dict[str, str]:
    return {key: value for key in keys if (value := text(data.get(key)))}


def normalize(detail: dict) -> OrderDraft:
    """One `data.orders` element of Get Order Detail (202309) as an OrderDraft."""
    order = require_dict(detail, "tiktok")
    order_id = require_id(order.get("id"), "id")
    raw_status = text(order.get("status"))
    if raw_status is None:
        raise NormalizationError("missing status")
    channel_state = state(raw_status)
    if order.get("is_buyer_request_cancel") is True and channel_state in _CANCELLABLE:
        # The buyer's pending request does not change `status`; the OMS must not ship meanwhile.
        channel_state = ChannelState.cancel_requested
    cancelled = channel_state is ChannelState.cancelled
    payment = order.get("payment") if isinstance(order.get("payment"), dict) else {}
    lines = _lines(order.get("line_items"), keep_cancelled=cancelled)
    cod = order.get("is_cod") is True
    paid = bool(order.get("paid_time"))
    channel = storefront(order.get("platform"))
    return build_draft(
        {
            "channel": channel,
            "channel_order_id": order_id,
            "channel_status": raw_status,
            "channel_state": channel_state,
            "channel_updated_at": from_epoch(order.get("update_time"), "update_time"),
            "placed_at": from_epoch(order.get("create_time"), "create_time"),
            "currency": text(payment.get("currency")) or "IDR",
            "customer": {
                "channel_customer_id": text(order.get("user_id")),
                "email": text(order.get("buyer_email")),  # anonymized relay address
            },
            "shipping_address": _address(order.get("recipient_address")),
            "service_level": service_level_from([order.get("delivery_option_name"), order.get("shipping_provider")]),
            "payment": {
                "status": payment_for(channel_state, cod, paid),
                "cod": cod,
                "method": (text(order.get("payment_method_name")) or "")[:100] or None,
            },
            "lines": lines,
            "totals": _totals(payment, lines),
            "cancelled": cancelled,
            "cancel_reason": (
                (text(order.get("cancel_reason")) or "")[:500] or None
                if channel_state in (ChannelState.cancelled, ChannelState.cancel_requested)
                else None
            ),
            "ship_by": _ship_by(order),
            "notes": (text(order.get("buyer_message")) or "")[:2000] or None,
        },
        channel.value,
    )


def storefront(platform: object) -> Channel:
    """The storefront an order was placed on: Tokopedia's storefronts run on the TikTok Shop API since its
    Open API closed (30 Sep 2025), and the order's `platform` says which one (TOKOPEDIA, TIKTOK_SHOP)."""
    value = (text(platform) or "").upper()
    return Channel.tokopedia if "TOKOPEDIA" in value else Channel.tiktok


def _lines(rows: object, *, keep_cancelled: bool) -> list[dict[str, Any]]:
    """One OrderLine per (seller_sku, prices): quantity = the rows' count, line_id = the smallest row id."""
    if not isinstance(rows, list) or not rows:
        raise NormalizationError("tiktok order has no line_items")
    parsed = [_row(row, index) for index, row in enumerate(rows)]
    if not keep_cancelled:
        # A unit cancelled inside a live order is not to be shipped (unless every unit is: then the order
        # itself is cancelled, or about to be, and its lines stay for the record).
        live = [row for row in parsed if row["display_status"] != "CANCELLED"]
        parsed = live or parsed
    groups: dict[tuple[str, Decimal, Decimal], list[dict[str, Any]]] = {}
    for row in parsed:
        # The sale price keeps differently discounted units apart; the original price too, so that
        # unit_price is the same for every unit of the line. Rows without a seller SKU group by TikTok's sku_id.
        key = (row["sku"] or f"sku_id:{row['sku_id']}", row["original"], row["sale"])
        groups.setdefault(key, []).append(row)
    lines = []
    for group in groups.values():
        first = group[0]
        quantity = len(group)
        gross = first["original"] * quantity
        lines.append(
            {
                "line_id": min((row["id"] for row in group), key=_id_order),
                "sku": first["sku"],
                "name": first["name"],
                "quantity": quantity,
                "unit_price": first["original"],
                "discount": min(sum((row["discount"] for row in group), _ZERO), gross),
                "tax": sum((row["tax"] for row in group), _ZERO),
            }
        )
    return sorted(lines, key=lambda line: _id_order(line["line_id"]))


def _row(row: object, index: int) -> dict[str, Any]:
    where = f"line_items[{index}]"
    if not isinstance(row, dict):
        raise NormalizationError(f"{where} is not an object")
    original = money(row.get("original_price"), f"{where}.original_price")
    sale = money(row.get("sale_price"), f"{where}.sale_price", original)
    seller = money(row.get("seller_discount"), f"{where}.seller_discount", _ZERO)
    platform = money(row.get("platform_discount"), f"{where}.platform_discount", _ZERO)
    # Seller + platform discount is what the unit lost from its original price; without them, the
    # difference of the two prices says the same.
    discount = seller + platform if (seller or platform) else max(original - sale, _ZERO)
    taxes = row.get("item_tax") if isinstance(row.get("item_tax"), list) else []
    name = text(row.get("product_name"))
    variant = text(row.get("sku_name"))
    return {
        "id": require_id(row.get("id"), f"{where}.id"),
        "sku": text(row.get("seller_sku")) or "",  # empty: the OMS holds the order, we don't guess
        "sku_id": text(row.get("sku_id")) or str(index),
        "name": (f"{name} ({variant})" if name and variant else name or variant or "")[:500] or None,
        "original": original,
        "sale": sale,
        "discount": min(discount, original),
        "tax": sum(
            (money(t.get("tax_amount"), f"{where}.item_tax.tax_amount", _ZERO) for t in taxes if isinstance(t, dict)),
            _ZERO,
        ),
        "display_status": (text(row.get("display_status")) or "").upper(),
    }


def _id_order(value: str) -> tuple[int, str]:
    """Row ids are int64 as strings: compare them as numbers (shorter is smaller), then as text."""
    return (len(value), value) if value.isdigit() else (1 << 30, value)


def _totals(payment: dict[str, Any], lines: list[dict[str, Any]]) -> dict[str, Any]:
    """Per the docs: sub_total = original_total_product_price - seller_discount - platform_discount;
    total_amount = sub_total + shipping_fee (after shipping discounts) + taxes (+ fees where they apply)."""
    gross = sum((line["unit_price"] * line["quantity"] for line in lines), _ZERO)
    seller = money(payment.get("seller_discount"), "payment.seller_discount", _ZERO)
    platform = money(payment.get("platform_discount"), "payment.platform_discount", _ZERO)
    return {
        "subtotal": money(payment.get("original_total_product_price"), "payment.original_total_product_price", gross),
        "shipping": money(payment.get("shipping_fee"), "payment.shipping_fee", _ZERO),
        "discount": seller + platform,
        "tax": money(payment.get("tax"), "payment.tax", _ZERO),
        "grand_total": money(payment.get("total_amount"), "payment.total_amount"),
    }


# district_info levels for Indonesia: L0 country, L1 province, L2 city (kota/kabupaten),
# L3 district (kecamatan), L4 village (kelurahan/desa).
_LEVELS = {"L1": "province", "L2": "city", "L3": "district", "L4": "village"}


def _address(value: object) -> dict[str, Any] | None:
    # Not returned while the order is UNPAID or ON_HOLD.
    if not isinstance(value, dict) or not any(value.values()):
        return None
    country = (text(value.get("region_code")) or "ID").upper()
    address: dict[str, Any] = {
        "name": text(value.get("name")),
        "phone": normalize_phone(value.get("phone_number"), country),  # "(+62)812..." -> "+62812..."
        "line1": text(value.get("full_address")) or text(value.get("address_detail")),
        "postal_code": text(value.get("postal_code")),
        "country": country,
    }
    levels = value.get("district_info")
    for level in levels if isinstance(levels, list) else []:
        if isinstance(level, dict) and (field := _LEVELS.get((text(level.get("address_level")) or "").upper())):
            address[field] = text(level.get("address_name"))
    return address


def _ship_by(order: dict[str, Any]) -> Any:
    """rts_sla_time is the platform's latest shipping time, the deadline the seller is measured on;
    shipping_due_time is when TikTok auto-cancels an order still not AWAITING_COLLECTION (later,
    so only a fallback)."""
    for field in ("rts_sla_time", "shipping_due_time"):
        if order.get(field):
            return from_epoch(order[field], field)
    return None
