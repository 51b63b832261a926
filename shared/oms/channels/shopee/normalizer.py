"""Shopee Open Platform v2: push bodies -> ChannelNotice, `v2.order.get_order_detail` -> OrderDraft.

A push only names an order (`data.ordersn`); the order itself is one element
of `response.order_list` of get_order_detail, requested with every
`response_optional_fields` value (item_list, recipient_address, pay_time,
total_amount, package_list, buyer_username, ...). Money is JSON numbers, in
the shop's currency units (IDR has no minor unit); times are Unix seconds.
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
from oms.channels.shopee.status import state
from oms.errors import NormalizationError
from oms.models.order import Channel, OrderDraft

_ZERO = Decimal(0)


# Push codes that name one order (data.ordersn) and the notice kind each becomes.
_ORDER_PUSHES = {
    3: "order_status",  # order_status_push
    4: "tracking",  # order_trackingno_push
    15: "shipping_document",  # shipping_document_status_push (READY / FAILED)
}


def notices(push: dict) -> list[ChannelNotice]:
    """The orders a verified push body names: code 3, 4, 15 and any other push carrying data.ordersn.

    The verification push (code 0) and shop-level pushes (authorization, promotions, chat) name
    no order: [].
    """
    body = require_dict(push, "shopee push")
    code = body.get("code")
    if isinstance(code, bool) or not isinstance(code, int):
        raise NormalizationError("shopee push has no integer code")
    data = body.get("data")
    kind = _ORDER_PUSHES.get(code)
    if kind is None:
        # Undocumented here, but if it names an order the order is worth a fresh fetch.
        if isinstance(data, dict) and text(data.get("ordersn")):
            return [_notice(body, data, "order", extra={"code": str(code)})]
        return []
    if not isinstance(data, dict):
        raise NormalizationError(f"shopee push code {code} has no data object")
    if kind == "order_status":
        status = text(data.get("status"))
        if status is None:
            raise NormalizationError("shopee push code 3 has no data.status")
        return [_notice(body, data, kind, status=status, updated_at=from_epoch(data.get("update_time"), "update_time"))]
    extra = {key: value for key in ("tracking_no", "package_number", "forder_id") if (value := text(data.get(key)))}
    if kind == "shipping_document" and (document_status := text(data.get("status"))):
        # The document's status (READY / FAILED), not the order's: kept apart from `status`.
        extra["document_status"] = document_status
    updated = data.get("update_time")
    return [_notice(body, data, kind, extra=extra, updated_at=from_epoch(updated, "update_time") if updated else None)]


def _notice(body: dict, data: dict, kind: str, **fields: Any) -> ChannelNotice:
    shop_id = body.get("shop_id")
    return ChannelNotice(
        channel=Channel.shopee,
        channel_order_id=require_id(data.get("ordersn"), "data.ordersn"),
        kind=kind,
        shop_id=require_id(shop_id, "shop_id") if shop_id is not None else None,
        **fields,
    )


def normalize(detail: dict) -> OrderDraft:
    """One `response.order_list` element of get_order_detail (all optional fields) as an OrderDraft."""
    order = require_dict(detail, "shopee")
    order_sn = require_id(order.get("order_sn"), "order_sn")
    raw_status = text(order.get("order_status"))
    if raw_status is None:
        raise NormalizationError("missing order_status")
    channel_state = state(raw_status)
    lines = _lines(order.get("item_list"))
    cod = order.get("cod") is True
    paid = _is_set(order.get("pay_time"))
    cancelled = channel_state is ChannelState.cancelled
    return build_draft(
        {
            "channel": Channel.shopee,
            "channel_order_id": order_sn,
            "channel_order_number": order_sn,  # what sellers and buyers quote
            "channel_status": raw_status,
            "channel_state": channel_state,
            "channel_updated_at": from_epoch(order.get("update_time"), "update_time"),
            "placed_at": from_epoch(order.get("create_time"), "create_time"),
            "currency": text(order.get("currency")) or "IDR",
            "customer": {
                "channel_customer_id": _optional_id(order.get("buyer_user_id")),
                "name": text(order.get("buyer_username")),  # a handle; the real name is on the address
            },
            "shipping_address": _address(order.get("recipient_address"), text(order.get("region"))),
            "service_level": service_level_from(_carrier_names(order)),
            "payment": {
                "status": payment_for(channel_state, cod, paid),
                "cod": cod,
                "method": (text(order.get("payment_method")) or "")[:100] or None,
            },
            "lines": lines,
            "totals": _totals(order, lines),
            "cancelled": cancelled,
            "cancel_reason": _cancel_reason(order, channel_state),
            "ship_by": from_epoch(order["ship_by_date"], "ship_by_date")
            if _is_set(order.get("ship_by_date"))
            else None,
            "notes": (text(order.get("message_to_seller")) or "")[:2000] or None,
        },
        "shopee",
    )


def _lines(items: object) -> list[dict[str, Any]]:
    if not isinstance(items, list) or not items:
        raise NormalizationError("shopee order has no item_list (request it in response_optional_fields)")
    lines: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        line = _line(item, index)
        # The same model can come twice (e.g. once in an add-on deal, once at list price): keep both rows,
        # told apart by their position among the repeats so the ids stay stable across re-fetches.
        repeats = seen.get(line["line_id"], 0)
        seen[line["line_id"]] = repeats + 1
        if repeats:
            line["line_id"] = f"{line['line_id']}-{repeats + 1}"
        lines.append(line)
    return lines


def _line(item: object, index: int) -> dict[str, Any]:
    where = f"item_list[{index}]"
    if not isinstance(item, dict):
        raise NormalizationError(f"{where} is not an object")
    quantity = item.get("model_quantity_purchased")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise NormalizationError(f"{where}.model_quantity_purchased must be a positive integer")
    # Both prices are per unit: original is the list price, discounted is after item-level promotions
    # (seller discount, Shopee's flash sale). Order-level vouchers and coins are not on the item.
    original = money(item.get("model_original_price"), f"{where}.model_original_price")
    discounted = money(item.get("model_discounted_price"), f"{where}.model_discounted_price", original)
    item_id = require_id(item.get("order_item_id") or item.get("item_id"), f"{where}.order_item_id")
    model_id = _optional_id(item.get("model_id")) or "0"  # 0: an item without variations
    name = text(item.get("item_name"))
    model_name = text(item.get("model_name"))
    return {
        # order_item_id alone repeats across the models of one item: combine with model_id.
        "line_id": f"{item_id}-{model_id}",
        # model_sku is the variation's own SKU; item_sku (the parent SKU) serves items without variations.
        "sku": text(item.get("model_sku")) or text(item.get("item_sku")) or "",
        "name": (f"{name} ({model_name})" if name and model_name else name or model_name or "")[:500] or None,
        "quantity": quantity,
        "unit_price": original,
        "discount": max(original - discounted, _ZERO) * quantity,
    }


def _totals(order: dict[str, Any], lines: list[dict[str, Any]]) -> dict[str, Any]:
    """get_order_detail has no buyer-paid shipping nor voucher fields (those are in get_escrow_detail).

    total_amount is what the buyer paid: goods after item discounts, plus the buyer's shipping, less
    Shopee vouchers and coins. What is left after the goods is shipping when positive; when negative,
    vouchers outweighed shipping and the difference is an order-level discount. So
    subtotal + shipping - discount == grand_total always holds.
    """
    grand_total = money(order.get("total_amount"), "total_amount")
    subtotal = sum((line["unit_price"] * line["quantity"] for line in lines), _ZERO)
    line_discounts = sum((line["discount"] for line in lines), _ZERO)
    rest = grand_total - (subtotal - line_discounts)
    return {
        "subtotal": subtotal,
        "shipping": max(rest, _ZERO),
        "discount": line_discounts + max(-rest, _ZERO),
        "grand_total": grand_total,
    }


def _address(value: object, region: str | None) -> dict[str, Any] | None:
    if not isinstance(value, dict) or not any(text(v) for v in value.values()):
        return None
    country = (text(value.get("region")) or region or "ID").upper()
    return {
        "name": text(value.get("name")),
        "phone": normalize_phone(value.get("phone"), country),  # masked ("******64") stays as sent
        "line1": text(value.get("full_address")),
        # Indonesia: state = provinsi, city = kota/kabupaten, district = kecamatan, town = kelurahan/desa.
        "village": text(value.get("town")),
        "district": text(value.get("district")),
        "city": text(value.get("city")),
        "province": text(value.get("state")),
        "postal_code": text(value.get("zipcode")),
        "country": country,
    }


def _carrier_names(order: dict[str, Any]) -> list[object]:
    names: list[object] = [order.get("shipping_carrier"), order.get("checkout_shipping_carrier")]
    packages = order.get("package_list")
    if isinstance(packages, list):
        names.extend(p.get("shipping_carrier") for p in packages if isinstance(p, dict))
    return names


def _cancel_reason(order: dict[str, Any], channel_state: ChannelState) -> str | None:
    if channel_state not in (ChannelState.cancelled, ChannelState.cancel_requested):
        return None
    reason = text(order.get("cancel_reason")) or text(order.get("buyer_cancel_reason"))
    by = text(order.get("cancel_by"))
    if reason and by:
        reason = f"{reason} (by {by})"
    return (reason or "")[:500] or None


def _is_set(value: object) -> bool:
    """Shopee sends 0 (or omits the field) for a time that has not happened."""
    return value not in (None, "", 0, "0") and not isinstance(value, bool)


def _optional_id(value: object) -> str | None:
    return None if value in (None, "", 0, "0") or isinstance(value, bool) else str(value).strip() or None
