"""The stock work that is not a single request: counts (snapshots) received in
parts and applied from a queue, the ledger audit, reconciliation against the
latest counts, and hot-SKU buckets."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from oms.domain.availability import Position, positions
from oms.domain.ledger import iso
from oms.domain.stock import PLAN_ATTEMPTS, InventoryService, bucket_targets
from oms.errors import Conflict, DependencyError, NotFound
from oms.models.inventory import (
    Node,
    ReservationKind,
    ReservationStatus,
    SnapshotAccepted,
    SnapshotMode,
    SnapshotPart,
    SnapshotScope,
    SnapshotStatus,
    StockLevel,
)
from oms.models.order import OrderStatus
from oms.ports.stock import CountWrite, StockStore, WriteRefused

CHUNK = 100  # SKUs read, planned and written together
HOLD_GRACE = timedelta(minutes=2)  # the sweeper runs every minute; the audit gives it time first
REPORT_LINES = 500


class MessageQueue(Protocol):
    def send(self, body: str) -> None: ...


class OrderLookup(Protocol):
    def status_of(self, order_id: str) -> OrderStatus | None: ...


class LedgerBehind(DependencyError):
    """A movement is on the stock item but not yet in the ledger (the stream lags by moments):
    a count applied now would miss it. The part is retried."""

    code = "ledger_behind"


# ---------------------------------------------------------------- snapshots


class Snapshots:
    def __init__(self, inventory: InventoryService, queue: MessageQueue) -> None:
        self.inventory = inventory
        self.store: StockStore = inventory.store
        self.queue = queue

    def receive(self, part: SnapshotPart, now: datetime) -> SnapshotAccepted:
        """Validate a part, queue it, and record it as received. Safe to resend."""
        self.inventory.node(part.node_id)
        self.inventory.check_skus(row.sku for row in part.rows)
        latest = self.store.latest_snapshot(part.node_id)
        if latest is not None and (
            latest.as_of > part.as_of or (latest.as_of == part.as_of and latest.snapshot_id != part.snapshot_id)
        ):
            raise Conflict(
                f"node {part.node_id} has a count as of {iso(latest.as_of)} (snapshot {latest.snapshot_id}); "
                "an older or simultaneous one would undo it",
                details={"latest_as_of": iso(latest.as_of), "latest_snapshot_id": latest.snapshot_id},
            )
        header = self.store.open_snapshot(part.snapshot_id, part.node_id, part.as_of, part.scope, part.parts, now)
        if header is None:
            raise Conflict(
                f"snapshot_id {part.snapshot_id} belongs to another count (node, as_of, scope or parts differ)"
            )
        status_url = f"/inventory/snapshots/{part.snapshot_id}"
        if part.part in header.parts_received:
            return SnapshotAccepted(
                snapshot_id=part.snapshot_id, part=part.part, outcome="duplicate", status_url=status_url
            )
        self.store.mark_latest(part.node_id, part.as_of, part.snapshot_id)
        self.queue.send(part.model_dump_json())  # queued before it is marked received: a crash between resends
        self.store.add_received_part(part.snapshot_id, part.part)
        return SnapshotAccepted(snapshot_id=part.snapshot_id, part=part.part, outcome="queued", status_url=status_url)

    def status(self, snapshot_id: str) -> SnapshotStatus:
        header = self.store.get_snapshot(snapshot_id)
        if header is None:
            raise NotFound(f"no snapshot {snapshot_id}")
        stats = header.part_stats
        applied = len(stats)
        done = applied == header.parts and (header.scope is not SnapshotScope.full or header.zeroed_at is not None)
        return SnapshotStatus(
            snapshot_id=snapshot_id,
            node_id=header.node_id,
            as_of=header.as_of,
            scope=header.scope,
            parts=header.parts,
            parts_received=len(header.parts_received),
            parts_applied=applied,
            rows_applied=sum(s["applied"] for s in stats.values()),
            rows_changed=sum(s["changed"] for s in stats.values()),
            rows_stale=sum(s["stale"] for s in stats.values()),
            rows_zeroed=header.rows_zeroed,
            status="applied" if done else ("applying" if applied else "receiving"),
            received_at=header.received_at,
            applied_at=header.applied_at,
        )

    def apply(self, part: SnapshotPart, now: datetime) -> dict[str, int]:
        """Apply one part (from the queue). Idempotent: a row already counted as of this time is stale."""
        node = self.inventory.node(part.node_id)
        counts = {row.sku: row.on_hand for row in part.rows}
        stats = self._apply_counts(node, counts, part.as_of, part.snapshot_id, now)
        self._record_part(part, stats, now)
        return stats

    def _record_part(self, part: SnapshotPart, stats: dict[str, int], now: datetime) -> None:
        for _ in range(PLAN_ATTEMPTS):
            header = self.store.get_snapshot(part.snapshot_id)
            assert header is not None
            merged = {**header.part_stats, part.part: stats}
            complete = len(merged) == header.parts
            applied_at = now if complete and part.scope is not SnapshotScope.full else None
            if self.store.save_part_stats(header, merged, applied_at):
                if complete and part.scope is SnapshotScope.full and header.zeroed_at is None:
                    self._zero_unlisted(part, now)
                return
        raise Conflict(f"snapshot {part.snapshot_id}: its status changed under every attempt")

    def _zero_unlisted(self, part: SnapshotPart, now: datetime) -> None:
        """A full count: what the node holds but the count did not list is counted as 0."""
        node = self.inventory.node(part.node_id)
        held = list(self.store.node_skus(part.node_id))
        levels = positions(self.store.levels([(sku, part.node_id) for sku in held], consistent=True))
        uncounted = {
            sku: 0
            for (sku, _node), position in levels.items()
            if position.buckets[0].counted_as_of is None or position.buckets[0].counted_as_of < part.as_of
        }
        stats = self._apply_counts(node, uncounted, part.as_of, part.snapshot_id, now)
        self.store.finish_snapshot(part.snapshot_id, stats["applied"], now)

    def _apply_counts(
        self, node: Node, counts: dict[str, int], as_of: datetime, ref: str, now: datetime
    ) -> dict[str, int]:
        stats = {"applied": 0, "changed": 0, "stale": 0}
        skus = sorted(counts)
        for start in range(0, len(skus), CHUNK):
            chunk = skus[start : start + CHUNK]
            for attempt in range(PLAN_ATTEMPTS):
                current = positions(self.store.levels([(sku, node.node_id) for sku in chunk], consistent=True))
                writes: list[CountWrite] = []
                chunk_stats = {"applied": 0, "changed": 0, "stale": 0}
                for sku in chunk:
                    write = self._count_write(
                        node, sku, counts[sku], as_of, current.get((sku, node.node_id)), chunk_stats
                    )
                    if write is not None:
                        writes.append(write)
                if not writes:
                    break
                try:
                    self.store.apply_counts(writes, ref, now)
                except WriteRefused:
                    if attempt == PLAN_ATTEMPTS - 1:
                        raise DependencyError("stock kept moving under a count; the part will be retried") from None
                    continue
                break
            for name, value in chunk_stats.items():
                stats[name] += value
        return stats

    def _count_write(
        self,
        node: Node,
        sku: str,
        counted: int,
        as_of: datetime,
        position: Position | None,
        stats: dict[str, int],
    ) -> CountWrite | None:
        """The count of one SKU as a write, allowing for movements after as_of; None when stale."""
        head = position.buckets[0] if position else None
        if head is not None and head.counted_as_of is not None and head.counted_as_of >= as_of:
            stats["stale"] += 1
            return None
        moves = 0
        last_move = (
            max((b.last_move_at for b in position.buckets if b.last_move_at), default=None) if position else None
        )
        if last_move is not None and last_move > as_of:
            moves, newest = self.store.on_hand_moves_since(sku, node.node_id, as_of)
            if newest is None or newest < last_move:
                raise LedgerBehind(f"the ledger of {sku} at {node.node_id} is behind its stock item")
        expected = max(0, counted + moves)
        apply = node.snapshot_mode is SnapshotMode.apply
        total = position.on_hand if position else 0
        new_head_on_hand = None
        if apply:
            new_head_on_hand = (head.on_hand if head else 0) + (expected - total)
        stats["applied"] += 1
        stats["changed"] += int(apply and expected != total)
        return CountWrite(
            sku=sku,
            node_id=node.node_id,
            head=head,
            counted=counted,
            as_of=as_of,
            moves_since=moves,
            new_on_hand=new_head_on_hand,
            safety_if_new=node.default_safety_stock,
            # other buckets start counting movements afresh
            other_buckets=tuple(level.bucket for level in position.buckets[1:]) if position else (),
        )


# ---------------------------------------------------------------- audit and reconciliation


@dataclass
class Finding:
    sku: str
    node_id: str
    problem: str
    detail: dict[str, Any]
    corrected: bool = False

    def as_line(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "node_id": self.node_id,
            "problem": self.problem,
            **self.detail,
            "corrected": self.corrected,
        }


def report(kind: str, started: datetime, finished: datetime, checked: int, findings: list[Finding]) -> dict[str, Any]:
    return {
        "kind": kind,
        "started_at": iso(started),
        "finished_at": iso(finished),
        "checked": checked,
        "findings": len(findings),
        "corrected": sum(f.corrected for f in findings),
        "lines": [f.as_line() for f in findings[:REPORT_LINES]],
        "truncated": len(findings) > REPORT_LINES,
    }


class StockAudit:
    """Checks the ledger's invariants and repairs what it can, always with an entry."""

    def __init__(self, inventory: InventoryService, orders: OrderLookup, clock: Callable[[], datetime]) -> None:
        self.inventory = inventory
        self.store = inventory.store
        self.orders = orders
        self.clock = clock

    def run(self) -> dict[str, Any]:
        started = self.clock()
        findings: list[Finding] = []
        expected: dict[tuple[str, str, int], int] = defaultdict(int)
        for reservation in self.store.scan_active_reservations():
            reason = self._orphan_reason(reservation, started)
            if reason is not None:
                self.inventory.release(
                    reservation.reservation_id, started, ReservationStatus.released, f"audit: {reason}"
                )
                for line in reservation.lines:
                    findings.append(
                        Finding(
                            line.sku,
                            line.node_id,
                            "orphan_reservation",
                            {"reservation_id": reservation.reservation_id, "reason": reason, "quantity": line.quantity},
                            corrected=True,
                        )
                    )
                continue
            for line in reservation.lines:
                if line.line_id not in reservation.consumed_lines:
                    expected[(line.sku, line.node_id, line.bucket)] += line.quantity
        checked = 0
        for level in self.store.scan_levels():
            checked += 1
            findings += self._check_level(level, expected.get((level.sku, level.node_id, level.bucket), 0), started)
        result = report("audit", started, self.clock(), checked, findings)
        self.store.put_report("audit", started, result)
        return result

    def _orphan_reason(self, reservation: Any, now: datetime) -> str | None:
        if reservation.kind is ReservationKind.hold:
            if reservation.expires_at is not None and reservation.expires_at + HOLD_GRACE < now:
                return "hold expired but not released"
            return None
        if reservation.order_id is None:
            return "order reservation without an order"
        status = self.orders.status_of(reservation.order_id)
        if status is None:
            return f"order {reservation.order_id} does not exist"
        if status is OrderStatus.cancelled:
            return f"order {reservation.order_id} is cancelled"
        return None

    def _check_level(self, level: StockLevel, expected_reserved: int, started: datetime) -> list[Finding]:
        findings: list[Finding] = []
        moved_during_audit = level.updated_at is not None and level.updated_at >= started
        figures = {
            "on_hand": level.on_hand,
            "reserved": level.reserved,
            "safety_stock": level.safety_stock,
            "atp": level.atp,
        }
        if level.reserved > level.on_hand and level.bucket == 0:
            findings.append(Finding(level.sku, level.node_id, "reserved_above_on_hand", figures))
        if level.on_hand < 0 or level.reserved < 0:
            findings.append(Finding(level.sku, level.node_id, "negative_figure", figures))
        if moved_during_audit:
            return findings  # a reservation may be in flight; the next run looks again
        wrong_reserved = level.reserved != expected_reserved
        wrong_atp = level.atp != level.on_hand - level.reserved - level.safety_stock
        if wrong_reserved or wrong_atp:
            problem = "reserved_without_reservation" if wrong_reserved else "atp_out_of_step"
            finding = Finding(
                level.sku,
                level.node_id,
                problem,
                {**figures, "expected_reserved": expected_reserved, "bucket": level.bucket},
            )
            finding.corrected = self.store.set_figures(
                level, reserved=max(0, expected_reserved), kind="audit", ref=f"audit {iso(started)}", now=self.clock()
            )
            findings.append(finding)
        return findings


class Reconciliation:
    """The latest count against the OMS's figures, allowing for movements after its as-of time."""

    def __init__(self, inventory: InventoryService, clock: Callable[[], datetime]) -> None:
        self.inventory = inventory
        self.store = inventory.store
        self.clock = clock

    def run(self) -> dict[str, Any]:
        started = self.clock()
        nodes = self.inventory.reference.nodes()
        grouped: dict[tuple[str, str], list[StockLevel]] = defaultdict(list)
        for level in self.store.scan_levels():
            grouped[(level.sku, level.node_id)].append(level)
        findings: list[Finding] = []
        checked = 0
        for (sku, node_id), levels in sorted(grouped.items()):
            position = positions(levels)[(sku, node_id)]
            head = position.buckets[0]
            if head.counted_on_hand is None or head.bucket != 0:
                continue
            checked += 1
            expected = head.counted_on_hand + sum(level.moved_since_count for level in levels)
            drift = position.on_hand - expected
            if drift == 0:
                continue
            node = nodes.get(node_id)
            finding = Finding(
                sku,
                node_id,
                "drift",
                {
                    "oms_on_hand": position.on_hand,
                    "expected_on_hand": expected,
                    "drift": drift,
                    "counted_on_hand": head.counted_on_hand,
                    "counted_as_of": iso(head.counted_as_of) if head.counted_as_of else None,
                },
            )
            if (
                node is not None
                and node.reconcile_correct
                and (node.reconcile_max_units is None or abs(drift) <= node.reconcile_max_units)
            ):
                finding.corrected = self.store.set_figures(
                    head,
                    on_hand=head.on_hand - drift,
                    kind="reconcile",
                    ref=f"reconcile {iso(started)}",
                    now=self.clock(),
                )
            findings.append(finding)
        result = report("reconcile", started, self.clock(), checked, findings)
        self.store.put_report("reconcile", started, result)
        return result


# ---------------------------------------------------------------- hot SKUs


def set_buckets(inventory: InventoryService, sku: str, node_id: str, buckets: int, now: datetime) -> list[StockLevel]:
    """Spread a (sku, node)'s free units over ``buckets`` items so reservations of a flash-sale
    SKU write to different partitions. Shrinking waits until the dropped buckets hold no reservations."""
    inventory.node(node_id)
    for _ in range(PLAN_ATTEMPTS):
        levels = inventory.store.levels([(sku, node_id)], consistent=True)
        if not levels:
            raise NotFound(f"no stock item for {sku} at {node_id}")
        busy = [level for level in levels if level.bucket >= buckets and level.reserved > 0]
        if busy:
            raise Conflict(
                f"bucket {busy[0].bucket} of {sku} at {node_id} still holds {busy[0].reserved} reserved unit(s); "
                "shrink after they are released or shipped"
            )
        targets = bucket_targets(levels, buckets)
        try:
            inventory.store.rebalance_items(levels, targets, buckets, now)
        except WriteRefused:
            continue
        return inventory.store.levels([(sku, node_id)], consistent=True)
    raise Conflict(f"{sku} at {node_id} kept changing while rebalancing; try again")
