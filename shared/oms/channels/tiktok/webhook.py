"""TikTok Shop's push deliveries: an envelope (type, tts_notification_id, shop_id, data), signed over
the app key and the raw body. TikTok Shop wants a 2xx within 3 seconds."""

from __future__ import annotations

from oms.channels.delivery import Delivery, Headers, json_body, key
from oms.channels.signatures import SignatureScheme, app_key_then_body, hex_digest


def _dedupe_key(body: bytes, _headers: Headers) -> str | None:
    return key("notification", json_body(body).get("tts_notification_id"))


def _topic(body: bytes, _headers: Headers) -> str | None:
    return key("type", json_body(body).get("type"))


DELIVERY = Delivery(
    scheme=SignatureScheme("authorization", "app_secret", app_key_then_body, hex_digest, ("app_key",)),
    dedupe_key=_dedupe_key,
    topic=_topic,
)
