"""The inventory module: reservations that never oversell, movements, and the
reads behind availability. Sourcing (later) and checkout (now) reserve here.

The store's writes enforce the invariant; this module plans them, retries a
plan that stock moved under (bounded), and makes every request idempotent.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from oms.domain.availability import Position, availability, choose_takes, node_offered, positions
from oms.errors import BadRequest, Conflict, NotFound, OmsError
from oms.models.inventory import (
    AdjustmentCreate,
    HoldCreate,
    MovementKind,
    Node,
    Reservation,
    ReservationKind,
    ReservationLine,
    ReservationStatus,
    Shortage,
    SkuAvailability,
    StockLevel,
    StockPolicy,
)
from oms.models.order import Channel
from oms.ports.stock import CapacityTake, StockDelta, StockStore, WriteRefused

PLAN_ATTEMPTS = 6  # a plan stock moved under is made again from a fresh read, this often
MAX_RESERVATION_ITEMS = 99  # one transaction: the reservation item and at most 99 stock items


class InsufficientStock(Conflict):
    code = "insufficient_stock"

    def __init__(self, shortages: list[Shortage]) -> None:
        summary = "; ".join(f"{s.sku}: {s.requested} requested, {s.available} available" for s in shortages)
        super().__init__(f"not enough stock ({summary})", details={"short": [s.model_dump() for s in shortages]})
        self.shortages = shortages


class ReferenceData(Protocol):
    def nodes(self) -> dict[str, Node]: ...

    def policy(self, channel: Channel) -> StockPolicy: ...


class SkuCatalog(Protocol):
    def known_skus(self, skus: set[str]) -> set[str]: ...


@dataclass(frozen=True)
class HoldOutcome:
    reservation: Reservation
    created: bool


def hold_id_for(channel: Channel, hold_key: str) -> str:
    digest = hashlib.sha256(f"{channel.value}\x1f{hold_key}".encode()).hexdigest()[:24]
    return f"HOLD-{digest}"


def _fingerprint(payload: object) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class InventoryService:
    def __init__(self, store: StockStore, reference: ReferenceData, catalog: SkuCatalog) -> None:
        self.store = store
        self.reference = reference
        self.catalog = catalog

    # ------------------------------------------------------------ checks

    def node(self, node_id: str) -> Node:
        node = self.reference.nodes().get(node_id)
        if node is None:
            raise NotFound(f"no node {node_id}")
        return node

    def check_skus(self, skus: Iterable[str]) -> None:
        wanted = set(skus)
        unknown = sorted(wanted - self.catalog.known_skus(wanted))
        if unknown:
            shown = ", ".join(unknown[:20]) + (f" and {len(unknown) - 20} more" if len(unknown) > 20 else "")
            raise UnknownSkus(f"unknown SKU(s): {shown}", details={"unknown_skus": unknown[:100]})

    # ------------------------------------------------------------ reads

    def positions(self, skus: list[str], consistent: bool = False) -> dict[tuple[str, str], Position]:
        nodes = self.reference.nodes()
        pairs = [(sku, node_id) for sku in skus for node_id in nodes]
        return positions(self.store.levels(pairs, consistent))

    def availability(self, skus: list[str], channel: Channel, *, with_nodes: bool) -> list[SkuAvailability]:
        nodes = self.reference.nodes()
        policy = self.reference.policy(channel)
        stock = self.positions(skus)
        return [availability(sku, channel, policy, nodes, stock, with_nodes=with_nodes) for sku in skus]

    # ------------------------------------------------------------ holds and reservations

    def hold(self, request: HoldCreate, now: datetime) -> HoldOutcome:
        self.check_skus(line.sku for line in request.lines)
        for line in request.lines:
            if line.node_id is not None:
                self.node(line.node_id)
        reservation_id = (
            hold_id_for(request.channel, request.hold_key) if request.hold_key else f"HOLD-{uuid.uuid4().hex[:24]}"
        )
        if request.hold_key:
            existing = self.store.get_reservation(reservation_id)
            if existing is not None:
                return self._replayed(existing, request)
        expires_at = now + timedelta(seconds=request.ttl_seconds)
        for attempt in range(PLAN_ATTEMPTS):
            lines = self._plan_hold(request, reservation_id, attempt, consistent=attempt > 0)
            reservation = Reservation(
                reservation_id=reservation_id,
                kind=ReservationKind.hold,
                channel=request.channel,
                lines=lines,
                created_at=now,
                expires_at=expires_at,
            )
            try:
                self.store.create_reservation(reservation, now)
            except WriteRefused as exc:
                if exc.exists:
                    existing = self.store.get_reservation(reservation_id)
                    if existing is not None:
                        return self._replayed(existing, request)
                continue  # a line was short when written: stock moved under the plan
            return HoldOutcome(reservation, created=True)
        # Stock kept moving: answer with what a fresh read says is short.
        self._plan_hold(request, reservation_id, PLAN_ATTEMPTS, consistent=True)
        raise Conflict("stock is changing fast; try again", details={"retryable": True})

    @staticmethod
    def _replayed(existing: Reservation, request: HoldCreate) -> HoldOutcome:
        asked = sorted((line.sku, line.quantity) for line in request.lines)
        per_line: dict[tuple[str, str], int] = {}
        for line in existing.lines:  # a line may be held in several buckets
            per_line[(line.line_id, line.sku)] = per_line.get((line.line_id, line.sku), 0) + line.quantity
        held = sorted((sku, quantity) for (_, sku), quantity in per_line.items())
        if asked != held or existing.channel != request.channel:
            raise Conflict("hold_key was used for another hold", details={"reservation_id": existing.reservation_id})
        return HoldOutcome(existing, created=False)

    def _plan_hold(self, request: HoldCreate, salt: str, attempt: int, consistent: bool) -> list[ReservationLine]:
        nodes = self.reference.nodes()
        policy = self.reference.policy(request.channel)
        skus = sorted({line.sku for line in request.lines})
        stock = self.positions(skus, consistent=consistent)
        shortages: list[Shortage] = []
        lines: list[ReservationLine] = []
        for index, line in enumerate(request.lines):
            view = availability(line.sku, request.channel, policy, nodes, stock, with_nodes=False)
            if line.node_id is not None:
                node = nodes[line.node_id]
                position = stock.get((line.sku, line.node_id))
                atp = position.atp if position else 0
                offered = any(node_offered(node, policy, atp, pickup=pickup) is None for pickup in (False, True))
                candidates = [position] if position and offered else []
                available = atp if offered else 0
            else:
                candidates = [
                    p
                    for (sku, node_id), p in stock.items()
                    if sku == line.sku and node_offered(nodes[node_id], policy, p.atp) is None
                ]
                available = view.atp
            takes = None
            if available >= line.quantity:
                takes = choose_takes(line.sku, line.quantity, candidates, nodes, f"{salt}#{index}#{attempt}")
            if takes is None:
                best = max((p.atp for p in candidates), default=0)
                shortages.append(
                    Shortage(
                        sku=line.sku, requested=line.quantity, available=min(available, best), node_id=line.node_id
                    )
                )
                continue
            lines += [  # one line in one or more buckets: the parts share the line id
                ReservationLine(
                    line_id=str(index + 1),
                    sku=line.sku,
                    node_id=take.node_id,
                    quantity=take.quantity,
                    bucket=take.bucket,
                )
                for take in takes
            ]
        if shortages:
            raise InsufficientStock(shortages)
        if len(lines) > MAX_RESERVATION_ITEMS:
            raise Conflict(
                f"this hold would touch {len(lines)} stock items (at most {MAX_RESERVATION_ITEMS}): "
                "hold fewer lines at once, or rebalance the SKU's buckets"
            )
        return lines

    def reserve(self, reservation: Reservation, now: datetime) -> HoldOutcome:
        """Reserve exactly these lines (sourcing's plan). A retry of the same reservation id
        returns the stored one and never counts twice; a short line raises InsufficientStock."""
        try:
            self.store.create_reservation(reservation, now)
        except WriteRefused as exc:
            if exc.exists:
                existing = self.store.get_reservation(reservation.reservation_id)
                if existing is not None:
                    return HoldOutcome(existing, created=False)
            raise InsufficientStock(
                self._shortages(exc.short_lines)
                or [Shortage(sku=reservation.lines[0].sku, requested=reservation.lines[0].quantity, available=0)]
            ) from exc
        return HoldOutcome(reservation, created=True)

    def reserve_all(
        self, reservations: list[Reservation], now: datetime, capacity: list[CapacityTake]
    ) -> tuple[list[Reservation], bool]:
        """An order's reservations at several nodes, with the node capacity they take, all or
        nothing. A retry finds them stored and returns those (created False), never counting twice.
        Raises InsufficientStock (a line was short when written), CapacityFull, or a retryable
        Conflict (another transaction held an item)."""
        try:
            self.store.create_reservations(reservations, now, capacity)
        except WriteRefused as exc:
            if exc.exists:
                stored = [self.store.get_reservation(r.reservation_id) for r in reservations]
                if all(stored):
                    return [r for r in stored if r is not None], False
            full = sorted({take.node_id for take in exc.full})
            if full:
                raise CapacityFull(full) from exc
            if not exc.short_lines:
                raise Conflict("stock changed while reserving; try again", details={"retryable": True}) from exc
            raise InsufficientStock(self._shortages(exc.short_lines)) from exc
        return reservations, True

    def _shortages(self, short: list[ReservationLine]) -> list[Shortage]:
        """What each short line asked for and what its node has now (a consistent read)."""
        stock = positions(self.store.levels([(line.sku, line.node_id) for line in short], consistent=True))
        return [
            Shortage(
                sku=line.sku,
                requested=line.quantity,
                available=stock[(line.sku, line.node_id)].atp if (line.sku, line.node_id) in stock else 0,
                node_id=line.node_id,
            )
            for line in short
        ]

    def find(self, reservation_id: str) -> Reservation | None:
        return self.store.get_reservation(reservation_id)

    def get(self, reservation_id: str) -> Reservation:
        reservation = self.store.get_reservation(reservation_id)
        if reservation is None:
            raise NotFound(f"no reservation {reservation_id}")
        return reservation

    def release(
        self,
        reservation_id: str,
        now: datetime,
        status: ReservationStatus = ReservationStatus.released,
        reason: str | None = None,
    ) -> Reservation:
        """Give the units back. Idempotent: releasing a finished reservation changes nothing."""
        reservation = self.get(reservation_id)
        for _ in range(PLAN_ATTEMPTS):
            if reservation.status is not ReservationStatus.active:
                return reservation
            try:
                self.store.finish_reservation(reservation, status, now, reason)
            except WriteRefused:
                reservation = self.get(reservation_id)  # consumed or released meanwhile; look again
                continue
            return reservation.model_copy(update={"status": status, "finished_at": now, "reason": reason})
        raise Conflict(f"reservation {reservation_id} keeps changing; try again")

    def consume(self, reservation_id: str, line_ids: list[str] | None, now: datetime) -> Reservation:
        """Shipped: on hand and reserved fall together. Idempotent per line."""
        reservation = self.get(reservation_id)
        known = {line.line_id for line in reservation.lines}
        wanted = sorted(known if line_ids is None else set(line_ids))
        unknown = sorted(set(wanted) - known)
        if unknown:
            raise BadRequest(f"reservation {reservation_id} has no line(s) {', '.join(unknown)}")
        todo = [line_id for line_id in wanted if line_id not in reservation.consumed_lines]
        if not todo:
            return reservation
        if reservation.status is not ReservationStatus.active:
            raise Conflict(f"reservation {reservation_id} is {reservation.status.value}")
        try:
            self.store.consume_lines(reservation, todo, now)
        except WriteRefused:
            return self.get(reservation_id)  # another consumer got there first; what is stored is the truth
        return self.get(reservation_id)

    def expire_holds(self, now: datetime, limit: int = 500) -> int:
        expired = 0
        for reservation_id in self.store.expired_holds(now, limit):
            reservation = self.store.get_reservation(reservation_id)
            if reservation is None or reservation.status is not ReservationStatus.active:
                continue
            if reservation.expires_at is None or reservation.expires_at > now:
                continue
            self.release(reservation_id, now, ReservationStatus.expired, "time-to-live passed")
            expired += 1
        return expired

    # ------------------------------------------------------------ movements

    def adjust(self, request: AdjustmentCreate, now: datetime) -> str:
        """Apply a receipt, adjustment, damage, transfer or restock once per adjustment_id."""
        source = self.node(request.node_id)
        if request.to_node_id is not None:
            self.node(request.to_node_id)
        self.check_skus(line.sku for line in request.lines)
        deltas: list[StockDelta] = []
        for line in request.lines:
            kind = request.kind
            if kind in (MovementKind.receipt, MovementKind.restock) or (
                kind is MovementKind.adjustment and line.quantity > 0
            ):
                deltas.append(_arrival(line.sku, source, line.quantity))
            elif kind is MovementKind.transfer:
                assert request.to_node_id is not None
                target = self.node(request.to_node_id)
                deltas.append(StockDelta(line.sku, request.node_id, on_hand=-line.quantity, guard="atp"))
                deltas.append(_arrival(line.sku, target, line.quantity))
            else:  # damage, or a negative adjustment: cannot take more than is on hand
                deltas.append(StockDelta(line.sku, request.node_id, on_hand=-abs(line.quantity), guard="on_hand"))
        key = f"ADJ#{request.node_id}#{request.adjustment_id}"
        fingerprint = _fingerprint(request.model_dump(mode="json", exclude={"occurred_at"}))
        try:
            self.store.apply_movement(key, fingerprint, deltas, request.kind.value, now)
        except WriteRefused as exc:
            if exc.exists:
                if self.store.request_fingerprint(key) == fingerprint:
                    return "duplicate"
                raise Conflict(f"adjustment_id {request.adjustment_id} was used for other content") from exc
            short = exc.short_deltas
            if not short:
                raise Conflict("stock changed while adjusting; try again", details={"retryable": True}) from exc
            stock = positions(self.store.levels([(d.sku, d.node_id) for d in short], consistent=True))
            raise InsufficientStock(
                [
                    Shortage(
                        sku=d.sku,
                        requested=-d.on_hand,
                        available=_leaving_limit(stock.get((d.sku, d.node_id)), d.guard),
                        node_id=d.node_id,
                    )
                    for d in short
                ]
            ) from exc
        return "applied"

    def restock(self, sku: str, node_id: str, quantity: int, movement_id: str, now: datetime) -> str:
        """A resellable return put back on the shelf (returns issue)."""
        request = AdjustmentCreate(
            adjustment_id=movement_id,
            kind=MovementKind.restock,
            node_id=node_id,
            lines=[{"sku": sku, "quantity": quantity}],
        )
        return self.adjust(request, now)


def _leaving_limit(position: Position | None, guard: str | None) -> int:
    if position is None:
        return 0
    if guard == "atp":
        return position.atp
    return position.on_hand


class CapacityFull(Conflict):
    code = "capacity_full"

    def __init__(self, node_ids: list[str]) -> None:
        super().__init__(f"daily capacity reached at {', '.join(node_ids)}", details={"nodes": node_ids})
        self.node_ids = node_ids


class UnknownSkus(OmsError):
    status_code = 422
    code = "unknown_sku"


def _arrival(sku: str, node: Node, quantity: int) -> StockDelta:
    """Units arriving at a node: the item is created if new, with the node's default safety stock."""
    return StockDelta(sku, node.node_id, on_hand=quantity, create=True, safety_stock_if_new=node.default_safety_stock)


def bucket_targets(levels: list[StockLevel], buckets: int) -> dict[int, int]:
    """On-hand change per bucket that spreads the free units (atp) evenly over ``buckets``.
    Reserved units stay where their reservations point; safety stock stays in bucket 0."""
    by_bucket = {level.bucket: level for level in levels}
    free = sum(max(0, level.atp) for level in levels)
    share, rest = divmod(free, buckets)
    targets: dict[int, int] = {}
    for bucket in range(max(buckets, max(by_bucket) + 1)):
        want = (share + (1 if bucket < rest else 0)) if bucket < buckets else 0
        have = max(0, by_bucket[bucket].atp) if bucket in by_bucket else 0
        if want != have:
            targets[bucket] = want - have
    return targets
