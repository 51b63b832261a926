"""The canonical order: one model for every channel.

Money is Decimal in the order's currency units (IDR has no minor unit, USD
has cents); it is never a float. JSON carries it as a string.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, field_validator, model_validator

from oms.models.common import (  # the shared vocabulary; callers still import it from here too
    Amount,
    Channel,
    InRange,
    IsoTime,  # noqa: F401
    Model,
    Moment,  # noqa: F401
    NotBool,
)
from oms.models.returns import Rma
from oms.models.shipping import ParcelShipping

OWN_CHANNELS = frozenset({Channel.web, Channel.pos, Channel.callcenter, Channel.social})


class DeliveryMethod(StrEnum):
    ship = "ship"
    pickup = "pickup"
    curbside = "curbside"
    same_day = "same_day"
    instant = "instant"


PICKUP_METHODS = frozenset({DeliveryMethod.pickup, DeliveryMethod.curbside})


class ServiceLevel(StrEnum):
    instant = "instant"
    same_day = "same_day"
    next_day = "next_day"
    regular = "regular"
    economy = "economy"
    pickup = "pickup"


# Lower goes first: express service levels before regular ones.
SERVICE_LEVEL_PRIORITY = {
    ServiceLevel.instant: 0,
    ServiceLevel.same_day: 1,
    ServiceLevel.pickup: 2,
    ServiceLevel.next_day: 3,
    ServiceLevel.regular: 4,
    ServiceLevel.economy: 5,
}


class PaymentStatus(StrEnum):
    pending = "pending"
    authorized = "authorized"
    paid = "paid"
    partially_refunded = "partially_refunded"
    refunded = "refunded"
    voided = "voided"
    failed = "failed"


PAYABLE = frozenset({PaymentStatus.authorized, PaymentStatus.paid, PaymentStatus.partially_refunded})


class OrderStatus(StrEnum):
    """Ingestion owns on_hold, received and cancelled; sourcing the allocation states; the rest is derived
    from the fulfillments (oms.domain.lifecycle.order_status) once nothing waits for stock."""

    on_hold = "on_hold"
    received = "received"
    cancelled = "cancelled"
    allocated = "allocated"  # every line is reserved at a node (or cancelled as unfillable by policy)
    partially_allocated = "partially_allocated"  # some lines reserved, the rest backordered
    backordered = "backordered"  # nothing could be reserved yet; re-sourced when stock arrives
    partially_shipped = "partially_shipped"  # some parcels handed over, others still at their nodes
    shipped = "shipped"  # every parcel handed over, not all delivered
    ready_for_pickup = "ready_for_pickup"  # waiting at the store for the buyer
    delivered = "delivered"  # every parcel delivered or picked up
    returned_to_sender = "returned_to_sender"  # every parcel that left came back undelivered


class HoldCode(StrEnum):
    unknown_sku = "unknown_sku"
    unpaid = "unpaid"
    incomplete_address = "incomplete_address"
    no_pickup_store = "no_pickup_store"
    # Set by sourcing: ops fix the rules or the order, then release the hold.
    unroutable = "unroutable"  # no node passes the sourcing rules (no rate, no eligible node)
    pickup_unavailable = "pickup_unavailable"  # the pickup store cannot hold every unit
    pickup_rejected = "pickup_rejected"  # the pickup store rejected it: staff contact the buyer
    too_large = "too_large"  # the allocation exceeds one transaction (100 writes): split the order


# Holds sourcing sets: a channel update keeps them unless it changes what sourcing planned from.
SOURCING_HOLDS = frozenset(
    {HoldCode.unroutable, HoldCode.pickup_unavailable, HoldCode.pickup_rejected, HoldCode.too_large}
)


class Address(Model):
    """Any country's address, carrying the Indonesian hierarchy where present."""

    name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    company: str | None = Field(default=None, max_length=200)
    line1: str | None = Field(default=None, max_length=500)
    line2: str | None = Field(default=None, max_length=500)
    village: str | None = Field(default=None, max_length=100, description="Kelurahan / desa")
    district: str | None = Field(default=None, max_length=100, description="Kecamatan")
    city: str | None = Field(default=None, max_length=100, description="Kota / kabupaten")
    province: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    country: str = Field(default="ID", min_length=2, max_length=2, description="ISO 3166-1 alpha-2")
    lat: Annotated[Decimal, InRange] | None = Field(default=None, ge=-90, le=90)
    lng: Annotated[Decimal, InRange] | None = Field(default=None, ge=-180, le=180)

    @field_validator("country")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    def missing_for_delivery(self) -> list[str]:
        """The fields a carrier needs that this address lacks."""
        required = {"name": self.name, "line1": self.line1, "city": self.city, "postal_code": self.postal_code}
        if self.country == "ID":
            required["province"] = self.province
        return [field for field, value in required.items() if not value]


class Customer(Model):
    channel_customer_id: str | None = Field(default=None, max_length=100)
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)


class Payment(Model):
    status: PaymentStatus
    cod: bool = Field(default=False, description="Cash on delivery: collected by the carrier")
    method: str | None = Field(default=None, max_length=100)
    reference: str | None = Field(
        default=None, max_length=100, description="The payment provider's id of the payment (refunds go against it)"
    )


class OrderLine(Model):
    line_id: str = Field(min_length=1, max_length=100, description="The channel's line id, or the line's position")
    sku: str = Field(default="", max_length=100, description="Empty when the channel sent none (held)")
    name: str | None = Field(default=None, max_length=500)
    quantity: Annotated[int, NotBool] = Field(gt=0, le=100_000)
    unit_price: Amount
    discount: Amount = Field(default=Decimal(0), description="Total discount on the line")
    tax: Amount = Field(default=Decimal(0), description="Total tax on the line")

    @model_validator(mode="after")
    def _discount_within_line(self) -> OrderLine:
        if self.discount > self.unit_price * self.quantity:
            raise ValueError("discount is larger than unit_price x quantity")
        return self

    @property
    def net_total(self) -> Decimal:
        return self.unit_price * self.quantity - self.discount


class Totals(Model):
    subtotal: Amount
    shipping: Amount = Decimal(0)
    discount: Amount = Decimal(0)
    tax: Amount = Decimal(0)
    grand_total: Amount


class ChannelState(StrEnum):
    """One canonical lifecycle for what a marketplace says about an order (its raw value is kept beside)."""

    unpaid = "unpaid"  # placed, not paid (and not COD)
    on_hold = "on_hold"  # the channel holds it (fraud review, invoice pending, remorse period)
    ready = "ready"  # paid or COD-confirmed: the seller must ship
    arranged = "arranged"  # the seller arranged the shipment (packed, label printed, awaiting pickup)
    shipped = "shipped"  # handed to the carrier, in transit
    delivered = "delivered"  # the carrier delivered it
    completed = "completed"  # closed: the buyer confirmed or the window passed
    cancel_requested = "cancel_requested"  # the buyer asked to cancel; the seller or channel decides
    cancelled = "cancelled"
    return_requested = "return_requested"  # after delivery, a return or refund is being asked for
    returned = "returned"  # returned to the seller, or refunded
    unknown = "unknown"  # a value no mapping knows: kept, flagged, never guessed


# Forward order; the side branches (cancel_*, return*) rank by when they can happen.
STATE_RANK = {
    ChannelState.unknown: 0,
    ChannelState.unpaid: 1,
    ChannelState.on_hold: 2,
    ChannelState.ready: 3,
    ChannelState.cancel_requested: 4,
    ChannelState.arranged: 5,
    ChannelState.shipped: 6,
    ChannelState.delivered: 7,
    ChannelState.return_requested: 8,
    ChannelState.completed: 9,
    ChannelState.returned: 10,
    ChannelState.cancelled: 11,
}


class Hold(Model):
    code: HoldCode
    message: str


class FulfillmentStatus(StrEnum):
    """A parcel's life (oms.domain.lifecycle has the transitions)."""

    requested = "requested"  # reserved at the node and sent to it
    accepted = "accepted"  # the node took it on
    picked = "picked"
    packed = "packed"
    shipped = "shipped"  # handed to the carrier: the reservation is consumed
    in_transit = "in_transit"
    out_for_delivery = "out_for_delivery"
    failed_attempt = "failed_attempt"  # the courier could not deliver; another attempt or a return follows
    delivered = "delivered"
    returned_to_sender = "returned_to_sender"
    ready_for_pickup = "ready_for_pickup"  # at the store's counter
    picked_up = "picked_up"
    rejected = "rejected"  # the node could not do it; its lines went back to sourcing
    cancelled = "cancelled"  # the order was cancelled; its stock released


class Shipment(Model):
    """What the node handed to the carrier."""

    carrier: str = Field(min_length=2, max_length=40, description="Lower case: jne, jnt, sicepat, anteraja ...")
    service: str | None = Field(default=None, max_length=40, description="The carrier's product: REG, YES ...")
    tracking_number: str = Field(min_length=4, max_length=64, pattern=r"^[A-Za-z0-9-]+$")
    weight_grams: Annotated[int, NotBool] | None = Field(default=None, ge=1, le=1_000_000)
    origin_region: str | None = Field(default=None, description="The node's island group, for lane learning")


class TrackingScan(Model):
    """One status the node or the carrier reported, as it came (the raw value kept)."""

    status: FulfillmentStatus
    at: datetime
    by: str = Field(description="node:<id>, carrier:<name>, ops")
    raw: str | None = Field(default=None, max_length=100, description="The sender's own status value")
    note: str | None = Field(default=None, max_length=500)


class PromiseDates(Model):
    """One parcel's promise. Ship-by is in the node's time; the rest in the buyer's."""

    ship_by: datetime = Field(description="When the node hands the parcel over (node's local time)")
    deliver_earliest: date | None = None
    deliver_latest: date | None = None
    deliver_by: datetime | None = Field(default=None, description="Same day and instant: by this moment")
    ready_at: datetime | None = Field(default=None, description="Pickup: ready at the store from this moment")
    carrier: str | None = None
    service: str | None = None
    buyer_tz: str | None = None


class FulfillmentLine(Model):
    line_id: str
    sku: str
    quantity: int


class FlagCode(StrEnum):
    """What the watchers found (oms.domain.watchers). Flags do not stop anything: they ask for attention."""

    not_released = "not_released"  # paid (or placed) but not at any node after the limit
    ship_by_missed = "ship_by_missed"  # at its node after the promised hand-over
    no_scan = "no_scan"  # handed over, and no carrier news for too long
    late = "late"  # not delivered by the promised latest date (or deliver-by moment)
    # Set from what a marketplace says (oms.domain.capture), for a person to act on in the channel.
    channel_status_unknown = "channel_status_unknown"  # a raw status no mapping knows: kept, not guessed
    cancel_requested = "cancel_requested"  # the buyer asked the marketplace to cancel
    return_requested = "return_requested"  # the buyer asked the marketplace for a return or refund


# Flags that follow the channel's word rather than the watchers' clock.
CHANNEL_FLAGS = frozenset({FlagCode.channel_status_unknown, FlagCode.cancel_requested, FlagCode.return_requested})
AT_RISK = frozenset({FlagCode.not_released, FlagCode.ship_by_missed, FlagCode.no_scan, *CHANNEL_FLAGS})


class Flag(Model):
    code: FlagCode
    fulfillment_id: str | None = None
    since: datetime = Field(description="When a watcher first saw it")
    message: str = Field(max_length=300)


class Fulfillment(Model):
    """One node's part of an order: its lines, reserved there, and what it cost to plan."""

    fulfillment_id: str = Field(description="<order_id>-F<n>: n counts every fulfillment the order ever had")
    node_id: str
    delivery_method: DeliveryMethod
    service_level: ServiceLevel
    status: FulfillmentStatus = FulfillmentStatus.requested
    lines: list[FulfillmentLine]
    reservation_id: str
    planned_cost: Amount = Field(description="The stated cost of this parcel when planned")
    zone: str | None = None
    late: bool = Field(default=False, description="Planned past the service level (no faster node had the stock)")
    ship_by: datetime | None = None
    round: int = Field(description="The sourcing round that created it")
    created_at: datetime
    promise_original: PromiseDates | None = Field(default=None, description="What was promised at allocation, kept")
    promise: PromiseDates | None = Field(default=None, description="The current estimate (re-promised on changes)")
    reason: str | None = Field(default=None, description="Why it was rejected or cancelled")
    status_at: datetime | None = Field(default=None, description="When the current status happened (its sender's time)")
    shipment: Shipment | None = None
    scans: list[TrackingScan] = Field(default_factory=list, description="Every status reported, oldest first")
    shipping: ParcelShipping | None = Field(
        default=None, description="Arranging its courier, its resi and label (oms.domain.shipping); none: to arrange"
    )


class ShortageAction(StrEnum):
    backorder = "backorder"  # wait for stock; re-sourced when it arrives
    cancel = "cancel"  # cancel what cannot be filled (the lines, or the order if partial is not allowed)


class UnfilledLine(Model):
    line_id: str
    sku: str
    quantity: int
    action: ShortageAction
    reason: str


def fulfillment_order_id(fulfillment_id: str) -> str:
    """The order a fulfillment belongs to (ids are <order_id>-F<n>; order ids have no '-')."""
    return fulfillment_id.rsplit("-F", 1)[0]


class OrderDraft(Model):
    """What a channel told us, normalized; the OMS's own fields come later."""

    channel: Channel
    channel_order_id: str = Field(min_length=1, max_length=100)
    channel_order_number: str | None = Field(
        default=None, max_length=100, description="The channel's human order number, e.g. Shopify's #1042"
    )
    shop_id: str | None = Field(
        default=None, max_length=64, description="Marketplaces: the seller's shop it was sold in (GET /shops)"
    )
    channel_status: str | None = Field(default=None, max_length=100, description="The channel's raw status")
    channel_updated_at: datetime
    placed_at: datetime
    currency: str = Field(default="IDR", min_length=3, max_length=3)
    customer: Customer = Field(default_factory=Customer)
    shipping_address: Address | None = None
    delivery_method: DeliveryMethod = DeliveryMethod.ship
    service_level: ServiceLevel = ServiceLevel.regular
    pickup_node_id: str | None = Field(default=None, max_length=64)
    payment: Payment
    lines: list[OrderLine] = Field(min_length=1, max_length=500)
    totals: Totals
    cancelled: bool = False
    cancel_reason: str | None = Field(default=None, max_length=500)
    notes: str | None = Field(default=None, max_length=2000)
    tags: list[str] = Field(default_factory=list, max_length=50)
    ship_by: datetime | None = Field(
        default=None, description="The channel's hand-over deadline (marketplaces): sourcing treats it as hard"
    )
    channel_state: ChannelState | None = Field(
        default=None, description="Marketplaces: channel_status on one canonical lifecycle (unknown: flagged)"
    )

    @field_validator("currency")
    @classmethod
    def _currency_upper(cls, value: str) -> str:
        return value.upper()

    @field_validator("channel_updated_at", "placed_at", "ship_by")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must carry a time zone offset")
        return value


class Order(OrderDraft):
    # Stored documents may come from a newer release (a rollback, a mixed deploy): read, don't refuse.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    order_id: str
    order_number: str
    status: OrderStatus
    holds: list[Hold] = Field(default_factory=list)
    priority: int = Field(description="Lower goes first")
    created_at: datetime
    updated_at: datetime
    version: int = Field(ge=1, description="Bumped on every stored change")
    content_hash: str = Field(description="Hash of the channel's content, for idempotent re-sends")
    # Sourcing's part (kept across channel updates).
    fulfillments: list[Fulfillment] = Field(default_factory=list)
    unfilled: list[UnfilledLine] = Field(default_factory=list, description="Lines waiting for stock, or cancelled")
    sourcing_round: int = Field(default=0, description="How many times sourcing has planned this order")
    excluded_nodes: list[str] = Field(default_factory=list, description="Nodes that rejected it: not planned again")
    changed_by: str | None = Field(
        default=None, description="Who made the latest change: channel:<name>, sourcing, node:<id>, carrier:<name>, ops"
    )
    flags: list[Flag] = Field(default_factory=list, description="What the watchers found (at risk, late)")
    returns: list[Rma] = Field(default_factory=list, description="Its RMAs (oms.domain.returns), newest last")

    @property
    def hold_codes(self) -> list[str]:
        return [hold.code.value for hold in self.holds]
