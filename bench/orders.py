"""Realistic Shopify orders for the benchmarks: the fixture's shape, with
distinct ids, 1 to 5 lines drawn with a skew from the demo catalog, and
destinations across Indonesia."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import random
from pathlib import Path
from typing import Any

from oms_local.seed import DEFAULTS, SKUS

ROOT = Path(__file__).resolve().parent.parent
CITIES = [
    ("Jakarta Selatan", "DKI Jakarta", "JK", "12730"),
    ("Bandung", "Jawa Barat", "JB", "40115"),
    ("Surabaya", "Jawa Timur", "JI", "60271"),
    ("Medan", "Sumatera Utara", "SU", "20112"),
    ("Denpasar", "Bali", "BA", "80234"),
    ("Makassar", "Sulawesi Selatan", "SN", "90111"),
    ("Balikpapan", "Kalimantan Timur", "KI", "76112"),
    ("Jayapura", "Papua", "PA", "99111"),
]


class OrderFactory:
    def __init__(self, seed: int = 1) -> None:
        self.random = random.Random(seed)
        self.template = json.loads((ROOT / "events/channels/shopify_orders_create.json").read_text())
        self.secret = DEFAULTS["OMS_SHOPIFY_SECRET"]

    def order(self, n: int) -> dict[str, Any]:
        order = copy.deepcopy(self.template)
        order["id"] = 6_000_000_000_000 + n
        order["name"] = f"#B{n}"
        order["order_number"] = 10_000 + n
        lines = []
        prototype = self.template["line_items"][0]
        count = self.random.choice([1, 1, 2, 2, 3, 3, 3, 4, 5])
        # Skewed demand: the first SKUs sell far more often.
        skus = self.random.choices(SKUS, weights=[1 / (rank + 1) for rank in range(len(SKUS))], k=count)
        for position, (sku, name, _category, grams, price) in enumerate(skus):
            line = copy.deepcopy(prototype)
            line.update(
                {
                    "id": order["id"] * 10 + position,
                    "sku": sku,
                    "name": name,
                    "title": name,
                    "quantity": self.random.choice([1, 1, 1, 2, 3]),
                    "price": f"{price}.00",
                    "grams": grams,
                    "discount_allocations": [],
                    "total_discount": "0.00",
                }
            )
            lines.append(line)
        order["line_items"] = lines
        city, province, code, postal = self.random.choice(CITIES)
        order["shipping_address"].update({"city": city, "province": province, "province_code": code, "zip": postal})
        return order

    def body(self, n: int) -> bytes:
        return json.dumps(self.order(n), separators=(",", ":")).encode()

    def headers(self, body: bytes, n: int) -> dict[str, str]:
        digest = base64.b64encode(hmac.new(self.secret.encode(), body, hashlib.sha256).digest()).decode()
        return {
            "content-type": "application/json",
            "x-shopify-topic": "orders/create",
            "x-shopify-hmac-sha256": digest,
            "x-shopify-event-id": f"bench-{n}",
            "x-shopify-shop-domain": "toko-demo.myshopify.com",
        }

    def webhook_event(self, n: int) -> dict[str, Any]:
        """An API Gateway HTTP API v2 event, for in-process calls."""
        body = self.body(n)
        return {
            "version": "2.0",
            "routeKey": "POST /webhooks/{channel}",
            "rawPath": "/webhooks/shopify",
            "rawQueryString": "",
            "headers": self.headers(body, n),
            "pathParameters": {"channel": "shopify"},
            "requestContext": {
                "http": {
                    "method": "POST",
                    "path": "/webhooks/shopify",
                    "protocol": "HTTP/1.1",
                    "sourceIp": "127.0.0.1",
                    "userAgent": "bench",
                },
                "requestId": f"bench-{n}",
                "routeKey": "POST /webhooks/{channel}",
                "stage": "$default",
                "accountId": "123456789012",
                "apiId": "bench",
                "timeEpoch": 0,
            },
            "body": body.decode(),
            "isBase64Encoded": False,
        }
