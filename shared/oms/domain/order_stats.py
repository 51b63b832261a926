"""Order counts per WIB day, status and channel: what GET /orders/stats reads instead of the orders.

Each order is counted once, on the WIB (Asia/Jakarta) day it was created, under the status and channel it
has now. The orders-stream publisher keeps the counts: a new order adds one; an order whose status changes
takes one from the old status and adds one to the new. What an order is counted as is kept beside it (its
version and key): a change is applied only over an older version, from what is counted, so a replayed or
repeated stream record, or a backfill racing the stream, never counts an order twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from oms.domain.clock import WIB, wib_day
from oms.models.order import Order

DEFAULT_LOOKBACK = timedelta(days=30)
MAX_RANGE = timedelta(days=92)


@dataclass(frozen=True)
class CountKey:
    """What an order is counted as: its creation day (WIB), its status and its channel."""

    day: date
    status: str
    channel: str

    def text(self) -> str:
        return f"{self.day.isoformat()}|{self.status}|{self.channel}"

    @classmethod
    def parse(cls, text: str) -> CountKey:
        day, status, channel = text.split("|", 2)
        return cls(date.fromisoformat(day), status, channel)


def count_key(order: Order) -> CountKey:
    return CountKey(wib_day(order.created_at), order.status.value, order.channel.value)


def counts_change(old: Order | None, new: Order) -> bool:
    """Whether a stored change moves the counts (a new order, or another status or channel)."""
    return old is None or count_key(old) != count_key(new)


def deltas(before: CountKey | None, after: CountKey) -> dict[date, dict[tuple[str, str], int]]:
    """Per day, the (status, channel) counts to add, to move an order counted as `before` to `after`."""
    out: dict[date, dict[tuple[str, str], int]] = {}
    if before == after:
        return out
    if before is not None:
        out.setdefault(before.day, {})[(before.status, before.channel)] = -1
    out.setdefault(after.day, {})[(after.status, after.channel)] = 1
    return out


@dataclass(frozen=True)
class StatsRange:
    """The whole WIB days a stats request counts: from the day of created_from to the day of created_to."""

    first: date
    last: date

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    @property
    def starts(self) -> datetime:
        return datetime.combine(self.first, time.min, tzinfo=WIB)

    @property
    def ends(self) -> datetime:
        """The last instant counted (inclusive)."""
        return datetime.combine(self.last, time.max, tzinfo=WIB)


def stats_range(created_from: datetime | None, created_to: datetime | None, now: datetime) -> StatsRange:
    """The days to count; ValueError when the instants are out of order or more than MAX_RANGE apart.
    Default: created_to now, created_from DEFAULT_LOOKBACK before created_to. Whole WIB days: an order
    created on the first or last day counts whatever its time of day."""
    end = created_to or now
    start = created_from or end - DEFAULT_LOOKBACK
    if start > end or end - start > MAX_RANGE:
        raise ValueError(f"created_from must be before created_to, at most {MAX_RANGE.days} days apart")
    return StatsRange(wib_day(start), wib_day(end))


def summarize(window: StatsRange, counts: Iterable[tuple[tuple[str, str], int]]) -> dict[str, Any]:
    """The GET /orders/stats answer from (status, channel) counts (summed; zero and below left out)."""
    both: Counter[tuple[str, str]] = Counter()
    for pair, n in counts:
        both[pair] += n
    both = Counter({pair: n for pair, n in both.items() if n > 0})
    by_status: Counter[str] = Counter()
    by_channel: Counter[str] = Counter()
    for (status, channel), n in both.items():
        by_status[status] += n
        by_channel[channel] += n
    return {
        "created_from": window.starts,
        "created_to": window.ends,
        "total": sum(both.values()),
        "by_status": dict(by_status),
        "by_channel": dict(by_channel),
        "by_status_and_channel": [{"status": s, "channel": c, "orders": n} for (s, c), n in sorted(both.items())],
    }
