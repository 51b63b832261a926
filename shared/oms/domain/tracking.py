"""Order tracking for buyers: the order number and the email or phone on the order.

The same answer (not found) for an unknown number and a wrong contact, so numbers cannot be
probed; wrong contacts for one order number are counted per hour and, past the limit, the number
answers 429 whatever is sent (API Gateway throttles the route per second as well). Nothing
personal is returned.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from oms.domain.lifecycle import ENDED
from oms.errors import NotFound, TooManyRequests
from oms.models.order import Order
from oms.models.timeline import TimelineEntry
from oms.models.tracking import TrackedEvent, TrackedParcel, TrackedReturn, Tracking

WRONG_CONTACTS_PER_HOUR = 10


class TrackingOrders(Protocol):
    def by_number(self, order_number: str) -> Order | None: ...

    def timeline(self, order_id: str) -> list[TimelineEntry]: ...


class AttemptCounter(Protocol):
    def failures(self, key: str, now: datetime) -> int: ...

    def count_failure(self, key: str, now: datetime) -> int: ...


def normalized_contact(value: str) -> str:
    """An email lower-cased; a phone as its digits in the +62 form (0812..., 812..., +62 812...)."""
    value = value.strip()
    if "@" in value:
        return value.lower()
    digits = re.sub(r"\D", "", value)
    if digits.startswith("00"):  # 0062 812...: the international prefix dialled
        digits = digits[2:]
    if digits.startswith("620"):  # +62 (0)812...: the trunk zero written after the country code
        digits = "62" + digits[3:]
    elif digits.startswith("0"):
        digits = "62" + digits[1:]
    elif digits.startswith("8"):
        digits = "62" + digits
    return digits


def _contacts(order: Order) -> list[str]:
    values = [order.customer.email, order.customer.phone]
    if order.shipping_address is not None:
        values.append(order.shipping_address.phone)
    return [normalized_contact(v) for v in values if v]


class TrackingService:
    def __init__(self, orders: TrackingOrders, attempts: AttemptCounter, nodes: Callable[[], dict[str, Any]]) -> None:
        self.orders = orders
        self.attempts = attempts
        self.nodes = nodes

    def track(self, order_number: str, contact: str | None, now: datetime) -> Tracking:
        key = order_number.upper()
        if self.attempts.failures(key, now) >= WRONG_CONTACTS_PER_HOUR:
            raise TooManyRequests("too many wrong attempts for this order number; try again in an hour")
        order = self.orders.by_number(key)
        given = normalized_contact(contact or "")
        if order is None or not given or not any(hmac.compare_digest(given, c) for c in _contacts(order)):
            self.attempts.count_failure(key, now)
            raise NotFound("no order with this number and contact")
        return self._view(order)

    def _view(self, order: Order) -> Tracking:
        nodes = self.nodes()
        parcels = []
        for parcel in order.fulfillments:
            if parcel.status in ENDED:
                continue  # a rejected node's part went elsewhere: the buyer sees where it is now
            promise, first = parcel.promise, parcel.promise_original
            shipment = parcel.shipment
            store = nodes.get(parcel.node_id) if parcel.delivery_method.value in ("pickup", "curbside") else None
            parcels.append(
                TrackedParcel(
                    status=parcel.status,
                    carrier=shipment.carrier if shipment else (promise.carrier if promise else None),
                    service=shipment.service if shipment else (promise.service if promise else None),
                    tracking_number=shipment.tracking_number if shipment else None,
                    items=sum(line.quantity for line in parcel.lines),
                    pickup_store=store.name if store else None,
                    promised_latest=first.deliver_latest if first else None,
                    estimated_earliest=promise.deliver_earliest if promise else None,
                    estimated_latest=promise.deliver_latest if promise else None,
                    deliver_by=promise.deliver_by if promise else None,
                    ready_at=promise.ready_at if promise else None,
                    updated_at=parcel.status_at,
                )
            )
        events = [
            TrackedEvent(at=entry.at, what=entry.public)
            for entry in self.orders.timeline(order.order_id)
            if entry.public
        ]
        return Tracking(
            order_number=order.order_number,
            status=order.status,
            placed_on=order.placed_at.date(),
            parcels=parcels,
            timeline=events,
            returns=[
                TrackedReturn(
                    rma_id=rma.rma_id,
                    status=rma.status,
                    items=sum(line.quantity for line in rma.lines),
                    refund_status=rma.refund.status,
                    exchange=rma.exchange_order_id is not None,
                )
                for rma in order.returns
                if rma.forwarded_from is None  # transfers between nodes are the retailer's business
            ],
        )
