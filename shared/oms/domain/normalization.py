"""From a stored webhook to an order draft (or, for the marketplaces' thin pushes, to the orders to
fetch from the channel's API), by channel and topic."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from oms.channels.marketplace import ChannelNotice
from oms.errors import NormalizationError
from oms.models.inbox import InboxEntry
from oms.models.order import Channel, OrderDraft

Decrypt = Callable[[dict], dict]

# Topics that carry a whole order. Others (orders/delete carries only an id,
# orders/edited an edit object) are acknowledged, kept, and not applied.
ORDER_TOPICS = {
    Channel.shopify: {
        "orders/create",
        "orders/updated",
        "orders/paid",
        "orders/cancelled",
        "orders/fulfilled",
        "orders/partially_fulfilled",
    },
    Channel.woocommerce: {"order.created", "order.updated", "order.restored"},
}
CREATE_TOPICS = {"orders/create", "order.created"}
MARKETPLACES = frozenset({Channel.shopee, Channel.lazada, Channel.tiktok, Channel.tokopedia})


@dataclass(frozen=True)
class Normalized:
    draft: OrderDraft | None  # None: a topic we keep but do not apply, or orders to fetch
    likely_new: bool
    ignored_reason: str | None = None
    fetch: tuple[ChannelNotice, ...] = ()  # orders the push names, to fetch from the channel's API


def _normalizer(channel: Channel) -> Callable[[dict, str | None], OrderDraft]:
    # Imported lazily: a function pays only for the channels it sees.
    if channel is Channel.shopify:
        from oms.channels import shopify

        return shopify.normalize
    if channel is Channel.woocommerce:
        from oms.channels import woocommerce

        return woocommerce.normalize
    raise NormalizationError(f"no normalizer for channel '{channel.value}'")


def _notices(channel: Channel, payload: dict) -> list[ChannelNotice]:
    if channel is Channel.shopee:
        from oms.channels import shopee

        return shopee.notices(payload)
    if channel is Channel.lazada:
        from oms.channels import lazada

        return lazada.notices(payload)
    if channel is Channel.tiktok:
        from oms.channels import tiktok

        return tiktok.notices(payload)
    from oms.channels import tokopedia

    return tokopedia.notices(payload)


def _marketplace(entry: InboxEntry, payload: dict, decrypt: Decrypt | None) -> Normalized:
    if entry.topic == "fetch_request":  # a fetch the OMS gave up on, replayed: ask the channel again
        updated = payload.get("updated_at")
        notice = ChannelNotice(
            entry.channel,
            str(payload["channel_order_id"]),
            "replay",
            payload.get("shop_id"),
            updated_at=datetime.fromisoformat(updated) if updated else None,
        )
        return Normalized(None, False, fetch=(notice,))
    notices = _notices(entry.channel, payload)
    if not notices:
        return Normalized(None, False, f"{entry.channel.value} push '{entry.topic}' names no order")
    if entry.channel is Channel.tokopedia and notices[0].kind == "order":
        # Tokopedia's order notification is the whole order: nothing to fetch.
        from oms.channels import tokopedia

        return Normalized(tokopedia.normalize_notification(payload, decrypt), True)
    return Normalized(None, False, fetch=tuple(notices))


def normalize_entry(entry: InboxEntry, *, decrypt: Decrypt | None = None) -> Normalized:
    """decrypt: Tokopedia's buyer-data decryptor, when a private key is configured."""
    if entry.channel in MARKETPLACES:
        return _guarded(entry, lambda payload: _marketplace(entry, payload, decrypt))
    topics = ORDER_TOPICS.get(entry.channel, set())
    if entry.topic is not None and entry.topic not in topics:
        return Normalized(None, False, f"topic '{entry.topic}' carries no order to apply")
    normalize = _normalizer(entry.channel)
    return _guarded(entry, lambda payload: Normalized(normalize(payload, entry.topic), entry.topic in CREATE_TOPICS))


def _guarded(entry: InboxEntry, work: Callable[[dict], Normalized]) -> Normalized:
    try:
        payload = json.loads(entry.body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise NormalizationError(f"body is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise NormalizationError("body is not a JSON object")
    try:
        return work(payload)
    except NormalizationError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, ArithmeticError) as exc:
        # Valid JSON of an unexpected shape: retrying cannot fix it, so quarantine it.
        # The type only: a message may quote the payload (PII).
        raise NormalizationError(f"unexpected {entry.channel.value} payload shape ({type(exc).__name__})") from exc
