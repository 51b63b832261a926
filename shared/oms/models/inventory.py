"""Stock, nodes, channel availability policies, reservations and feeds.

Quantities are whole units (strict integers: 1.5 and "2" are refused).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from oms.models.common import Channel, InRange, Moment, NodeId, NotBool, Sku
from oms.models.common import Model as _Model
from oms.models.promising import NodeCalendar

Units = Annotated[int, Field(strict=True, ge=0, le=10_000_000)]
PositiveUnits = Annotated[int, Field(strict=True, ge=1, le=10_000_000)]

WorkKind = Literal["ship", "pickup", "same_day"]  # what daily capacity is counted for

MAX_BUCKETS = 32  # a rebalance writes every bucket in one transaction (limit 100 items)


# ---------------------------------------------------------------- nodes


class NodeKind(StrEnum):
    dc = "dc"
    store = "store"


class SnapshotMode(StrEnum):
    apply = "apply"  # a count becomes on hand at once (a WMS the retailer trusts)
    reconcile = "reconcile"  # a count is recorded; reconciliation reports drift and corrects it by policy


class NodeSettings(_Model):
    """What ops may change about a node (PUT /nodes/{node_id})."""

    name: str = Field(min_length=1, max_length=200)
    kind: NodeKind
    tz: str = Field(default="Asia/Jakarta", description="IANA zone: Asia/Jakarta (WIB), Asia/Makassar, Asia/Jayapura")
    address: str | None = Field(
        default=None, max_length=300, description="Street address: the sender on own-courier labels and bookings"
    )
    phone: str | None = Field(default=None, max_length=40, description="The node's phone, for couriers")
    city: str | None = Field(default=None, max_length=100)
    province: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=10)
    lat: Annotated[Decimal, InRange] | None = Field(default=None, ge=-90, le=90, max_digits=10, decimal_places=6)
    lng: Annotated[Decimal, InRange] | None = Field(default=None, ge=-180, le=180, max_digits=10, decimal_places=6)
    enabled: bool = True
    may_ship: bool = True
    may_pickup: bool = False
    may_same_day: bool = Field(default=False, description="Riders collect here for same-day and instant delivery")
    handling_cost: Annotated[Decimal, InRange] = Field(
        default=Decimal(0), ge=0, max_digits=12, decimal_places=0, description="Cost of one parcel's pick and pack"
    )
    handling_cost_per_unit: Annotated[Decimal, InRange] = Field(
        default=Decimal(0), ge=0, max_digits=12, decimal_places=0
    )
    lead_time_hours: Annotated[int, NotBool] = Field(
        default=24, ge=0, le=720, description="From allocation to hand-over to the carrier"
    )
    daily_capacity: dict[WorkKind, Annotated[int, NotBool, Field(ge=0, le=1_000_000)]] | None = Field(
        default=None,
        description="Orders a day per kind of work (ship, pickup, same_day); a kind not named is unlimited",
    )
    calendar: NodeCalendar | None = Field(
        default=None, description="Hours, closures and cut-offs; null = the promising rules' DC or store hours"
    )
    routing_threshold: Units = Field(
        default=0, description="With fewer units of a SKU than this, the node is not offered"
    )
    default_safety_stock: Units = Field(default=0, description="Safety stock for SKUs first counted at this node")
    snapshot_mode: SnapshotMode = SnapshotMode.apply
    accepts_returns: bool = Field(default=False, description="Takes returns in (a drop-off store, a return center)")
    return_center: bool = Field(default=False, description="Where shipped-back returns go (the nearest one)")
    restocks_returns: bool = Field(
        default=True, description="Resellable returns go back to its stock; else they are forwarded to a return center"
    )
    reconcile_correct: bool = Field(default=True, description="Reconciliation corrects drift (else only reports it)")
    reconcile_max_units: Units | None = Field(
        default=None, description="Drifts larger than this are reported for a person, never corrected automatically"
    )

    @field_validator("tz")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}'") from None
        return value


class Node(NodeSettings):
    node_id: NodeId
    updated_at: datetime | None = None


class NodeList(_Model):
    items: list[Node]


# ---------------------------------------------------------------- channel policies


class AllocationKind(StrEnum):
    none = "none"  # the channel sees the sum of its nodes' ATP
    cap_pct = "cap_pct"  # at most value % of it (rounded down)
    buffer = "buffer"  # value units fewer
    protect_store = "protect_store"  # each store keeps value units for walk-in buyers


class PushMode(StrEnum):
    quantity = "quantity"  # every change of the channel's ATP is sent (coalesced): marketplaces sell the number
    level = "level"  # only a change of in stock / low / out is sent: storefronts that show a badge
    off = "off"  # the channel reads GET /availability itself (own web store, POS)


class StockPolicy(_Model):
    """Which nodes a channel sells from and how much of their stock it is shown."""

    nodes: list[NodeId] | None = Field(default=None, description="Nodes the channel may sell from; null = every node")
    allocation: AllocationKind = AllocationKind.none
    value: Units = 0
    low_threshold: Units = Field(default=5, description="At or below this ATP the channel is told 'low'")
    push: PushMode = Field(
        default=PushMode.quantity,
        description="What is sent to the channel's API when its ATP changes: quantity, level (in/low/out) or off",
    )

    @model_validator(mode="after")
    def _value_fits(self) -> StockPolicy:
        if self.allocation is AllocationKind.cap_pct and self.value > 100:
            raise ValueError("cap_pct takes a percentage from 0 to 100")
        return self


class ChannelStockPolicy(StockPolicy):
    channel: Channel
    version: int = Field(default=1, ge=1, strict=True, description="Send the version you read; a save makes the next")
    updated_at: datetime | None = None
    updated_by: str | None = Field(default=None, description="Who saved this version (the API key's actor)")


# ---------------------------------------------------------------- stock


class StockLevel(_Model):
    """One stock item: the whole (sku, node) when bucket 0 is the only bucket, else one bucket of it."""

    sku: str
    node_id: str
    bucket: int = 0
    buckets: int = 1  # on bucket 0: how many buckets hold this (sku, node)
    on_hand: int = 0
    reserved: int = 0
    safety_stock: int = 0
    atp: int = 0  # stored: on_hand - reserved - safety_stock, kept by every write (conditions cannot add)
    counted_on_hand: int | None = None
    counted_as_of: datetime | None = None
    moved_since_count: int = 0
    last_move_at: datetime | None = None
    updated_at: datetime | None = None


class AvailabilityLevel(StrEnum):
    in_stock = "in_stock"
    low = "low"
    out = "out"


class NodeAvailability(_Model):
    node_id: str
    kind: NodeKind
    on_hand: int
    reserved: int
    safety_stock: int
    atp: int = Field(description="on hand - reserved - safety stock, at least 0")
    offered: bool = Field(description="Counts for the channel (enabled, allowed, at or above the routing threshold)")
    reason: str | None = Field(default=None, description="Why the node is not offered")
    buckets: int = 1


class PickupAvailability(_Model):
    node_id: str
    atp: int


class SkuAvailability(_Model):
    sku: str
    channel: Channel
    atp: int = Field(description="What the channel may sell now, after its allocation policy")
    level: AvailabilityLevel
    pickup: list[PickupAvailability] = Field(description="Stores where the SKU can be collected, with their ATP")
    nodes: list[NodeAvailability] | None = Field(default=None, description="Per-node figures (ops and cs keys only)")


class AvailabilityResponse(_Model):
    items: list[SkuAvailability]
    unknown_skus: list[str] = Field(default_factory=list)


# ---------------------------------------------------------------- reservations


class ReservationKind(StrEnum):
    hold = "hold"  # a checkout hold with a time-to-live
    order = "order"  # an order line's stock, held until it ships or is cancelled


class ReservationStatus(StrEnum):
    active = "active"
    released = "released"
    expired = "expired"
    consumed = "consumed"


class ReservationLine(_Model):
    line_id: str = Field(min_length=1, max_length=64)
    sku: str
    node_id: str
    quantity: PositiveUnits
    bucket: int = 0


class Reservation(_Model):
    reservation_id: str
    kind: ReservationKind
    channel: Channel | None = None
    order_id: str | None = None
    # A line may be held in several buckets of a hot SKU: one entry each, sharing the line id.
    # At most 99: the reservation and its stock items are one transaction (100 items).
    lines: list[ReservationLine] = Field(min_length=1, max_length=99)
    status: ReservationStatus = ReservationStatus.active
    created_at: datetime
    expires_at: datetime | None = None
    finished_at: datetime | None = None
    consumed_lines: list[str] = Field(default_factory=list)
    reason: str | None = None


class HoldLine(_Model):
    sku: Sku
    quantity: PositiveUnits
    node_id: NodeId | None = Field(
        default=None, description="Hold at this node (e.g. the pickup store); else the OMS picks"
    )


class HoldCreate(_Model):
    channel: Channel
    lines: list[HoldLine] = Field(min_length=1, max_length=50)
    ttl_seconds: int = Field(default=900, strict=True, ge=1, le=86_400, description="Released by itself after this")
    hold_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="The caller's idempotency key: a retry returns the same hold",
    )

    @model_validator(mode="after")
    def _one_line_per_sku(self) -> HoldCreate:
        # Two lines of one SKU could take the same stock item twice in one transaction.
        seen = set()
        for line in self.lines:
            if line.sku in seen:
                raise ValueError(f"sku {line.sku} appears twice; send one line with the total quantity")
            seen.add(line.sku)
        return self


class HoldResponse(_Model):
    reservation_id: str
    status: ReservationStatus
    channel: Channel | None
    expires_at: datetime | None
    lines: list[ReservationLine]


class Shortage(_Model):
    sku: str
    requested: int
    available: int
    node_id: str | None = None


# ---------------------------------------------------------------- feeds


class MovementKind(StrEnum):
    receipt = "receipt"  # goods in: + quantity
    adjustment = "adjustment"  # a signed correction: quantity may be negative
    damage = "damage"  # written off: - quantity
    transfer = "transfer"  # from node_id to to_node_id
    restock = "restock"  # a resellable return put back: + quantity


class AdjustmentLine(_Model):
    sku: Sku
    quantity: Annotated[int, Field(strict=True, ge=-10_000_000, le=10_000_000)]

    @field_validator("quantity")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must not be 0")
        return value


class AdjustmentCreate(_Model):
    adjustment_id: str = Field(min_length=1, max_length=100, description="The sender's id: the idempotency key")
    kind: MovementKind
    node_id: NodeId
    to_node_id: NodeId | None = Field(default=None, description="For transfers: the receiving node")
    reason: str | None = Field(default=None, max_length=200)
    occurred_at: Moment | None = None
    lines: list[AdjustmentLine] = Field(min_length=1, max_length=40)

    @model_validator(mode="after")
    def _consistent(self) -> AdjustmentCreate:
        if (self.kind is MovementKind.transfer) != (self.to_node_id is not None):
            raise ValueError("to_node_id is required for transfers and only for them")
        if self.to_node_id is not None and self.to_node_id == self.node_id:
            raise ValueError("a transfer needs two different nodes")
        if self.kind is not MovementKind.adjustment and any(line.quantity < 0 for line in self.lines):
            raise ValueError(f"{self.kind.value} quantities are positive; only adjustments take a sign")
        if len({line.sku for line in self.lines}) != len(self.lines):
            raise ValueError("each sku once per adjustment")
        return self


class AdjustmentResult(_Model):
    adjustment_id: str
    outcome: str = Field(description="applied or duplicate")


class SnapshotScope(StrEnum):
    partial = "partial"  # a cycle count: only the SKUs listed
    full = "full"  # a full count: SKUs of the node not listed are counted as 0


class SnapshotRow(_Model):
    sku: Sku
    on_hand: Units


MAX_SNAPSHOT_ROWS_PER_PART = 2_000


class SnapshotPart(_Model):
    """One part of a count. A big count is sent as parts (any order, each retried safely)."""

    snapshot_id: str = Field(min_length=1, max_length=100, description="The sender's id for the whole count")
    node_id: NodeId
    as_of: Moment = Field(description="When the count was taken (ISO 8601 with offset)")
    scope: SnapshotScope = SnapshotScope.partial
    part: int = Field(default=1, strict=True, ge=1, le=1_000)
    parts: int = Field(default=1, strict=True, ge=1, le=1_000)
    rows: list[SnapshotRow] = Field(min_length=0, max_length=MAX_SNAPSHOT_ROWS_PER_PART)

    @model_validator(mode="after")
    def _consistent(self) -> SnapshotPart:
        if self.part > self.parts:
            raise ValueError(f"part {self.part} of {self.parts}")
        if len({row.sku for row in self.rows}) != len(self.rows):
            raise ValueError("each sku once per part")
        return self


class SnapshotStatus(_Model):
    snapshot_id: str
    node_id: str
    as_of: datetime
    scope: SnapshotScope
    parts: int
    parts_received: int
    parts_applied: int
    rows_applied: int
    rows_changed: int
    rows_stale: int
    rows_zeroed: int = 0
    status: str = Field(description="receiving, applying, applied")
    received_at: datetime | None = None
    applied_at: datetime | None = None


class SnapshotAccepted(_Model):
    snapshot_id: str
    part: int
    outcome: str = Field(description="queued or duplicate")
    status_url: str


class BucketsUpdate(_Model):
    buckets: int = Field(strict=True, ge=1, le=MAX_BUCKETS)


class RunReport(_Model):
    kind: str
    started_at: datetime
    finished_at: datetime
    checked: int
    findings: int
    corrected: int
    lines: list[dict] = Field(default_factory=list, description="The first findings (at most 500)")
    truncated: bool = False


# ---------------------------------------------------------------- channel stock push


class ChannelStockUpdate(_Model):
    """One SKU's sellable figure for one channel, as sent through the channel client."""

    channel: Channel
    sku: str
    atp: int
    level: AvailabilityLevel
    as_of: datetime = Field(description="When the stock it was computed from was read")
