"""What the webhook receiver needs to know about one channel's deliveries, before anything is
stored: how they are signed, what identifies a delivery, what kind of push it is. Each channel's
``webhook.py`` fills one ``Delivery``; nothing here parses more of the body than that needs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from oms import bodies
from oms.channels.signatures import SignatureScheme
from oms.errors import BadRequest

Headers = dict[str, str]  # lower-case names


def json_body(body: bytes) -> dict:
    """The body as a JSON object, or {} for anything else (the key then falls back to the hash)."""
    try:
        doc = json.loads(bodies.check(body))  # checked first: json recurses (RecursionError) on deep nesting
    except (ValueError, BadRequest):
        return {}
    return doc if isinstance(doc, dict) else {}


def key(prefix: str, *parts: object) -> str | None:
    """A key from the channel's own fields, or None when one is missing (the body's hash then)."""
    if any(part is None or part == "" or isinstance(part, dict | list) for part in parts):
        return None
    return prefix + ":" + ":".join(str(part) for part in parts)


def _none(_body: bytes, _headers: Headers) -> str | None:
    return None


def _never(_body: bytes) -> bool:
    return False


def _any_age(_headers: Headers, _now: datetime, _max_age: timedelta) -> None:
    return None


@dataclass(frozen=True)
class Delivery:
    scheme: SignatureScheme
    # The channel's own delivery key (see CHANNELS.md); None: the body's hash is the key.
    dedupe_key: Callable[[bytes, Headers], str | None] = _none
    topic: Callable[[bytes, Headers], str | None] = _none
    kept_headers: tuple[str, ...] = ()  # delivery headers worth keeping (never the signature)
    # A handshake sent unsigned that wants a 2xx (WooCommerce's webhook_id=<n> ping).
    unsigned_ping: Callable[[bytes], bool] = _never
    # A signed handshake: answered 2xx, not stored (Shopee's verification push).
    handshake: Callable[[bytes], bool] = _never
    # Raises BadRequest for a delivery older than max_age, where the channel says when it was sent.
    check_age: Callable[[Headers, datetime, timedelta], None] = _any_age
