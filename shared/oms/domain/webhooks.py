"""Receiving a webhook: verify over the raw bytes, store, then acknowledge.

Nothing here parses more of the body than the delivery key needs: the
answer must be fast (Lazada gives 500 ms) and the real work happens after
the store, in the normalizer (and, for the marketplaces' thin pushes, in the
channel fetcher that asks the channel's API for the order).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from oms import bodies
from oms.domain.signatures import SCHEMES
from oms.errors import BadRequest, DependencyError, InvalidSignature, NotFound, PayloadTooLarge
from oms.models.inbox import InboxEntry
from oms.models.order import Channel
from oms.ports import InboxRepository, SecretsProvider

# Channels with a webhook endpoint (the own channels post to POST /orders instead).
ENABLED_CHANNELS = frozenset(
    {Channel.shopify, Channel.woocommerce, Channel.shopee, Channel.tokopedia, Channel.lazada, Channel.tiktok}
)
# These want an empty 2xx body; the others get {"status": ...}.
EMPTY_ANSWER = frozenset({Channel.shopee, Channel.tiktok})

# WooCommerce pings a new webhook with this unsigned form body and wants a 2xx.
_WOO_PING = re.compile(rb"^webhook_id=\d+$")

# Delivery headers worth keeping (never the signature).
_KEPT_HEADERS = {
    Channel.shopify: (
        "x-shopify-topic",
        "x-shopify-event-id",
        "x-shopify-webhook-id",
        "x-shopify-shop-domain",
        "x-shopify-triggered-at",
        "x-shopify-api-version",
    ),
    Channel.woocommerce: (
        "x-wc-webhook-topic",
        "x-wc-webhook-resource",
        "x-wc-webhook-event",
        "x-wc-webhook-id",
        "x-wc-webhook-delivery-id",
        "x-wc-webhook-source",
    ),
}
# Every channel not listed keeps none (the marketplaces put everything in the body).


class Acknowledgement(StrEnum):
    accepted = "accepted"
    duplicate = "duplicate"
    ping = "ping"  # a handshake: answered 2xx, nothing stored


@dataclass(frozen=True)
class WebhookReceipt:
    status: Acknowledgement
    inbox_key: str | None = None


@dataclass(frozen=True)
class WebhookRequest:
    channel: str
    body: bytes
    headers: dict[str, str]  # lower-case names


def _channel(name: str) -> Channel:
    try:
        channel = Channel(name)
    except ValueError:
        raise NotFound(f"unknown channel '{name}'") from None
    if channel not in ENABLED_CHANNELS:
        raise NotFound(f"channel '{name}' posts orders to POST /orders; it has no webhook endpoint")
    return channel


def _sha256(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _json(body: bytes) -> dict:
    try:
        doc = json.loads(bodies.check(body))  # checked first: json recurses (RecursionError) on deep nesting
    except (ValueError, BadRequest):
        return {}
    return doc if isinstance(doc, dict) else {}


def _key(prefix: str, *parts: object) -> str | None:
    """A key from the channel's own fields, or None when one is missing (the body's hash then)."""
    if any(part is None or part == "" or isinstance(part, dict | list) for part in parts):
        return None
    return prefix + ":" + ":".join(str(part) for part in parts)


def dedupe_key(channel: Channel, body: bytes, headers: dict[str, str]) -> str:
    """The channel's own delivery key (see CHANNELS.md), else the body's hash."""
    if channel is Channel.shopify:
        event_id = headers.get("x-shopify-event-id") or headers.get("x-shopify-webhook-id")
        return f"event:{event_id}" if event_id else _sha256(body)
    doc = _json(body)
    data = doc.get("data") if isinstance(doc.get("data"), dict) else {}
    key: str | None = None
    if channel is Channel.woocommerce:
        # WooCommerce repeats near-identical updates; (id, modified, status) is the change.
        key = _key("order", doc.get("id"), doc.get("date_modified_gmt"), doc.get("status"))
    elif channel is Channel.shopee:
        # Live pushes carry msg_id; without it, what the push says about which order identifies it.
        key = _key("msg", doc.get("msg_id")) or _key(
            "push", doc.get("code"), doc.get("shop_id"), data.get("ordersn"), data.get("status"),
            data.get("update_time"),
        )  # fmt: skip
    elif channel is Channel.tiktok:
        key = _key("notification", doc.get("tts_notification_id"))
    elif channel is Channel.lazada:
        # One push per order line; Lazada's retries resend the status current at retry time.
        status = data.get("order_status") or data.get("reverse_status")
        line = data.get("reverse_order_line_id") if doc.get("message_type") == 10 else data.get("trade_order_line_id")
        key = _key(f"type{doc.get('message_type')}", line, status, data.get("status_update_time"))
    elif channel is Channel.tokopedia:
        key = _key("order", doc.get("order_id"), doc.get("order_status"))
    return key or _sha256(body)


# Where each marketplace says what kind of push it is.
_KIND_FIELD = {Channel.shopee: "code", Channel.tiktok: "type", Channel.lazada: "message_type"}


def _topic(channel: Channel, headers: dict[str, str], body: bytes) -> str | None:
    if channel is Channel.shopify:
        return headers.get("x-shopify-topic")
    if channel is Channel.woocommerce:
        return headers.get("x-wc-webhook-topic")
    doc = _json(body)
    if channel is Channel.tokopedia:
        return "order_notification" if "products" in doc else "order_status"
    name = _KIND_FIELD.get(channel)
    return _key(name, doc.get(name)) if name else None


def _is_handshake(channel: Channel, body: bytes) -> bool:
    """Shopee's verification push when a callback URL is saved (code 0, data.verify_info)."""
    if channel is not Channel.shopee:
        return False
    doc = _json(body)
    return doc.get("code") == 0 and isinstance(doc.get("data"), dict) and "verify_info" in doc["data"]


def _check_age(channel: Channel, headers: dict[str, str], now: datetime, max_age: timedelta) -> None:
    if channel is not Channel.shopify or "x-shopify-triggered-at" not in headers:
        return
    try:
        triggered = datetime.fromisoformat(headers["x-shopify-triggered-at"].replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest("X-Shopify-Triggered-At is not an ISO 8601 time") from None
    if triggered.tzinfo is not None and now - triggered > max_age:
        raise BadRequest(f"stale webhook: triggered at {triggered.isoformat()}, older than {max_age}")


def inbox_entry(channel: Channel, body: bytes, headers: dict[str, str], now: datetime) -> InboxEntry:
    """A verified delivery as the inbox keeps it (also used for pushes recovered from a channel's API)."""
    return InboxEntry(
        channel=channel,
        dedupe_key=dedupe_key(channel, body, headers),
        topic=_topic(channel, headers, body),
        received_at=now,
        content_type=headers.get("content-type"),
        headers={name: headers[name] for name in _KEPT_HEADERS.get(channel, ()) if name in headers},
        body=body,
    )


class WebhookReceiver:
    def __init__(
        self,
        inbox: InboxRepository,
        secrets: SecretsProvider,
        *,
        max_body_bytes: int,
        max_age: timedelta,
    ) -> None:
        self.inbox = inbox
        self.secrets = secrets
        self.max_body_bytes = max_body_bytes
        self.max_age = max_age

    def receive(self, request: WebhookRequest, now: datetime) -> WebhookReceipt:
        channel = _channel(request.channel)
        if len(request.body) > self.max_body_bytes:
            raise PayloadTooLarge(f"body is {len(request.body)} bytes; the limit is {self.max_body_bytes}")
        scheme = SCHEMES[channel.value]
        presented = request.headers.get(scheme.header)
        if channel is Channel.woocommerce and not presented and _WOO_PING.match(request.body.strip()):
            return WebhookReceipt(Acknowledgement.ping)
        if not presented:
            raise InvalidSignature(f"missing {scheme.header} header")
        secret = self.secrets.channel_secret(channel.value, scheme.secret_name)
        context = {name: self.secrets.channel_secret(channel.value, name) for name in scheme.context}
        if not secret or not all(context.values()):
            # Our misconfiguration, not the sender's: a 5xx makes the channel retry later.
            missing = [name for name, value in (("secret", secret), *context.items()) if not value]
            raise DependencyError(f"{channel.value} is not configured: {', '.join(missing)}")
        if not scheme.verify(secret, request.body, presented, context):  # type: ignore[arg-type]
            raise InvalidSignature(f"{scheme.header} does not match the body")
        # Signed, yet not UTF-8 or nested too deep: the normalizer could not read it; 400, not stored.
        bodies.check(request.body)
        if _is_handshake(channel, request.body):
            return WebhookReceipt(Acknowledgement.ping)
        _check_age(channel, request.headers, now, self.max_age)
        entry = inbox_entry(channel, request.body, request.headers, now)
        stored = self.inbox.put_new(entry)
        return WebhookReceipt(Acknowledgement.accepted if stored else Acknowledgement.duplicate, entry.pk)
