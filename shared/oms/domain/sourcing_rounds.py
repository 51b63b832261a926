"""Sourcing an order: one round plans the lines still to place, reserves what the plan takes and
records the allocation.

    order (received, backordered, partially allocated)
      -> plan at the lowest stated cost (oms.domain.sourcing_planning), from a consistent stock read
      -> channel policy: partial shipment or not, backorder or cancel what is short
      -> one transaction: every node's reservation and the node capacity it takes
      -> the trace beside the order, then the order with its fulfillments (update_order)

Stock that moved between the read and the write cancels the transaction; the order is planned
again from a fresh read (REPLAN_ATTEMPTS times, then the message is retried by its queue).
Fulfillment and reservation ids come from the order's stored state, so a retried message
reserves nothing twice, and a round reserved by a run that died is adopted, not reserved again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from oms.domain.aggregate import update_order
from oms.domain.lifecycle import LIVE, order_status
from oms.domain.planner import NeedLine
from oms.domain.sourcing_parcels import (
    SOURCING,
    Decision,
    adopted_parcels,
    capacity_takes,
    lines_to_place,
    new_parcels,
    planned_costs,
    same_waiting,
    too_large,
    trace_record,
    unfilled_lines,
    with_round,
)
from oms.domain.sourcing_planning import SourcingPlanner
from oms.domain.stock import CapacityFull, InsufficientStock, InventoryService
from oms.errors import Conflict, NotFound, OmsError, StaleWrite
from oms.models.inventory import Reservation, ReservationStatus
from oms.models.order import (
    Fulfillment,
    FulfillmentStatus,
    Hold,
    HoldCode,
    Order,
    OrderStatus,
    ShortageAction,
    UnfilledLine,
)
from oms.models.sourcing import Plan, PlanOutcome, SourcingRules
from oms.ports import OrderRepository

REPLAN_ATTEMPTS = 4  # stock moved under the plan: plan again from a fresh read, this often
RECORD_ATTEMPTS = 5  # the order changed under the write (a channel update): merge and write again
SOURCED_STATES = frozenset({OrderStatus.received, OrderStatus.backordered, OrderStatus.partially_allocated})


@dataclass(frozen=True)
class SourcingResult:
    order_id: str
    outcome: str  # allocated, partially_allocated, backordered, cancelled, on_hold, repromised, unchanged
    detail: str | None = None


class Gone(NotFound):
    """The order itself is not there (told apart from a NotFound met while deciding)."""


def kept_changing(doing: str) -> Callable[[str], OmsError]:
    """What running out of attempts at writing the order means while doing this (a retryable conflict)."""
    return lambda order_id: Conflict(f"order {order_id} kept changing while {doing}", details={"retryable": True})


class SourcingRounds:
    def __init__(
        self,
        orders: OrderRepository,
        inventory: InventoryService,
        planner: SourcingPlanner,
        clock: Callable[[], datetime],
    ) -> None:
        self.orders = orders
        self.inventory = inventory
        self.planner = planner
        self.clock = clock

    def source(self, order_id: str) -> SourcingResult:  # noqa: PLR0912 (one round, read top to bottom)
        """Plan, reserve and record one round for the order. Safe to repeat, and to run twice at once:
        a round's reservations have ids from the order's stored state, so a second run finds them."""
        # Not update_order: this loop re-plans when the stock moved under the reservation (refused
        # transaction, capacity full, a retryable conflict), not when the order's version moved.
        # The order itself is written in _record, through update_order.
        for _ in range(REPLAN_ATTEMPTS):
            now = self.clock()
            order = self.orders.get(order_id, consistent=True)
            if order is None:
                return SourcingResult(order_id, "unchanged", "no such order")
            if order.status not in SOURCED_STATES:
                return SourcingResult(order_id, "unchanged", f"order is {order.status.value}")
            todo = lines_to_place(order)
            if not todo:
                return self._settle(order, now)
            first_free, leftover = self._leftovers(order, now)
            if leftover:
                # An earlier run reserved this round and died before recording it: record what it reserved.
                adopted, waiting = self._adopt(order, leftover, todo, now)
                if not waiting:
                    return adopted
                continue  # the rest of the lines: a round of their own
            rules = self.planner.rules()
            excluded = {node_id: "rejected this order before" for node_id in order.excluded_nodes}
            request = self.planner.input_for(order, todo)
            result, positions = self.planner.plan(request, rules, now, consistent=True, excluded=excluded)
            decision = decide(order, todo, result, rules)
            if not decision.shipments and decision.hold is None and same_waiting(order, decision):
                return SourcingResult(order_id, "unchanged", "still short")  # no new round, no churn
            round_ = order.sourcing_round + 1
            nodes = self.planner.nodes()
            try:
                promise = partial(self.planner.promise, order, now=now)
                fulfillments, reservations = new_parcels(
                    order, decision.shipments, positions, nodes, (first_free, round_), now, promise
                )
                if reservations:
                    refused = too_large(reservations, decision.shipments)
                    if refused:
                        decision = Decision([], [], Hold(code=HoldCode.too_large, message=refused))
                        fulfillments, reservations = [], []
                    else:
                        takes = capacity_takes(decision.shipments, order, nodes, now)
                        _, created = self.inventory.reserve_all(reservations, now, takes)
                        if not created:
                            continue  # another run reserved this round first: adopt or re-plan on the next pass
            except (InsufficientStock, CapacityFull):
                continue  # stock or capacity moved under the plan: plan again from a fresh read
            except Conflict as exc:
                if isinstance(exc.details, dict) and exc.details.get("retryable"):
                    continue
                raise
            record = trace_record(result, positions, todo, sorted(excluded))
            self.orders.put_trace(order_id, round_, now, result.outcome.value, record)
            return self._record(order, round_, fulfillments, decision, now)
        raise Conflict(
            f"order {order_id}: stock kept moving under {REPLAN_ATTEMPTS} plans", details={"retryable": True}
        )

    def backordered_with_stock(self, order: Order) -> bool:
        """Cheap check for the sweep: does any waiting line's SKU have stock anywhere now?"""
        skus = sorted({u.sku for u in order.unfilled if u.action is ShortageAction.backorder})
        if not skus:
            return False
        return any(position.atp > 0 for position in self.inventory.positions(skus).values())

    def _leftovers(self, order: Order, now: datetime) -> tuple[int, list[Reservation]]:
        """Reservations made for the order's next fulfillment numbers but not recorded on it (a run
        that died, or one running beside this). Active ones are returned to be adopted; released ones
        (a round given back) only move the numbering on. Returns (first free number, active ones)."""
        number = len(order.fulfillments)
        found: list[Reservation] = []
        while True:
            reservation = self.inventory.find(f"RES-{order.order_id}-F{number + 1}")
            if reservation is None or reservation.order_id != order.order_id:
                break
            found.append(reservation)
            number += 1
        active = [r for r in found if r.status is ReservationStatus.active]
        if active and len(active) < len(found):
            # Half given back (a release that died midway): give back the rest, adopt nothing.
            for reservation in active:
                self.inventory.release(reservation.reservation_id, now, reason="incomplete round given back")
            active = []
        return number + 1, active

    def _adopt(
        self, order: Order, reservations: list[Reservation], todo: list[NeedLine], now: datetime
    ) -> tuple[SourcingResult, int]:
        """Record reservations an earlier run made; what they do not hold waits for the next round."""
        round_ = order.sourcing_round + 1
        costs = planned_costs(self.orders.traces(order.order_id), round_)
        fulfillments = adopted_parcels(order, reservations, costs, round_)
        held: dict[str, int] = {}
        for fulfillment in fulfillments:
            for line in fulfillment.lines:
                held[line.line_id] = held.get(line.line_id, 0) + line.quantity
        waiting = [
            NeedLine(x.line_id, x.sku, x.quantity - held.get(x.line_id, 0))
            for x in todo
            if x.quantity > held.get(x.line_id, 0)
        ]
        decision = Decision([], unfilled_lines(waiting, ShortageAction.backorder, "not placed yet"), None)
        return self._record(order, round_, fulfillments, decision, now), len(waiting)

    def _settle(self, order: Order, now: datetime) -> SourcingResult:
        """Nothing left to place. A received order whose fulfillments are all still active (a
        cancellation taken back before its release ran) is allocated again, as it was."""
        active = [f for f in order.fulfillments if f.status in LIVE]
        if order.status is not OrderStatus.received or not active:
            return SourcingResult(order.order_id, "unchanged", "nothing to source")
        status = order_status(order.fulfillments, order.unfilled)
        # One attempt, not update_order: `source` decided "nothing left to place" from this version;
        # a newer one must be decided by `source` again (its next delivery), not merely re-settled.
        try:
            self.orders.replace(
                order.model_copy(
                    update={"status": status, "updated_at": now, "version": order.version + 1, "changed_by": SOURCING}
                ),
                expected_version=order.version,
            )
        except StaleWrite:
            return SourcingResult(order.order_id, "unchanged", "order changed meanwhile")
        return SourcingResult(order.order_id, status.value, "its reservations were still held")

    def _record(
        self, order: Order, round_: int, fulfillments: list[Fulfillment], decision: Decision, now: datetime
    ) -> SourcingResult:
        """Write the round onto the order; a channel update in between is merged, a cancellation
        in between releases what this round reserved."""
        order_id = order.order_id
        voided = False  # the winning attempt recorded the round's parcels as cancelled

        def recorded(base: Order) -> Order:
            nonlocal voided
            voided = False
            if base.sourcing_round >= round_:
                return base
            if base.status is OrderStatus.cancelled or base.status not in SOURCED_STATES:
                self.release(fulfillments, now, f"order became {base.status.value} while sourcing")
                return base
            cancelled = {u.line_id for u in base.unfilled if u.action is ShortageAction.cancel}
            if cancelled & {line.line_id for f in fulfillments for line in f.lines}:
                # Lines were cancelled meanwhile and this round placed them: give it back, record its parcels as
                # cancelled (their ids stay used) and source what is left in a new round.
                self.release(fulfillments, now, "lines cancelled while sourcing")
                gone = {"status": FulfillmentStatus.cancelled, "status_at": now, "reason": "lines cancelled meanwhile"}
                void = [f.model_copy(update=gone) for f in fulfillments]
                update = {"fulfillments": [*base.fulfillments, *void], "sourcing_round": round_, "updated_at": now,
                          "version": base.version + 1, "changed_by": SOURCING}  # fmt: skip
                voided = True
                return base.model_copy(update=update)
            return with_round(base, round_, fulfillments, decision, now)

        done = update_order(
            self.orders, order_id, recorded, current=order, read=self.fresh, attempts=RECORD_ATTEMPTS,
            exhausted=kept_changing("recording its allocation"),
        )  # fmt: skip
        if not done.written:
            if done.before.sourcing_round >= round_:
                return SourcingResult(order_id, "unchanged", "this round was recorded by another delivery")
            return SourcingResult(order_id, "unchanged", f"order became {done.before.status.value}")
        if voided:
            return self.source(order_id)
        return SourcingResult(order_id, done.after.status.value, decision.hold.message if decision.hold else None)

    # ------------------------------------------------------------ shared with the reactions

    def fresh(self, order_id: str) -> Order:
        """A consistent read of the order, for a write's next attempt."""
        order = self.orders.get(order_id, consistent=True)
        if order is None:
            raise Gone(f"order {order_id} disappeared")
        return order

    def release(self, fulfillments: list[Fulfillment], now: datetime, reason: str) -> set[str]:
        """Release each parcel's reservation; the parcels whose stock had been consumed (they left)."""
        consumed = set()
        for fulfillment in fulfillments:
            try:
                released = self.inventory.release(fulfillment.reservation_id, now, reason=reason)
            except NotFound:
                continue  # never reserved
            if released.status is ReservationStatus.consumed or released.consumed_lines:
                consumed.add(fulfillment.fulfillment_id)
        return consumed


def decide(order: Order, todo: list[NeedLine], result: Plan, rules: SourcingRules) -> Decision:
    """What the plan means for the order under its channel's policy: parcels, waiting lines or a hold."""
    policy = rules.for_channel(order.channel)
    placed_before = any(f.status in LIVE for f in order.fulfillments)
    if placed_before and result.outcome in (PlanOutcome.unroutable, PlanOutcome.pickup_unavailable):
        # Part of the order is on its way: the rest waits with the reason rather than holding it all.
        return Decision([], unfilled_lines(todo, ShortageAction.backorder, result.reason or ""), None)
    if result.outcome is PlanOutcome.unroutable:
        return Decision([], [], Hold(code=HoldCode.unroutable, message=f"sourcing: {result.reason}"))
    if result.outcome is PlanOutcome.pickup_unavailable:
        offer = ", ".join(result.alternatives) or "none"
        message = f"sourcing: {result.reason}; stores that can: {offer}"
        return Decision([], [], Hold(code=HoldCode.pickup_unavailable, message=message))
    action = policy.on_shortage
    short = [
        UnfilledLine(line_id=u.line_id, sku=u.sku, quantity=u.quantity, action=action, reason=u.reason)
        for u in result.unfilled
    ]
    if result.outcome is PlanOutcome.partial and not policy.allow_partial:
        reason = f"{order.channel.value} does not ship partially; waiting for every line"
        return Decision([], unfilled_lines(todo, action, reason), None)
    return Decision(result.shipments, short, None)
