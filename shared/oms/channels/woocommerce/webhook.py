"""WooCommerce's webhook deliveries: the full wc/v3 order, signed over the raw body. Failed
deliveries are never retried, and near-identical updates are many: (id, modified, status) is the change."""

from __future__ import annotations

import re

from oms.channels.delivery import Delivery, Headers, json_body, key
from oms.channels.signatures import SignatureScheme, b64, body_only

ORDER_TOPICS = frozenset({"order.created", "order.updated", "order.restored"})
CREATE_TOPICS = frozenset({"order.created"})

# WooCommerce pings a new webhook with this unsigned form body and wants a 2xx.
_PING = re.compile(rb"^webhook_id=\d+$")


def _dedupe_key(body: bytes, _headers: Headers) -> str | None:
    doc = json_body(body)
    return key("order", doc.get("id"), doc.get("date_modified_gmt"), doc.get("status"))


def _topic(_body: bytes, headers: Headers) -> str | None:
    return headers.get("x-wc-webhook-topic")


def _ping(body: bytes) -> bool:
    return bool(_PING.match(body.strip()))


DELIVERY = Delivery(
    scheme=SignatureScheme("x-wc-webhook-signature", "secret", body_only, b64),
    dedupe_key=_dedupe_key,
    topic=_topic,
    kept_headers=(
        "x-wc-webhook-topic",
        "x-wc-webhook-resource",
        "x-wc-webhook-event",
        "x-wc-webhook-id",
        "x-wc-webhook-delivery-id",
        "x-wc-webhook-source",
    ),
    unsigned_ping=_ping,
)
