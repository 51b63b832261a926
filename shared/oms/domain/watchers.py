"""Watchers: orders that need a person, found on a schedule.

* not released: placed (and payable) but at no node after `not_released_minutes`;
* ship-by missed: a parcel still at its node after its promised hand-over (plus a grace);
* no scan: a parcel handed over with no news from the carrier for `no_scan_hours`;
* late: a parcel not delivered by its promised latest date (the buyer's date), or its deliver-by moment.

A flag is kept while its condition holds and dropped when it stops (the parcel shipped, a scan came),
except `late`, which stays: a promise missed stays missed. Flags never stop anything; each new one
goes on the bus (`OrderFlagged`) and on the timeline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from oms.domain.aggregate import update_order
from oms.domain.lifecycle import AT_NODE, HANDED_OVER
from oms.errors import Conflict, NotFound
from oms.models.order import CHANNEL_FLAGS, PAYABLE, Flag, FlagCode, FulfillmentStatus, Order, OrderStatus
from oms.ports import OrderQuery, OrderRepository

WATCHED = (
    OrderStatus.received,
    OrderStatus.allocated,
    OrderStatus.partially_allocated,
    OrderStatus.partially_shipped,
    OrderStatus.shipped,
)
LOOK_BACK = timedelta(days=45)  # orders older than this are not watched any more
WATCHER = "watcher"


@dataclass(frozen=True)
class WatchRules:
    not_released_minutes: int = 60
    ship_by_grace_minutes: int = 30
    no_scan_hours: int = 48


def flags_for(order: Order, now: datetime, rules: WatchRules) -> list[Flag]:
    """The flags the order should carry now (since: kept from the flag it had, else now)."""
    if order.status is OrderStatus.cancelled:
        return []  # nothing left to watch: its flags go too
    found: list[tuple[FlagCode, str | None, str]] = []
    if order.status is OrderStatus.received and order.payment.status in PAYABLE:
        waited = now - order.created_at
        if waited >= timedelta(minutes=rules.not_released_minutes):
            found.append((FlagCode.not_released, None, f"not at any node after {_hours(waited)}"))
    for parcel in order.fulfillments:
        promise = parcel.promise
        if promise is None:
            continue
        grace = timedelta(minutes=rules.ship_by_grace_minutes)
        if parcel.status in AT_NODE and now > promise.ship_by + grace:
            found.append((FlagCode.ship_by_missed, parcel.fulfillment_id,
                          f"{parcel.node_id} was to hand it over by {promise.ship_by.isoformat()}"))  # fmt: skip
        quiet = now - (parcel.status_at or now)
        if parcel.status in HANDED_OVER - {FulfillmentStatus.delivered} and quiet >= timedelta(
            hours=rules.no_scan_hours
        ):
            found.append((FlagCode.no_scan, parcel.fulfillment_id, f"no carrier news for {_hours(quiet)}"))
        if parcel.status not in (FulfillmentStatus.delivered, FulfillmentStatus.picked_up) and _late(parcel, now):
            latest = promise.deliver_latest or promise.deliver_by
            found.append((FlagCode.late, parcel.fulfillment_id, f"promised by {latest}"))
    had = {(flag.code, flag.fulfillment_id): flag for flag in order.flags}
    flags = [had.get((code, fid)) or Flag(code=code, fulfillment_id=fid, since=now, message=message)
             for code, fid, message in found]  # fmt: skip
    kept_late = [f for f in order.flags if f.code is FlagCode.late and f not in flags]
    return [*flags, *kept_late, *channel_flags(order)]


def channel_flags(order: Order) -> list[Flag]:
    """What the channel said stays flagged until the channel says otherwise (oms.domain.capture)."""
    return [flag for flag in order.flags if flag.code in CHANNEL_FLAGS]


def _late(parcel, now: datetime) -> bool:  # type: ignore[no-untyped-def]
    promise = parcel.promise
    if parcel.status in (
        FulfillmentStatus.returned_to_sender,
        FulfillmentStatus.cancelled,
        FulfillmentStatus.rejected,
        FulfillmentStatus.ready_for_pickup,
    ):
        return False  # ended elsewhere, or waiting for the buyer
    if promise.deliver_by is not None:
        return now > promise.deliver_by
    if promise.deliver_latest is None:
        return False
    today = now.astimezone(ZoneInfo(promise.buyer_tz or "Asia/Jakarta")).date()
    return today > promise.deliver_latest


def _hours(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours:.0f} h" if hours < 72 else f"{hours / 24:.0f} days"


def order_ids(orders: OrderRepository, statuses: tuple[OrderStatus, ...], since: datetime) -> Iterator[str]:
    """Every order in the statuses created since then, page by page (the scheduled jobs' walk)."""
    for status in statuses:
        cursor = None
        while True:
            page = orders.list(OrderQuery(status=status, created_from=since, limit=100, cursor=cursor))
            yield from (summary["order_id"] for summary in page.items)
            cursor = page.next_cursor
            if not cursor:
                break


def attention_ids(orders: OrderRepository, attention: str) -> Iterator[str]:
    """Every order in an attention list (late, at_risk), however old."""
    cursor = None
    while True:
        page = orders.list(OrderQuery(attention=attention, limit=100, cursor=cursor))
        yield from (summary["order_id"] for summary in page.items)
        cursor = page.next_cursor
        if not cursor:
            break


class Watcher:
    def __init__(self, orders: OrderRepository, clock: Callable[[], datetime], rules: WatchRules | None = None) -> None:
        self.orders = orders
        self.clock = clock
        self.rules = rules or WatchRules()

    def run(self, time_left: Callable[[], float] | None = None) -> dict[str, int]:
        """Look at every watched order once; (looked at, flagged, cleared) counts."""
        now = self.clock()
        looked = flagged = cleared = 0
        # The watched statuses, and every order already flagged (its flags end when it moves on).
        flagged_ids = [*attention_ids(self.orders, "at_risk"), *attention_ids(self.orders, "late")]
        for order_id in dict.fromkeys([*order_ids(self.orders, WATCHED, now - LOOK_BACK), *flagged_ids]):
            if time_left is not None and time_left() < 5:
                return {"looked_at": looked, "flagged": flagged, "cleared": cleared, "finished": 0}
            looked += 1
            added, dropped = self.watch(order_id, now)
            flagged += added
            cleared += dropped
        return {"looked_at": looked, "flagged": flagged, "cleared": cleared, "finished": 1}

    def watch(self, order_id: str, now: datetime) -> tuple[int, int]:
        """Set the order's flags to what holds now; (added, dropped). An order gone, or changing under
        every attempt, is left to the next run."""
        counts = (0, 0)

        def reflagged(order: Order) -> Order:
            nonlocal counts
            flags = flags_for(order, now, self.rules)
            before = {(f.code, f.fulfillment_id) for f in order.flags}
            after = {(f.code, f.fulfillment_id) for f in flags}
            counts = (len(after - before), len(before - after))
            if before == after:
                return order
            update = {"flags": flags, "updated_at": now, "version": order.version + 1, "changed_by": WATCHER}
            return order.model_copy(update=update)

        try:
            update_order(self.orders, order_id, reflagged, attempts=3)
        except (NotFound, Conflict):
            return 0, 0
        return counts
