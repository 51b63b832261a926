"""The stock work that is not a single request: counts (snapshots) received in
parts and applied from a queue, the ledger audit, reconciliation against the
latest counts, and hot-SKU buckets."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from oms.adapters.stock import Cancelled, DynamoStock, iso, parse_time, stock_key
from oms.domain.availability import Position, positions
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

CHUNK = 100  # rows per transaction (DynamoDB's limit)
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
        self.store: DynamoStock = inventory.store
        self.queue = queue

    def receive(self, part: SnapshotPart, now: datetime) -> SnapshotAccepted:
        """Validate a part, queue it, and record it as received. Safe to resend."""
        self.inventory.node(part.node_id)
        self.inventory.check_skus(row.sku for row in part.rows)
        latest = self.store.get_item(f"SNAPNODE#{part.node_id}", "LATEST")
        if latest is not None:
            latest_as_of = parse_time(latest["as_of"])
            assert latest_as_of is not None
            if latest_as_of > part.as_of or (latest_as_of == part.as_of and latest["snapshot_id"] != part.snapshot_id):
                raise Conflict(
                    f"node {part.node_id} has a count as of {latest['as_of']} (snapshot {latest['snapshot_id']}); "
                    "an older or simultaneous one would undo it",
                    details={"latest_as_of": latest["as_of"], "latest_snapshot_id": latest["snapshot_id"]},
                )
        header = self.store.update_item(
            f"SNAPSHOT#{part.snapshot_id}",
            "HEADER",
            UpdateExpression=(
                "SET node_id = if_not_exists(node_id, :n), as_of = if_not_exists(as_of, :a), "
                "#sc = if_not_exists(#sc, :s), parts = if_not_exists(parts, :p), "
                "received_at = if_not_exists(received_at, :now)"
            ),
            ConditionExpression="attribute_not_exists(pk) OR (node_id = :n AND as_of = :a AND #sc = :s AND parts = :p)",
            ExpressionAttributeNames={"#sc": "scope"},
            ExpressionAttributeValues={
                ":n": {"S": part.node_id},
                ":a": {"S": iso(part.as_of)},
                ":s": {"S": part.scope.value},
                ":p": {"N": str(part.parts)},
                ":now": {"S": iso(now)},
            },
        )
        if header is None:
            raise Conflict(
                f"snapshot_id {part.snapshot_id} belongs to another count (node, as_of, scope or parts differ)"
            )
        status_url = f"/inventory/snapshots/{part.snapshot_id}"
        if part.part in {int(p) for p in header.get("parts_received", set())}:
            return SnapshotAccepted(
                snapshot_id=part.snapshot_id, part=part.part, outcome="duplicate", status_url=status_url
            )
        self.store.update_item(
            f"SNAPNODE#{part.node_id}",
            "LATEST",
            UpdateExpression="SET as_of = :a, snapshot_id = :id",
            ConditionExpression="attribute_not_exists(as_of) OR as_of <= :a",
            ExpressionAttributeValues={":a": {"S": iso(part.as_of)}, ":id": {"S": part.snapshot_id}},
        )
        self.queue.send(part.model_dump_json())  # queued before it is marked received: a crash between resends
        self.store.update_item(
            f"SNAPSHOT#{part.snapshot_id}",
            "HEADER",
            UpdateExpression="ADD parts_received :p",
            ExpressionAttributeValues={":p": {"NS": [str(part.part)]}},
        )
        return SnapshotAccepted(snapshot_id=part.snapshot_id, part=part.part, outcome="queued", status_url=status_url)

    def status(self, snapshot_id: str) -> SnapshotStatus:
        header = self.store.get_item(f"SNAPSHOT#{snapshot_id}", "HEADER")
        if header is None:
            raise NotFound(f"no snapshot {snapshot_id}")
        stats = {int(k): v for k, v in json.loads(header.get("part_stats", "{}")).items()}
        received = len(header.get("parts_received", set()))
        applied = len(stats)
        parts = int(header["parts"])
        done = applied == parts and (header["scope"] != SnapshotScope.full.value or "zeroed_at" in header)
        return SnapshotStatus(
            snapshot_id=snapshot_id,
            node_id=header["node_id"],
            as_of=header["as_of"],
            scope=header["scope"],
            parts=parts,
            parts_received=received,
            parts_applied=applied,
            rows_applied=sum(s["applied"] for s in stats.values()),
            rows_changed=sum(s["changed"] for s in stats.values()),
            rows_stale=sum(s["stale"] for s in stats.values()),
            rows_zeroed=int(header.get("rows_zeroed", 0)),
            status="applied" if done else ("applying" if applied else "receiving"),
            received_at=header.get("received_at"),
            applied_at=header.get("applied_at"),
        )

    def apply(self, part: SnapshotPart, now: datetime) -> dict[str, int]:
        """Apply one part (from the queue). Idempotent: a row already counted as of this time is stale."""
        node = self.inventory.node(part.node_id)
        counts = {row.sku: row.on_hand for row in part.rows}
        stats = self._apply_counts(node, counts, part.as_of, part.snapshot_id, now)
        self.store.update_item(
            f"SNAPSHOT#{part.snapshot_id}",
            "HEADER",
            UpdateExpression="SET part_stats = if_not_exists(part_stats, :empty)",
            ExpressionAttributeValues={":empty": {"S": "{}"}},
        )
        self._record_part(part, stats, now)
        return stats

    def _record_part(self, part: SnapshotPart, stats: dict[str, int], now: datetime) -> None:
        for _ in range(PLAN_ATTEMPTS):
            header = self.store.get_item(f"SNAPSHOT#{part.snapshot_id}", "HEADER")
            assert header is not None
            current = header.get("part_stats", "{}")
            merged = json.loads(current)
            merged[str(part.part)] = stats
            complete = len(merged) == int(header["parts"])
            expression = "SET part_stats = :new"
            values: dict[str, Any] = {":new": {"S": json.dumps(merged)}, ":old": {"S": current}}
            if complete and part.scope is not SnapshotScope.full:
                expression += ", applied_at = if_not_exists(applied_at, :now)"
                values[":now"] = {"S": iso(now)}
            if self.store.update_item(
                f"SNAPSHOT#{part.snapshot_id}",
                "HEADER",
                UpdateExpression=expression,
                ConditionExpression="part_stats = :old",
                ExpressionAttributeValues=values,
            ):
                if complete and part.scope is SnapshotScope.full and "zeroed_at" not in header:
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
        self.store.update_item(
            f"SNAPSHOT#{part.snapshot_id}",
            "HEADER",
            UpdateExpression="SET zeroed_at = :now, applied_at = :now, rows_zeroed = :z",
            ExpressionAttributeValues={":now": {"S": iso(now)}, ":z": {"N": str(stats["applied"])}},
        )

    def _apply_counts(
        self, node: Node, counts: dict[str, int], as_of: datetime, ref: str, now: datetime
    ) -> dict[str, int]:
        stats = {"applied": 0, "changed": 0, "stale": 0}
        skus = sorted(counts)
        for start in range(0, len(skus), CHUNK):
            chunk = skus[start : start + CHUNK]
            for attempt in range(PLAN_ATTEMPTS):
                current = positions(self.store.levels([(sku, node.node_id) for sku in chunk], consistent=True))
                items: list[dict[str, Any]] = []
                chunk_stats = {"applied": 0, "changed": 0, "stale": 0}
                for sku in chunk:
                    items += self._count_items(
                        node, sku, counts[sku], as_of, current.get((sku, node.node_id)), ref, now, chunk_stats
                    )
                if not items:
                    break
                try:
                    for offset in range(0, len(items), CHUNK):
                        self.store.transact(items[offset : offset + CHUNK])
                except Cancelled:
                    if attempt == PLAN_ATTEMPTS - 1:
                        raise DependencyError("stock kept moving under a count; the part will be retried") from None
                    continue
                break
            for name, value in chunk_stats.items():
                stats[name] += value
        return stats

    def _count_items(
        self,
        node: Node,
        sku: str,
        counted: int,
        as_of: datetime,
        position: Position | None,
        ref: str,
        now: datetime,
        stats: dict[str, int],
    ) -> list[dict[str, Any]]:
        head = position.buckets[0] if position else None
        if head is not None and head.counted_as_of is not None and head.counted_as_of >= as_of:
            stats["stale"] += 1
            return []
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
        items = [
            self.store.count_update(
                head,
                sku,
                node.node_id,
                counted=counted,
                as_of=as_of,
                moves_since=moves,
                new_on_hand=new_head_on_hand,
                ref=ref,
                now=now,
                safety_if_new=node.default_safety_stock,
            )
        ]
        if position is not None:  # other buckets start counting movements afresh
            for level in position.buckets[1:]:
                items.append(
                    {
                        "Update": {
                            "TableName": self.store.inventory_table,
                            "Key": stock_key(sku, node.node_id, level.bucket),
                            "UpdateExpression": "SET moved_since_count = :zero",
                            "ExpressionAttributeValues": {":zero": {"N": "0"}},
                        }
                    }
                )
        return items


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
        except Cancelled:
            continue
        return inventory.store.levels([(sku, node_id)], consistent=True)
    raise Conflict(f"{sku} at {node_id} kept changing while rebalancing; try again")
