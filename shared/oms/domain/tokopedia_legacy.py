"""Tokopedia orders stored before Tokopedia moved onto the TikTok Shop API, brought into one vocabulary.

Tokopedia's own Open API closed on 30 September 2025; its storefronts' orders now come through the TikTok
Shop API and speak TikTok Shop's statuses (AWAITING_SHIPMENT, IN_TRANSIT, ...). Orders the OMS captured
through the old API keep their numeric status codes ("220", "500", ...), which no code reads any more.
The migration gives each such order the TikTok Shop status of the state it was in (its canonical
channel_state stays as stored), keeps the old code as a tag, and tags the order as one of the closed API's:
no API knows it any more, so one still open at the marketplace is listed for ops to finish in the seller
center. Idempotent: a migrated order is no longer in the old format, so a rerun changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from oms.errors import StaleWrite
from oms.models.order import Channel, ChannelState, Order
from oms.ports import OrderRepository

LEGACY_TAG = "tokopedia-open-api"  # captured through Tokopedia's own (closed) API
STATUS_TAG = "tokopedia-status-"  # + the old numeric code
MIGRATED_BY = "migration:tokopedia-on-tiktok"

# The TikTok Shop order status of each canonical state a legacy code was mapped to.
TIKTOK_STATUS = {
    ChannelState.unpaid: "UNPAID",
    ChannelState.on_hold: "ON_HOLD",
    ChannelState.ready: "AWAITING_SHIPMENT",
    ChannelState.arranged: "AWAITING_COLLECTION",
    ChannelState.shipped: "IN_TRANSIT",
    ChannelState.delivered: "DELIVERED",
    ChannelState.completed: "COMPLETED",
    ChannelState.cancelled: "CANCELLED",
    # A return or complaint is not an order status on TikTok Shop: the goods were delivered.
    ChannelState.return_requested: "DELIVERED",
    ChannelState.returned: "DELIVERED",
}
FINISHED = frozenset({ChannelState.completed, ChannelState.cancelled, ChannelState.returned})


def is_legacy(order: Order) -> bool:
    """Captured through Tokopedia's own API and not migrated yet: its raw status is a numeric code."""
    raw = (order.channel_status or "").strip()
    return order.channel is Channel.tokopedia and raw.isdigit() and LEGACY_TAG not in order.tags


def migrated(order: Order, now: datetime) -> Order:
    code = (order.channel_status or "").strip()
    state = order.channel_state or ChannelState.unknown
    tags = [*order.tags, LEGACY_TAG, f"{STATUS_TAG}{code}"][-50:]
    return order.model_copy(
        update={
            "channel_status": TIKTOK_STATUS.get(state, order.channel_status),
            "tags": tags,
            "updated_at": now,
            "version": order.version + 1,
            "changed_by": MIGRATED_BY,
        }
    )


@dataclass
class MigrationReport:
    scanned: int = 0
    migrated: int = 0
    # Legacy orders the marketplace had not finished: no API can move them now; ops close them by hand.
    still_open: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # changed under us twice: run again


def migrate(orders: OrderRepository, now: Callable[[], datetime], *, dry_run: bool = False) -> MigrationReport:
    report = MigrationReport()
    for order_id in orders.ids_of_channel(Channel.tokopedia.value):
        report.scanned += 1
        _migrate_one(orders, order_id, now, dry_run, report)
    return report


def _migrate_one(
    orders: OrderRepository, order_id: str, now: Callable[[], datetime], dry_run: bool, report: MigrationReport
) -> None:
    for _ in range(2):  # a concurrent change: read again once
        order = orders.get(order_id, consistent=True)
        if order is None or not is_legacy(order):
            return
        if (order.channel_state or ChannelState.unknown) not in FINISHED:
            report.still_open.append(order.order_number)
        if dry_run:
            report.migrated += 1
            return
        try:
            orders.replace(migrated(order, now()), order.version)
        except StaleWrite:
            if report.still_open and report.still_open[-1] == order.order_number:
                report.still_open.pop()
            continue
        report.migrated += 1
        return
    report.conflicts.append(order_id)
