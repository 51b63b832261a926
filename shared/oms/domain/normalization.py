"""From a stored webhook to an order draft, by channel and topic."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from oms.errors import NormalizationError
from oms.models.inbox import InboxEntry
from oms.models.order import Channel, OrderDraft

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


@dataclass(frozen=True)
class Normalized:
    draft: OrderDraft | None  # None: a topic we keep but do not apply
    likely_new: bool
    ignored_reason: str | None = None


def _normalizer(channel: Channel) -> Callable[[dict, str | None], OrderDraft]:
    # Imported lazily: a function pays only for the channels it sees.
    if channel is Channel.shopify:
        from oms.channels import shopify

        return shopify.normalize
    if channel is Channel.woocommerce:
        from oms.channels import woocommerce

        return woocommerce.normalize
    raise NormalizationError(f"no normalizer for channel '{channel.value}'")


def normalize_entry(entry: InboxEntry) -> Normalized:
    topics = ORDER_TOPICS.get(entry.channel, set())
    if entry.topic is not None and entry.topic not in topics:
        return Normalized(None, False, f"topic '{entry.topic}' carries no order to apply")
    try:
        payload = json.loads(entry.body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise NormalizationError(f"body is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise NormalizationError("body is not a JSON object")
    try:
        draft = _normalizer(entry.channel)(payload, entry.topic)
    except NormalizationError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, ArithmeticError) as exc:
        # Valid JSON of an unexpected shape: retrying cannot fix it, so quarantine it.
        # The type only: a message may quote the payload (PII).
        raise NormalizationError(f"unexpected {entry.channel.value} payload shape ({type(exc).__name__})") from exc
    return Normalized(draft, entry.topic in CREATE_TOPICS)
