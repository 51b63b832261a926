"""Tokopedia's webhook deliveries (legacy Fulfillment Service): the order notification (the whole
order) and the order status push, both signed over the raw body in Authorization-Hmac."""

from __future__ import annotations

from oms.channels.delivery import Delivery, Headers, json_body, key
from oms.channels.signatures import SignatureScheme, body_only, hex_digest


def _dedupe_key(body: bytes, _headers: Headers) -> str | None:
    doc = json_body(body)
    return key("order", doc.get("order_id"), doc.get("order_status"))


def _topic(body: bytes, _headers: Headers) -> str | None:
    return "order_notification" if "products" in json_body(body) else "order_status"


DELIVERY = Delivery(
    scheme=SignatureScheme("authorization-hmac", "secret", body_only, hex_digest),
    dedupe_key=_dedupe_key,
    topic=_topic,
)
