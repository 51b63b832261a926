"""Polling carriers that do not push: parcels on their way with such a carrier, not heard of for
`every_minutes`, are looked up by waybill through the tracking port (Biteship's public tracking
API) and its newest status goes through the same path as a pushed one (oms.domain.status), so a
repeat changes nothing and late news never moves a parcel back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from oms.domain.carrier_webhooks import BITESHIP_STATUSES, snake
from oms.domain.lifecycle import HANDED_OVER
from oms.domain.status import CarrierReport
from oms.domain.watchers import order_ids
from oms.models.order import FulfillmentStatus, OrderStatus
from oms.ports import OrderRepository

POLLED_STATUSES = (OrderStatus.partially_shipped, OrderStatus.shipped)
LOOK_BACK = timedelta(days=30)


class Tracking(Protocol):
    def latest(self, courier: str, waybill: str) -> tuple[str, datetime | None, str | None] | None: ...


class Reports(Protocol):
    def carrier_report(self, report: CarrierReport) -> object: ...


class CarrierPoller:
    def __init__(self, orders: OrderRepository, tracking: Tracking, reports: Reports, carriers: set[str],
                 clock: Callable[[], datetime], every_minutes: int = 60) -> None:  # fmt: skip
        self.orders = orders
        self.tracking = tracking
        self.reports = reports
        self.carriers = carriers
        self.clock = clock
        self.every = timedelta(minutes=every_minutes)

    def run(self, time_left: Callable[[], float] | None = None) -> dict[str, int]:
        now = self.clock()
        asked = moved = failed = 0
        for order_id in order_ids(self.orders, POLLED_STATUSES, now - LOOK_BACK):
            if time_left is not None and time_left() < 10:
                return {"asked": asked, "moved": moved, "failed": failed, "finished": 0}
            order = self.orders.get(order_id)
            for parcel in order.fulfillments if order else []:
                shipment = parcel.shipment
                due = parcel.status_at is None or now - parcel.status_at >= self.every
                waiting = parcel.status in HANDED_OVER and parcel.status is not FulfillmentStatus.delivered
                if shipment is None or shipment.carrier not in self.carriers or not waiting or not due:
                    continue
                asked += 1
                try:
                    moved += self._ask(shipment.carrier, shipment.tracking_number, now)
                except Exception:  # one parcel's trouble (its API, a conflict, odd data) never stops the run
                    failed += 1  # asked again next run; counted (CarrierPollsFailed)
        return {"asked": asked, "moved": moved, "failed": failed, "finished": 1}

    def _ask(self, carrier: str, waybill: str, now: datetime) -> int:
        found = self.tracking.latest(carrier, waybill)
        if found is None:
            return 0
        raw, at, note = found
        raw = snake(raw)
        report = CarrierReport(carrier=carrier, tracking_number=waybill, status=BITESHIP_STATUSES.get(raw),
                               raw_status=raw, at=at or now, note=note, timed=at is not None)  # fmt: skip
        outcome = self.reports.carrier_report(report)
        return int(getattr(outcome, "outcome", "") == "moved")
