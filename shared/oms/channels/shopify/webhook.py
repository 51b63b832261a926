"""Shopify's webhook deliveries: the full REST order, signed over the raw body, deduplicated on the
event id (Shopify retries the original payload 8 times over 4 hours)."""

from __future__ import annotations

from datetime import datetime, timedelta

from oms.channels.delivery import Delivery, Headers
from oms.channels.signatures import SignatureScheme, b64, body_only
from oms.errors import BadRequest

# Topics that carry a whole order. Others (orders/delete carries only an id,
# orders/edited an edit object) are acknowledged, kept, and not applied.
ORDER_TOPICS = frozenset(
    {
        "orders/create",
        "orders/updated",
        "orders/paid",
        "orders/cancelled",
        "orders/fulfilled",
        "orders/partially_fulfilled",
    }
)
CREATE_TOPICS = frozenset({"orders/create"})


def _dedupe_key(_body: bytes, headers: Headers) -> str | None:
    event_id = headers.get("x-shopify-event-id") or headers.get("x-shopify-webhook-id")
    return f"event:{event_id}" if event_id else None


def _topic(_body: bytes, headers: Headers) -> str | None:
    return headers.get("x-shopify-topic")


def _check_age(headers: Headers, now: datetime, max_age: timedelta) -> None:
    if "x-shopify-triggered-at" not in headers:
        return
    try:
        triggered = datetime.fromisoformat(headers["x-shopify-triggered-at"].replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest("X-Shopify-Triggered-At is not an ISO 8601 time") from None
    if triggered.tzinfo is not None and now - triggered > max_age:
        raise BadRequest(f"stale webhook: triggered at {triggered.isoformat()}, older than {max_age}")


DELIVERY = Delivery(
    scheme=SignatureScheme("x-shopify-hmac-sha256", "secret", body_only, b64),
    dedupe_key=_dedupe_key,
    topic=_topic,
    kept_headers=(
        "x-shopify-topic",
        "x-shopify-event-id",
        "x-shopify-webhook-id",
        "x-shopify-shop-domain",
        "x-shopify-triggered-at",
        "x-shopify-api-version",
    ),
    check_age=_check_age,
)
