"""The inventory's storage as ports: stock items, reservations, movements,
counts, the stock ledger, snapshot bookkeeping and daily node capacity.

The domain plans; a store applies a plan whole or refuses it whole, saying
why (WriteRefused). A store never oversells: what reserves or takes units
out is written only if the units are free when it is written.
Adapters: oms.adapters.stock, oms.adapters.capacity. Fakes: tests/fakes/stock.py.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from oms.models.inventory import Reservation, ReservationLine, ReservationStatus, SnapshotScope, StockLevel

Guard = Literal["atp", "on_hand"]

# ---------------------------------------------------------------- values the domain passes


@dataclass(frozen=True)
class StockDelta:
    """A relative change to one stock item, with the guard that keeps the invariant."""

    sku: str
    node_id: str
    bucket: int = 0
    on_hand: int = 0
    reserved: int = 0
    guard: Guard | None = None  # "atp": needs atp >= what leaves; "on_hand": needs on_hand >= what leaves
    create: bool = False  # may create the item (a receipt at a new (sku, node))
    safety_stock_if_new: int = 0


@dataclass(frozen=True)
class CapacityTake:
    """One order's worth of a node's daily capacity for one kind of work."""

    node_id: str
    kind: str  # ship, pickup, same_day
    day: date  # the node's local date
    limit: int


@dataclass(frozen=True)
class CountWrite:
    """A count of one (sku, node): recorded always, and on hand set to new_on_hand when given.
    Written only if bucket 0 still holds the on hand it was planned from (or still does not exist)."""

    sku: str
    node_id: str
    head: StockLevel | None  # bucket 0 as read; None: no stock item yet
    counted: int
    as_of: datetime
    moves_since: int  # on-hand movements after as_of, already in on hand
    new_on_hand: int | None
    safety_if_new: int = 0
    other_buckets: tuple[int, ...] = ()  # these start counting movements afresh


@dataclass(frozen=True)
class SnapshotMark:
    """The newest count a node was sent."""

    as_of: datetime
    snapshot_id: str


@dataclass(frozen=True)
class SnapshotHeader:
    snapshot_id: str
    node_id: str
    as_of: datetime
    scope: SnapshotScope
    parts: int
    parts_received: frozenset[int] = frozenset()
    part_stats: dict[int, dict[str, int]] = field(default_factory=dict)  # part -> applied, changed, stale
    received_at: datetime | None = None
    applied_at: datetime | None = None
    zeroed_at: datetime | None = None
    rows_zeroed: int = 0
    version: Any = None  # the store's token for part_stats as read (save_part_stats compares it)


# ---------------------------------------------------------------- failures


@dataclass(eq=False)
class WriteRefused(Exception):
    """A write the store refused whole: nothing of it was written. Every reason the store gave is
    here; none at all means another write held an item at the time (worth a retry)."""

    exists: bool = False  # the reservation(s) or the request key were there already
    short_lines: list[ReservationLine] = field(default_factory=list)  # lines whose stock item was short
    short_deltas: list[StockDelta] = field(default_factory=list)  # movements that would take what is not there
    full: list[CapacityTake] = field(default_factory=list)  # node capacity reached
    stale: bool = False  # what the write was conditioned on changed (not active, consumed, a figure moved)

    def __post_init__(self) -> None:
        super().__init__(self.__class__.__name__)

    @property
    def contended(self) -> bool:
        return not (self.exists or self.short_lines or self.short_deltas or self.full or self.stale)


# ---------------------------------------------------------------- ports


class StockItems(ABC):
    """Stock items: one per (sku, node, bucket), holding on hand, reserved, safety stock and atp."""

    @abstractmethod
    def levels(self, pairs: list[tuple[str, str]], consistent: bool = False) -> list[StockLevel]:
        """Every bucket of the given (sku, node) pairs that exist."""

    @abstractmethod
    def node_skus(self, node_id: str) -> Iterator[str]:
        """The SKUs with a stock item at the node."""

    @abstractmethod
    def scan_levels(self) -> Iterator[StockLevel]: ...

    @abstractmethod
    def apply_movement(
        self, request_key: str, fingerprint: str, deltas: list[StockDelta], kind: str, now: datetime
    ) -> None:
        """The deltas, once per request key. WriteRefused: exists (the key was seen), short_deltas."""

    @abstractmethod
    def request_fingerprint(self, request_key: str) -> str | None: ...

    @abstractmethod
    def apply_counts(self, writes: list[CountWrite], ref: str, now: datetime) -> None:
        """Counts, in order. WriteRefused(stale) when an item moved since it was read."""

    @abstractmethod
    def set_figures(
        self,
        level: StockLevel,
        *,
        on_hand: int | None = None,
        reserved: int | None = None,
        kind: str,
        ref: str,
        now: datetime,
    ) -> bool:
        """Repair one stock item to the given figures if it still holds what was read. False if it moved."""

    @abstractmethod
    def rebalance_items(self, levels: list[StockLevel], targets: dict[int, int], buckets: int, now: datetime) -> None:
        """Bucket b's on hand changes by targets[b], all or nothing; missing buckets are created.
        WriteRefused(stale) when a bucket's atp moved since it was read."""


class Reservations(ABC):
    @abstractmethod
    def get_reservation(self, reservation_id: str) -> Reservation | None: ...

    @abstractmethod
    def create_reservation(self, reservation: Reservation, now: datetime) -> None:
        """The reservation and every line's stock. WriteRefused: exists, short_lines."""

    @abstractmethod
    def create_reservations(self, reservations: list[Reservation], now: datetime, capacity: list[CapacityTake]) -> None:
        """Several reservations, their stock and the node capacity they take, all or nothing.
        WriteRefused: exists, short_lines (the first line of each short stock item), full."""

    @abstractmethod
    def finish_reservation(
        self, reservation: Reservation, status: ReservationStatus, now: datetime, reason: str | None = None
    ) -> None:
        """Release every line not consumed and close it. WriteRefused(stale) when it is not active."""

    @abstractmethod
    def consume_lines(self, reservation: Reservation, line_ids: list[str], now: datetime) -> None:
        """Shipped: the lines' units leave on hand and reserved together. WriteRefused(stale) when a
        line was consumed already or the reservation is not active."""

    @abstractmethod
    def expired_holds(self, now: datetime, limit: int = 500) -> list[str]: ...

    @abstractmethod
    def scan_active_reservations(self) -> Iterator[Reservation]: ...


class StockLedger(ABC):
    """Movements (from the stock items' changes) and job reports."""

    @abstractmethod
    def on_hand_moves_since(self, sku: str, node_id: str, since: datetime) -> tuple[int, datetime | None]:
        """Sum of on-hand movements after ``since`` (counts, audits and repairs excluded), and the newest one's time."""

    @abstractmethod
    def put_movements(self, entries: list[dict[str, Any]]) -> None: ...

    @abstractmethod
    def movements(self, sku: str, node_id: str, limit: int = 50) -> list[dict[str, Any]]: ...

    @abstractmethod
    def put_report(self, kind: str, started_at: datetime, body: dict[str, Any]) -> None: ...

    @abstractmethod
    def latest_report(self, kind: str) -> dict[str, Any] | None: ...


class SnapshotLog(ABC):
    """What a count sent in parts has received and applied."""

    @abstractmethod
    def latest_snapshot(self, node_id: str) -> SnapshotMark | None: ...

    @abstractmethod
    def mark_latest(self, node_id: str, as_of: datetime, snapshot_id: str) -> None:
        """Move the node's mark to this count, unless it holds a newer one."""

    @abstractmethod
    def open_snapshot(
        self, snapshot_id: str, node_id: str, as_of: datetime, scope: SnapshotScope, parts: int, now: datetime
    ) -> SnapshotHeader | None:
        """The header, created on first sight; None when the id belongs to another count."""

    @abstractmethod
    def add_received_part(self, snapshot_id: str, part: int) -> None: ...

    @abstractmethod
    def get_snapshot(self, snapshot_id: str) -> SnapshotHeader | None: ...

    @abstractmethod
    def save_part_stats(
        self, header: SnapshotHeader, part_stats: dict[int, dict[str, int]], applied_at: datetime | None
    ) -> bool:
        """Replace the part stats if they are still what ``header`` read (and set applied_at once,
        when given). False when they changed meanwhile."""

    @abstractmethod
    def finish_snapshot(self, snapshot_id: str, rows_zeroed: int, now: datetime) -> None:
        """A full count's unlisted SKUs were zeroed: it is applied."""


class StockStore(StockItems, Reservations, StockLedger, SnapshotLog, ABC):
    """Everything the inventory module keeps (oms.adapters.stock.DynamoStock)."""


class CapacityCounter(ABC):
    """Orders taken per node, kind of work and local day (taken with reservations: create_reservations)."""

    @abstractmethod
    def used(self, days: dict[str, date]) -> dict[tuple[str, str], int]:
        """(node, kind) -> orders taken on the node's given local day."""
