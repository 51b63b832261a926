"""Lazada's push deliveries: one message per order line, signed over the app key and the raw body.
Lazada waits 500 ms for the answer and retries with the status current at retry time."""

from __future__ import annotations

from oms.channels.delivery import Delivery, Headers, json_body, key
from oms.channels.signatures import SignatureScheme, app_key_then_body, hex_digest


def _dedupe_key(body: bytes, _headers: Headers) -> str | None:
    doc = json_body(body)
    data = doc.get("data") if isinstance(doc.get("data"), dict) else {}
    status = data.get("order_status") or data.get("reverse_status")
    line = data.get("reverse_order_line_id") if doc.get("message_type") == 10 else data.get("trade_order_line_id")
    return key(f"type{doc.get('message_type')}", line, status, data.get("status_update_time"))


def _topic(body: bytes, _headers: Headers) -> str | None:
    return key("message_type", json_body(body).get("message_type"))


DELIVERY = Delivery(
    scheme=SignatureScheme("authorization", "app_secret", app_key_then_body, hex_digest, ("app_key",)),
    dedupe_key=_dedupe_key,
    topic=_topic,
)
