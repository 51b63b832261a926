"""Order capture: turn a channel's draft into the canonical order, once.

One order per (channel, channel order id): the id is derived from that pair,
so every re-send lands on the same item. A newer channel update is applied, a
stale one ignored, and equal updates converge whatever order they arrive in.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from oms.errors import Conflict, StaleWrite
from oms.models.order import (
    CHANNEL_FLAGS,
    PAYABLE,
    PICKUP_METHODS,
    SERVICE_LEVEL_PRIORITY,
    SOURCING_HOLDS,
    STATE_RANK,
    ChannelState,
    Flag,
    FlagCode,
    Hold,
    HoldCode,
    Order,
    OrderDraft,
    OrderStatus,
    PaymentStatus,
)
from oms.ports import CatalogRepository, OrderNumberAllocator, OrderRepository

# States ingestion decides; once a later function owns the order, a channel
# update changes its content but not its state.
INGESTION_STATES = frozenset({OrderStatus.on_hold, OrderStatus.received})


class Outcome(StrEnum):
    created = "created"
    updated = "updated"
    duplicate = "duplicate"  # same content again
    stale = "stale"  # older than what is stored


@dataclass(frozen=True)
class CaptureResult:
    order: Order
    outcome: Outcome


def order_id_for(channel: str, channel_order_id: str) -> str:
    digest = hashlib.sha256(f"{channel}:{channel_order_id}".encode()).digest()
    return "ord_" + base64.b32encode(digest).decode().lower()[:26]


def content_hash(draft: OrderDraft) -> str:
    # The shop is where the order came from, not what it says: the same content from a pull that does not
    # name the shop is the same order (and orders stored before shops were kept keep their hash).
    canonical = json.dumps(draft.model_dump(mode="json", exclude={"shop_id"}), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def evaluate_holds(draft: OrderDraft, known_skus: set[str]) -> list[Hold]:
    """Why the order cannot go to fulfillment yet; empty when it can."""
    holds: list[Hold] = []
    unknown = sorted({line.sku or f"(line {line.line_id} has no SKU)" for line in draft.lines} - known_skus)
    if unknown:
        holds.append(Hold(code=HoldCode.unknown_sku, message="unknown SKU: " + ", ".join(unknown)))
    if not draft.payment.cod and draft.payment.status not in PAYABLE:
        holds.append(Hold(code=HoldCode.unpaid, message=f"payment is {draft.payment.status.value} and not COD"))
    if draft.delivery_method in PICKUP_METHODS:
        if not draft.pickup_node_id:
            holds.append(Hold(code=HoldCode.no_pickup_store, message="pickup order names no store"))
    elif draft.shipping_address is None:
        holds.append(Hold(code=HoldCode.incomplete_address, message="no shipping address"))
    else:
        missing = draft.shipping_address.missing_for_delivery()
        if missing:
            holds.append(Hold(code=HoldCode.incomplete_address, message="address lacks " + ", ".join(missing)))
    return holds


def _status(draft: OrderDraft, holds: list[Hold]) -> OrderStatus:
    if draft.cancelled:
        return OrderStatus.cancelled
    return OrderStatus.on_hold if holds else OrderStatus.received


def _priority(draft: OrderDraft) -> int:
    return SERVICE_LEVEL_PRIORITY[draft.service_level]


# What a marketplace state asks a person to do (in the channel's seller center, for now).
_STATE_FLAGS = {
    ChannelState.unknown: (FlagCode.channel_status_unknown, "the channel sent status '{raw}', which no mapping knows"),
    ChannelState.cancel_requested: (FlagCode.cancel_requested, "the buyer asked the channel to cancel ('{raw}')"),
    ChannelState.return_requested: (FlagCode.return_requested, "the buyer asked the channel for a return ('{raw}')"),
}


def channel_flags(draft: OrderDraft, had: list[Flag], now: datetime) -> list[Flag]:
    """The order's flags after the channel's word: the watchers' flags stay, the channel's follow its state."""
    kept = [flag for flag in had if flag.code not in CHANNEL_FLAGS]
    wanted = _STATE_FLAGS.get(draft.channel_state) if draft.channel_state else None
    if wanted is None or draft.cancelled:
        return kept
    code, message = wanted
    previous = next((flag for flag in had if flag.code is code), None)
    since = previous.since if previous else now
    return [*kept, Flag(code=code, since=since, message=message.format(raw=(draft.channel_status or "")[:100]))]


def build_order(draft: OrderDraft, *, order_number: str, known_skus: set[str], now: datetime) -> Order:
    holds = evaluate_holds(draft, known_skus)
    return Order(
        **draft.model_dump(),
        order_id=order_id_for(draft.channel, draft.channel_order_id),
        order_number=order_number,
        status=_status(draft, holds),
        holds=holds,
        priority=_priority(draft),
        created_at=now,
        updated_at=now,
        version=1,
        content_hash=content_hash(draft),
        changed_by=f"channel:{draft.channel.value}",
        flags=channel_flags(draft, [], now),
    )


# How far along the payment is: at the same channel time the further one wins,
# so a pending update arriving after its paid update cannot move it back.
PAYMENT_PROGRESS = {
    PaymentStatus.pending: 0,
    PaymentStatus.failed: 0,
    PaymentStatus.voided: 1,
    PaymentStatus.authorized: 1,
    PaymentStatus.paid: 2,
    PaymentStatus.partially_refunded: 3,
    PaymentStatus.refunded: 4,
}


def _precedence(draft: OrderDraft, digest: str) -> tuple:
    # Later channel time wins (channels stamp whole seconds); at the same time a
    # cancellation wins, then the further marketplace state, then the further
    # payment, then the larger hash, so equal-time updates converge in any arrival order.
    rank = STATE_RANK[draft.channel_state] if draft.channel_state else 0
    return (draft.channel_updated_at, draft.cancelled, rank, PAYMENT_PROGRESS[draft.payment.status], digest)


def merge(
    existing: Order, draft: OrderDraft, *, known_skus: set[str], now: datetime, strict: bool = False
) -> Order | Outcome:
    """The order after applying a newer draft, or why nothing changes.

    strict (the own channels, which post rather than push): other content at the
    same channel time is a conflict to report, not a tie to break.
    """
    digest = content_hash(draft)
    if digest == existing.content_hash:
        return Outcome.duplicate
    if strict and draft.channel_updated_at == existing.channel_updated_at:
        raise Conflict(
            f"{draft.channel.value} order {draft.channel_order_id} was captured with other content; "
            "send a later channel_updated_at to change it"
        )
    if _precedence(draft, digest) <= _precedence(existing, existing.content_hash):
        return Outcome.stale
    holds = evaluate_holds(draft, known_skus)
    if not _changes_what_sourcing_planned(existing, draft):
        # A sourcing hold waits for a person (or a change of address, store or lines), not for any update.
        holds += [hold for hold in existing.holds if hold.code in SOURCING_HOLDS]
    status = existing.status
    # A channel may cancel at any time, and may reinstate an order it cancelled itself.
    reinstated = existing.status is OrderStatus.cancelled and existing.cancelled and not draft.cancelled
    if existing.status in INGESTION_STATES or draft.cancelled or reinstated:
        status = _status(draft, holds)
    return Order(
        **draft.model_dump(exclude={"shop_id"}),
        shop_id=draft.shop_id or existing.shop_id,  # a pull that does not name the shop keeps the one known
        order_id=existing.order_id,
        order_number=existing.order_number,
        status=status,
        holds=holds,
        priority=_priority(draft),
        created_at=existing.created_at,
        updated_at=now,
        version=existing.version + 1,
        content_hash=digest,
        # Sourcing's part is the OMS's own, not the channel's.
        fulfillments=existing.fulfillments,
        unfilled=existing.unfilled,
        sourcing_round=existing.sourcing_round,
        excluded_nodes=existing.excluded_nodes,
        flags=channel_flags(draft, existing.flags, now),
        returns=existing.returns,
        changed_by=f"channel:{draft.channel.value}",
    )


def _changes_what_sourcing_planned(existing: Order, draft: OrderDraft) -> bool:
    def planned_from(order: OrderDraft) -> tuple:
        lines = sorted((line.line_id, line.sku, line.quantity) for line in order.lines)
        return order.delivery_method, order.pickup_node_id, order.shipping_address, lines

    return planned_from(existing) != planned_from(draft)


def format_order_number(prefix: str, number: int) -> str:
    return f"{prefix}-{number:07d}"


class CaptureService:
    """Stores a draft as the one canonical order, however often it arrives."""

    MAX_ATTEMPTS = 5

    def __init__(
        self,
        orders: OrderRepository,
        catalog: CatalogRepository,
        numbers: OrderNumberAllocator,
        *,
        number_prefix: str = "OMS",
    ) -> None:
        self.orders = orders
        self.catalog = catalog
        self.numbers = numbers
        self.number_prefix = number_prefix

    def capture(
        self, draft: OrderDraft, now: datetime, *, likely_new: bool = False, strict: bool = False
    ) -> CaptureResult:
        """likely_new (a create topic) tries the insert first and skips a read;
        a failed conditional insert costs write units, so updates read first.
        strict: see merge."""
        known = self.catalog.known_skus({line.sku for line in draft.lines if line.sku})
        order_id = order_id_for(draft.channel, draft.channel_order_id)
        existing = None if likely_new else self.orders.get(order_id)
        for _ in range(self.MAX_ATTEMPTS):
            if existing is None:
                number = self.numbers.take()
                order = build_order(
                    draft,
                    order_number=format_order_number(self.number_prefix, number),
                    known_skus=known,
                    now=now,
                )
                existing = self.orders.insert(order)
                if existing is None:
                    return CaptureResult(order, Outcome.created)
                self.numbers.give_back(number)
                continue
            merged = merge(existing, draft, known_skus=known, now=now, strict=strict)
            if isinstance(merged, Outcome):
                return CaptureResult(existing, merged)
            try:
                self.orders.replace(merged, expected_version=existing.version)
            except StaleWrite:
                existing = self.orders.get(order_id)
                continue
            return CaptureResult(merged, Outcome.updated)
        raise StaleWrite(f"order {order_id} kept changing under {self.MAX_ATTEMPTS} attempts")
