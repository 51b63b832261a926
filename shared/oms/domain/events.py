"""Which domain events an order change means.

Derived from the stored before/after (the table's stream), so an event can
never be lost between the write and the publish.
"""

from __future__ import annotations

from oms.models.events import DomainEvent, EventType
from oms.models.order import Order, OrderStatus


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


def order_detail(order: Order) -> dict:
    return {
        "order_id": order.order_id,
        "order_number": order.order_number,
        "channel": order.channel.value,
        "channel_order_id": order.channel_order_id,
        "channel_order_number": order.channel_order_number,
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
        "version": order.version,
    }


def _event(order: Order, event_type: EventType) -> DomainEvent:
    return DomainEvent(
        event_id=f"{order.order_id}:v{order.version}:{event_type.value}",
        event_type=event_type,
        occurred_at=order.updated_at,
        order_id=order.order_id,
        detail=order_detail(order),
    )


def events_for_change(old: Order | None, new: Order) -> list[DomainEvent]:
    if old is None:
        return [_event(new, EventType.order_received)]
    if new.version <= old.version:
        return []  # not a change of ours (e.g. a restore); nothing happened
    events = [_event(new, EventType.order_updated)]
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
