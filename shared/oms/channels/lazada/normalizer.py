"""Lazada Open Platform: pushes (message_type 0 and 10) and `/order/get` + `/order/items/get` -> OrderDraft.

Lazada is item-centric: `/order/items/get` answers ONE ROW PER UNIT (two of a
SKU are two rows, each with its own `order_item_id` and status), and every
push names one of those rows. Amounts are strings; times are
"2014-10-15 18:36:05 +0800" (the venture's local offset; +0700 in Indonesia).

The detail document ``normalize`` expects is what the API client assembles
from the two calls' ``data``::

    {"order": <data of /order/get>, "items": <data of /order/items/get, a list>}
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from oms.channels.common import (
    build_draft,
    join_name,
    money,
    normalize_phone,
    require_dict,
    require_id,
    service_level_from,
    text,
)
from oms.channels.lazada.status import order_state, state
from oms.channels.marketplace import ChannelNotice, ChannelState, from_epoch, payment_for
from oms.errors import NormalizationError
from oms.models.order import Channel, OrderDraft

_ZERO = Decimal(0)


_COUNTRIES = {
    "indonesia": "ID",
    "singapore": "SG",
    "malaysia": "MY",
    "thailand": "TH",
    "philippines": "PH",
    "vietnam": "VN",
}


def notices(push: dict) -> list[ChannelNotice]:
    """A verified Lazada push -> the order it names (one push = one item row)."""
    body = require_dict(push, "lazada")
    message_type = body.get("message_type")
    if isinstance(message_type, bool) or not isinstance(message_type, int | str) or str(message_type) == "":
        raise NormalizationError("lazada push has no message_type")
    data = body.get("data")
    if not isinstance(data, dict):
        raise NormalizationError("lazada push has no data object")
    kind = str(message_type).strip()
    if kind not in ("0", "10"):
        return []  # product, seller, fulfilment... pushes name no order to fetch
    order_id = require_id(data.get("trade_order_id"), "data.trade_order_id")
    extra = {
        key: str(data[key]).strip()
        for key in ("trade_order_line_id", "reverse_order_id", "reverse_order_line_id")
        if data.get(key) not in (None, "")
    }
    status_field = "order_status" if kind == "0" else "reverse_status"
    status = text(data.get(status_field))
    if status is None:
        raise NormalizationError(f"missing data.{status_field}")
    seller = body.get("seller_id")
    return [
        ChannelNotice(
            channel=Channel.lazada,
            channel_order_id=order_id,
            kind="order_status" if kind == "0" else "reverse",
            shop_id=str(seller).strip() if seller not in (None, "") else None,
            status=status,
            updated_at=(
                from_epoch(data["status_update_time"], "data.status_update_time")
                if data.get("status_update_time") not in (None, "")
                else None
            ),
            extra=extra,
        )
    ]


def normalize(detail: dict) -> OrderDraft:
    """``{"order": /order/get data, "items": /order/items/get data}`` -> OrderDraft."""
    document = require_dict(detail, "lazada")
    order = document.get("order")
    items = document.get("items")
    if not isinstance(order, dict):
        raise NormalizationError("lazada detail has no order object")
    if not isinstance(items, list) or not items:
        raise NormalizationError("lazada detail has no items")
    rows = [_row(item, index) for index, item in enumerate(items)]
    order_id = require_id(order.get("order_id"), "order_id")
    for row in rows:
        if row["order_id"] not in (None, order_id):
            raise NormalizationError("lazada items belong to another order")

    channel_state, raw_status = order_state(row["status"] for row in rows)
    if channel_state in _CANCELLABLE and _cancel_pending(order, items):
        # The buyer asked Lazada to cancel (a CANCEL_INIT reverse order): the seller must answer.
        channel_state = ChannelState.cancel_requested
    created = _time(order.get("created_at"), "created_at")
    updated = max(
        [_time(order.get("updated_at"), "updated_at")]
        + [_time(row["updated_at"], "items.updated_at") for row in rows if row["updated_at"]]
    )
    cancelled = channel_state is ChannelState.cancelled
    # A partly cancelled order ships only its live units; a fully cancelled one keeps them all.
    kept = rows if cancelled else [row for row in rows if state(row["status"]) is not ChannelState.cancelled]
    lines = _lines(rows, kept)
    cod = (text(order.get("payment_method")) or "").upper() == "COD"
    paid = _paid(channel_state, cod, rows)
    shipping = _section(order, "address_shipping")
    return build_draft(
        {
            "channel": Channel.lazada,
            "channel_order_id": order_id,
            "channel_order_number": text(order.get("order_number")),
            "channel_status": raw_status,
            "channel_state": channel_state,
            "channel_updated_at": updated,
            "placed_at": created,
            "currency": next((c for c in (text(r["currency"]) for r in rows) if c), None) or "IDR",
            "customer": {
                "channel_customer_id": next((str(r["buyer_id"]) for r in rows if r["buyer_id"]), None),
                "name": join_name(order.get("customer_first_name"), order.get("customer_last_name")),
                # Lazada gives no buyer e-mail; the shipping phone is the contact (often masked).
                "phone": normalize_phone(shipping.get("phone"), _country(shipping.get("country"))),
            },
            "shipping_address": _address(shipping),
            "service_level": service_level_from((r["service_hint"] or "").replace("_", " ") for r in kept),
            "payment": {
                "status": payment_for(channel_state, cod, paid),
                "cod": cod,
                "method": (text(order.get("payment_method")) or "")[:100] or None,
            },
            "lines": lines,
            "totals": _totals(order, kept),
            "cancelled": cancelled,
            "cancel_reason": (next((r["reason"] for r in rows if r["reason"]), None) or "cancelled in Lazada")[:500]
            if cancelled
            else None,
            "notes": (text(order.get("buyer_note")) or text(order.get("remarks")) or "")[:2000] or None,
            "ship_by": _ship_by(order, kept, created),
        },
        "lazada",
    )


_CANCELLABLE = frozenset({ChannelState.unpaid, ChannelState.on_hold, ChannelState.ready, ChannelState.arranged})


def _cancel_pending(order: dict[str, Any], items: list) -> bool:
    """Lazada marks a pending buyer cancellation with is_cancel_pending ("true") on the order or its items."""
    flags = [order.get("is_cancel_pending"), *(i.get("is_cancel_pending") for i in items if isinstance(i, dict))]
    return any(str(flag).strip().lower() == "true" for flag in flags)


# --- rows and lines -------------------------------------------------------------


def _row(item: object, index: int) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise NormalizationError(f"items[{index}] is not an object")
    where = f"items[{index}]"
    return {
        "id": require_id(item.get("order_item_id"), f"{where}.order_item_id"),
        "order_id": text(item.get("order_id")),
        "sku": text(item.get("sku")) or "",  # seller SKU; empty -> the OMS holds the order
        "name": text(item.get("name")),
        "price": money(item.get("item_price"), f"{where}.item_price"),
        "voucher": money(item.get("voucher_seller"), f"{where}.voucher_seller", _ZERO)
        + money(item.get("voucher_platform"), f"{where}.voucher_platform", _ZERO),
        "tax": money(item.get("tax_amount"), f"{where}.tax_amount", _ZERO),
        "status": text(item.get("status")),
        "updated_at": text(item.get("updated_at")),
        "currency": item.get("currency"),
        "buyer_id": text(item.get("buyer_id")),
        "reason": text(item.get("reason")),
        "payment_time": text(item.get("payment_time")),
        "promised": text(item.get("promised_shipping_time")),
        "sla": text(item.get("sla_time_stamp")),
        "service_hint": " ".join(
            v for v in (text(item.get(k)) for k in ("shipping_provider_type", "fulfillment_sla")) if v
        ),
    }


def _lines(rows: list[dict[str, Any]], kept: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Unit rows grouped by (sku, item_price): quantity = the kept rows, line id = the group's smallest row id.

    The id is taken over every row of the group, cancelled ones too, so a partial
    cancellation changes the line's quantity, never its id.
    """
    live = {id(row) for row in kept}
    groups: dict[tuple[str, Decimal], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["sku"], row["price"]), []).append(row)
    lines = []
    for (sku, price), members in groups.items():
        units = [m for m in members if id(m) in live]
        if not units:
            continue  # every unit of this line was cancelled
        gross = price * len(units)
        lines.append(
            {
                "line_id": min((m["id"] for m in members), key=_id_order),
                "sku": sku,
                "name": members[0]["name"],
                "quantity": len(units),
                "unit_price": price,
                "discount": min(sum((m["voucher"] for m in units), _ZERO), gross),
                "tax": sum((m["tax"] for m in units), _ZERO),
            }
        )
    return sorted(lines, key=lambda line: _id_order(line["line_id"]))


def _id_order(value: str) -> tuple[int, int, str]:
    # Numeric ids compare as numbers ("98" < "100"); anything else after them, as text.
    return (0, int(value), "") if value.isdigit() else (1, 0, value)


def _totals(order: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    # The order's own figures: price is before vouchers, voucher is seller + platform.
    price = money(order.get("price"), "price")
    shipping = money(order.get("shipping_fee"), "shipping_fee", _ZERO)
    voucher = money(order.get("voucher"), "voucher", _ZERO)
    return {
        "subtotal": price,
        "shipping": shipping,
        "discount": voucher,
        "tax": sum((r["tax"] for r in rows), _ZERO),
        "grand_total": max(price + shipping - voucher, _ZERO),
    }


def _paid(channel_state: ChannelState, cod: bool, rows: list[dict[str, Any]]) -> bool:
    if cod:  # the cash is collected at the door
        return channel_state in (ChannelState.delivered, ChannelState.completed)
    if channel_state is ChannelState.cancelled:
        # Cancelled after payment still owes the buyer a refund: Lazada stamps payment_time on paid rows.
        return any(r["payment_time"] not in (None, "0") for r in rows)
    return channel_state not in (ChannelState.unpaid, ChannelState.unknown)


# --- address and times ----------------------------------------------------------


def _address(section: dict[str, Any]) -> dict[str, Any] | None:
    if not section:
        return None
    country = _country(section.get("country"))
    # Indonesian addresses carry the region hierarchy in address3..5 (province, city,
    # kecamatan), finest last; `city` and `addressDistrict` are the fallbacks, and
    # addressDistrict names the kelurahan when it differs from the kecamatan.
    province = text(section.get("address3"))
    city = text(section.get("address4")) or text(section.get("city"))
    district = text(section.get("address5"))
    village = text(section.get("addressDistrict"))
    if district is None:
        district, village = village, None
    elif village == district:
        village = None
    return {
        "name": join_name(section.get("first_name"), section.get("last_name")),
        "phone": normalize_phone(section.get("phone"), country),
        "line1": text(section.get("address1")),
        "line2": text(section.get("address2")),
        "village": village,
        "district": district,
        "city": city,
        "province": province,
        "postal_code": text(section.get("post_code")),
        "country": country or "ID",
    }


def _country(value: object) -> str | None:
    name = text(value)
    if name is None:
        return None
    if len(name) == 2:
        return name.upper()
    return _COUNTRIES.get(name.lower())


def _time(value: object, field: str) -> datetime:
    """Lazada's "YYYY-MM-DD HH:MM:SS +0800" (ISO 8601 also read, for sla_time_stamp)."""
    raw = text(value)
    if raw is None:
        raise NormalizationError(f"missing {field}")
    try:
        return datetime.strptime(raw, "%Y-%m-%d %H:%M:%S %z")
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise NormalizationError(f"{field} is not a Lazada date-time") from None
    if parsed.tzinfo is None:
        raise NormalizationError(f"{field} has no time zone offset")
    return parsed


def _ship_by(order: dict[str, Any], rows: list[dict[str, Any]], created: datetime) -> datetime | None:
    """The earliest hand-over deadline Lazada states for the live units (missing one: breach)."""
    found = []
    for row in rows:
        for value, field in ((row["promised"], "promised_shipping_time"), (row["sla"], "sla_time_stamp")):
            if value:
                found.append(_time(value, f"items.{field}"))
    promised = text(order.get("promised_shipping_times"))
    if not found and promised:
        # The order-level value carries no offset: it is the venture's local time, as created_at is.
        try:
            found.append(datetime.strptime(promised, "%Y-%m-%d %H:%M:%S").replace(tzinfo=created.tzinfo))
        except ValueError:
            raise NormalizationError("promised_shipping_times is not a Lazada date-time") from None
    return min(found) if found else None


def _section(order: dict[str, Any], key: str) -> dict[str, Any]:
    value = order.get(key)
    return value if isinstance(value, dict) else {}
