"""Tokopedia (Fulfillment Service) documents for the channel simulator.

SimOrder.status is the numeric status code as a string ("220"). Tokopedia has
no per-line seller discount in these documents (slash prices are already in
`price`), so SimLine.discount becomes the order's voucher. ``order.extra`` may
set ``fs_id``, ``invoice``, ``warehouse_id``, ``buyer_id``, ``product_ids``
({sku: id}), ``geo`` ("lat,lng"), ``service_type``.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from typing import Any

from oms_local.sim_formats import SimLine, SimOrder

_HEADER = {"process_time": 0.052, "messages": "Your request has been processed successfully"}


def order_notification(order: SimOrder, public_key_pem: str | None) -> dict:
    """The order notification webhook body; with a key the buyer data is masked and sent encrypted."""
    customer = {
        "id": _buyer_id(order),
        "Name": order.buyer_name,
        "phone": order.buyer_phone,
        "email": order.buyer_email,
    }
    recipient = {
        "Name": order.buyer_name,
        "phone": order.buyer_phone,
        "address": {
            "address_full": _address_full(order),
            "district": order.district,
            "city": order.city,
            "province": order.province,
            "country": "Indonesia",
            "postal_code": order.postal_code,
            "district_id": 2270,
            "city_id": 175,
            "province_id": 13,
            "geo": order.extra.get("geo", "-6.2088,106.8456"),
        },
    }
    body: dict[str, Any] = {
        "fs_id": _fs_id(order),
        "order_id": int(order.order_id),
        "accept_partial": False,
        "invoice_num": _invoice(order),
        "products": [_product(order, line) for line in order.lines],
        "customer": customer,
        "recipient": recipient,
        "shop_id": int(order.shop_id),
        "warehouse_id": int(order.extra.get("warehouse_id", 0)),
        "shop_name": "Kopi Nusantara Official",
        "payment_id": int(order.order_id) % 100_000_000,
        "logistics": _logistics(order),
        "amt": _amt(order),
        "dropshipper_info": {"name": "", "phone": ""},
        "voucher_info": {"voucher_type": 0, "voucher_code": ""},
        "device_type": "android",
        "create_time": order.created,
        "order_status": int(order.status),
        "custom_fields": {},
        "encryption": {"secret": "", "content": ""},
    }
    if public_key_pem:
        # What Tokopedia masks: names, phones, e-mail and the street address; the region stays clear.
        # Imported here: oms_local is also imported without the layer on the path (moto's own process).
        from oms.channels.tokopedia.crypto import encrypt_for

        body["encryption"] = encrypt_for(
            public_key_pem,
            {"customer": {k: v for k, v in customer.items() if k != "id"}, "recipient": recipient},
        )
        body["customer"] = {"id": customer["id"], "Name": "", "phone": "", "email": ""}
        body["recipient"] = {
            **recipient,
            "Name": "",
            "phone": "",
            "address": {**recipient["address"], "address_full": ""},
        }
    return body


def status_push(order: SimOrder) -> dict:
    """The order status webhook body."""
    return {
        "fs_id": _fs_id(order),
        "order_status": int(order.status),
        "order_id": int(order.order_id),
        "shop_id": int(order.shop_id),
        "warehouse_id": int(order.extra.get("warehouse_id", 0)),
        "product_details": [_product(order, line) for line in order.lines],
    }


def single_order_response(order: SimOrder) -> dict:
    """The whole Get Single Order response (`GET /v2/fs/{fs_id}/order?order_id=`)."""
    items = sum(line.unit_price * line.quantity for line in order.lines)
    discount = sum(line.discount for line in order.lines)
    # Codes 100-200 are before payment; cancellations may come either side of it (extra "paid").
    paid = order.extra.get("paid", not 100 <= int(order.status) < 220)
    return {
        "header": _HEADER,
        "data": {
            "order_id": int(order.order_id),
            "buyer_id": _buyer_id(order),
            "seller_id": int(order.shop_id),
            "payment_id": int(order.order_id) % 100_000_000,
            "is_affiliate": False,
            "is_fulfillment": False,
            "order_warehouse": {
                "warehouse_id": int(order.extra.get("warehouse_id", 0)),
                "fulfill_by": 0,
                "meta_data": {},
            },
            "order_status": int(order.status),
            "invoice_number": _invoice(order),
            "invoice_pdf": "",
            "invoice_url": "",
            "open_amt": items + order.shipping_fee - discount,
            "lp_amt": 0,
            "cashback_amt": 0,
            "info": "",
            "comment": "",
            "item_price": items,
            "buyer_info": {
                "buyer_id": _buyer_id(order),
                "buyer_fullname": order.buyer_name,
                "buyer_email": order.buyer_email,
                "buyer_phone": order.buyer_phone,
            },
            "shop_info": {"shop_owner_id": 0, "shop_name": "Kopi Nusantara Official", "shop_id": int(order.shop_id)},
            "shipment_fulfillment": {
                "id": 0,
                "order_id": int(order.order_id),
                "payment_date_time": _rfc3339(order.created + 60) if paid else _ZERO_TIME,
                "is_same_day": False,
                "accept_deadline": _rfc3339(order.created + 2 * 86400),
                "confirm_shipping_deadline": _rfc3339(order.ship_by) if order.ship_by else _ZERO_TIME,
                "item_delivered_deadline": {"Time": _ZERO_TIME, "Valid": False},
                "is_accepted": int(order.status) >= 400,
                "is_confirm_shipping": int(order.status) >= 500,
                "is_item_delivered": int(order.status) >= 600,
                "fulfillment_status": 0,
            },
            "preorder": {},
            "order_info": {
                "order_detail": [
                    {
                        "order_detail_id": int(order.order_id) * 10 + n + 1,
                        "product_id": _product_id(order, line),
                        "product_name": line.name,
                        "product_desc_pdp": "",
                        "product_desc_atc": "",
                        "product_price": line.unit_price,
                        "subtotal_price": line.unit_price * line.quantity,
                        "weight": 0.25,
                        "total_weight": 0.25 * line.quantity,
                        "quantity": line.quantity,
                        "quantity_deliver": line.quantity,
                        "quantity_reject": 0,
                        "is_free_returns": False,
                        "insurance_price": 0,
                        "normal_price": line.unit_price,
                        "currency_id": 1,
                        "currency_rate": 1,
                        "min_order": 1,
                        "child_cat_id": 0,
                        "campaign_id": 0,
                        "product_picture": "",
                        "snapshot_url": "",
                        "sku": line.sku,
                    }
                    for n, line in enumerate(order.lines)
                ],
                "order_history": [],
                "order_age_day": 0,
                "shipping_age_day": 0,
                "delivered_age_day": 0,
                "partial_process": False,
                "shipping_info": {
                    "sp_id": 1,
                    "shipping_id": 1,
                    "logistic_name": order.carrier,
                    "logistic_service": order.extra.get("service_type", "Reguler"),
                    "shipping_price": order.shipping_fee,
                    "shipping_price_rate": order.shipping_fee,
                    "shipping_fee": 0,
                    "insurance_price": 0,
                    "fee": 0,
                    "is_change_courier": False,
                    "awb": order.tracking_number or "",
                },
                "destination": {
                    "receiver_name": order.buyer_name,
                    "receiver_phone": order.buyer_phone,
                    "address_street": _address_full(order),
                    "address_district": order.district,
                    "address_city": order.city,
                    "address_province": order.province,
                    "address_postal": order.postal_code,
                    "customer_address_id": 0,
                    "district_id": 2270,
                    "city_id": 175,
                    "province_id": 13,
                },
                "is_replacement": False,
                "replacement_multiplier": 0,
            },
            "origin_info": {"destination_geo": order.extra.get("geo", "-6.2088,106.8456")},
            "payment_info": {
                "payment_id": int(order.order_id) % 100_000_000,
                "payment_ref_num": f"PYM/{order.order_id}",
                "payment_date": _rfc3339(order.created + 60) if paid else _ZERO_TIME,
                "payment_method": 0,
                "payment_status": "Verified" if paid else "Pending",
                "payment_status_id": 2 if paid else 1,
                "create_time": _rfc3339(order.created),
                "pg_id": 0,
                "gateway_name": "COD" if order.cod else "BCA Virtual Account",
                "discount_amount": discount,
                "voucher_code": "",
                "voucher_id": 0,
            },
            "insurance_info": {"insurance_type": 0},
            "hold_info": "",
            "cancel_request_info": order.cancel_reason or "",
            "create_time": _rfc3339(order.created),
            "shipping_date": _ZERO_TIME,
            "update_time": _rfc3339(order.updated),
            "payment_date": _rfc3339(order.created + 60) if paid else _ZERO_TIME,
            "delivered_date": _ZERO_TIME,
            "est_shipping_date": _ZERO_TIME,
            "est_delivery_date": _ZERO_TIME,
            "related_invoices": "",
            "custom_fields": "",
        },
    }


def order_list_response(orders: list[SimOrder]) -> dict:
    """The whole Get All Orders response (`/v2/order/list`): notification-like entries, "buyer" for "customer"."""
    entries = []
    for order in orders:
        entry = order_notification(order, None)
        entry.pop("encryption")
        entry.pop("invoice_num")
        buyer = entry.pop("customer")
        entries.append(
            {
                **entry,
                "fs_id": str(entry["fs_id"]),
                "is_cod_mitra": order.cod,
                "invoice_ref_num": _invoice(order),
                "have_product_bundle": False,
                "products_fulfilled": [
                    {"product_id": _product_id(order, line), "quantity_deliver": line.quantity, "quantity_reject": 0}
                    for line in order.lines
                ],
                "bundle_detail": {"bundle": [], "non_bundle": [], "total_product": len(order.lines)},
                "buyer": buyer,
                "fulfill_by": 0,
                "promo_order_detail": {
                    "order_id": int(order.order_id),
                    "total_cashback": 0,
                    "total_discount": entry["amt"]["voucher_amount"],
                    "total_discount_product": entry["amt"]["voucher_amount"],
                    "total_discount_shipping": 0,
                    "total_discount_details": [],
                    "summary_promo": [],
                },
            }
        )
    return {"header": _HEADER, "data": entries}


# --- pieces ----------------------------------------------------------------------

_ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time: what Tokopedia shows for unset dates


def _product(order: SimOrder, line: SimLine) -> dict[str, Any]:
    return {
        "id": _product_id(order, line),
        "Name": line.name,
        "quantity": line.quantity,
        "notes": "",
        "weight": 0.25,
        "total_weight": 0.25 * line.quantity,
        "price": line.unit_price,
        "total_price": line.unit_price * line.quantity,
        "currency": "Rp",
        "sku": line.sku,
    }


def _amt(order: SimOrder) -> dict[str, int]:
    items = sum(line.unit_price * line.quantity for line in order.lines)
    voucher = sum(line.discount for line in order.lines)
    return {
        "ttl_product_price": items,
        "shipping_cost": order.shipping_fee,
        "insurance_cost": 0,
        "ttl_amount": items + order.shipping_fee - voucher,
        "voucher_amount": voucher,
        "toppoints_amount": 0,
    }


def _logistics(order: SimOrder) -> dict[str, Any]:
    return {
        "shipping_id": 1,
        "district_id": 2270,
        "city_id": 175,
        "province_id": 13,
        "geo": order.extra.get("geo", "-6.2088,106.8456"),
        "shipping_agency": order.carrier,
        "service_type": order.extra.get("service_type", "Reguler"),
    }


def _product_id(order: SimOrder, line: SimLine) -> int:
    ids = order.extra.get("product_ids") or {}
    return int(ids.get(line.sku, 1_000_000_000 + zlib.crc32(line.sku.encode()) % 1_000_000_000))


def _buyer_id(order: SimOrder) -> int:
    return int(order.extra.get("buyer_id", 88123456))


def _fs_id(order: SimOrder) -> int:
    return int(order.extra.get("fs_id", 15123))


def _invoice(order: SimOrder) -> str:
    day = datetime.fromtimestamp(order.created, UTC).strftime("%Y%m%d")
    return str(order.extra.get("invoice", f"INV/{day}/MPL/{order.order_id}"))


def _address_full(order: SimOrder) -> str:
    return f"{order.line1}, {order.village}, {order.district}, {order.city}, {order.province} {order.postal_code}"


def _rfc3339(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
