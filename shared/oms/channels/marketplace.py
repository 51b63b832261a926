"""What the marketplace packages (shopee, lazada, tiktok, tokopedia) share.

A marketplace push is thin: it names an order and a status, and the order
itself is fetched from the channel's API. Each marketplace package offers:

* ``notices(push) -> list[ChannelNotice]`` (normalizer.py): what a stored
  webhook body names (an empty list for a push about no order: a handshake,
  a shipping document);
* ``normalize(detail) -> OrderDraft`` (normalizer.py): the channel's order
  document, as its API client returns it, in the canonical model;
* ``STATES`` (status.py): every documented raw status mapped to one ChannelState.

Pure: no I/O, no logging; failures are NormalizationError naming the field,
never quoting customer data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from oms.errors import NormalizationError
from oms.models.order import STATE_RANK, Channel, ChannelState, PaymentStatus

__all__ = ["STATE_RANK", "ChannelNotice", "ChannelState", "from_epoch", "payment_for"]


def payment_for(state: ChannelState, cod: bool, paid: bool) -> PaymentStatus:
    """The payment a marketplace state implies (marketplaces collect the money themselves)."""
    if state is ChannelState.returned:
        return PaymentStatus.refunded
    if state in (ChannelState.unpaid, ChannelState.unknown) and not paid:
        return PaymentStatus.pending
    if state is ChannelState.cancelled and not paid:
        return PaymentStatus.voided
    return PaymentStatus.paid if (paid or not cod) else PaymentStatus.pending


@dataclass(frozen=True)
class ChannelNotice:
    """One order a push names, and what it says about it."""

    channel: Channel
    channel_order_id: str
    kind: str  # the push's type: order_status, tracking, cancellation, reverse, package, order
    shop_id: str | None = None
    status: str | None = None  # the raw status value, when the push carries one
    updated_at: datetime | None = None  # the channel's time of the change
    extra: dict[str, str] = field(default_factory=dict)  # e.g. Lazada's line id, a reverse order id


def from_epoch(value: object, field_name: str, *, millis: bool = False) -> datetime:
    """A channel's Unix time (seconds, or milliseconds) as an aware UTC datetime."""
    if isinstance(value, bool) or value is None or value == "":
        raise NormalizationError(f"missing {field_name}")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise NormalizationError(f"{field_name} is not a Unix time") from None
    if number <= 0:
        raise NormalizationError(f"{field_name} is not a Unix time")
    try:
        return datetime.fromtimestamp(number / 1000 if millis else number, UTC)
    except (OverflowError, OSError, ValueError):
        raise NormalizationError(f"{field_name} is out of range") from None
