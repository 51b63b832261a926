"""Status: nodes and carriers report on parcels; the order moves through oms.domain.lifecycle.

Every report is applied to the order with a version check (a concurrent change makes it read and
apply again), so a report is applied once however often it arrives; late reports are kept in the
parcel's history without moving its status. Rejections and delays go to sourcing, which owns
reservations and promises. Shipping consumes the reservation first (idempotent per line), then
records the parcel: a retry after a crash in between finishes the job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from oms.domain.aggregate import update_order
from oms.domain.calendar import Holidays, carrier_days_after
from oms.domain.geo import place
from oms.domain.lifecycle import AT_NODE, LIVE, Refused, advance, order_status
from oms.domain.promising import GENERIC_LANE
from oms.errors import Conflict, Forbidden, NotFound
from oms.models.order import (
    PICKUP_METHODS,
    Fulfillment,
    FulfillmentStatus,
    Order,
    OrderStatus,
    Shipment,
    fulfillment_order_id,
)
from oms.models.status import (
    Accepted,
    Delayed,
    FulfillmentOutcome,
    NodeEvent,
    Packed,
    Picked,
    PickedUp,
    ReadyForPickup,
    Rejected,
    Shipped,
)
from oms.ports import OrderRepository

S = FulfillmentStatus
STATUS_OF = {
    Accepted: S.accepted,
    Picked: S.picked,
    Packed: S.packed,
    Shipped: S.shipped,
    ReadyForPickup: S.ready_for_pickup,
    PickedUp: S.picked_up,
}
# Orders whose status follows their parcels (not held, not cancelled, not waiting in ingestion).
FOLLOWS_PARCELS = frozenset(
    {
        OrderStatus.allocated,
        OrderStatus.partially_allocated,
        OrderStatus.partially_shipped,
        OrderStatus.shipped,
        OrderStatus.ready_for_pickup,
        OrderStatus.delivered,
        OrderStatus.returned_to_sender,
    }
)


class Inventory(Protocol):
    def consume(self, reservation_id: str, line_ids: list[str] | None, now: datetime) -> Any: ...


class Sourcing(Protocol):
    def reject(self, fulfillment_id: str, reason: str, on_hand: dict[str, int] | None,
               acting_for: set[str] | None = None, by: str = "sourcing") -> Any: ...  # fmt: skip

    def delayed(self, fulfillment_id: str, ready_at: datetime, reason: str,
                acting_for: set[str] | None = None, by: str = "sourcing") -> Any: ...  # fmt: skip


@dataclass(frozen=True)
class CarrierReport:
    """One tracking update from a carrier, mapped to our statuses (the raw value kept)."""

    carrier: str
    tracking_number: str
    status: FulfillmentStatus | None  # None: a status we do not map (kept in the answer, nothing moves)
    raw_status: str
    at: datetime
    note: str | None = None
    timed: bool = True  # False: the sender gave no time of its own (received-at stands in)


class StatusService:
    def __init__(
        self,
        orders: OrderRepository,
        inventory: Inventory,
        sourcing: Sourcing,
        nodes: Callable[[], dict[str, Any]],
        clock: Callable[[], datetime],
        holidays: Callable[[], Holidays] | None = None,
    ) -> None:
        self.orders = orders
        self.inventory = inventory
        self.sourcing = sourcing
        self.nodes = nodes
        self.clock = clock
        # Public holidays, cuti bersama and the promising rules' extra (regional) days.
        self.holidays_for = holidays or (lambda: Holidays([]))

    # ------------------------------------------------------------ nodes

    def node_event(
        self, fulfillment_id: str, event: NodeEvent, acting_for: set[str] | None, by: str
    ) -> FulfillmentOutcome:
        order_id = fulfillment_order_id(fulfillment_id)
        if isinstance(event, Rejected | Delayed):
            if isinstance(event, Rejected):
                result = self.sourcing.reject(fulfillment_id, event.reason, event.on_hand, acting_for, by=by)
            else:
                result = self.sourcing.delayed(fulfillment_id, event.ready_at, event.reason, acting_for, by=by)
            status = self._status_of(order_id, fulfillment_id)
            return FulfillmentOutcome(
                order_id=order_id,
                fulfillment_id=fulfillment_id,
                outcome=result.outcome,
                status=status,
                detail=result.detail,
            )
        order, fulfillment = self._find(order_id, fulfillment_id)
        if acting_for is not None and fulfillment.node_id not in acting_for:
            raise Forbidden(f"this key may not act for node {fulfillment.node_id}")
        at = event.occurred_at or self.clock()
        shipment = None
        if isinstance(event, Shipped):
            shipment = self._ship(order, fulfillment, event, at)
        elif isinstance(event, PickedUp):
            self._hand_to_buyer(order, fulfillment, at)
        return self._apply(order_id, fulfillment_id, STATUS_OF[type(event)], at, by, None, shipment)

    def _ship(self, order: Order, fulfillment: Fulfillment, event: Shipped, at: datetime) -> Shipment:
        if fulfillment.status not in LIVE or order.status is OrderStatus.cancelled:
            state = f"{fulfillment.status.value}, order {order.status.value}"
            raise Conflict(f"fulfillment {fulfillment.fulfillment_id} cannot ship ({state})")
        if order.delivery_method in PICKUP_METHODS:
            raise Conflict(f"fulfillment {fulfillment.fulfillment_id} is a pickup: report ready_for_pickup")
        if fulfillment.shipment and fulfillment.shipment.tracking_number != event.tracking_number:
            raise Conflict(
                f"fulfillment {fulfillment.fulfillment_id} shipped already with {fulfillment.shipment.tracking_number}"
            )
        owner = self.orders.claim_tracking(event.tracking_number, event.carrier, fulfillment.fulfillment_id)
        if owner != fulfillment.fulfillment_id:
            raise Conflict(f"tracking number {event.tracking_number} belongs to another parcel")
        node = self.nodes().get(fulfillment.node_id)
        origin = place(node.province, node.city, node.lat, node.lng).region if node else None
        self.inventory.consume(fulfillment.reservation_id, None, at)
        return Shipment(
            carrier=event.carrier,
            service=event.service,
            tracking_number=event.tracking_number,
            weight_grams=event.weight_grams,
            origin_region=origin,
        )

    def _hand_to_buyer(self, order: Order, fulfillment: Fulfillment, at: datetime) -> None:
        """Picked up at the store: the units leave its stock (idempotent, like shipping)."""
        if fulfillment.status not in LIVE or order.status is OrderStatus.cancelled:
            state = f"{fulfillment.status.value}, order {order.status.value}"
            raise Conflict(f"fulfillment {fulfillment.fulfillment_id} cannot be picked up ({state})")
        self.inventory.consume(fulfillment.reservation_id, None, at)

    # ------------------------------------------------------------ carriers

    def carrier_report(self, report: CarrierReport) -> FulfillmentOutcome:
        owner = self.orders.tracking_owner(report.tracking_number)
        if owner is None:
            raise NotFound(f"no parcel has tracking number {report.tracking_number}")
        fulfillment_id, carrier = owner
        if carrier != report.carrier:
            raise Conflict(f"tracking number {report.tracking_number} was shipped with {carrier}, not {report.carrier}")
        order_id = fulfillment_order_id(fulfillment_id)
        if report.status is None:
            status = self._status_of(order_id, fulfillment_id)
            return FulfillmentOutcome(
                order_id=order_id,
                fulfillment_id=fulfillment_id,
                outcome="unchanged",
                status=status,
                detail=f"status '{report.raw_status}' is not mapped; kept",
            )
        by = f"carrier:{report.carrier}"
        at = min(report.at, self.clock())  # a carrier's clock ahead of ours is not the future
        return self._apply(order_id, fulfillment_id, report.status, at, by, report.raw_status, None,
                           note=report.note, timed=report.timed)  # fmt: skip

    # ------------------------------------------------------------ applying

    def _apply(
        self,
        order_id: str,
        fulfillment_id: str,
        to: FulfillmentStatus,
        at: datetime,
        by: str,
        raw: str | None,
        shipment: Shipment | None,
        note: str | None = None,
        timed: bool = True,
    ) -> FulfillmentOutcome:
        step: dict[str, Any] = {}  # what the winning attempt decided, for the answer

        def moved_order(order: Order) -> Order:
            fulfillment = _parcel(order, fulfillment_id)
            if order.status is OrderStatus.cancelled and fulfillment.status in AT_NODE:
                raise Conflict(f"order {order_id} is cancelled: stop work on {fulfillment_id}")
            pickup = order.delivery_method in PICKUP_METHODS
            try:
                move = advance(fulfillment, to, at, by, pickup=pickup, raw=raw, note=note, timed=timed)
            except Refused as exc:
                raise Conflict(str(exc), details={"status": fulfillment.status.value}) from None
            moved = move.fulfillment
            if shipment is not None and moved.shipment is None:
                moved = moved.model_copy(update={"shipment": shipment})
            if moved.status is S.failed_attempt and fulfillment.status is not S.failed_attempt:
                province = order.shipping_address.province if order.shipping_address else None
                moved = self._after_failed_attempt(moved, at, province)
            step.update(before=fulfillment, moved=moved, note=move.note)
            return order if moved == fulfillment else self._with(order, moved, by)

        done = update_order(self.orders, order_id, moved_order, read=lambda _: self._find(order_id, fulfillment_id)[0])
        before, moved = step["before"], step["moved"]
        if not done.written:
            return self._outcome(done.before, before, "unchanged", step["note"])
        outcome = "moved" if moved.status is not before.status else "unchanged"
        return self._outcome(done.after, moved, outcome, step["note"])

    def _after_failed_attempt(self, parcel: Fulfillment, at: datetime, province: str | None) -> Fulfillment:
        """The carrier could not deliver: promised again from the next working day in the buyer's province
        (couriers try again the day after), never earlier than before; the first promise stays."""
        promise = parcel.promise
        if promise is None or promise.deliver_latest is None:
            return parcel
        day = at.astimezone(ZoneInfo(promise.buyer_tz or "Asia/Jakarta")).date()
        holidays = self.holidays_for()
        earliest = carrier_days_after(GENERIC_LANE, day, 1, holidays, province)
        latest = max(promise.deliver_latest, carrier_days_after(GENERIC_LANE, day, 2, holidays, province))
        if (promise.deliver_earliest, promise.deliver_latest) == (earliest, latest):
            return parcel
        again = promise.model_copy(update={"deliver_earliest": earliest, "deliver_latest": latest})
        return parcel.model_copy(update={"promise": again, "reason": "carrier: delivery attempt failed"})

    def _with(self, order: Order, moved: Fulfillment, by: str) -> Order:
        fulfillments = [moved if f.fulfillment_id == moved.fulfillment_id else f for f in order.fulfillments]
        status = order.status
        if order.status in FOLLOWS_PARCELS:
            status = order_status(fulfillments, order.unfilled)
        return order.model_copy(
            update={
                "fulfillments": fulfillments,
                "status": status,
                "updated_at": self.clock(),
                "version": order.version + 1,
                "changed_by": by,
            }
        )

    def _find(self, order_id: str, fulfillment_id: str) -> tuple[Order, Fulfillment]:
        order = self.orders.get(order_id, consistent=True)
        if order is None:
            raise NotFound(f"no fulfillment {fulfillment_id}")
        return order, _parcel(order, fulfillment_id)

    def _status_of(self, order_id: str, fulfillment_id: str) -> FulfillmentStatus | None:
        order = self.orders.get(order_id, consistent=True)
        found = [f.status for f in order.fulfillments if f.fulfillment_id == fulfillment_id] if order else []
        return found[0] if found else None

    @staticmethod
    def _outcome(order: Order, fulfillment: Fulfillment, outcome: str, note: str) -> FulfillmentOutcome:
        return FulfillmentOutcome(
            order_id=order.order_id,
            fulfillment_id=fulfillment.fulfillment_id,
            outcome=outcome,
            status=fulfillment.status,
            detail=note,
            shipment=fulfillment.shipment,
        )


def _parcel(order: Order, fulfillment_id: str) -> Fulfillment:
    found = [f for f in order.fulfillments if f.fulfillment_id == fulfillment_id]
    if not found:
        raise NotFound(f"no fulfillment {fulfillment_id}")
    return found[0]
