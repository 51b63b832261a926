"""Post-purchase changes from the OMS's own API: cancelling (the whole order or lines) until the
parcels holding them are handed over, and changing the delivery address until they are packed.

Marketplace orders change only through their marketplace (its own cancel and address flows reach
the OMS as channel updates, which take the same paths in sourcing). A cancel releases the stock of
the parcels it touches at once; a parcel that also held lines that stay is released whole and its
other lines are sourced again (usually at the same node: the stock just came back). An address
change is stored; sourcing then promises the open parcels again, and sources again a parcel no lane
reaches from its node (OrderAddressChanged).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from oms.channels.registry import MARKETPLACES
from oms.domain.aggregate import update_order
from oms.domain.geo import postal_province
from oms.domain.lifecycle import CANCELLABLE, ENDED, LIVE, order_status
from oms.errors import BadRequest, Conflict, Forbidden, NotFound
from oms.models.order import (
    Address,
    Channel,
    FulfillmentStatus,
    HoldCode,
    Order,
    OrderStatus,
    ShortageAction,
    UnfilledLine,
)
from oms.ports import OrderRepository

# After a cancel these leave lines to place again (parcels released whole, lines never placed).
RESOURCED = frozenset({OrderStatus.received, OrderStatus.partially_allocated, OrderStatus.backordered})
BEFORE_PACKING = frozenset({FulfillmentStatus.requested, FulfillmentStatus.accepted, FulfillmentStatus.picked})


class Inventory(Protocol):
    def get(self, reservation_id: str) -> Any: ...

    def release(self, reservation_id: str, now: datetime, status: Any = ..., reason: str | None = None) -> Any: ...


class Sourcing(Protocol):
    def source(self, order_id: str) -> Any: ...


class OrderChanges:
    def __init__(
        self, orders: OrderRepository, inventory: Inventory, sourcing: Sourcing, clock: Callable[[], datetime]
    ) -> None:
        self.orders = orders
        self.inventory = inventory
        self.sourcing = sourcing
        self.clock = clock

    # ------------------------------------------------------------ cancel

    def cancel(
        self, order_id: str, line_ids: list[str] | None, reason: str, by: str, acting_for: set[Channel] | None = None
    ) -> Order:
        """Cancel the order (line_ids None) or those lines. 409 once a parcel holding them left its node."""

        def cancelled(order: Order) -> Order:
            if order.status is OrderStatus.cancelled:
                return order  # a repeat
            wanted = self._lines(order, line_ids)
            if not wanted:
                return order  # those lines were cancelled before
            touched = [f for f in order.fulfillments if f.status in LIVE and {x.line_id for x in f.lines} & wanted]
            gone = [f for f in touched if f.status not in CANCELLABLE]
            if gone:
                names = ", ".join(f"{f.fulfillment_id} is {f.status.value}" for f in gone)
                raise Conflict(f"too late to cancel: {names} (a return takes it back)")
            for parcel in touched:  # shipped or picked up, even if its report has not been recorded yet
                held = self.inventory.get(parcel.reservation_id)
                if held.status.value == "consumed" or held.consumed_lines:
                    raise Conflict(f"too late to cancel: {parcel.fulfillment_id} has left {parcel.node_id}")
            now = self.clock()
            for parcel in touched:  # before the order: a retry finds them released (idempotent)
                self.inventory.release(parcel.reservation_id, now, reason=f"cancelled: {reason}")
            return _cancelled(order, wanted, touched, reason, by, now)

        done = update_order(self.orders, order_id, cancelled, read=self._reader("cancelled", acting_for))
        updated = done.after
        if done.written and updated.status in RESOURCED:
            # The lines that stay: from parcels released whole, or never placed (a round that raced this
            # cancel gave its reservations back).
            self.sourcing.source(order_id)
            return self.orders.get(order_id, consistent=True) or updated
        return updated

    @staticmethod
    def _lines(order: Order, line_ids: list[str] | None) -> set[str]:
        known = {line.line_id for line in order.lines}
        if line_ids is None:
            return known
        unknown = sorted(set(line_ids) - known)
        if unknown:
            raise BadRequest(f"order {order.order_id} has no line(s) {', '.join(unknown)}")
        already = {u.line_id for u in order.unfilled if u.action is ShortageAction.cancel}
        return set(line_ids) - already

    # ------------------------------------------------------------ address

    def change_address(self, order_id: str, address: Address, by: str, acting_for: set[Channel] | None = None) -> Order:
        """Replace the delivery address while no parcel is packed; sourcing re-promises (and re-sources)."""
        if address.country == "ID" and postal_province(address.postal_code) is None:
            raise BadRequest(f"postal_code '{address.postal_code}' is not an Indonesian postal code")
        missing = address.missing_for_delivery()
        if missing:
            raise BadRequest(f"the address lacks {', '.join(missing)}")

        def readdressed(order: Order) -> Order:
            if order.status is OrderStatus.cancelled:
                raise Conflict(f"order {order_id} is cancelled")
            if order.delivery_method.value in ("pickup", "curbside"):
                raise Conflict(f"order {order_id} is picked up at a store: it has no delivery address")
            late = [f for f in order.fulfillments if f.status not in BEFORE_PACKING and f.status not in ENDED]
            if late:
                names = ", ".join(f"{f.fulfillment_id} is {f.status.value}" for f in late)
                raise Conflict(f"too late to change the address: {names}")
            if order.shipping_address == address:
                return order
            update: dict[str, Any] = {"shipping_address": address, "updated_at": self.clock(),
                                      "version": order.version + 1, "changed_by": by}  # fmt: skip
            holds = [h for h in order.holds if h.code is not HoldCode.incomplete_address]
            if len(holds) < len(order.holds):  # the address is complete now: that hold ends
                update["holds"] = holds
                if order.status is OrderStatus.on_hold and not holds:
                    update["status"] = OrderStatus.received
            return order.model_copy(update=update)

        return update_order(self.orders, order_id, readdressed, read=self._reader("re-addressed", acting_for)).after

    def _reader(self, what: str, acting_for: set[Channel] | None) -> Callable[[str], Order]:
        return lambda order_id: self._changeable(order_id, what, acting_for)

    def _changeable(self, order_id: str, what: str, acting_for: set[Channel] | None) -> Order:
        order = self.orders.get(order_id, consistent=True)
        if order is None:
            raise NotFound(f"no order {order_id}")
        if acting_for is not None and order.channel not in acting_for:
            raise Forbidden(f"this key may not change {order.channel.value} orders")
        if order.channel in MARKETPLACES:  # a marketplace's orders change there; it tells the OMS
            raise Conflict(f"{order.channel.value} orders are {what} in {order.channel.value}; it tells the OMS")
        return order


def _cancelled(order: Order, wanted: set[str], touched: list[Any], reason: str, by: str, now: datetime) -> Order:
    """The order with the lines cancelled, their parcels released, and the other lines of those parcels
    waiting to be sourced again."""
    touched_ids = {f.fulfillment_id for f in touched}
    fulfillments = [
        f.model_copy(update={"status": FulfillmentStatus.cancelled, "reason": f"cancelled: {reason}", "status_at": now})
        if f.fulfillment_id in touched_ids
        else f
        for f in order.fulfillments
    ]
    lines = {line.line_id: line for line in order.lines}
    keep = [u for u in order.unfilled if u.line_id not in wanted]
    cancelled = [
        UnfilledLine(
            line_id=line_id,
            sku=lines[line_id].sku,
            quantity=lines[line_id].quantity,
            action=ShortageAction.cancel,
            reason=f"cancelled by {by}: {reason}",
        )
        for line_id in sorted(wanted)
    ]
    again = [
        UnfilledLine(
            line_id=line.line_id,
            sku=line.sku,
            quantity=line.quantity,
            action=ShortageAction.backorder,
            reason="its parcel was released when other lines were cancelled",
        )
        for parcel in touched
        for line in parcel.lines
        if line.line_id not in wanted
    ]
    unfilled = [*keep, *cancelled, *again]
    status = order_status(fulfillments, unfilled)
    left = {line.line_id for line in order.lines} - {u.line_id for u in unfilled if u.action is ShortageAction.cancel}
    if order.status in (OrderStatus.received, OrderStatus.on_hold) and left:
        status = order.status  # not sourced yet: sourcing places what is left
    update: dict[str, Any] = {
        "fulfillments": fulfillments,
        "unfilled": unfilled,
        "status": status,
        "updated_at": now,
        "version": order.version + 1,
        "changed_by": by,
    }
    if status is OrderStatus.cancelled:
        update["cancel_reason"] = reason
    return order.model_copy(update=update)
