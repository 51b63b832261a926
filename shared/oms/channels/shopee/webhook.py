"""Shopee's push deliveries (Open Platform v2): thin notices, signed over the callback URL as
registered, "|", and the raw body. Shopee wants a 2xx within 3 seconds."""

from __future__ import annotations

from oms.channels.delivery import Delivery, Headers, json_body, key
from oms.channels.signatures import SignatureScheme, hex_digest


def _signed(body: bytes, context: dict[str, str]) -> bytes:
    # The callback URL exactly as registered (configuration, never rebuilt from request headers).
    return context["callback_url"].encode() + b"|" + body


def _dedupe_key(body: bytes, _headers: Headers) -> str | None:
    doc = json_body(body)
    data = doc.get("data") if isinstance(doc.get("data"), dict) else {}
    # Live pushes carry msg_id; without it, what the push says about which order identifies it.
    return key("msg", doc.get("msg_id")) or key(
        "push", doc.get("code"), doc.get("shop_id"), data.get("ordersn"), data.get("status"), data.get("update_time")
    )


def _topic(body: bytes, _headers: Headers) -> str | None:
    return key("code", json_body(body).get("code"))


def _handshake(body: bytes) -> bool:
    """The verification push when a callback URL is saved (code 0, data.verify_info)."""
    doc = json_body(body)
    return doc.get("code") == 0 and isinstance(doc.get("data"), dict) and "verify_info" in doc["data"]


DELIVERY = Delivery(
    scheme=SignatureScheme("authorization", "partner_key", _signed, hex_digest, ("callback_url",)),
    dedupe_key=_dedupe_key,
    topic=_topic,
    handshake=_handshake,
)
