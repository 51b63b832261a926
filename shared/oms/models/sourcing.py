"""Sourcing: the rules (data, editable without a deploy), the plan, its cost
breakdown and its trace, and the fulfillments an allocation creates.

Costs are whole currency units (IDR has no minor unit) and never floats.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import Field, model_validator

from oms.models.common import REGIONS, Channel, InRange, Model, NodeId, Sku
from oms.models.inventory import PositiveUnits
from oms.models.order import DeliveryMethod, ServiceLevel, ShortageAction

Cost = Annotated[Decimal, InRange, Field(ge=0, max_digits=14, decimal_places=0)]


class ChannelSourcing(Model):
    nodes: list[NodeId] | None = Field(
        default=None, description="Nodes that may fulfil this channel's orders; null = the channel's stock policy nodes"
    )
    allow_partial: bool = Field(default=True, description="Ship what is in stock now and handle the rest apart")
    on_shortage: ShortageAction = ShortageAction.backorder
    max_shipments: int = Field(default=3, ge=1, le=10, description="At most this many shipments (nodes) per order")

    @model_validator(mode="after")
    def _some_node(self) -> ChannelSourcing:
        if self.nodes is not None and not self.nodes:
            raise ValueError("nodes is empty: no order of this channel could ever be sourced (use null for all)")
        return self


class RateCell(Model):
    """A courier price for one zone and service: the first kilogram, then each started kilogram."""

    first_kg: Cost
    next_kg: Cost
    days_min: int = Field(ge=0, le=30)
    days_max: int = Field(ge=0, le=30)

    @model_validator(mode="after")
    def _ordered(self) -> RateCell:
        if self.days_min > self.days_max:
            raise ValueError(f"days_min {self.days_min} is after days_max {self.days_max}")
        return self


class LocalDeliveryRate(Model):
    """Same day and instant: a rider from a nearby node, priced by distance."""

    base: Cost
    per_km: Cost
    radius_km: int = Field(ge=1, le=200)


SHIPPED_LEVELS = (ServiceLevel.next_day, ServiceLevel.regular, ServiceLevel.economy)


class SourcingRules(Model):
    version: int = Field(default=1, ge=1, strict=True, description="Raised on every save")
    updated_at: datetime | None = None
    updated_by: str | None = Field(default=None, description="Who saved this version (the API key's actor)")
    currency: str = Field(default="IDR", min_length=3, max_length=3)
    per_shipment_cost: Cost = Field(
        default=Decimal(15000),
        description="What one more parcel costs beyond its courier price: packing, label, hand-over, and the "
        "buyer's trouble with a split order. A split must save more than this",
    )
    late_penalty: Cost = Field(
        default=Decimal(60000), description="Added per shipment whose slowest transit misses the service level"
    )
    metro_km: int = Field(
        default=50, ge=0, le=200, description="Closer than this, couriers charge the same-city rate (Jabodetabek)"
    )
    max_store_distance_km: int = Field(default=60, ge=0, le=5000, description="Ship from store only this close")
    service_days: dict[ServiceLevel, int] = Field(
        default_factory=lambda: {ServiceLevel.next_day: 1, ServiceLevel.regular: 4, ServiceLevel.economy: 7},
        description="Days from hand-over a service level promises (the late penalty applies past it)",
    )
    default_channel: ChannelSourcing = Field(default_factory=ChannelSourcing)
    channels: dict[Channel, ChannelSourcing] = Field(default_factory=dict)
    rates: dict[str, dict[ServiceLevel, RateCell]] = Field(
        default_factory=dict,
        description="Zone ('city', 'province' or '<region>><region>') -> service level -> courier price",
    )
    same_day: LocalDeliveryRate | None = None
    instant: LocalDeliveryRate | None = None

    def for_channel(self, channel: Channel) -> ChannelSourcing:
        return self.channels.get(channel) or self.default_channel

    @model_validator(mode="after")
    def _consistent(self) -> SourcingRules:
        for zone, cells in self.rates.items():
            if zone not in ("city", "province"):
                origin, _, destination = zone.partition(">")
                if origin not in REGIONS or destination not in REGIONS:
                    raise ValueError(f"rate zone '{zone}': regions are {', '.join(REGIONS)}")
            for level in cells:
                if level not in SHIPPED_LEVELS:
                    raise ValueError(f"rate zone '{zone}': {level.value} is not a shipped service level")
                if level not in self.service_days:
                    raise ValueError(f"rate zone '{zone}' prices {level.value}, which service_days does not define")
        if self.same_day and self.instant and self.instant.radius_km > self.same_day.radius_km:
            raise ValueError("instant reaches further than same day")
        return self


# ---------------------------------------------------------------- plans


class CostBreakdown(Model):
    shipment: Cost = Decimal(0)
    handling: Cost = Decimal(0)
    shipping: Cost = Decimal(0)
    late_penalty: Cost = Decimal(0)
    total: Cost = Decimal(0)


class PlannedLine(Model):
    line_id: str
    sku: str
    quantity: int


class PlannedShipment(Model):
    node_id: str
    kind: str
    lines: list[PlannedLine]
    zone: str | None = None
    distance_km: int | None = None
    weight_g: int = 0
    transit_days_max: int | None = None
    late: bool = False
    cost: CostBreakdown


class ShortLine(Model):
    line_id: str
    sku: str
    quantity: int
    reason: str


class NodeTrace(Model):
    node_id: str
    kind: str
    removed: str | None = Field(default=None, description="The rule that removed the node; null = a candidate")
    zone: str | None = None
    distance_km: int | None = None
    shipment_cost: Cost | None = Field(default=None, description="One parcel of 1 kg from here, all in")
    dominated_by: str | None = Field(
        default=None, description="Skipped by the search: this node costs no more and holds what this one holds"
    )


class LineTrace(Model):
    line_id: str
    sku: str
    quantity: int
    weight_g: int
    candidates: list[str] = Field(description="Nodes that can ship the whole line")
    short: dict[str, int] = Field(default_factory=dict, description="Eligible nodes with too few units: their ATP")


class ComparedPlan(Model):
    nodes: list[str]
    total: Cost
    unfilled_units: int = 0


class SearchTrace(Model):
    exact: bool = Field(description="True when every cheaper plan was ruled out")
    explored: int
    limit: int


class PlanTrace(Model):
    rules_version: int
    destination: dict
    method: DeliveryMethod
    service_level: ServiceLevel
    nodes: list[NodeTrace]
    lines: list[LineTrace]
    compared: list[ComparedPlan] = Field(description="The cheapest plans per set of nodes, cheapest first")
    winner: list[str]
    search: SearchTrace | None = None
    notes: list[str] = Field(default_factory=list)


class PlanOutcome(StrEnum):
    allocated = "allocated"  # every line placed
    partial = "partial"  # some lines placed, the rest unfilled (backorder or cancel by policy)
    unfilled = "unfilled"  # nothing placed: no stock anywhere eligible
    unroutable = "unroutable"  # the rules leave no node at all (no rate, no eligible node, impossible method)
    pickup_unavailable = "pickup_unavailable"  # the pickup store cannot hold every unit


class Plan(Model):
    outcome: PlanOutcome
    shipments: list[PlannedShipment]
    unfilled: list[ShortLine]
    cost: CostBreakdown
    reason: str | None = None
    alternatives: list[str] = Field(default_factory=list, description="Pickup stores nearby that hold every unit")
    trace: PlanTrace


# ---------------------------------------------------------------- dry run


class PlanDestination(Model):
    province: str | None = Field(default=None, max_length=100)
    city: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    lat: Decimal | None = Field(default=None, ge=-90, le=90)
    lng: Decimal | None = Field(default=None, ge=-180, le=180)


class PlanLine(Model):
    line_id: str | None = Field(default=None, max_length=100)
    sku: Sku
    quantity: PositiveUnits


class PlanRequest(Model):
    """POST /sourcing/plan: a stored order by id, or a cart; optionally under proposed rules."""

    order_id: str | None = Field(default=None, max_length=64)
    channel: Channel = Channel.web
    destination: PlanDestination | None = None
    delivery_method: DeliveryMethod = DeliveryMethod.ship
    service_level: ServiceLevel = ServiceLevel.regular
    pickup_node_id: NodeId | None = None
    ship_by: datetime | None = None
    lines: list[PlanLine] = Field(default_factory=list, max_length=100)
    rules: SourcingRules | None = Field(default=None, description="Try these rules instead of the stored ones")

    @model_validator(mode="after")
    def _order_or_cart(self) -> PlanRequest:
        if (self.order_id is None) == (not self.lines):
            raise ValueError("send either order_id or lines")
        if self.ship_by is not None and self.ship_by.tzinfo is None:
            raise ValueError("ship_by must carry a time zone offset")
        return self
