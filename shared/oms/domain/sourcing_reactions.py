"""After sourcing: what the OMS does to an allocated order when something changes under it.

* the order is cancelled: every reservation it holds is given back;
* a node rejects its parcel: the reservation is released (a short pick corrects the node's stock)
  and the lines are sourced again, elsewhere; a pickup order goes on hold for staff;
* a node reports a delay: the parcel is promised again from its new hand-over;
* the address changes: open parcels are promised again, and re-sourced where no lane reaches;
* ops cleared what held the order (retry): sourcing holds go and the order is sourced again.

Each writes the order through update_order and sources again through SourcingRounds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from oms.domain.aggregate import update_order
from oms.domain.lifecycle import AT_NODE, CANCELLABLE
from oms.domain.sourcing_parcels import SOURCING, marked, parcel, rejected
from oms.domain.sourcing_planning import SourcingPlanner
from oms.domain.sourcing_rounds import (
    RECORD_ATTEMPTS,
    SOURCED_STATES,
    Gone,
    SourcingResult,
    SourcingRounds,
    kept_changing,
)
from oms.domain.stock import InventoryService
from oms.errors import BadRequest, Conflict, Forbidden, NotFound
from oms.models.inventory import AdjustmentCreate, MovementKind
from oms.models.order import (
    PICKUP_METHODS,
    SOURCING_HOLDS,
    Fulfillment,
    FulfillmentStatus,
    Order,
    OrderStatus,
    PromiseDates,
    ShortageAction,
    fulfillment_order_id,
)
from oms.ports import OrderRepository

# Where a parcel may still be rejected and its lines sourced again.
ALLOCATION_STATES = frozenset(
    {OrderStatus.allocated, OrderStatus.partially_allocated, OrderStatus.backordered, OrderStatus.partially_shipped}
)


class SourcingReactions:
    def __init__(
        self,
        orders: OrderRepository,
        inventory: InventoryService,
        planner: SourcingPlanner,
        rounds: SourcingRounds,
        clock: Callable[[], datetime],
    ) -> None:
        self.orders = orders
        self.inventory = inventory
        self.planner = planner
        self.rounds = rounds
        self.clock = clock

    def order_cancelled(self, order_id: str) -> SourcingResult:
        """The channel (or cs) cancelled the order: give back every reservation it holds."""
        released = 0

        def given_back(order: Order) -> Order:
            nonlocal released
            if order.status is not OrderStatus.cancelled:
                return order
            active = [f for f in order.fulfillments if f.status in CANCELLABLE]
            waiting = [u for u in order.unfilled if u.action is ShortageAction.backorder]
            if not active and not waiting:
                return order
            now = self.clock()
            # A parcel whose stock was consumed left already (its report may be on its way): not cancelled here.
            gone = self.rounds.release(active, now, "order cancelled")
            released = len(active)
            changed = [
                f.model_copy(update={"status": FulfillmentStatus.cancelled, "reason": "order cancelled"})
                if f.status in CANCELLABLE and f.fulfillment_id not in gone
                else f
                for f in order.fulfillments
            ]
            cancelled_lines = [u for u in order.unfilled if u.action is ShortageAction.cancel]  # kept: their reasons
            return order.model_copy(
                update={
                    "fulfillments": changed,
                    "unfilled": cancelled_lines,
                    "updated_at": now,
                    "version": order.version + 1,
                    "changed_by": SOURCING,
                }
            )

        try:
            done = update_order(
                self.orders, order_id, given_back, read=self.rounds.fresh, attempts=RECORD_ATTEMPTS,
                exhausted=kept_changing("releasing its stock"),
            )  # fmt: skip
        except Gone:
            return SourcingResult(order_id, "unchanged", "order is not cancelled")
        if done.written:
            return SourcingResult(order_id, "cancelled", f"released {released} reservation(s)")
        if done.before.status is not OrderStatus.cancelled:
            return SourcingResult(order_id, "unchanged", "order is not cancelled")
        return SourcingResult(order_id, "unchanged", "nothing held")

    def reject(
        self,
        fulfillment_id: str,
        reason: str,
        on_hand: dict[str, int] | None,
        acting_for: set[str] | None = None,
        by: str = SOURCING,
    ) -> SourcingResult:
        """A node cannot fulfil its part. Its reservation is released; when it says how many units
        it really has (a short pick), its stock is corrected to that; otherwise it is not asked
        again for this order. The lines are sourced again, except a pickup order's, which go on
        hold for staff to call the buyer."""
        order_id = fulfillment_order_id(fulfillment_id)

        def rejecting(order: Order) -> Order:
            fulfillment = parcel(order, fulfillment_id)
            if fulfillment.status is FulfillmentStatus.rejected:
                return order
            now = self.clock()
            self.inventory.release(fulfillment.reservation_id, now, reason=f"rejected by {fulfillment.node_id}")
            for sku, counted in sorted((on_hand or {}).items()):
                self._correct(fulfillment, sku, counted, now)
            if order.status not in ALLOCATION_STATES:
                # Cancelled or held meanwhile: the stock is given back, nothing is sourced again.
                return marked(order, fulfillment.fulfillment_id, FulfillmentStatus.rejected, reason, now, by)
            return rejected(order, fulfillment, reason, short=bool(on_hand), now=now, by=by)

        done = update_order(
            self.orders, order_id, rejecting, attempts=RECORD_ATTEMPTS, exhausted=kept_changing("rejecting"),
            read=lambda _: self._rejectable(order_id, fulfillment_id, on_hand, acting_for),
        )  # fmt: skip
        if not done.written:
            return SourcingResult(order_id, "unchanged", "already rejected")
        if done.before.status not in ALLOCATION_STATES:
            return SourcingResult(order_id, "unchanged", f"order is {done.before.status.value}: not sourced again")
        if done.after.status is OrderStatus.on_hold:
            return SourcingResult(order_id, "on_hold", "pickup order rejected: waiting for staff")
        again = self.rounds.source(order_id)
        if again.outcome == "unchanged":  # nowhere else to go yet: the lines wait as backorders
            return SourcingResult(order_id, done.after.status.value, again.detail)
        return again

    def delayed(
        self,
        fulfillment_id: str,
        ready_at: datetime,
        reason: str,
        acting_for: set[str] | None = None,
        by: str = SOURCING,
    ) -> SourcingResult:
        """The node hands over later than promised: the promise is made again from ready_at; the
        original stays. The same report again changes nothing."""
        order_id = fulfillment_order_id(fulfillment_id)
        promised: list[PromiseDates] = []  # the promise of the attempt that won

        def repromised(order: Order) -> Order:
            fulfillment = parcel(order, fulfillment_id)
            if fulfillment.status not in AT_NODE:
                raise Conflict(f"fulfillment {fulfillment_id} is {fulfillment.status.value}: handed over already")
            promise = self.planner.promise(order, self.planner.nodes()[fulfillment.node_id], ready_at)
            if promise is None:
                raise Conflict(f"no promise can be made from {ready_at.isoformat()} (no lane or the node is closed)")
            promised.append(promise)
            if promise == fulfillment.promise:
                return order
            changed = [
                f.model_copy(update={"promise": promise, "reason": f"delayed: {reason}"})
                if f.fulfillment_id == fulfillment_id
                else f
                for f in order.fulfillments
            ]
            return order.model_copy(
                update={
                    "fulfillments": changed,
                    "updated_at": self.clock(),
                    "version": order.version + 1,
                    "changed_by": by,
                }
            )

        done = update_order(
            self.orders, order_id, repromised, attempts=RECORD_ATTEMPTS,
            read=lambda _: self._rejectable(order_id, fulfillment_id, None, acting_for),
        )  # fmt: skip
        if not done.written:
            return SourcingResult(order_id, "unchanged", "already promised from then")
        promise = promised[-1]
        return SourcingResult(order_id, "repromised", f"now {promise.deliver_latest or promise.deliver_by}")

    def address_changed(self, order_id: str) -> SourcingResult:
        """The buyer's address changed after allocation: each parcel not yet handed over is promised again to
        the new address from the hand-over it has (a delay the node reported stays); the original promise
        stays. A parcel no lane reaches from its node is released and its lines sourced again. Repeats
        change nothing."""
        moved: list[str] = []  # the parcels promised again, by the attempt that won
        stuck: list[Fulfillment] = []  # the parcels released to be sourced again

        def readdressed(order: Order) -> Order:
            nodes = self.planner.nodes()
            now = self.clock()
            changed = []
            moved.clear()
            stuck.clear()
            for fulfillment in order.fulfillments:
                node = nodes.get(fulfillment.node_id)
                promise = fulfillment.promise
                if (
                    fulfillment.status not in AT_NODE
                    or promise is None
                    or node is None
                    or fulfillment.delivery_method in PICKUP_METHODS
                ):
                    changed.append(fulfillment)
                    continue
                # From just before the hand-over it has (a cut-off is met up to its minute).
                new_promise = self.planner.promise(order, node, promise.ship_by - timedelta(minutes=1))
                if new_promise is None:
                    stuck.append(fulfillment)
                    changed.append(fulfillment)
                elif new_promise == promise:
                    changed.append(fulfillment)
                else:
                    changed.append(fulfillment.model_copy(update={"promise": new_promise, "reason": "address changed"}))
                    moved.append(fulfillment.fulfillment_id)
            if not moved and not stuck:
                return order
            updated = order.model_copy(
                update={
                    "fulfillments": changed,
                    "updated_at": now,
                    "version": order.version + 1,
                    "changed_by": SOURCING,
                }
            )
            why = "address changed: no lane from this node"
            for stuck_parcel in stuck:  # released before the write: a retry finds them released
                self.inventory.release(stuck_parcel.reservation_id, now, reason=why)
                updated = rejected(updated, stuck_parcel, why, short=True, now=now, by=SOURCING)
                updated = updated.model_copy(update={"version": order.version + 1})
            return updated

        try:
            done = update_order(self.orders, order_id, readdressed, read=self.rounds.fresh, attempts=RECORD_ATTEMPTS)
        except Gone:
            return SourcingResult(order_id, "unchanged", "no such order")
        if not done.written:
            return SourcingResult(order_id, "unchanged", "no open parcel's promise moves")
        if stuck:
            again = self.rounds.source(order_id)
            return SourcingResult(order_id, again.outcome, f"address changed: re-sourced {len(stuck)} parcel(s)")
        return SourcingResult(order_id, "repromised", f"address changed: {', '.join(moved)}")

    def retry(self, order_id: str, by: str = SOURCING) -> SourcingResult:
        """Ops fixed what held the order (the rules, a node, the stock at the pickup store): sourcing
        holds are cleared and the order is sourced again. Other holds (unpaid, address) stay."""

        def cleared(order: Order) -> Order:
            if not any(h.code in SOURCING_HOLDS for h in order.holds):
                if order.status in SOURCED_STATES:
                    return order  # nothing to clear: sourced as it is
                raise Conflict(f"order {order_id} is {order.status.value} and has no sourcing hold to clear")
            others = [h for h in order.holds if h.code not in SOURCING_HOLDS]
            return order.model_copy(
                update={
                    "holds": others,
                    "status": OrderStatus.on_hold if others else OrderStatus.received,
                    "updated_at": self.clock(),
                    "version": order.version + 1,
                    "changed_by": by,
                }
            )

        done = update_order(self.orders, order_id, cleared, attempts=RECORD_ATTEMPTS)
        others = done.after.holds if done.written else []
        if others:
            return SourcingResult(order_id, "on_hold", "other holds remain: " + ", ".join(h.code for h in others))
        return self.rounds.source(order_id)

    def _rejectable(
        self, order_id: str, fulfillment_id: str, on_hand: dict[str, int] | None, acting_for: set[str] | None
    ) -> Order:
        """The order a rejection (or a delay) is about, read and checked (a rejected parcel passes as is)."""
        order = self.orders.get(order_id, consistent=True)
        found = [f for f in order.fulfillments if f.fulfillment_id == fulfillment_id] if order else []
        if order is None or not found:
            raise NotFound(f"no fulfillment {fulfillment_id}")
        fulfillment = found[0]
        if acting_for is not None and fulfillment.node_id not in acting_for:
            raise Forbidden(f"this key may not act for node {fulfillment.node_id}")
        if fulfillment.status not in AT_NODE and fulfillment.status is not FulfillmentStatus.rejected:
            raise Conflict(f"fulfillment {fulfillment_id} is {fulfillment.status.value}")
        unknown = sorted(set(on_hand or {}) - {line.sku for line in fulfillment.lines})
        if unknown:
            raise BadRequest(f"fulfillment {fulfillment_id} has no SKU(s) {', '.join(unknown)}")
        return order

    def _correct(self, fulfillment: Fulfillment, sku: str, counted: int, now: datetime) -> None:
        """The node found `counted` units where the OMS thought there were more: take the
        difference off its on hand, once (the adjustment id is the fulfillment's)."""
        position = self.inventory.positions([sku], consistent=True).get((sku, fulfillment.node_id))
        missing = (position.on_hand if position else 0) - counted
        if missing <= 0:
            return
        self.inventory.adjust(
            AdjustmentCreate(
                adjustment_id=f"SHORTPICK-{fulfillment.fulfillment_id}-{sku}"[:100],
                kind=MovementKind.adjustment,
                node_id=fulfillment.node_id,
                reason=f"short pick on {fulfillment.fulfillment_id}",
                lines=[{"sku": sku, "quantity": -missing}],
            ),
            now,
        )
