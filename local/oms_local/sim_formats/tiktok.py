"""TikTok Shop API 202309 documents for the channel simulator.

`order_detail` is one `data.orders` element of Get Order Detail (Search Orders
returns the same document); `oms.channels.tiktok.normalize` reads exactly
this. Money is strings (IDR, whole rupiah), times Unix seconds, and
`line_items` has ONE ROW PER UNIT.

The same API serves Tokopedia's storefronts (its own Open API closed on 30 Sep 2025): a SimOrder of
channel `tokopedia` is rendered as a TikTok Shop order whose `platform` (and `commerce_platform`) says
TOKOPEDIA; a `tiktok` one says TIKTOK_SHOP. Nothing else differs.

Optional `order.extra` keys: user_id, paid_time (Unix s; 0 = unpaid),
payment_method_name, delivery_option_name, buyer_message,
is_buyer_request_cancel, cancellation_initiator, cancel_status,
cancellations_role (webhook type 11).
"""

from __future__ import annotations

import hashlib
import zlib

from oms_local.sim_formats import SimLine, SimOrder

# No address before payment (documented: not available under UNPAID and ON_HOLD).
_NO_ADDRESS = frozenset({"UNPAID", "ON_HOLD"})
_COD_PAID = frozenset({"DELIVERED", "COMPLETED"})
_SHIPPED = frozenset({"PARTIALLY_SHIPPING", "IN_TRANSIT", "DELIVERED", "COMPLETED"})
_PACKAGE_STATUS = {
    "AWAITING_SHIPMENT": "TO_FULFILL",
    "AWAITING_COLLECTION": "PROCESSING",
    "PARTIALLY_SHIPPING": "FULFILLING",
    "IN_TRANSIT": "FULFILLING",
    "DELIVERED": "COMPLETED",
    "COMPLETED": "COMPLETED",
    "CANCELLED": "CANCELLED",
}
_DISPLAY_STATUS = {"AWAITING_SHIPMENT": "TO_SHIP", "AWAITING_COLLECTION": "TO_SHIP", "PARTIALLY_SHIPPING": "SHIPPED"}


def _digits(seed: str, width: int) -> str:
    return str(zlib.crc32(seed.encode()) % 10**width).zfill(width)


def platform(order: SimOrder) -> str:
    """The storefront an order came from, as TikTok Shop's order names it."""
    return "TOKOPEDIA" if order.channel == "tokopedia" else "TIKTOK_SHOP"


def _request_id(*parts: str) -> str:
    return hashlib.md5("|".join(parts).encode(), usedforsecurity=False).hexdigest()[:32].upper()


def _paid_time(order: SimOrder) -> int:
    if "paid_time" in order.extra:
        return int(order.extra["paid_time"])
    if order.status == "UNPAID" or (order.cod and order.status not in _COD_PAID):
        return 0
    if order.status in ("CANCELLED", "CANCEL"):
        return 0  # cancelled before payment; set extra["paid_time"] for one cancelled after
    return order.created + 60


def _rows(order: SimOrder, package_id: str | None) -> list[dict]:
    """One row per unit; row ids grow with the row's position, so the first row of a line has the smallest id."""
    rows = []
    base = f"5770{_digits(order.order_id, 10)}"
    for line_no, line in enumerate(order.lines):
        # Spread the line's discount over its units; a remainder goes to the first units (their sale
        # price then differs, as on TikTok, and the OMS reads them as a separate line).
        share, rest = divmod(line.discount, line.quantity) if line.quantity else (0, 0)
        for unit in range(line.quantity):
            discount = share + (1 if unit < rest else 0)
            rows.append(_row(order, line, f"{base}{line_no:02d}{unit:03d}", discount, package_id))
    return rows


def _row(order: SimOrder, line: SimLine, row_id: str, discount: int, package_id: str | None) -> dict:
    cancelled = order.status in ("CANCELLED", "CANCEL")
    row = {
        "id": row_id,
        "sku_id": f"17{_digits(line.sku, 17)}",
        "product_id": f"17{_digits(line.sku + ':product', 17)}",
        "product_name": line.name,
        "sku_name": line.sku.rsplit("-", 1)[-1] if "-" in line.sku else "",
        "sku_image": f"https://p16-oec-sg.ibyteimg.com/tos-alisg-i-aphluv4xwc-sg/sim-{row_id}",
        "original_price": str(line.unit_price),
        "sale_price": str(line.unit_price - discount),
        "platform_discount": "0",
        "seller_discount": str(discount),
        "currency": "IDR",
        "display_status": "CANCELLED" if cancelled else _DISPLAY_STATUS.get(order.status, order.status),
        "sku_type": "NORMAL",
        "seller_sku": line.sku,
        "shipping_provider_id": f"69{_digits(order.carrier, 17)}",
        "shipping_provider_name": order.carrier,
        "is_gift": False,
        "rts_time": order.updated if order.status in _SHIPPED else 0,
        "package_status": _PACKAGE_STATUS.get(order.status, "TO_FULFILL"),
        "tracking_number": order.tracking_number or "",
        "buyer_service_fee": "0",
        "is_dangerous_good": False,
        "needs_prescription": False,
    }
    if package_id is not None:
        row["package_id"] = package_id
    if cancelled:
        row["cancel_user"] = order.extra.get("cancellation_initiator", "BUYER")
        row["cancel_reason"] = order.cancel_reason or ""
    return row


def order_detail(order: SimOrder) -> dict:
    package_id = None if order.status in _NO_ADDRESS else f"11{_digits(order.order_id + ':pkg', 17)}"
    rows = _rows(order, package_id)
    split = order.extra.get("packages") or []  # set by logistics_sim.tiktok's Split Orders
    for row in rows if split else ():
        package = next((p for p in split if row["id"] in p["line_item_ids"]), split[0])
        row["package_id"], row["tracking_number"] = package["id"], package.get("tracking_number") or ""
        if package.get("arranged") and row["package_status"] == "TO_FULFILL":
            row["package_status"] = "PROCESSING"
    gross = sum(line.unit_price * line.quantity for line in order.lines)
    discount = sum(int(row["seller_discount"]) for row in rows)
    cancelled = order.status in ("CANCELLED", "CANCEL")
    document = {
        "id": order.order_id,
        "status": order.status,
        "user_id": order.extra.get("user_id", f"70{_digits(order.buyer_email, 17)}"),
        "buyer_email": order.buyer_email,
        "buyer_message": order.extra.get("buyer_message", ""),
        "create_time": order.created,
        "update_time": order.updated,
        "paid_time": _paid_time(order),
        "rts_sla_time": order.ship_by or 0,
        "tts_sla_time": order.ship_by + 86400 if order.ship_by else 0,
        "shipping_due_time": order.ship_by + 2 * 86400 if order.ship_by else 0,
        "cancel_order_sla_time": order.created + 3 * 86400,
        "rts_time": order.updated if order.status in _SHIPPED else 0,
        "collection_time": order.updated if order.status in _SHIPPED else 0,
        "delivery_time": order.updated if order.status in ("DELIVERED", "COMPLETED") else 0,
        "is_cod": order.cod,
        "payment_method_name": order.extra.get("payment_method_name", "Bayar di Tempat" if order.cod else "GoPay"),
        "shipping_provider": order.carrier,
        "shipping_provider_id": f"69{_digits(order.carrier, 17)}",
        "tracking_number": order.tracking_number or "",
        "delivery_option_id": f"70{_digits('standard', 17)}",
        "delivery_option_name": order.extra.get("delivery_option_name", "Standard"),
        "delivery_type": "HOME_DELIVERY",
        "shipping_type": "TIKTOK",
        "fulfillment_type": "FULFILLMENT_BY_SELLER",
        "warehouse_id": f"69{_digits(order.shop_id + ':wh', 17)}",
        "split_or_combine_tag": "SPLIT" if split else "",
        "has_updated_recipient_address": False,
        "is_sample_order": False,
        "is_on_hold_order": order.status == "ON_HOLD",
        "is_replacement_order": False,
        "is_buyer_request_cancel": bool(order.extra.get("is_buyer_request_cancel", False)),
        "platform": platform(order),  # the storefront the order was placed on
        "commerce_platform": platform(order),
        "order_type": "NORMAL",
        "seller_note": "",
        "packages": [{"id": p["id"]} for p in split] if split else [{"id": package_id}] if package_id else [],
        "payment": {
            "currency": "IDR",
            "sub_total": str(gross - discount),
            "shipping_fee": str(order.shipping_fee),
            "seller_discount": str(discount),
            "platform_discount": "0",
            "total_amount": str(gross - discount + order.shipping_fee),
            "original_total_product_price": str(gross),
            "original_shipping_fee": str(order.shipping_fee),
            "shipping_fee_seller_discount": "0",
            "shipping_fee_platform_discount": "0",
            "shipping_fee_cofunded_discount": "0",
            "tax": "0",
            "buyer_service_fee": "0",
            "handling_fee": "0",
            "shipping_insurance_fee": "0",
            "item_insurance_fee": "0",
        },
        "line_items": rows,
    }
    if order.status not in _NO_ADDRESS:
        document["recipient_address"] = _address(order)
    if cancelled:
        document.update(
            cancel_reason=order.cancel_reason or "",
            cancellation_initiator=order.extra.get("cancellation_initiator", "BUYER"),
            cancel_time=order.updated,
        )
    return document


def _address(order: SimOrder) -> dict:
    phone = order.buyer_phone
    local = phone[1:] if phone.startswith("0") else phone.removeprefix("+62").removeprefix("62")
    levels = [
        ("L0", "Country", "Indonesia"),
        ("L1", "Province", order.province),
        ("L2", "City", order.city),
        ("L3", "District", order.district),
        ("L4", "Village", order.village),
    ]
    return {
        "name": order.buyer_name,
        "first_name": "",
        "last_name": "",
        "phone_number": f"(+62){local}",
        "region_code": "ID",
        "postal_code": order.postal_code,
        "address_detail": order.line1,
        "address_line1": order.line1,
        "address_line2": "",
        "address_line3": "",
        "address_line4": "",
        "full_address": ", ".join(
            part
            for part in (order.line1, order.village, order.district, order.city, order.province, order.postal_code)
            if part
        ),
        "district_info": [
            {"address_level": level, "address_level_name": name, "address_name": value}
            for level, name, value in levels
            if value
        ],
    }


def detail_response(orders: list[SimOrder]) -> dict:
    """The whole Get Order Detail body."""
    return {
        "code": 0,
        "message": "Success",
        "request_id": _request_id("detail", *(o.order_id for o in orders)),
        "data": {"orders": [order_detail(order) for order in orders]},
    }


def search_response(orders: list[SimOrder], next_page_token: str) -> dict:
    """The Search Orders body (POST /order/202309/orders/search): full order documents, paged by token."""
    return {
        "code": 0,
        "message": "Success",
        "request_id": _request_id("search", next_page_token, *(o.order_id for o in orders)),
        "data": {
            "next_page_token": next_page_token,  # documented: empty when there is no more
            "total_count": len(orders),
            "orders": [order_detail(order) for order in orders],
        },
    }


def status_push(order: SimOrder, notification_id: str) -> dict:
    """Webhook type 1, order status change."""
    return {
        "type": 1,
        "tts_notification_id": notification_id,
        "shop_id": order.shop_id,
        "timestamp": order.updated,
        "data": {
            "order_id": order.order_id,
            "order_status": order.status,
            "is_on_hold_order": order.status == "ON_HOLD",
            "update_time": order.updated,
        },
    }


def cancellation_push(order: SimOrder, notification_id: str) -> dict:
    """Webhook type 11, cancellation status change (a buyer's request by default)."""
    return {
        "type": 11,
        "tts_notification_id": notification_id,
        "shop_id": order.shop_id,
        "timestamp": order.updated,
        "data": {
            "order_id": order.order_id,
            "cancellations_role": order.extra.get("cancellations_role", "BUYER"),
            "cancel_status": order.extra.get("cancel_status", "CANCELLATION_REQUEST_PENDING"),
            "cancel_id": f"40{_digits(order.order_id + ':cancel', 17)}",
            "create_time": order.updated,
        },
    }
