"""Receiving a webhook: verify over the raw bytes, store, then acknowledge.

What is channel-specific (signature, delivery key, topic, handshakes) is the channel's
oms.channels.<name>.webhook, found through the registry. Nothing here parses more of the body
than the delivery key needs: the answer must be fast (Lazada gives 500 ms) and the real work
happens after the store, in the normalizer (and, for the marketplaces' thin pushes, in the
channel fetcher that asks the channel's API for the order).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from oms import bodies
from oms.channels import registry
from oms.channels.registry import spec
from oms.errors import DependencyError, InvalidSignature, NotFound, PayloadTooLarge
from oms.models.inbox import InboxEntry
from oms.models.order import Channel
from oms.ports import InboxRepository, SecretsProvider


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
    carrier = registry.spec(channel).transport
    if carrier is not None:  # Tokopedia: its storefront's pushes come from the TikTok Shop app
        raise NotFound(f"'{name}' pushes come through {carrier.value}'s webhook: POST /webhooks/{carrier.value}")
    if channel not in registry.WEBHOOK_CHANNELS:  # the own channels post to POST /orders instead
        raise NotFound(f"channel '{name}' posts orders to POST /orders; it has no webhook endpoint")
    return channel


def _sha256(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def dedupe_key(channel: Channel, body: bytes, headers: dict[str, str]) -> str:
    """The channel's own delivery key (see CHANNELS.md), else the body's hash."""
    return spec(channel).delivery().dedupe_key(body, headers) or _sha256(body)


def inbox_entry(channel: Channel, body: bytes, headers: dict[str, str], now: datetime) -> InboxEntry:
    """A verified delivery as the inbox keeps it (also used for pushes recovered from a channel's API)."""
    delivery = spec(channel).delivery()
    return InboxEntry(
        channel=channel,
        dedupe_key=dedupe_key(channel, body, headers),
        topic=delivery.topic(body, headers),
        received_at=now,
        content_type=headers.get("content-type"),
        headers={name: headers[name] for name in delivery.kept_headers if name in headers},
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
        delivery = spec(channel).delivery()
        scheme = delivery.scheme
        presented = request.headers.get(scheme.header)
        if not presented and delivery.unsigned_ping(request.body):
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
        if delivery.handshake(request.body):
            return WebhookReceipt(Acknowledgement.ping)
        delivery.check_age(request.headers, now, self.max_age)
        entry = inbox_entry(channel, request.body, request.headers, now)
        stored = self.inbox.put_new(entry)
        return WebhookReceipt(Acknowledgement.accepted if stored else Acknowledgement.duplicate, entry.pk)
