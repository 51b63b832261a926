"""The order lifecycle as an explicit state machine: a parcel's (fulfillment's) states, which moves
are allowed, and the order's status derived from its parcels.

Statuses have ranks. A report of a later status moves the parcel on (nodes and carriers skip steps:
packed without picked, delivered without out for delivery); a report of an earlier status, or the
same one again, changes nothing (late and repeated reports are normal); a move out of an ended
branch (rejected, cancelled, returned) or into cancelled after hand-over is refused. Two statuses
of equal rank (out for delivery, failed attempt) follow each other by the time they happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from oms.models.order import (
    Fulfillment,
    FulfillmentStatus,
    OrderStatus,
    ShortageAction,
    TrackingScan,
    UnfilledLine,
)

S = FulfillmentStatus

# Reserved at the node, not yet handed over: may be rejected, cancelled, delayed, re-promised.
AT_NODE = frozenset({S.requested, S.accepted, S.picked, S.packed})
HANDED_OVER = frozenset({S.shipped, S.in_transit, S.out_for_delivery, S.failed_attempt, S.delivered})
ENDED = frozenset({S.rejected, S.cancelled})  # its lines are no longer this parcel's
# Still with the retailer (at the node, or waiting at the store's counter): may be cancelled.
CANCELLABLE = AT_NODE | {S.ready_for_pickup}
FINAL = frozenset({S.delivered, S.picked_up, S.returned_to_sender, S.rejected, S.cancelled})
# A parcel that holds its lines: everything but rejected and cancelled.
LIVE = frozenset(set(S) - ENDED)

RANK = {
    S.requested: 0,
    S.accepted: 1,
    S.picked: 2,
    S.packed: 3,
    S.shipped: 4,
    S.ready_for_pickup: 4,
    S.in_transit: 5,
    S.out_for_delivery: 6,
    S.failed_attempt: 6,
    S.delivered: 8,
    S.picked_up: 8,
    S.returned_to_sender: 9,
    S.rejected: 10,
    S.cancelled: 10,
}
# Where each status may be reached from (besides skipping forward within its own path).
PICKUP_PATH = frozenset({S.requested, S.accepted, S.picked, S.packed, S.ready_for_pickup, S.picked_up})
SHIPPED_PATH = frozenset(AT_NODE | HANDED_OVER | {S.returned_to_sender})


class Refused(Exception):
    """The move is not allowed from where the parcel is (HTTP 409)."""


@dataclass(frozen=True)
class Move:
    fulfillment: Fulfillment
    changed: bool  # False: a repeat or a late report, nothing moved
    note: str


def advance(
    fulfillment: Fulfillment,
    to: FulfillmentStatus,
    at: datetime,
    by: str,
    *,
    pickup: bool,
    raw: str | None = None,
    note: str | None = None,
    timed: bool = True,
) -> Move:
    """The parcel after a report that it reached `to` at `at`. Raises Refused when not allowed."""
    current = fulfillment.status
    path = PICKUP_PATH if pickup else SHIPPED_PATH
    if to not in path and to not in ENDED:
        kind = "a pickup" if pickup else "a shipped"
        raise Refused(f"{to.value} does not happen to {kind} parcel")
    if to is current:
        return Move(fulfillment, False, f"already {to.value}")
    returned_late = current is S.returned_to_sender and to in HANDED_OVER  # a carrier's late news: kept, 200
    if current in (S.rejected, S.cancelled, S.returned_to_sender) and not returned_late:
        raise Refused(f"fulfillment {fulfillment.fulfillment_id} is {current.value}: it cannot become {to.value}")
    if to in ENDED and current not in CANCELLABLE:
        raise Refused(f"fulfillment {fulfillment.fulfillment_id} is {current.value}: too late to be {to.value}")
    # Equal ranks follow each other by time; a report without its own time (a retried push) never moves one.
    later_than_current = timed and (fulfillment.status_at is None or at > fulfillment.status_at)
    if returned_late or RANK[to] < RANK[current] or (RANK[to] == RANK[current] and not later_than_current):
        if any(scan.status is to for scan in fulfillment.scans):
            return Move(fulfillment, False, f"{to.value} was reported before; still {current.value}")
        # Its history keeps the report; the status does not move.
        kept = _scanned(fulfillment, TrackingScan(status=to, at=at, by=by, raw=raw, note=note))
        return Move(kept, kept != fulfillment, f"{to.value} reported late; still {current.value}")
    if current in (S.delivered, S.picked_up):
        raise Refused(f"fulfillment {fulfillment.fulfillment_id} is {current.value}: it cannot become {to.value}")
    moved = _scanned(fulfillment, TrackingScan(status=to, at=at, by=by, raw=raw, note=note)).model_copy(
        update={"status": to, "status_at": at}
    )
    return Move(moved, True, f"{current.value} -> {to.value}")


MAX_SCANS = 100  # a parcel's report history kept on the order (the timeline keeps every change)


def _scanned(fulfillment: Fulfillment, scan: TrackingScan) -> Fulfillment:
    if scan in fulfillment.scans:
        return fulfillment
    scans = sorted([*fulfillment.scans, scan], key=lambda s: s.at)[-MAX_SCANS:]
    return fulfillment.model_copy(update={"scans": scans})


def order_status(fulfillments: list[Fulfillment], unfilled: list[UnfilledLine]) -> OrderStatus:
    """The order's status from its parcels and the lines still waiting for stock. While lines wait,
    the order stays in sourcing's states (its backorder sweep looks there)."""
    live = {f.status for f in fulfillments if f.status in LIVE}
    waiting = any(u.action is ShortageAction.backorder for u in unfilled)
    if waiting:
        return OrderStatus.partially_allocated if live else OrderStatus.backordered
    if not live:
        # Every line cancelled as unfillable (the channel's policy) cancels the order.
        return OrderStatus.cancelled if unfilled else OrderStatus.allocated
    for statuses, status in _PROGRESS:
        if live <= statuses:
            return status
    return OrderStatus.shipped if not live & _NOT_LEFT else OrderStatus.partially_shipped


_NOT_LEFT = AT_NODE | {S.ready_for_pickup}
# The first set that holds every live parcel's status names the order's status.
_PROGRESS = (
    (frozenset({S.returned_to_sender}), OrderStatus.returned_to_sender),
    (frozenset({S.delivered, S.picked_up, S.returned_to_sender}), OrderStatus.delivered),  # returns show per parcel
    (frozenset({S.ready_for_pickup}), OrderStatus.ready_for_pickup),
    (_NOT_LEFT, OrderStatus.allocated),
)
