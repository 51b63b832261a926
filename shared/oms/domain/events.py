"""Which domain events an order change means.

Derived from the stored before/after (the table's stream), so an event can
never be lost between the write and the publish.
"""

from __future__ import annotations

from oms.domain.geo import place
from oms.domain.lifecycle import HANDED_OVER
from oms.models.events import DomainEvent, EventType, ParcelDeliveredDetail
from oms.models.order import Fulfillment, FulfillmentStatus, Order, OrderStatus, ShortageAction
from oms.models.returns import RefundStatus, Rma, RmaStatus
from oms.models.shipping import ShippingState


def _destination(order: Order) -> dict | None:
    address = order.shipping_address
    if address is None:
        return None
    # The region sourcing and promising need; no name, street or phone.
    return {
        "country": address.country,
        "province": address.province,
        "city": address.city,
        "district": address.district,
        "postal_code": address.postal_code,
        # Two decimals (about 1 km): enough to pick a node, not enough to find a house.
        "lat": str(round(address.lat, 2)) if address.lat is not None else None,
        "lng": str(round(address.lng, 2)) if address.lng is not None else None,
    }


def delivery_place(order: Order) -> tuple:
    """What of the address moves a promise or a plan: province, city, postal code, location to about 1 km
    (not the street, the district or the name)."""
    address = order.shipping_address
    if address is None:
        return ()
    where = [round(value, 2) if value is not None else None for value in (address.lat, address.lng)]
    return (address.province, address.city, address.postal_code, *where)


def order_detail(order: Order) -> dict:
    return {
        "order_id": order.order_id,
        "order_number": order.order_number,
        "channel": order.channel.value,
        "channel_order_id": order.channel_order_id,
        "channel_order_number": order.channel_order_number,
        "shop_id": order.shop_id,
        "status": order.status.value,
        "hold_codes": order.hold_codes,
        "placed_at": order.placed_at.isoformat(),
        "delivery_method": order.delivery_method.value,
        "service_level": order.service_level.value,
        "pickup_node_id": order.pickup_node_id,
        "priority": order.priority,
        "payment_status": order.payment.status.value,
        "cod": order.payment.cod,
        "currency": order.currency,
        "grand_total": str(order.totals.grand_total),
        "destination": _destination(order),
        "lines": [{"line_id": line.line_id, "sku": line.sku, "quantity": line.quantity} for line in order.lines],
        "ship_by": order.ship_by.isoformat() if order.ship_by else None,
        "fulfillments": [_fulfillment(f) for f in order.fulfillments],
        "unfilled": [u.model_dump(mode="json") for u in order.unfilled],
        "flags": [f.model_dump(mode="json") for f in order.flags],
        "channel_state": order.channel_state.value if order.channel_state else None,
        "changed_by": order.changed_by,
        "version": order.version,
    }


def _fulfillment(fulfillment: Fulfillment) -> dict:
    promise = fulfillment.promise.model_dump(mode="json") if fulfillment.promise else None
    original = fulfillment.promise_original.model_dump(mode="json") if fulfillment.promise_original else None
    return {
        "promise": promise,
        "promise_original": original,
        "fulfillment_id": fulfillment.fulfillment_id,
        "node_id": fulfillment.node_id,
        "status": fulfillment.status.value,
        "delivery_method": fulfillment.delivery_method.value,
        "service_level": fulfillment.service_level.value,
        "ship_by": fulfillment.ship_by.isoformat() if fulfillment.ship_by else None,
        "lines": [line.model_dump() for line in fulfillment.lines],
        "status_at": fulfillment.status_at.isoformat() if fulfillment.status_at else None,
        "shipment": fulfillment.shipment.model_dump(mode="json") if fulfillment.shipment else None,
        "shipping": _shipping(fulfillment),
    }


def _shipping(fulfillment: Fulfillment) -> dict | None:
    """Where its courier arrangement stands (the failure in the vendor's words; no addresses)."""
    shipping = fulfillment.shipping
    if shipping is None:
        return None
    return shipping.model_dump(mode="json", include={
        "arranged_by", "state", "handover", "package_id", "resi", "carrier", "service", "booking_id", "failure",
        "printed_count", "label_key",
    })  # fmt: skip


_ARRANGED = frozenset({ShippingState.waiting_for_resi, ShippingState.label_ready, ShippingState.printed})


def _shipping_events(old: Order, new: Order) -> list[DomainEvent]:
    """Arranged, failed, resi assigned, label ready, handed over: each once, when it happens."""
    events = []
    before = {f.fulfillment_id: f for f in old.fulfillments}
    for parcel in new.fulfillments:
        was, now = before.get(parcel.fulfillment_id), parcel.shipping
        had = was.shipping if was else None
        if now is not None:
            was_state = had.state if had else None
            if now.state is ShippingState.arrange_failed and was_state is not ShippingState.arrange_failed:
                events.append(_event(new, EventType.arrange_failed, parcel))
            if now.state in _ARRANGED and was_state not in _ARRANGED:
                events.append(_event(new, EventType.shipment_arranged, parcel))
            if now.resi and not (had and had.resi):
                events.append(_event(new, EventType.resi_assigned, parcel))
            if now.label_key and not (had and had.label_key):
                events.append(_event(new, EventType.label_ready, parcel))
        handed = parcel.status in HANDED_OVER and (was is None or was.status not in HANDED_OVER)
        if handed and now is not None:
            events.append(_event(new, EventType.parcel_handed_over, parcel))
    return events


def _event(order: Order, event_type: EventType, fulfillment: Fulfillment | None = None) -> DomainEvent:
    detail = order_detail(order)
    event_id = f"{order.order_id}:v{order.version}:{event_type.value}"
    if fulfillment is not None:
        detail["fulfillment"] = _fulfillment(fulfillment)
        event_id += f":{fulfillment.fulfillment_id}"
    return DomainEvent(
        event_id=event_id,
        event_type=event_type,
        occurred_at=order.updated_at,
        order_id=order.order_id,
        detail=detail,
    )


def _sourcing_events(old: Order, new: Order) -> list[DomainEvent]:
    """What a sourcing round (or a rejection) recorded: new fulfillments, allocation, backorders."""
    events = []
    known = {f.fulfillment_id for f in old.fulfillments}
    for fulfillment in new.fulfillments:
        if fulfillment.fulfillment_id not in known and fulfillment.status is FulfillmentStatus.requested:
            events.append(_event(new, EventType.fulfillment_requested, fulfillment))
    allocated = (OrderStatus.allocated, OrderStatus.partially_allocated)
    if new.status in allocated and (old.status not in allocated or len(events) > 0):
        events.append(_event(new, EventType.order_allocated))
    promised_before = {f.fulfillment_id: f.promise for f in old.fulfillments}
    for fulfillment in new.fulfillments:
        before = promised_before.get(fulfillment.fulfillment_id)
        if fulfillment.fulfillment_id in promised_before and fulfillment.promise != before:
            events.append(_event(new, EventType.promise_changed, fulfillment))
    waiting_before = {u.line_id for u in old.unfilled if u.action is ShortageAction.backorder}
    waiting_now = {u.line_id for u in new.unfilled if u.action is ShortageAction.backorder}
    if waiting_now - waiting_before:
        events.append(_event(new, EventType.order_backordered))
    return events


# Sourcing reports these itself (a rejection re-sources, a cancellation releases).
_SOURCING_OWN = frozenset({FulfillmentStatus.requested, FulfillmentStatus.rejected, FulfillmentStatus.cancelled})


def _status_events(old: Order, new: Order) -> list[DomainEvent]:
    """A parcel moved (accepted ... delivered): its status change; shipped and delivered besides."""
    events = []
    before = {f.fulfillment_id: f.status for f in old.fulfillments}
    for fulfillment in new.fulfillments:
        was = before.get(fulfillment.fulfillment_id)
        if was is None or was is fulfillment.status or fulfillment.status in _SOURCING_OWN:
            continue
        events.append(_event(new, EventType.fulfillment_status_changed, fulfillment))
        if fulfillment.status is FulfillmentStatus.shipped:
            events.append(_event(new, EventType.fulfillment_shipped, fulfillment))
        if fulfillment.status is FulfillmentStatus.delivered:
            delivered = _parcel_delivered(new, fulfillment)
            if delivered is not None:
                events.append(delivered)
    return events


def _parcel_delivered(order: Order, fulfillment: Fulfillment) -> DomainEvent | None:
    """The contract promising learns from (docs/events.md): the parcel, its lane and its first promise."""
    shipment, promise = fulfillment.shipment, fulfillment.promise_original
    handed_over = next((s.at for s in fulfillment.scans if s.status is FulfillmentStatus.shipped), None)
    address = order.shipping_address
    ship_by = promise.ship_by if promise else handed_over
    if shipment is None or shipment.origin_region is None or address is None or ship_by is None:
        return None  # not a carrier parcel with a known lane: nothing to learn
    destination = place(address.province, address.city, address.lat, address.lng)
    if destination.region is None or fulfillment.status_at is None:
        return None
    detail = ParcelDeliveredDetail(
        fulfillment_id=fulfillment.fulfillment_id,
        node_id=fulfillment.node_id,
        carrier=shipment.carrier,
        service=shipment.service or (promise.service if promise and promise.service else "-"),
        origin_region=shipment.origin_region,
        destination_region=destination.region,
        destination_province=destination.province,
        promised_ship_by=ship_by,
        handed_over_at=handed_over,
        delivered_at=fulfillment.status_at,
        promised_latest=promise.deliver_latest if promise else None,
    )
    return DomainEvent(
        event_id=f"{order.order_id}:v{order.version}:{EventType.parcel_delivered.value}:{fulfillment.fulfillment_id}",
        event_type=EventType.parcel_delivered,
        occurred_at=order.updated_at,
        order_id=order.order_id,
        detail=detail.model_dump(mode="json"),
    )


def return_detail(order: Order, rma: Rma) -> dict:
    """What a return event carries: the order's ids and the RMA (no names, addresses or contacts)."""
    return {
        "order_id": order.order_id,
        "order_number": order.order_number,
        "channel": order.channel.value,
        "channel_order_id": order.channel_order_id,
        "currency": order.currency,
        "version": order.version,
        "changed_by": order.changed_by,
        # Free text (the buyer's words, staff notes, what was in the box) stays on the order: it may hold PII.
        "rma": rma.model_dump(mode="json", exclude=_FREE_TEXT),
    }


_FREE_TEXT = {
    "receipt_note": True,
    "refund": {"failure"},
    "cancel_reason": True,
    "unexpected": True,
    "lines": {"__all__": {"note": True, "inspections": {"__all__": {"note"}}}},
}


def _return_events(old: Order, new: Order) -> list[DomainEvent]:
    """One event per RMA step: authorized, received, inspected, closed; the refund requested, completed, failed."""
    events = []
    before = {rma.rma_id: rma for rma in old.returns}
    R, F, T = RmaStatus, RefundStatus, EventType
    for rma in new.returns:
        was = before.get(rma.rma_id)
        types = []
        if was is None:
            types.append(T.return_authorized)
        if rma.received_at is not None and (was is None or was.received_at is None):
            types.append(T.return_received)
        inspected = sum(len(line.inspections) for line in rma.lines)
        if inspected > (sum(len(line.inspections) for line in was.lines) if was else 0):
            types.append(T.return_units_inspected)
        if rma.exchange_order_id and (was is None or was.exchange_order_id is None):
            types.append(T.exchange_requested)
        if rma.status is R.cancelled and (was is None or was.status is not R.cancelled):
            types.append(T.return_cancelled)
        if rma.status in (R.inspected, R.closed) and (was is None or was.status not in (R.inspected, R.closed)):
            types.append(T.return_inspected)
        if rma.status is R.closed and (was is None or was.status is not R.closed):
            types.append(T.return_closed)
        refund, had = rma.refund, (was.refund if was else None)
        moved = had is None or refund.status is not had.status or refund.attempt != had.attempt
        if moved and refund.status is F.requested:
            types.append(T.refund_requested)
        elif moved and refund.status is F.completed:
            types.append(T.refund_completed)
        elif moved and refund.status is F.failed:
            types.append(T.refund_failed)
        detail = return_detail(new, rma)
        events += [
            DomainEvent(
                event_id=f"{new.order_id}:v{new.version}:{kind.value}:{rma.rma_id}",
                event_type=kind,
                occurred_at=new.updated_at,
                order_id=new.order_id,
                detail=detail,
            )
            for kind in types
        ]
    return events


def events_for_change(old: Order | None, new: Order) -> list[DomainEvent]:
    if old is None:  # a new order may come flagged already (a marketplace's cancel request, an unknown status)
        flagged = [_event(new, EventType.order_flagged)] if new.flags else []
        return [_event(new, EventType.order_received), *flagged]
    if new.version <= old.version:
        return []  # not a change of ours (e.g. a restore); nothing happened
    events = [_event(new, EventType.order_updated), *_sourcing_events(old, new), *_status_events(old, new)]
    events += _shipping_events(old, new)
    if new.returns != old.returns:
        events += _return_events(old, new)
    if delivery_place(new) != delivery_place(old):
        events.append(_event(new, EventType.order_address_changed))
    if {(f.code, f.fulfillment_id) for f in new.flags} - {(f.code, f.fulfillment_id) for f in old.flags}:
        events.append(_event(new, EventType.order_flagged))
    if new.status != old.status:
        if new.status is OrderStatus.cancelled:
            events.append(_event(new, EventType.order_cancelled))
        elif new.status is OrderStatus.on_hold:
            events.append(_event(new, EventType.order_held))
        elif old.status is OrderStatus.on_hold:
            events.append(_event(new, EventType.order_hold_cleared))
        elif old.status is OrderStatus.cancelled:
            events.append(_event(new, EventType.order_reinstated))
    return events
