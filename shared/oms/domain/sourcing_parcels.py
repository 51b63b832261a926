"""Sourcing's pure parts: what an order asks the planner, the parcels and reservations a plan
makes, and the edits a round or a rejection makes to the order. No reads, no writes: each
function takes what it needs and returns what it built (oms.domain.sourcing has the map)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from oms.domain.availability import Position, choose_takes
from oms.domain.geo import Place, place
from oms.domain.lifecycle import LIVE, order_status
from oms.domain.planner import CapacityClass, NeedLine, SourcingInput
from oms.domain.stock import MAX_RESERVATION_ITEMS, InsufficientStock
from oms.models.inventory import (
    Node,
    Reservation,
    ReservationKind,
    ReservationLine,
    ReservationStatus,
    Shortage,
)
from oms.models.order import (
    PICKUP_METHODS,
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
)
from oms.models.sourcing import Plan, PlannedShipment, SourcingRules
from oms.ports.stock import CapacityTake

SOURCING = "sourcing"  # Order.changed_by for sourcing's own writes
MAX_TRANSACTION_ITEMS = 100  # DynamoDB's TransactWriteItems limit


@dataclass(frozen=True)
class Decision:
    """What a plan means for the order under the channel's policy."""

    shipments: list[PlannedShipment]
    unfilled: list[UnfilledLine]
    hold: Hold | None


# ------------------------------------------------------------ what the planner is asked


def sourcing_input(order: Order, lines: Iterable[NeedLine], nodes: dict[str, Node]) -> SourcingInput:
    """The planner's view of the order: where it goes (the pickup store, else the address) and these lines."""
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


def lines_to_place(order: Order) -> list[NeedLine]:
    """The lines this round must place."""
    if order.status is OrderStatus.received:
        placed = {line.line_id for f in order.fulfillments if f.status in LIVE for line in f.lines}
        placed |= {u.line_id for u in order.unfilled if u.action is ShortageAction.cancel}  # cancelled lines
        return [NeedLine(x.line_id, x.sku, x.quantity) for x in order.lines if x.line_id not in placed]
    if order.status in (OrderStatus.backordered, OrderStatus.partially_allocated):
        return [NeedLine(u.line_id, u.sku, u.quantity) for u in order.unfilled if u.action is ShortageAction.backorder]
    return []


def shipped_level(level: ServiceLevel, rules: SourcingRules) -> ServiceLevel:
    """The courier service level a shipped order is planned and promised at: its own when the rules
    price it, else regular (a Shopify "Same Day" shipping title on a courier parcel)."""
    if level in rules.service_days:
        return level
    return ServiceLevel.regular if ServiceLevel.regular in rules.service_days else next(iter(rules.service_days))


# ------------------------------------------------------------ parcels and reservations from a plan


def new_parcels(
    order: Order,
    shipments: list[PlannedShipment],
    positions: dict[tuple[str, str], Position],
    nodes: dict[str, Node],
    numbering: tuple[int, int],
    now: datetime,
    promise: Callable[[Node], PromiseDates | None],
) -> tuple[list[Fulfillment], list[Reservation]]:
    """A fulfillment and its reservation for each planned shipment. `numbering` is (first free
    fulfillment number, round): the ids come from the order's stored state, so a retry finds them."""
    first_number, round_ = numbering
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
                lines=reservation_lines(shipment, positions, nodes, reservation_id),
                status=ReservationStatus.active,
                created_at=now,
                expires_at=None,
                finished_at=None,
                consumed_lines=[],
                reason=None,
            )
        )
        promised = promise(nodes[shipment.node_id])
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
                ship_by=order.ship_by or (promised.ship_by if promised else None),
                round=round_,
                created_at=now,
                promise_original=promised,
                promise=promised,
            )
        )
    return fulfillments, reservations


def adopted_parcels(
    order: Order, reservations: list[Reservation], costs: dict[str, Decimal], round_: int
) -> list[Fulfillment]:
    """The fulfillments of reservations an earlier run made and did not record."""
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
    return fulfillments


def reservation_lines(
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


def raise_short(sku: str, quantity: int, node_id: str) -> None:
    raise InsufficientStock([Shortage(sku=sku, requested=quantity, available=0, node_id=node_id)])


def capacity_takes(
    shipments: list[PlannedShipment], order: Order, nodes: dict[str, Node], now: datetime
) -> list[CapacityTake]:
    """The day's capacity each shipment takes at a node that has a daily limit."""
    kind = CapacityClass.of(order.delivery_method)
    takes = []
    for shipment in shipments:
        node = nodes[shipment.node_id]
        limit = (node.daily_capacity or {}).get(kind)  # type: ignore[call-overload]
        if limit is not None:
            day = now.astimezone(ZoneInfo(node.tz)).date()
            takes.append(CapacityTake(node.node_id, kind, day, limit))
    return takes


def too_large(reservations: list[Reservation], shipments: list[PlannedShipment]) -> str | None:
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


# ------------------------------------------------------------ the order's edits


def unfilled_lines(
    lines: Iterable[NeedLine | FulfillmentLine], action: ShortageAction, reason: str
) -> list[UnfilledLine]:
    return [
        UnfilledLine(line_id=x.line_id, sku=x.sku, quantity=x.quantity, action=action, reason=reason) for x in lines
    ]


def same_waiting(order: Order, decision: Decision) -> bool:
    """A backordered order planned again with the same outcome: nothing to record."""
    if order.status not in (OrderStatus.backordered, OrderStatus.partially_allocated):
        return False
    before = sorted((u.line_id, u.quantity, u.action) for u in order.unfilled if u.action is ShortageAction.backorder)
    after = sorted((u.line_id, u.quantity, u.action) for u in decision.unfilled)
    return before == after


def with_round(base: Order, round_: int, new: list[Fulfillment], decision: Decision, now: datetime) -> Order:
    """The order with this round's parcels, waiting lines and hold recorded on it."""
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
        # Every line cancelled as unfillable (by the channel's policy) cancels the order.
        update["status"] = order_status(fulfillments, unfilled)
        if update["status"] is OrderStatus.cancelled:
            update["cancel_reason"] = "out of stock: " + "; ".join(u.reason for u in unfilled)[:400]
    return base.model_copy(update=update)


def parcel(order: Order, fulfillment_id: str) -> Fulfillment:
    """The order's fulfillment with this id (one the read checked is there)."""
    return next(f for f in order.fulfillments if f.fulfillment_id == fulfillment_id)


def marked(
    order: Order, fulfillment_id: str, status: FulfillmentStatus, reason: str, now: datetime, by: str = SOURCING
) -> Order:
    """The order with one fulfillment moved to `status`."""
    fulfillments = [
        f.model_copy(update={"status": status, "reason": reason, "status_at": now})
        if f.fulfillment_id == fulfillment_id
        else f
        for f in order.fulfillments
    ]
    update = {"fulfillments": fulfillments, "updated_at": now, "version": order.version + 1, "changed_by": by}
    return order.model_copy(update=update)


def rejected(order: Order, fulfillment: Fulfillment, reason: str, *, short: bool, now: datetime, by: str) -> Order:
    """The order with a parcel its node rejected: a pickup order goes on hold; otherwise the lines
    wait to be sourced again, away from that node unless it only ran short."""
    fulfillments = marked(order, fulfillment.fulfillment_id, FulfillmentStatus.rejected, reason, now, by).fulfillments
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
    back = unfilled_lines(fulfillment.lines, ShortageAction.backorder, f"rejected by {fulfillment.node_id}: {reason}")
    update["unfilled"] = [*order.unfilled, *back]
    if not short and fulfillment.node_id not in order.excluded_nodes:
        update["excluded_nodes"] = [*order.excluded_nodes, fulfillment.node_id]
    update["status"] = order_status(fulfillments, update["unfilled"])
    return order.model_copy(update=update)


# ------------------------------------------------------------ the stored trace


def planned_costs(traces: list[dict[str, Any]], round_: int) -> dict[str, Decimal]:
    """Each node's planned parcel cost in a round's stored trace (empty if none was stored)."""
    for record in traces:
        if record["round"] == round_:
            return {s["node_id"]: Decimal(s["cost"]["total"]) for s in record["plan"].get("shipments", [])}
    return {}


def trace_record(
    result: Plan, positions: dict[tuple[str, str], Position], todo: list[NeedLine], excluded: list[str]
) -> dict[str, Any]:
    """The plan with the stock it saw, the lines it placed and the nodes that had rejected the order:
    what a replay under other rules needs (oms.domain.sourcing_replay.past_decision reads it)."""
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
