"""In-memory fakes of the stock ports (oms.ports.stock), with the Dynamo adapter's semantics:
every write is all or nothing, refused with WriteRefused saying why; a reservation or a leaving
movement needs the units free when written (no overselling); reservation ids and request keys
are written once; a transaction may touch a stock item only once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from oms.domain.ledger import iso
from oms.models.inventory import Reservation, ReservationLine, ReservationStatus, SnapshotScope, StockLevel
from oms.ports.stock import (
    CapacityCounter,
    CapacityTake,
    CountWrite,
    SnapshotHeader,
    SnapshotMark,
    StockDelta,
    StockStore,
    WriteRefused,
)

Key = tuple[str, str, int]  # (sku, node, bucket)
_NOT_MOVES = ("count", "reconcile", "audit")


class FakeCapacity(CapacityCounter):
    def __init__(self) -> None:
        self.taken: dict[tuple[str, str, date], int] = {}  # (node, kind, local day) -> orders

    def used(self, days: dict[str, date]) -> dict[tuple[str, str], int]:
        return {
            (node_id, kind): count
            for (node_id, kind, day), count in self.taken.items()
            if days.get(node_id) == day and count
        }


class FakeStock(StockStore):
    def __init__(self, capacity: FakeCapacity | None = None) -> None:
        self.items: dict[Key, StockLevel] = {}
        self.reservations: dict[str, Reservation] = {}
        self.requests: dict[str, str] = {}  # request key -> fingerprint
        self.ledger: list[dict[str, Any]] = []  # what the inventory stream would write, oldest first
        self.reports: list[tuple[str, datetime, dict[str, Any]]] = []
        self.marks: dict[str, SnapshotMark] = {}
        self.snapshots: dict[str, SnapshotHeader] = {}
        self.capacity = capacity or FakeCapacity()
        self.refuse_next: list[WriteRefused] = []  # another writer got there first: the next writes fail so
        self.writes = 0
        self._pending: list[dict[str, Any]] = []  # ledger entries of the write being staged

    # ------------------------------------------------------------ test set-up

    def put(self, sku: str, node_id: str, on_hand: int, *, safety_stock: int = 0, reserved: int = 0) -> StockLevel:
        level = StockLevel(
            sku=sku,
            node_id=node_id,
            on_hand=on_hand,
            reserved=reserved,
            safety_stock=safety_stock,
            atp=on_hand - reserved - safety_stock,
        )
        self.items[(sku, node_id, 0)] = level
        return level

    def level(self, sku: str, node_id: str, bucket: int = 0) -> StockLevel | None:
        return self.items.get((sku, node_id, bucket))

    # ------------------------------------------------------------ reads

    def levels(self, pairs: list[tuple[str, str]], consistent: bool = False) -> list[StockLevel]:
        heads = [self.items[(sku, node, 0)] for sku, node in sorted(set(pairs)) if (sku, node, 0) in self.items]
        tails = [
            self.items[(h.sku, h.node_id, b)]
            for h in heads
            for b in range(1, h.buckets)
            if (h.sku, h.node_id, b) in self.items
        ]
        return heads + tails

    def node_skus(self, node_id: str) -> Iterator[str]:
        yield from sorted(sku for sku, node, bucket in self.items if node == node_id and bucket == 0)

    def scan_levels(self) -> Iterator[StockLevel]:
        yield from list(self.items.values())

    def get_reservation(self, reservation_id: str) -> Reservation | None:
        return self.reservations.get(reservation_id)

    def expired_holds(self, now: datetime, limit: int = 500) -> list[str]:
        due = [
            r
            for r in self.reservations.values()
            if r.status is ReservationStatus.active and r.expires_at is not None and r.expires_at <= now
        ]
        return [r.reservation_id for r in sorted(due, key=lambda r: r.expires_at or now)][:limit]

    def scan_active_reservations(self) -> Iterator[Reservation]:
        yield from [r for r in self.reservations.values() if r.status is ReservationStatus.active]

    def request_fingerprint(self, request_key: str) -> str | None:
        return self.requests.get(request_key)

    # ------------------------------------------------------------ the transaction

    def _begin(self) -> None:
        self.writes += 1
        self._pending = []
        if self.refuse_next:
            raise self.refuse_next.pop(0)

    def _plan_delta(self, delta: StockDelta, staged: dict[Key, StockLevel], now: datetime, kind: str, ref: str) -> bool:
        """Stage one delta as the Dynamo update would apply it; False when its condition fails."""
        key = (delta.sku, delta.node_id, delta.bucket)
        if key in staged:
            raise ValueError(f"a transaction may touch {key} only once")  # DynamoDB refuses it (ValidationException)
        current = self.items.get(key)
        atp_delta = delta.on_hand - delta.reserved
        if current is None and not delta.create:
            return False
        if delta.guard == "atp" and (current is None or current.atp < -atp_delta):
            return False
        if delta.guard == "on_hand" and (current is None or current.on_hand < -delta.on_hand):
            return False
        base = current or StockLevel(
            sku=delta.sku,
            node_id=delta.node_id,
            bucket=delta.bucket,
            safety_stock=delta.safety_stock_if_new,
            atp=-delta.safety_stock_if_new,
        )
        changes: dict[str, Any] = {
            "on_hand": base.on_hand + delta.on_hand,
            "reserved": base.reserved + delta.reserved,
            "atp": base.atp + atp_delta,
            "updated_at": now,
        }
        if delta.on_hand:
            changes["last_move_at"] = now
            changes["moved_since_count"] = base.moved_since_count + delta.on_hand
        staged[key] = base.model_copy(update=changes)
        self._log(base if current else None, staged[key], kind, ref, now)
        return True

    def _commit(self, staged: dict[Key, StockLevel]) -> None:
        self.items.update(staged)
        self.ledger.extend(self._pending)
        self._pending = []

    def _log(self, before: StockLevel | None, after: StockLevel, kind: str, ref: str, now: datetime) -> None:
        old_on_hand = before.on_hand if before else 0
        old_reserved = before.reserved if before else 0
        self._pending = [*self._pending, {
            "sku": after.sku, "node_id": after.node_id, "bucket": after.bucket, "kind": kind, "ref": ref,
            "moved_at": iso(now), "d_on_hand": after.on_hand - old_on_hand, "d_reserved": after.reserved - old_reserved,
            "on_hand": after.on_hand, "reserved": after.reserved, "atp": after.atp,
        }]  # fmt: skip

    def _stage_lines(
        self, reservation: Reservation, lines: list[ReservationLine], staged: dict, sign: int, kind: str, now: datetime
    ) -> list[ReservationLine]:
        """Each stock item once (two lines of one SKU share it); the first line of each short item."""
        per_item: dict[Key, tuple[int, ReservationLine]] = {}
        for line in lines:
            key = (line.sku, line.node_id, line.bucket)
            units, first = per_item.get(key, (0, line))
            per_item[key] = (units + line.quantity, first)
        short = []
        for (sku, node_id, bucket), (units, first) in per_item.items():
            delta = StockDelta(sku, node_id, bucket, reserved=sign * units, guard="atp" if sign > 0 else None)
            if not self._plan_delta(delta, staged, now, kind, reservation.reservation_id):
                short.append(first)
        return short

    # ------------------------------------------------------------ reservations

    def create_reservation(self, reservation: Reservation, now: datetime) -> None:
        self._begin()
        staged: dict[Key, StockLevel] = {}
        short = []
        for line in reservation.lines:  # one item per line, as the Dynamo adapter writes them
            delta = StockDelta(line.sku, line.node_id, line.bucket, reserved=line.quantity, guard="atp")
            if not self._plan_delta(delta, staged, now, "reserve", reservation.reservation_id):
                short.append(line)
        exists = reservation.reservation_id in self.reservations
        if exists or short:
            raise WriteRefused(exists=exists, short_lines=short)
        self._commit(staged)
        self.reservations[reservation.reservation_id] = reservation

    def create_reservations(self, reservations: list[Reservation], now: datetime, capacity: list[CapacityTake]) -> None:
        self._begin()
        staged: dict[Key, StockLevel] = {}
        exists = any(r.reservation_id in self.reservations for r in reservations)
        short = [line for r in reservations for line in self._stage_lines(r, r.lines, staged, 1, "reserve", now)]
        full = [t for t in capacity if self.capacity.taken.get((t.node_id, t.kind, t.day), 0) >= t.limit]
        if exists or short or full:
            raise WriteRefused(exists=exists, short_lines=short, full=full)
        self._commit(staged)
        for reservation in reservations:
            self.reservations[reservation.reservation_id] = reservation
        for take in capacity:
            key = (take.node_id, take.kind, take.day)
            self.capacity.taken[key] = self.capacity.taken.get(key, 0) + 1

    def finish_reservation(
        self, reservation: Reservation, status: ReservationStatus, now: datetime, reason: str | None = None
    ) -> None:
        self._begin()
        stored = self.reservations.get(reservation.reservation_id)
        staged: dict[Key, StockLevel] = {}
        open_lines = [line for line in reservation.lines if line.line_id not in reservation.consumed_lines]
        missing = self._stage_lines(reservation, open_lines, staged, -1, status.value, now)
        if stored is None or stored.status is not ReservationStatus.active or missing:
            raise WriteRefused(stale=True)
        self._commit(staged)
        self.reservations[reservation.reservation_id] = stored.model_copy(
            update={"status": status, "finished_at": now, "reason": reason or stored.reason}
        )

    def consume_lines(self, reservation: Reservation, line_ids: list[str], now: datetime) -> None:
        self._begin()
        stored = self.reservations.get(reservation.reservation_id)
        if (
            stored is None
            or stored.status is not ReservationStatus.active
            or set(line_ids) & set(stored.consumed_lines)
        ):
            raise WriteRefused(stale=True)
        staged: dict[Key, StockLevel] = {}
        per_item: dict[Key, int] = {}
        for line in reservation.lines:
            if line.line_id in line_ids:
                key = (line.sku, line.node_id, line.bucket)
                per_item[key] = per_item.get(key, 0) + line.quantity
        for (sku, node_id, bucket), units in per_item.items():
            delta = StockDelta(sku, node_id, bucket, on_hand=-units, reserved=-units)
            if not self._plan_delta(delta, staged, now, "consume", reservation.reservation_id):
                raise WriteRefused(stale=True)
        self._commit(staged)
        consumed = sorted(set(stored.consumed_lines) | set(line_ids))
        update: dict[str, Any] = {"consumed_lines": consumed}
        if set(consumed) >= {line.line_id for line in stored.lines}:
            update.update(status=ReservationStatus.consumed, finished_at=now)
        self.reservations[reservation.reservation_id] = stored.model_copy(update=update)

    # ------------------------------------------------------------ movements and absolute writes

    def apply_movement(
        self, request_key: str, fingerprint: str, deltas: list[StockDelta], kind: str, now: datetime
    ) -> None:
        self._begin()
        staged: dict[Key, StockLevel] = {}
        short = [d for d in deltas if not self._plan_delta(d, staged, now, kind, request_key)]
        exists = request_key in self.requests
        if exists or short:
            raise WriteRefused(exists=exists, short_deltas=short)
        self._commit(staged)
        self.requests[request_key] = fingerprint

    def apply_counts(self, writes: list[CountWrite], ref: str, now: datetime) -> None:
        self._begin()
        staged: dict[Key, StockLevel] = {}
        for write in writes:
            key = (write.sku, write.node_id, 0)
            current = self.items.get(key)
            if (current is None) != (write.head is None) or (
                current is not None and write.head is not None and current.on_hand != write.head.on_hand
            ):
                raise WriteRefused(stale=True)
            base = current or StockLevel(
                sku=write.sku, node_id=write.node_id, safety_stock=write.safety_if_new, atp=-write.safety_if_new
            )
            on_hand = base.on_hand if write.new_on_hand is None else write.new_on_hand
            staged[key] = base.model_copy(
                update={
                    "on_hand": on_hand,
                    "atp": base.atp + on_hand - base.on_hand,
                    "counted_on_hand": write.counted,
                    "counted_as_of": write.as_of,
                    "moved_since_count": write.moves_since,
                    "updated_at": now,
                }
            )
            self._log(current, staged[key], "count", ref, now)
            for bucket in write.other_buckets:
                other = self.items[(write.sku, write.node_id, bucket)]
                staged[(write.sku, write.node_id, bucket)] = other.model_copy(update={"moved_since_count": 0})
        self._commit(staged)

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
        self.writes += 1
        key = (level.sku, level.node_id, level.bucket)
        current = self.items.get(key)
        if current is None or current.on_hand != level.on_hand or current.reserved != level.reserved:
            return False
        new_on_hand = level.on_hand if on_hand is None else on_hand
        new_reserved = level.reserved if reserved is None else reserved
        changes = {
            "on_hand": new_on_hand,
            "reserved": new_reserved,
            "atp": new_on_hand - new_reserved - level.safety_stock,
            "updated_at": now,
        }
        self._pending = []
        self._log(current, current.model_copy(update=changes), kind, ref, now)
        self._commit({key: current.model_copy(update=changes)})
        return True

    def rebalance_items(self, levels: list[StockLevel], targets: dict[int, int], buckets: int, now: datetime) -> None:
        self._begin()
        by_bucket = {level.bucket: level for level in levels}
        sku, node_id = levels[0].sku, levels[0].node_id
        staged: dict[Key, StockLevel] = {}
        for bucket in sorted(set(range(buckets)) | set(by_bucket)):
            delta = targets.get(bucket, 0)
            seen = by_bucket.get(bucket)
            if delta == 0 and seen is not None and bucket != 0:
                continue
            current = self.items.get((sku, node_id, bucket))
            if seen is None:
                if current is not None:
                    raise WriteRefused(stale=True)
                new = StockLevel(sku=sku, node_id=node_id, bucket=bucket, on_hand=delta, atp=delta, updated_at=now)
            else:
                if current is None or current.atp != seen.atp:
                    raise WriteRefused(stale=True)
                new = current.model_copy(
                    update={"on_hand": current.on_hand + delta, "atp": current.atp + delta, "updated_at": now}
                )
            if bucket == 0:
                new = new.model_copy(update={"buckets": buckets})
            staged[(sku, node_id, bucket)] = new
        self._commit(staged)

    # ------------------------------------------------------------ ledger and reports

    def on_hand_moves_since(self, sku: str, node_id: str, since: datetime) -> tuple[int, datetime | None]:
        total, newest = 0, None
        for entry in self.ledger:
            if entry["sku"] != sku or entry["node_id"] != node_id or entry["kind"] in _NOT_MOVES:
                continue
            if entry["moved_at"] >= iso(since) and entry["d_on_hand"]:  # the sort key starts with the time
                total += entry["d_on_hand"]
                at = datetime.fromisoformat(entry["moved_at"])
                newest = at if newest is None or at > newest else newest
        return total, newest

    def put_movements(self, entries: list[dict[str, Any]]) -> None:
        self.ledger.extend(entries)

    def movements(self, sku: str, node_id: str, limit: int = 50) -> list[dict[str, Any]]:
        mine = [e for e in self.ledger if e.get("sku") == sku and e.get("node_id") == node_id]
        return list(reversed(mine))[:limit]

    def put_report(self, kind: str, started_at: datetime, body: dict[str, Any]) -> None:
        self.reports.append((kind, started_at, body))

    def latest_report(self, kind: str) -> dict[str, Any] | None:
        mine = sorted((r for r in self.reports if r[0] == kind), key=lambda r: r[1])
        return mine[-1][2] if mine else None

    # ------------------------------------------------------------ snapshots

    def latest_snapshot(self, node_id: str) -> SnapshotMark | None:
        return self.marks.get(node_id)

    def mark_latest(self, node_id: str, as_of: datetime, snapshot_id: str) -> None:
        mark = self.marks.get(node_id)
        if mark is None or mark.as_of <= as_of:
            self.marks[node_id] = SnapshotMark(as_of, snapshot_id)

    def open_snapshot(
        self, snapshot_id: str, node_id: str, as_of: datetime, scope: SnapshotScope, parts: int, now: datetime
    ) -> SnapshotHeader | None:
        header = self.snapshots.get(snapshot_id)
        if header is None:
            header = SnapshotHeader(snapshot_id, node_id, as_of, scope, parts, received_at=now)
            self.snapshots[snapshot_id] = header
            return header
        same = (header.node_id, header.as_of, header.scope, header.parts) == (node_id, as_of, scope, parts)
        return header if same else None

    def add_received_part(self, snapshot_id: str, part: int) -> None:
        header = self.snapshots[snapshot_id]
        self._replace_header(header, parts_received=header.parts_received | {part})

    def get_snapshot(self, snapshot_id: str) -> SnapshotHeader | None:
        return self.snapshots.get(snapshot_id)

    def save_part_stats(
        self, header: SnapshotHeader, part_stats: dict[int, dict[str, int]], applied_at: datetime | None
    ) -> bool:
        current = self.snapshots[header.snapshot_id]
        if current.version != header.version:
            return False
        self._replace_header(
            current,
            part_stats=dict(part_stats),
            applied_at=current.applied_at or applied_at,
            version=(current.version or 0) + 1,
        )
        return True

    def finish_snapshot(self, snapshot_id: str, rows_zeroed: int, now: datetime) -> None:
        header = self.snapshots[snapshot_id]
        self._replace_header(header, zeroed_at=now, applied_at=now, rows_zeroed=rows_zeroed)

    def _replace_header(self, header: SnapshotHeader, **changes: Any) -> None:
        self.snapshots[header.snapshot_id] = replace(header, **changes)
