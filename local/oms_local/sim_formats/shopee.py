"""Shopee Open Platform v2 documents for the channel simulator.

`order_detail` is one `response.order_list` element of `v2.order.get_order_detail`
as Shopee answers when every `response_optional_fields` value is asked for;
`oms.channels.shopee.normalize` reads exactly this. Money is JSON numbers
(IDR, whole rupiah), times Unix seconds.

Optional `order.extra` keys: buyer_user_id, buyer_username, message (to the
seller), payment_method, pay_time (Unix s; 0 = unpaid), cancel_by,
buyer_cancel_reason, days_to_ship.
"""

from __future__ import annotations

import hashlib
import zlib

from oms_local.sim_formats import SimLine, SimOrder

# Statuses at which the buyer has paid a non-COD order (COD is paid when the cash is collected).
_UNPAID = frozenset({"UNPAID"})
_COD_PAID = frozenset({"TO_CONFIRM_RECEIVE", "COMPLETED"})


def _number(seed: str, digits: int) -> int:
    """A stable id of `digits` digits (Shopee ids are int64)."""
    return 10 ** (digits - 1) + zlib.crc32(seed.encode()) % (9 * 10 ** (digits - 1))


def _request_id(*parts: str) -> str:
    return hashlib.md5("|".join(parts).encode(), usedforsecurity=False).hexdigest()


def _pay_time(order: SimOrder) -> int:
    if "pay_time" in order.extra:
        return int(order.extra["pay_time"])
    if order.status in _UNPAID or (order.cod and order.status not in _COD_PAID):
        return 0
    if order.status == "CANCELLED":
        return 0  # cancelled before payment; set extra["pay_time"] for one cancelled after
    return order.created + 60


def _item(order: SimOrder, line: SimLine) -> dict:
    item_id = _number(f"{order.shop_id}:{line.sku}:item", 11)
    # Shopee prices are per unit: a line discount not divisible by the quantity cannot be expressed,
    # so the unit discount is rounded down (the simulator's demo discounts divide evenly).
    unit_discount = line.discount // line.quantity if line.quantity else 0
    return {
        "item_id": item_id,
        "item_name": line.name,
        "item_sku": line.sku.rsplit("-", 1)[0] if "-" in line.sku else line.sku,  # the parent SKU
        "model_id": _number(f"{order.shop_id}:{line.sku}:model", 11),
        "model_name": line.sku.rsplit("-", 1)[-1] if "-" in line.sku else "",
        "model_sku": line.sku,
        "model_quantity_purchased": line.quantity,
        "model_original_price": line.unit_price,
        "model_discounted_price": line.unit_price - unit_discount,
        "wholesale": False,
        "weight": 0.25,
        "add_on_deal": False,
        "main_item": False,
        "add_on_deal_id": 0,
        "promotion_type": "product_promotion" if unit_discount else "",
        "promotion_id": _number(f"{order.shop_id}:promo", 12) if unit_discount else 0,
        "order_item_id": item_id,
        "promotion_group_id": 0,
        "image_info": {"image_url": f"https://cf.shopee.co.id/file/id-sim-{item_id}"},
        "product_location_id": ["IDZ"],
        "is_prescription_item": False,
        "is_b2c_owned_item": False,
    }


def order_detail(order: SimOrder) -> dict:
    items = [_item(order, line) for line in order.lines]
    goods = sum(item["model_discounted_price"] * item["model_quantity_purchased"] for item in items)
    cancelled = order.status in ("CANCELLED", "IN_CANCEL")
    package_number = f"OFG{_number(order.order_id + ':pkg', 15)}"
    return {
        "order_sn": order.order_id,
        "region": "ID",
        "currency": "IDR",
        "cod": order.cod,
        "total_amount": goods + order.shipping_fee,
        "order_status": order.status,
        "shipping_carrier": order.carrier,
        "payment_method": order.extra.get("payment_method", "COD (Bayar di Tempat)" if order.cod else "ShopeePay"),
        "estimated_shipping_fee": order.shipping_fee,
        "message_to_seller": order.extra.get("message", ""),
        "create_time": order.created,
        "update_time": order.updated,
        "days_to_ship": order.extra.get("days_to_ship", 2),
        "ship_by_date": order.ship_by or 0,
        "buyer_user_id": int(order.extra.get("buyer_user_id", _number(order.buyer_email, 9))),
        "buyer_username": order.extra.get("buyer_username", order.buyer_email.split("@", 1)[0]),
        "recipient_address": {
            "name": order.buyer_name,
            "phone": order.buyer_phone,
            "town": order.village,
            "district": order.district,
            "city": order.city,
            "state": order.province,
            "region": "ID",
            "zipcode": order.postal_code,
            "full_address": ", ".join(
                part
                for part in (order.line1, order.village, order.district, order.city, order.province, order.postal_code)
                if part
            ),
        },
        "actual_shipping_fee": order.shipping_fee,
        "goods_to_declare": False,
        "note": "",
        "note_update_time": 0,
        "item_list": items,
        "pay_time": _pay_time(order),
        "dropshipper": "",
        "dropshipper_phone": "",
        "split_up": bool(order.extra.get("packages")),
        "buyer_cancel_reason": order.extra.get("buyer_cancel_reason", order.cancel_reason or "") if cancelled else "",
        "cancel_by": order.extra.get("cancel_by", "buyer") if cancelled else "",
        "cancel_reason": (order.cancel_reason or "") if cancelled else "",
        "actual_shipping_fee_confirmed": order.status in ("SHIPPED", "TO_CONFIRM_RECEIVE", "COMPLETED"),
        "buyer_cpf_id": None,
        "fulfillment_flag": "fulfilled_by_local_seller",
        "pickup_done_time": order.updated if order.status in ("SHIPPED", "TO_CONFIRM_RECEIVE", "COMPLETED") else 0,
        "package_list": _package_list(order, items, package_number),
        "invoice_data": None,
        "checkout_shipping_carrier": order.carrier,
        "reverse_shipping_fee": 0,
        "order_chargeable_weight_gram": 250 * sum(line.quantity for line in order.lines),
    }


def _package_list(order: SimOrder, items: list[dict], package_number: str) -> list[dict]:
    """One package, or the packages logistics_sim.shopee's split_order made (order.extra["packages"]: each
    {package_number, item_list, arranged}): a split package arranged before its siblings is
    LOGISTICS_REQUEST_CREATED while the order is still READY_TO_SHIP."""
    whole = [
        {"item_id": item["item_id"], "model_id": item["model_id"], "model_quantity": item["model_quantity_purchased"],
         "order_item_id": item["order_item_id"], "promotion_group_id": 0}
        for item in items
    ]  # fmt: skip
    split = order.extra.get("packages") or [{"package_number": package_number, "item_list": whole}]
    packages = []
    for package in split:
        status = _logistics_status(order.status)
        if package.get("arranged") and status == "LOGISTICS_READY":
            status = "LOGISTICS_REQUEST_CREATED"
        units = sum(int(item["model_quantity"]) for item in package["item_list"])
        packages.append(
            {
                "package_number": package["package_number"],
                "logistics_status": status,
                "shipping_carrier": order.carrier,
                "logistics_channel_id": 8003,
                "parcel_chargeable_weight_gram": 250 * units,
                "allow_self_design_awb": False,
                "group_shipment_id": None,
                "sorting_group": "",
                "item_list": [{**item, "product_location_id": "IDZ"} for item in package["item_list"]],
            }
        )
    return packages


def _logistics_status(status: str) -> str:
    return {
        "UNPAID": "LOGISTICS_NOT_START",
        "READY_TO_SHIP": "LOGISTICS_READY",
        "PROCESSED": "LOGISTICS_REQUEST_CREATED",
        "RETRY_SHIP": "LOGISTICS_PICKUP_RETRY",
        "SHIPPED": "LOGISTICS_PICKUP_DONE",
        "TO_CONFIRM_RECEIVE": "LOGISTICS_DELIVERY_DONE",
        "COMPLETED": "LOGISTICS_DELIVERY_DONE",
        "CANCELLED": "LOGISTICS_REQUEST_CANCELED",
    }.get(status, "LOGISTICS_READY")


def detail_response(orders: list[SimOrder]) -> dict:
    """The whole get_order_detail body."""
    return {
        "error": "",
        "message": "",
        "request_id": _request_id("detail", *(o.order_id for o in orders)),
        "response": {"order_list": [order_detail(order) for order in orders]},
    }


def order_list_response(orders: list[SimOrder], more: bool, next_cursor: str) -> dict:
    """The get_order_list body, asked with response_optional_fields=order_status."""
    return {
        "error": "",
        "message": "",
        "request_id": _request_id("list", next_cursor, *(o.order_id for o in orders)),
        "response": {
            "more": more,
            "next_cursor": next_cursor if more else "",  # documented: empty when more is false
            "order_list": [{"order_sn": order.order_id, "order_status": order.status} for order in orders],
        },
    }


def status_push(order: SimOrder, msg_id: str | None) -> dict:
    """An order_status_push (code 3); live pushes carry msg_id, the documented sample does not."""
    body: dict = {
        "data": {
            "items": [],
            "ordersn": order.order_id,
            "status": order.status,
            "completed_scenario": "",
            "update_time": order.updated,
        },
        "shop_id": int(order.shop_id) if order.shop_id.isdigit() else order.shop_id,
        "code": 3,
        "timestamp": order.updated,
    }
    if msg_id is not None:
        body["msg_id"] = msg_id
    return body
