"""Sourcing: plan an order, reserve what the plan takes, record the allocation.

    order (received, backordered, partially allocated)
      -> plan at the lowest stated cost (oms.domain.planner), from a consistent stock read
      -> channel policy: partial shipment or not, backorder or cancel what is short
      -> one transaction: every node's reservation and the node capacity it takes
      -> the trace beside the order, then the order with its fulfillments (versioned write)

Stock that moved between the read and the write cancels the transaction; the
order is planned again from a fresh read (REPLAN_ATTEMPTS times, then the
message is retried by its queue). Fulfillment and reservation ids come from
the order's stored state, so a retried message reserves nothing twice. The
order's stream turns the recorded change into OrderAllocated,
FulfillmentRequested and OrderBackordered (oms.domain.events).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from oms.domain.aggregate import update_order
from oms.domain.availability import Position, choose_takes
from oms.domain.geo import Place, place
from oms.domain.lifecycle import AT_NODE, CANCELLABLE, LIVE, order_status
from oms.domain.planner import CapacityClass, Lateness, NeedLine, SourcingInput, plan
from oms.domain.promising import Promiser, Refusal
from oms.domain.sourcing_replay import PastDecision, past_decision, replay
from oms.domain.stock import MAX_RESERVATION_ITEMS, CapacityFull, InsufficientStock, InventoryService
from oms.errors import BadRequest, Conflict, Forbidden, NotFound, OmsError, StaleWrite
from oms.models.inventory import (
    AdjustmentCreate,
    MovementKind,
    Node,
    Reservation,
    ReservationKind,
    ReservationLine,
    ReservationStatus,
    Shortage,
)
from oms.models.order import (
    PICKUP_METHODS,
    SOURCING_HOLDS,
    DeliveryMethod,
    Fulfillment,
    FulfillmentLine,
    FulfillmentStatus,
    Hold,
    HoldCode,
    Order,
    OrderStatus,
    PromiseDates,
    ServiceLevel,
    ShortageAction,
    UnfilledLine,
    fulfillment_order_id,
)
from oms.models.sourcing import Plan, PlannedShipment, PlanOutcome, PlanRequest, SourcingRules
from oms.ports import OrderRepository
from oms.ports.stock import CapacityCounter, CapacityTake

REPLAN_ATTEMPTS = 4  # stock moved under the plan: plan again from a fresh read, this often
RECORD_ATTEMPTS = 5  # the order changed under the write (a channel update): merge and write again
SOURCING = "sourcing"  # Order.changed_by for sourcing's own writes
SOURCED_STATES = frozenset({OrderStatus.received, OrderStatus.backordered, OrderStatus.partially_allocated})
# Where a parcel may still be rejected and its lines sourced again.
ALLOCATION_STATES = frozenset(
    {OrderStatus.allocated, OrderStatus.partially_allocated, OrderStatus.backordered, OrderStatus.partially_shipped}
)


class Reference(Protocol):
    def nodes(self) -> dict[str, Node]: ...

    def policy(self, channel: Any) -> Any: ...

    def sourcing_rules(self) -> SourcingRules: ...


class Weights(Protocol):
    def weights(self, skus: set[str]) -> dict[str, int]: ...


class _Gone(NotFound):
    """The order itself is not there (told apart from a NotFound met while deciding)."""


@dataclass(frozen=True)
class SourcingResult:
    order_id: str
    outcome: str  # allocated, partially_allocated, backordered, cancelled, on_hold, unchanged
    detail: str | None = None


@dataclass(frozen=True)
class _Decision:
    """What a plan means for the order under the channel's policy."""

    shipments: list[PlannedShipment]
    unfilled: list[UnfilledLine]
    hold: Hold | None


class SourcingService:
    def __init__(
        self,
        orders: OrderRepository,
        inventory: InventoryService,
        reference: Reference,
        weights: Weights,
        capacity: CapacityCounter,
        clock: Callable[[], datetime],
        promiser: Callable[[], Promiser] | None = None,
    ) -> None:
        self.orders = orders
        self.inventory = inventory
        self.reference = reference
        self.weights = weights
        self.capacity = capacity
        self.clock = clock
        self.promiser = promiser  # the promising module for the rules in force; None: rate-table lateness

    # ------------------------------------------------------------ planning

    def _input(self, order: Order, lines: Iterable[NeedLine]) -> SourcingInput:
        nodes = self.reference.nodes()
        if order.delivery_method in PICKUP_METHODS and order.pickup_node_id in nodes:
            store = nodes[order.pickup_node_id]
            destination = place(store.province, store.city, store.lat, store.lng)
        else:
            address = order.shipping_address
            destination = (
                place(address.province, address.city, address.lat, address.lng)
                if address
                else Place(None, None, None, None, None)
            )
        return SourcingInput(
            channel=order.channel,
            method=order.delivery_method,
            service_level=order.service_level,
            destination=destination,
            lines=tuple(lines),
            pickup_node_id=order.pickup_node_id,
            ship_by=order.ship_by,
            postal_code=order.shipping_address.postal_code if order.shipping_address else None,
        )

    def _eligible(self, rules: SourcingRules, order_channel: Any) -> set[str] | None:
        chosen = rules.for_channel(order_channel).nodes
        if chosen is None:
            chosen = self.reference.policy(order_channel).nodes
        return set(chosen) if chosen is not None else None

    def _capacity_left(self, nodes: dict[str, Node], now: datetime) -> dict[tuple[str, str], int]:
        limited = {node_id: node for node_id, node in nodes.items() if node.daily_capacity}
        if not limited:
            return {}
        days = {node_id: now.astimezone(ZoneInfo(node.tz)).date() for node_id, node in limited.items()}
        used = self.capacity.used(days)
        left = {}
        for node_id, node in limited.items():
            for kind, limit in (node.daily_capacity or {}).items():
                left[(node_id, kind)] = limit - used.get((node_id, kind), 0)
        return left

    def _plan(
        self,
        request: SourcingInput,
        rules: SourcingRules,
        now: datetime,
        *,
        consistent: bool,
        excluded: dict[str, str] | None = None,
    ) -> tuple[Plan, dict[tuple[str, str], Position]]:
        nodes = self.reference.nodes()
        skus = sorted({line.sku for line in request.lines})
        positions = self.inventory.positions(skus, consistent=consistent)
        stock = {key: position.atp for key, position in positions.items()}
        result = plan(
            request,
            nodes,
            stock,
            self.weights.weights(set(skus)),
            rules,
            eligible=self._eligible(rules, request.channel),
            capacity_left=self._capacity_left(nodes, now),
            now=now,
            excluded=excluded,
            lateness=self._lateness(request, rules, now),
        )
        return result, positions

    def _lateness(self, request: SourcingInput, rules: SourcingRules, now: datetime) -> Lateness | None:
        """Whether a parcel from a node would miss the order's service level, by the promising module:
        so a plan is charged for exactly the lateness the promise will show. A node closed for weeks
        is removed; where promising has no lane, the rate table's days decide (None)."""
        if self.promiser is None or request.method in PICKUP_METHODS:
            return None
        promiser = self.promiser()
        if request.method is DeliveryMethod.ship:
            level = shipped_level(request.service_level, rules)
            target = promiser.target_date(now, request.destination, rules.service_days[level])
        else:  # same day, instant: late when it cannot go today
            level, target = request.service_level, None

        def late(node: Node) -> bool | str | None:
            dates = promiser.parcel(node, request.destination, request.postal_code, request.method, level, now)
            if isinstance(dates, Refusal):
                return dates.reason if dates.closed else None
            if target is None:
                return (
                    dates.deliver_by is not None
                    and dates.deliver_by.date() > now.astimezone(dates.deliver_by.tzinfo).date()
                )
            return dates.deliver_latest is not None and dates.deliver_latest > target

        return late

    # The planner's view of the data, for quotes (oms.domain.promising).
    def plan_for(
        self,
        request: SourcingInput,
        now: datetime,
        stock: dict[tuple[str, str], int],
        capacity_left: dict[tuple[str, str], int],
    ) -> Plan:
        """A plan from stock and capacity already read (a quote plans every service level from one read)."""
        rules = self.reference.sourcing_rules()
        nodes = self.reference.nodes()
        return plan(
            request,
            nodes,
            stock,
            self.weights.weights({line.sku for line in request.lines}),
            rules,
            eligible=self._eligible(rules, request.channel),
            capacity_left=capacity_left,
            now=now,
            lateness=self._lateness(request, rules, now),
        )

    def capacity_for(self, now: datetime) -> dict[tuple[str, str], int]:
        return self._capacity_left(self.reference.nodes(), now)

    def nodes(self) -> dict[str, Node]:
        return self.reference.nodes()

    def stock_for(self, skus: list[str]) -> dict[tuple[str, str], int]:
        return {key: position.atp for key, position in self.inventory.positions(skus).items()}

    def eligible_for(self, channel: Any) -> set[str] | None:
        return self._eligible(self.reference.sourcing_rules(), channel)

    def dry_run(self, request: PlanRequest) -> Plan:
        """POST /sourcing/plan: the plan, its cost and its trace; nothing reserved or written."""
        now = self.clock()
        rules = request.rules or self.reference.sourcing_rules()
        if request.order_id is not None:
            order = self.orders.get(request.order_id)
            if order is None:
                raise NotFound(f"no order {request.order_id}")
            lines = self._todo(order) or [NeedLine(x.line_id, x.sku, x.quantity) for x in order.lines]
            sourcing_input = self._input(order, lines)
        else:
            nodes = self.reference.nodes()
            if request.pickup_node_id and request.pickup_node_id not in nodes:
                raise NotFound(f"no node {request.pickup_node_id}")
            self.inventory.check_skus(line.sku for line in request.lines)
            dest = request.destination
            if request.delivery_method in PICKUP_METHODS and request.pickup_node_id:
                store = nodes[request.pickup_node_id]
                destination = place(store.province, store.city, store.lat, store.lng)
            elif dest is None:
                raise BadRequest("destination is required unless the order is picked up")
            else:
                destination = place(dest.province, dest.city, dest.lat, dest.lng)
            sourcing_input = SourcingInput(
                channel=request.channel,
                method=request.delivery_method,
                service_level=request.service_level,
                destination=destination,
                lines=tuple(
                    NeedLine(line.line_id or str(index + 1), line.sku, line.quantity)
                    for index, line in enumerate(request.lines)
                ),
                pickup_node_id=request.pickup_node_id,
                ship_by=request.ship_by,
            )
        result, _ = self._plan(sourcing_input, rules, now, consistent=False)
        return result

    # ------------------------------------------------------------ sourcing an order

    @staticmethod
    def _todo(order: Order) -> list[NeedLine]:
        """The lines this round must place."""
        if order.status is OrderStatus.received:
            placed = {line.line_id for f in order.fulfillments if f.status in LIVE for line in f.lines}
            placed |= {u.line_id for u in order.unfilled if u.action is ShortageAction.cancel}  # cancelled lines
            return [NeedLine(x.line_id, x.sku, x.quantity) for x in order.lines if x.line_id not in placed]
        if order.status in (OrderStatus.backordered, OrderStatus.partially_allocated):
            return [
                NeedLine(u.line_id, u.sku, u.quantity) for u in order.unfilled if u.action is ShortageAction.backorder
            ]
        return []

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
            todo = self._todo(order)
            if not todo:
                return self._settle(order, now)
            first_free, leftover = self._leftovers(order, now)
            if leftover:
                # An earlier run reserved this round and died before recording it: record what it reserved.
                adopted, waiting = self._adopt(order, leftover, todo, now)
                if not waiting:
                    return adopted
                continue  # the rest of the lines: a round of their own
            rules = self.reference.sourcing_rules()
            excluded = {node_id: "rejected this order before" for node_id in order.excluded_nodes}
            result, positions = self._plan(self._input(order, todo), rules, now, consistent=True, excluded=excluded)
            decision = self._decide(order, todo, result, rules)
            if not decision.shipments and decision.hold is None and _same_waiting(order, decision):
                return SourcingResult(order_id, "unchanged", "still short")  # no new round, no churn
            round_ = order.sourcing_round + 1
            try:
                fulfillments, reservations = self._fulfillments(
                    order, decision.shipments, positions, first_free, round_, now
                )
                if reservations:
                    too_large = _too_large(reservations, decision.shipments)
                    if too_large:
                        decision = _Decision([], [], Hold(code=HoldCode.too_large, message=too_large))
                        fulfillments, reservations = [], []
                    else:
                        takes = self._capacity_takes(decision.shipments, order, now)
                        _, created = self.inventory.reserve_all(reservations, now, takes)
                        if not created:
                            continue  # another run reserved this round first: adopt or re-plan on the next pass
            except (InsufficientStock, CapacityFull):
                continue  # stock or capacity moved under the plan: plan again from a fresh read
            except Conflict as exc:
                if isinstance(exc.details, dict) and exc.details.get("retryable"):
                    continue
                raise
            record = _trace_record(result, positions, todo, sorted(excluded))
            self.orders.put_trace(order_id, round_, now, result.outcome.value, record)
            return self._record(order, round_, fulfillments, decision, now)
        raise Conflict(
            f"order {order_id}: stock kept moving under {REPLAN_ATTEMPTS} plans", details={"retryable": True}
        )

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
        costs = _planned_costs(self.orders.traces(order.order_id), round_)
        fulfillments = []
        for reservation in reservations:
            per_line: dict[tuple[str, str], int] = {}
            for line in reservation.lines:
                per_line[(line.line_id, line.sku)] = per_line.get((line.line_id, line.sku), 0) + line.quantity
            node_id = reservation.lines[0].node_id
            fulfillments.append(
                Fulfillment(
                    fulfillment_id=reservation.reservation_id.removeprefix("RES-"),
                    node_id=node_id,
                    delivery_method=order.delivery_method,
                    service_level=order.service_level,
                    lines=[FulfillmentLine(line_id=i, sku=s, quantity=q) for (i, s), q in sorted(per_line.items())],
                    reservation_id=reservation.reservation_id,
                    planned_cost=costs.get(node_id, Decimal(0)),
                    ship_by=order.ship_by,
                    round=round_,
                    created_at=reservation.created_at,
                    reason="recorded from its reservation after the run that made it stopped",
                )
            )
        held: dict[str, int] = {}
        for fulfillment in fulfillments:
            for line in fulfillment.lines:
                held[line.line_id] = held.get(line.line_id, 0) + line.quantity
        waiting = [
            NeedLine(x.line_id, x.sku, x.quantity - held.get(x.line_id, 0))
            for x in todo
            if x.quantity > held.get(x.line_id, 0)
        ]
        decision = _Decision([], _unfilled(waiting, ShortageAction.backorder, "not placed yet"), None)
        return self._record(order, round_, fulfillments, decision, now), len(waiting)

    def _settle(self, order: Order, now: datetime) -> SourcingResult:
        """Nothing left to place. A received order whose fulfillments are all still active (a
        cancellation taken back before its release ran) is allocated again, as it was."""
        active = [f for f in order.fulfillments if f.status in LIVE]
        if order.status is not OrderStatus.received or not active:
            return SourcingResult(order.order_id, "unchanged", "nothing to source")
        status = _status_after(order.fulfillments, order.unfilled)
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

    def _decide(self, order: Order, todo: list[NeedLine], result: Plan, rules: SourcingRules) -> _Decision:
        policy = rules.for_channel(order.channel)
        placed_before = any(f.status in LIVE for f in order.fulfillments)
        if placed_before and result.outcome in (PlanOutcome.unroutable, PlanOutcome.pickup_unavailable):
            # Part of the order is on its way: the rest waits with the reason rather than holding it all.
            return _Decision([], _unfilled(todo, ShortageAction.backorder, result.reason or ""), None)
        if result.outcome is PlanOutcome.unroutable:
            return _Decision([], [], Hold(code=HoldCode.unroutable, message=f"sourcing: {result.reason}"))
        if result.outcome is PlanOutcome.pickup_unavailable:
            offer = ", ".join(result.alternatives) or "none"
            message = f"sourcing: {result.reason}; stores that can: {offer}"
            return _Decision([], [], Hold(code=HoldCode.pickup_unavailable, message=message))
        action = policy.on_shortage
        short = [
            UnfilledLine(line_id=u.line_id, sku=u.sku, quantity=u.quantity, action=action, reason=u.reason)
            for u in result.unfilled
        ]
        if result.outcome is PlanOutcome.partial and not policy.allow_partial:
            reason = f"{order.channel.value} does not ship partially; waiting for every line"
            return _Decision([], _unfilled(todo, action, reason), None)
        return _Decision(result.shipments, short, None)

    def _fulfillments(
        self,
        order: Order,
        shipments: list[PlannedShipment],
        positions: dict[tuple[str, str], Position],
        first_number: int,
        round_: int,
        now: datetime,
    ) -> tuple[list[Fulfillment], list[Reservation]]:
        nodes = self.reference.nodes()
        fulfillments: list[Fulfillment] = []
        reservations: list[Reservation] = []
        for offset, shipment in enumerate(shipments):
            fulfillment_id = f"{order.order_id}-F{first_number + offset}"
            reservation_id = f"RES-{fulfillment_id}"
            reservations.append(
                Reservation.model_construct(
                    reservation_id=reservation_id,
                    kind=ReservationKind.order,
                    channel=order.channel,
                    order_id=order.order_id,
                    lines=_reservation_lines(shipment, positions, nodes, reservation_id),
                    status=ReservationStatus.active,
                    created_at=now,
                    expires_at=None,
                    finished_at=None,
                    consumed_lines=[],
                    reason=None,
                )
            )
            promise = self._promise(order, nodes[shipment.node_id], now)
            fulfillments.append(
                Fulfillment(
                    fulfillment_id=fulfillment_id,
                    node_id=shipment.node_id,
                    delivery_method=order.delivery_method,
                    service_level=order.service_level,
                    lines=[FulfillmentLine(line_id=p.line_id, sku=p.sku, quantity=p.quantity) for p in shipment.lines],
                    reservation_id=reservation_id,
                    planned_cost=shipment.cost.total,
                    zone=shipment.zone,
                    late=shipment.late,
                    ship_by=order.ship_by or (promise.ship_by if promise else None),
                    round=round_,
                    created_at=now,
                    promise_original=promise,
                    promise=promise,
                )
            )
        return fulfillments, reservations

    def _promise(self, order: Order, node: Node, now: datetime) -> PromiseDates | None:
        """What this parcel promises, stamped at allocation (None without a promising module or a lane)."""
        if self.promiser is None:
            return None
        request = self._input(order, [])
        level = order.service_level
        if order.delivery_method is DeliveryMethod.ship:
            level = shipped_level(level, self.reference.sourcing_rules())
        dates = self.promiser().parcel(
            node, request.destination, request.postal_code, order.delivery_method, level, now
        )
        return None if isinstance(dates, Refusal) else dates

    def _capacity_takes(self, shipments: list[PlannedShipment], order: Order, now: datetime) -> list[CapacityTake]:
        nodes = self.reference.nodes()
        kind = CapacityClass.of(order.delivery_method)
        takes = []
        for shipment in shipments:
            node = nodes[shipment.node_id]
            limit = (node.daily_capacity or {}).get(kind)  # type: ignore[call-overload]
            if limit is not None:
                day = now.astimezone(ZoneInfo(node.tz)).date()
                takes.append(CapacityTake(node.node_id, kind, day, limit))
        return takes

    def _record(
        self, order: Order, round_: int, fulfillments: list[Fulfillment], decision: _Decision, now: datetime
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
                self._release(fulfillments, now, f"order became {base.status.value} while sourcing")
                return base
            cancelled = {u.line_id for u in base.unfilled if u.action is ShortageAction.cancel}
            if cancelled & {line.line_id for f in fulfillments for line in f.lines}:
                # Lines were cancelled meanwhile and this round placed them: give it back, record its parcels as
                # cancelled (their ids stay used) and source what is left in a new round.
                self._release(fulfillments, now, "lines cancelled while sourcing")
                gone = {"status": FulfillmentStatus.cancelled, "status_at": now, "reason": "lines cancelled meanwhile"}
                void = [f.model_copy(update=gone) for f in fulfillments]
                update = {"fulfillments": [*base.fulfillments, *void], "sourcing_round": round_, "updated_at": now,
                          "version": base.version + 1, "changed_by": SOURCING}  # fmt: skip
                voided = True
                return base.model_copy(update=update)
            return _apply(base, round_, fulfillments, decision, now)

        done = update_order(
            self.orders, order_id, recorded, current=order, read=self._fresh, attempts=RECORD_ATTEMPTS,
            exhausted=_kept_changing("recording its allocation"),
        )  # fmt: skip
        if not done.written:
            if done.before.sourcing_round >= round_:
                return SourcingResult(order_id, "unchanged", "this round was recorded by another delivery")
            return SourcingResult(order_id, "unchanged", f"order became {done.before.status.value}")
        if voided:
            return self.source(order_id)
        return SourcingResult(order_id, done.after.status.value, decision.hold.message if decision.hold else None)

    def _fresh(self, order_id: str) -> Order:
        """A consistent read of the order, for a write's next attempt."""
        order = self.orders.get(order_id, consistent=True)
        if order is None:
            raise _Gone(f"order {order_id} disappeared")
        return order

    def _release(self, fulfillments: list[Fulfillment], now: datetime, reason: str) -> set[str]:
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

    # ------------------------------------------------------------ after allocation

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
            gone = self._release(active, now, "order cancelled")
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
                self.orders, order_id, given_back, read=self._fresh, attempts=RECORD_ATTEMPTS,
                exhausted=_kept_changing("releasing its stock"),
            )  # fmt: skip
        except _Gone:
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

        def rejected(order: Order) -> Order:
            fulfillment = _parcel(order, fulfillment_id)
            if fulfillment.status is FulfillmentStatus.rejected:
                return order
            now = self.clock()
            self.inventory.release(fulfillment.reservation_id, now, reason=f"rejected by {fulfillment.node_id}")
            for sku, counted in sorted((on_hand or {}).items()):
                self._correct(fulfillment, sku, counted, now)
            if order.status not in ALLOCATION_STATES:
                # Cancelled or held meanwhile: the stock is given back, nothing is sourced again.
                return _mark(order, fulfillment.fulfillment_id, FulfillmentStatus.rejected, reason, now, by)
            return _rejected(order, fulfillment, reason, short=bool(on_hand), now=now, by=by)

        done = update_order(
            self.orders, order_id, rejected, attempts=RECORD_ATTEMPTS, exhausted=_kept_changing("rejecting"),
            read=lambda _: self._rejectable(order_id, fulfillment_id, on_hand, acting_for),
        )  # fmt: skip
        if not done.written:
            return SourcingResult(order_id, "unchanged", "already rejected")
        if done.before.status not in ALLOCATION_STATES:
            return SourcingResult(order_id, "unchanged", f"order is {done.before.status.value}: not sourced again")
        if done.after.status is OrderStatus.on_hold:
            return SourcingResult(order_id, "on_hold", "pickup order rejected: waiting for staff")
        again = self.source(order_id)
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
            fulfillment = _parcel(order, fulfillment_id)
            if fulfillment.status not in AT_NODE:
                raise Conflict(f"fulfillment {fulfillment_id} is {fulfillment.status.value}: handed over already")
            promise = self._promise(order, self.reference.nodes()[fulfillment.node_id], ready_at)
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
            nodes = self.reference.nodes()
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
                new_promise = self._promise(order, node, promise.ship_by - timedelta(minutes=1))
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
            for parcel in stuck:  # released before the write: a retry finds them released
                self.inventory.release(parcel.reservation_id, now, reason="address changed: no lane from this node")
                updated = _rejected(updated, parcel, "address changed: no lane from this node", short=True, now=now,
                                    by=SOURCING)  # fmt: skip
                updated = updated.model_copy(update={"version": order.version + 1})
            return updated

        try:
            done = update_order(self.orders, order_id, readdressed, read=self._fresh, attempts=RECORD_ATTEMPTS)
        except _Gone:
            return SourcingResult(order_id, "unchanged", "no such order")
        if not done.written:
            return SourcingResult(order_id, "unchanged", "no open parcel's promise moves")
        if stuck:
            again = self.source(order_id)
            return SourcingResult(order_id, again.outcome, f"address changed: re-sourced {len(stuck)} parcel(s)")
        return SourcingResult(order_id, "repromised", f"address changed: {', '.join(moved)}")

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

    def replay(self, proposed: SourcingRules, order_ids: Iterable[str], examples: int = 20) -> dict[str, Any]:
        """Every stored decision of these orders planned again under the rules in force and under
        `proposed`, from the stock each decision saw: cost, splits and lateness side by side."""
        decisions: list[PastDecision] = []
        for order_id in order_ids:
            order = self.orders.get(order_id)
            if order is None:
                continue
            base = self._input(order, [])
            for record in self.orders.traces(order_id):
                if "input" in record["plan"]:
                    at = datetime.fromisoformat(record["at"])
                    decisions.append(past_decision(order_id, at, base, record["plan"]))
        skus = {line.sku for decision in decisions for line in decision.order.lines}
        report = replay(
            decisions,
            self.reference.nodes(),
            self.weights.weights(skus) if skus else {},
            self.reference.sourcing_rules(),
            proposed,
            self._eligible,
            examples,
        )
        return report.as_dict()

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
        return self.source(order_id)

    def backordered_with_stock(self, order: Order) -> bool:
        """Cheap check for the sweep: does any waiting line's SKU have stock anywhere now?"""
        skus = sorted({u.sku for u in order.unfilled if u.action is ShortageAction.backorder})
        if not skus:
            return False
        return any(position.atp > 0 for position in self.inventory.positions(skus).values())


def shipped_level(level: ServiceLevel, rules: SourcingRules) -> ServiceLevel:
    """The courier service level a shipped order is planned and promised at: its own when the rules
    price it, else regular (a Shopify "Same Day" shipping title on a courier parcel)."""
    if level in rules.service_days:
        return level
    return ServiceLevel.regular if ServiceLevel.regular in rules.service_days else next(iter(rules.service_days))


def _kept_changing(doing: str) -> Callable[[str], OmsError]:
    """What running out of attempts at writing the order means while doing this (a retryable conflict)."""
    return lambda order_id: Conflict(f"order {order_id} kept changing while {doing}", details={"retryable": True})


def _parcel(order: Order, fulfillment_id: str) -> Fulfillment:
    """The order's fulfillment with this id (one the read checked is there)."""
    return next(f for f in order.fulfillments if f.fulfillment_id == fulfillment_id)


def raise_short(sku: str, quantity: int, node_id: str) -> None:
    raise InsufficientStock([Shortage(sku=sku, requested=quantity, available=0, node_id=node_id)])


def _unfilled(lines: Iterable[NeedLine | FulfillmentLine], action: ShortageAction, reason: str) -> list[UnfilledLine]:
    return [
        UnfilledLine(line_id=x.line_id, sku=x.sku, quantity=x.quantity, action=action, reason=reason) for x in lines
    ]


def _same_waiting(order: Order, decision: _Decision) -> bool:
    """A backordered order planned again with the same outcome: nothing to record."""
    if order.status not in (OrderStatus.backordered, OrderStatus.partially_allocated):
        return False
    before = sorted((u.line_id, u.quantity, u.action) for u in order.unfilled if u.action is ShortageAction.backorder)
    after = sorted((u.line_id, u.quantity, u.action) for u in decision.unfilled)
    return before == after


def _reservation_lines(
    shipment: PlannedShipment, positions: dict[tuple[str, str], Position], nodes: dict[str, Node], salt: str
) -> list[ReservationLine]:
    """The buckets each planned line takes at its node. Lines of one SKU are placed together (their
    total must fit the buckets), then the buckets' units are dealt out to the lines in order."""
    per_sku: dict[str, list[Any]] = {}
    for planned in shipment.lines:
        per_sku.setdefault(planned.sku, []).append(planned)
    lines: list[ReservationLine] = []
    for sku, planned_lines in per_sku.items():
        total = sum(p.quantity for p in planned_lines)
        position = positions.get((sku, shipment.node_id))
        takes = choose_takes(sku, total, [position], nodes, salt) if position else None
        if takes is None:  # the units are there but spread over too many buckets: plan again
            raise_short(sku, total, shipment.node_id)
        pool = [[take.bucket, take.quantity] for take in takes or []]
        for planned in planned_lines:
            need = planned.quantity
            while need:
                bucket, have = pool[0]
                part = min(have, need)
                lines.append(
                    ReservationLine(
                        line_id=planned.line_id, sku=sku, node_id=shipment.node_id, quantity=part, bucket=bucket
                    )
                )
                need -= part
                pool[0][1] -= part
                if pool[0][1] == 0:
                    pool.pop(0)
    return lines


MAX_TRANSACTION_ITEMS = 100  # DynamoDB's TransactWriteItems limit


def _too_large(reservations: list[Reservation], shipments: list[PlannedShipment]) -> str | None:
    """Why the round cannot be one transaction, or None."""
    items = len(shipments)  # capacity counters, at most one a node
    for reservation in reservations:
        items += 1 + len({(x.sku, x.node_id, x.bucket) for x in reservation.lines})
        if len(reservation.lines) > MAX_RESERVATION_ITEMS:
            return f"a node's part has {len(reservation.lines)} reservation lines (at most {MAX_RESERVATION_ITEMS})"
    if items > MAX_TRANSACTION_ITEMS:
        return (
            f"the allocation needs {items} writes in one transaction (at most {MAX_TRANSACTION_ITEMS}): "
            "split the order into smaller ones"
        )
    return None


def _planned_costs(traces: list[dict[str, Any]], round_: int) -> dict[str, Decimal]:
    """Each node's planned parcel cost in a round's stored trace (empty if none was stored)."""
    for record in traces:
        if record["round"] == round_:
            return {s["node_id"]: Decimal(s["cost"]["total"]) for s in record["plan"].get("shipments", [])}
    return {}


def _status_after(fulfillments: list[Fulfillment], unfilled: list[UnfilledLine]) -> OrderStatus:
    # Every line cancelled as unfillable (by the channel's policy) cancels the order.
    return order_status(fulfillments, unfilled)


def _apply(base: Order, round_: int, new: list[Fulfillment], decision: _Decision, now: datetime) -> Order:
    fulfillments = [*base.fulfillments, *new]
    placed = {line.line_id for f in new for line in f.lines}
    # Lines from an earlier round still waiting, less what this round placed, plus what it could not.
    waiting = {u.line_id for u in decision.unfilled}
    unfilled = [
        u
        for u in base.unfilled
        if u.action is ShortageAction.cancel or (u.line_id not in placed and u.line_id not in waiting)
    ]
    unfilled += decision.unfilled
    update: dict[str, Any] = {
        "fulfillments": fulfillments,
        "unfilled": unfilled,
        "sourcing_round": round_,
        "updated_at": now,
        "version": base.version + 1,
        "changed_by": SOURCING,
    }
    if decision.hold is not None:
        update["status"] = OrderStatus.on_hold
        update["holds"] = [*base.holds, decision.hold]
    else:
        update["status"] = _status_after(fulfillments, unfilled)
        if update["status"] is OrderStatus.cancelled:
            update["cancel_reason"] = "out of stock: " + "; ".join(u.reason for u in unfilled)[:400]
    return base.model_copy(update=update)


def _mark(
    order: Order, fulfillment_id: str, status: FulfillmentStatus, reason: str, now: datetime, by: str = "sourcing"
) -> Order:
    fulfillments = [
        f.model_copy(update={"status": status, "reason": reason, "status_at": now})
        if f.fulfillment_id == fulfillment_id
        else f
        for f in order.fulfillments
    ]
    update = {"fulfillments": fulfillments, "updated_at": now, "version": order.version + 1, "changed_by": by}
    return order.model_copy(update=update)


def _rejected(order: Order, fulfillment: Fulfillment, reason: str, *, short: bool, now: datetime, by: str) -> Order:
    marked = _mark(order, fulfillment.fulfillment_id, FulfillmentStatus.rejected, reason, now, by)
    fulfillments = marked.fulfillments
    update: dict[str, Any] = {
        "fulfillments": fulfillments,
        "updated_at": now,
        "version": order.version + 1,
        "changed_by": by,
    }
    if order.delivery_method in PICKUP_METHODS:
        hold = Hold(code=HoldCode.pickup_rejected, message=f"{fulfillment.node_id} rejected the pickup: {reason}")
        update["status"] = OrderStatus.on_hold
        update["holds"] = [*order.holds, hold]
        return order.model_copy(update=update)
    back = _unfilled(fulfillment.lines, ShortageAction.backorder, f"rejected by {fulfillment.node_id}: {reason}")
    update["unfilled"] = [*order.unfilled, *back]
    if not short and fulfillment.node_id not in order.excluded_nodes:
        update["excluded_nodes"] = [*order.excluded_nodes, fulfillment.node_id]
    update["status"] = _status_after(fulfillments, update["unfilled"])
    return order.model_copy(update=update)


def _trace_record(
    result: Plan, positions: dict[tuple[str, str], Position], todo: list[NeedLine], excluded: list[str]
) -> dict[str, Any]:
    """The plan with the stock it saw, the lines it placed and the nodes that had rejected the order:
    what a replay under other rules needs."""
    stock: dict[str, dict[str, int]] = {}
    for (sku, node_id), position in sorted(positions.items()):
        if position.atp > 0:
            stock.setdefault(sku, {})[node_id] = position.atp
    record = result.model_dump(mode="json")
    record["input"] = {
        "lines": [{"line_id": x.line_id, "sku": x.sku, "quantity": x.quantity} for x in todo],
        "stock": stock,
        "excluded_nodes": excluded,
    }
    return record
