"""Receiving a webhook: verify over the raw bytes, store, then acknowledge.

Nothing here parses more of the body than the delivery key needs: the
answer must be fast (Lazada gives 500 ms) and the real work happens after
the store, in the normalizer.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from oms.domain.signatures import SCHEMES
from oms.errors import BadRequest, DependencyError, InvalidSignature, NotFound, PayloadTooLarge
from oms.models.inbox import InboxEntry
from oms.models.order import Channel
from oms.ports import InboxRepository, SecretsProvider

# Channels whose payloads the normalizer understands; the others arrive with issue 7.
ENABLED_CHANNELS = frozenset({Channel.shopify, Channel.woocommerce})

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


class Acknowledgement(StrEnum):
    accepted = "accepted"
    duplicate = "duplicate"
    ping = "ping"


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
        raise NotFound(f"channel '{name}' has no webhook endpoint yet; enabled: shopify, woocommerce")
    return channel


def _sha256(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def dedupe_key(channel: Channel, body: bytes, headers: dict[str, str]) -> str:
    """The channel's own delivery key (see CHANNELS.md), else the body's hash."""
    if channel is Channel.shopify:
        event_id = headers.get("x-shopify-event-id") or headers.get("x-shopify-webhook-id")
        return f"event:{event_id}" if event_id else _sha256(body)
    if channel is Channel.woocommerce:
        # WooCommerce repeats near-identical updates; (id, modified, status) is the change.
        try:
            doc = json.loads(body)
            return f"order:{doc['id']}:{doc['date_modified_gmt']}:{doc['status']}"
        except (ValueError, KeyError, TypeError):
            return _sha256(body)  # stored anyway; the normalizer quarantines it
    return _sha256(body)


def _topic(channel: Channel, headers: dict[str, str]) -> str | None:
    if channel is Channel.shopify:
        return headers.get("x-shopify-topic")
    if channel is Channel.woocommerce:
        return headers.get("x-wc-webhook-topic")
    return None


def _check_age(channel: Channel, headers: dict[str, str], now: datetime, max_age: timedelta) -> None:
    if channel is not Channel.shopify or "x-shopify-triggered-at" not in headers:
        return
    try:
        triggered = datetime.fromisoformat(headers["x-shopify-triggered-at"].replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest("X-Shopify-Triggered-At is not an ISO 8601 time") from None
    if triggered.tzinfo is not None and now - triggered > max_age:
        raise BadRequest(f"stale webhook: triggered at {triggered.isoformat()}, older than {max_age}")


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
        if not secret:
            # Our misconfiguration, not the sender's: a 5xx makes the channel retry later.
            raise DependencyError(f"no {channel.value} secret is configured")
        if not scheme.verify(secret, request.body, presented, {}):
            raise InvalidSignature(f"{scheme.header} does not match the body")
        _check_age(channel, request.headers, now, self.max_age)
        entry = InboxEntry(
            channel=channel,
            dedupe_key=dedupe_key(channel, request.body, request.headers),
            topic=_topic(channel, request.headers),
            received_at=now,
            content_type=request.headers.get("content-type"),
            headers={name: request.headers[name] for name in _KEPT_HEADERS[channel] if name in request.headers},
            body=request.body,
        )
        stored = self.inbox.put_new(entry)
        return WebhookReceipt(Acknowledgement.accepted if stored else Acknowledgement.duplicate, entry.pk)
