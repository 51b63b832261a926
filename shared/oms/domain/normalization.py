"""From a stored webhook to an order draft (or, for the marketplaces' thin pushes, to the orders to
fetch from the channel's API), by channel and topic. The channel's own normalizer and the topics
that carry a whole order come from its package, through the registry."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from oms.channels.marketplace import ChannelNotice
from oms.channels.registry import MARKETPLACES, spec
from oms.errors import NormalizationError
from oms.models.inbox import InboxEntry
from oms.models.order import OrderDraft


@dataclass(frozen=True)
class Normalized:
    draft: OrderDraft | None  # None: a topic we keep but do not apply, or orders to fetch
    likely_new: bool
    ignored_reason: str | None = None
    fetch: tuple[ChannelNotice, ...] = ()  # orders the push names, to fetch from the channel's API


def _marketplace(entry: InboxEntry, payload: dict) -> Normalized:
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
    channel = spec(entry.channel)
    notices = channel.notices(payload)
    if not notices:
        return Normalized(None, False, f"{entry.channel.value} push '{entry.topic}' names no order")
    return Normalized(None, False, fetch=tuple(notices))


def normalize_entry(entry: InboxEntry) -> Normalized:
    if entry.channel in MARKETPLACES:
        return _guarded(entry, lambda payload: _marketplace(entry, payload))
    channel = spec(entry.channel)
    if entry.topic is not None and entry.topic not in channel.order_topics():
        return Normalized(None, False, f"topic '{entry.topic}' carries no order to apply")
    normalize = channel.push_normalizer()
    created = entry.topic in channel.create_topics()
    return _guarded(entry, lambda payload: Normalized(normalize(payload, entry.topic), created))


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
