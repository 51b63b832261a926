"""Lazada Open Platform documents for the channel simulator (Indonesian venture: IDR, +0700).

Lazada answers one item row per unit. SimOrder.status is every row's status;
``order.extra`` may refine it:

* ``item_statuses``: a list, one status per unit row (rows in line order);
* ``order_number``, ``payment_method`` (default "COD" when cod, else "MIXEDCARD");
* ``reverse_order_id``: put on returned rows and pushes;
* ``paid``: False for an order cancelled before payment (no payment_time).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from oms_local.sim_formats import SimOrder

WIB = timezone(timedelta(hours=7))  # Lazada Indonesia stamps Jakarta time


def order_response(order: SimOrder) -> dict:
    """The whole `/order/get` response."""
    return {"code": "0", "data": _order_data(order), "request_id": _request_id(order)}


def items_response(order: SimOrder) -> dict:
    """The whole `/order/items/get` response: one row per unit."""
    return {"code": "0", "data": _rows(order), "request_id": _request_id(order)}


def orders_list_response(orders: list[SimOrder], count_total: int) -> dict:
    """The whole `/orders/get` response for one page (`count` on the page, `countTotal` in all)."""
    return {
        "code": "0",
        "data": {"count": len(orders), "countTotal": count_total, "orders": [_order_data(o) for o in orders]},
        "request_id": "0b8e3f1a17" + str(count_total).zfill(8),
    }


def trade_push(order: SimOrder, line_id: str) -> dict:
    """A trade order push (message_type 0) for one item row."""
    row = next((r for r in _rows(order) if r["order_item_id"] == line_id), None)
    if row is None:
        raise KeyError(f"order {order.order_id} has no item row {line_id}")
    data: dict[str, Any] = {
        "order_status": row["status"],
        "trade_order_id": order.order_id,
        "trade_order_line_id": line_id,
        "status_update_time": order.updated,
    }
    if row["status"] == "returned" and order.extra.get("reverse_order_id"):
        data["reverse_order_id"] = str(order.extra["reverse_order_id"])
        data["reverse_order_line_id"] = str(order.extra["reverse_order_id"]) + line_id[-3:]
    return {
        "seller_id": order.shop_id,
        "message_type": 0,
        "data": data,
        "timestamp": order.updated * 1000 + 250,  # milliseconds in trade pushes
        "site": "lazada_id",
    }


# --- documents ------------------------------------------------------------------


def _order_data(order: SimOrder) -> dict[str, Any]:
    rows = _rows(order)
    first, _, last = order.buyer_name.partition(" ")
    address = {
        "first_name": first,
        "last_name": last,
        "phone": order.buyer_phone,
        "phone2": "",
        "address1": order.line1,
        "address2": "",
        "address3": order.province,
        "address4": order.city,
        "address5": order.district,
        "addressDistrict": order.village,
        "city": order.city,
        "post_code": order.postal_code,
        "country": "Indonesia",
    }
    return {
        "order_id": order.order_id,
        "order_number": str(order.extra.get("order_number", order.order_id)),
        "created_at": _time(order.created),
        "updated_at": _time(order.updated),
        "price": _amount(sum(line.unit_price * line.quantity for line in order.lines)),
        "shipping_fee": _amount(order.shipping_fee),
        "shipping_fee_original": _amount(order.shipping_fee),
        "shipping_fee_discount_seller": "0.00",
        "shipping_fee_discount_platform": "0.00",
        "voucher": _amount(sum(line.discount for line in order.lines)),
        "voucher_code": "",
        "payment_method": order.extra.get("payment_method", "COD" if order.cod else "MIXEDCARD"),
        "customer_first_name": first,
        "customer_last_name": last,
        "items_count": str(len(rows)),
        "statuses": sorted({row["status"] for row in rows}),
        "promised_shipping_times": (
            datetime.fromtimestamp(order.ship_by, WIB).strftime("%Y-%m-%d %H:%M:%S") if order.ship_by else ""
        ),
        "address_shipping": address,
        "address_billing": dict(address),
        "buyer_note": "",
        "remarks": "",
        "gift_option": "0",
        "gift_message": "",
        "delivery_info": "",
        "warehouse_code": "dropshipping",
        "extra_attributes": "",
        "national_registration_number": "",
        "tax_code": "",
        "branch_number": "",
    }


def _rows(order: SimOrder) -> list[dict[str, Any]]:
    statuses = order.extra.get("item_statuses")
    paid = order.extra.get("paid", True)
    rows = []
    for line in order.lines:
        # The line's seller discount, spread over its units (the remainder on the first).
        share, extra = divmod(line.discount, line.quantity)
        for unit in range(line.quantity):
            n = len(rows)
            status = statuses[n] if statuses else order.status
            voucher = share + (extra if unit == 0 else 0)
            rows.append(
                {
                    "order_item_id": f"{order.order_id}{n + 1:03d}",
                    "order_id": order.order_id,
                    "purchase_order_id": "",
                    "purchase_order_number": "",
                    "invoice_number": "",
                    "package_id": f"FP{order.order_id[-8:]}",
                    "shop_id": order.shop_id,
                    "buyer_id": str(order.extra.get("buyer_id", "100200300")),
                    "product_id": str(order.extra.get("product_id", "3456789012")),
                    "sku_id": str(order.extra.get("sku_id", "9876543210")),
                    "sku": line.sku,
                    "shop_sku": f"{line.sku}-ID",
                    "name": line.name,
                    "variation": "",
                    "item_price": _amount(line.unit_price),
                    "paid_price": _amount(line.unit_price - voucher),
                    "voucher_seller": _amount(voucher),
                    "voucher_platform": "0.00",
                    "voucher_amount": _amount(voucher),
                    "voucher_code_seller": "",
                    "voucher_code_platform": "",
                    "tax_amount": "0.00",
                    "shipping_amount": "0.00",
                    "shipping_fee_original": "0.00",
                    "shipping_fee_discount_seller": "0.00",
                    "shipping_fee_discount_platform": "0.00",
                    "wallet_credits": "0.00",
                    "currency": "IDR",
                    "status": status,
                    "reason": (order.cancel_reason or "") if status == "canceled" else "",
                    "reason_detail": "",
                    "cancel_return_initiator": "cancellation-customer" if status == "canceled" else "",
                    "return_status": "",
                    "reverse_order_id": str(order.extra.get("reverse_order_id", "")) if status == "returned" else "",
                    "is_cancel_pending": "false",
                    "need_cancel_confirm": "false",
                    "payment_time": "" if status == "unpaid" or not paid else str((order.created + 60) * 1000),
                    "created_at": _time(order.created),
                    "updated_at": _time(order.updated),
                    "promised_shipping_time": _time(order.ship_by) if order.ship_by else "",
                    "sla_time_stamp": (datetime.fromtimestamp(order.ship_by, WIB).isoformat() if order.ship_by else ""),
                    "shipment_provider": order.carrier,
                    "shipping_provider_type": "standard",
                    "shipping_type": "Dropshipping",
                    "shipping_service_cost": "0",
                    # Per unit once units are shipped separately (extra "item_tracking"), else the order's.
                    "tracking_code": (
                        order.extra["item_tracking"].get(f"{order.order_id}{n + 1:03d}", "")
                        if order.extra.get("item_tracking")
                        else order.tracking_number or ""
                    ),
                    "tracking_code_pre": "",
                    "delivery_option_sof": "0",
                    "fulfillment_sla": "",
                    "order_type": "Normal",
                    "order_flag": "",
                    "is_digital": "0",
                    "is_fbl": "0",
                    "is_reroute": "0",
                    "warehouse_code": "dropshipping",
                    "product_main_image": "",
                    "product_detail_url": "",
                    "extra_attributes": "",
                }
            )
    return rows


def _time(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, WIB).strftime("%Y-%m-%d %H:%M:%S %z")


def _amount(rupiah: int) -> str:
    return f"{rupiah}.00"


def _request_id(order: SimOrder) -> str:
    return "0b8e3f1a" + str(order.updated)
