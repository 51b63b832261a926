"""Returns: the policy (data), the request, and the RMA as the order document keeps it.

An RMA (return merchandise authorization) lives on its order (`Order.returns`), so what was returned
of each line is checked and written in the same conditional write as the order, and the orders
stream turns every change into timeline entries and events (docs/events.md). Money is Decimal.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import Field, field_validator, model_validator

# Only the shared vocabulary: oms.models.order holds RMAs on the order and imports this module.
from oms.models.common import Amount, Channel, LineSku, Model, NodeId


class ReturnReason(StrEnum):
    changed_mind = "changed_mind"
    wrong_size = "wrong_size"
    not_as_described = "not_as_described"
    wrong_item = "wrong_item"  # the seller sent something else
    damaged_in_transit = "damaged_in_transit"
    defective = "defective"  # it does not work: a vendor claim when the SKU has a supplier
    late_delivery = "late_delivery"
    other = "other"


# The seller's (or its carrier's) fault: the seller pays return shipping and no restocking fee is taken.
SELLER_FAULT = frozenset(
    {
        ReturnReason.not_as_described,
        ReturnReason.wrong_item,
        ReturnReason.damaged_in_transit,
        ReturnReason.defective,
        ReturnReason.late_delivery,
    }
)


class ReturnMethod(StrEnum):
    ship_back = "ship_back"  # the buyer sends it with a carrier
    store_drop_off = "store_drop_off"  # the buyer brings it to a store that accepts returns


class Resolution(StrEnum):
    refund = "refund"
    exchange = "exchange"  # a replacement order goes through normal capture and sourcing


class Condition(StrEnum):
    """What inspection found, per unit."""

    resellable = "resellable"  # as new: back to stock
    refurbish = "refurbish"  # sellable after work: kept out of stock
    damaged = "damaged"  # quarantined or scrapped: never sellable
    defective = "defective"  # does not work: vendor claim


class Disposition(StrEnum):
    """What became of inspected units."""

    restocked = "restocked"  # on hand again at the receiving node: available
    forwarded = "forwarded"  # resellable, but the node does not sell returns: sent on to a return center
    refurbish = "refurbish"
    quarantined = "quarantined"
    vendor_claim = "vendor_claim"


class Payer(StrEnum):
    buyer = "buyer"
    seller = "seller"


class RefundTiming(StrEnum):
    on_request = "on_request"  # when the return is accepted (before the goods are back)
    on_receipt = "on_receipt"  # when the goods arrive, for what arrived
    on_inspection = "on_inspection"  # when every received unit is inspected


class ShipBackTo(StrEnum):
    nearest_return_center = "nearest_return_center"
    original_node = "original_node"  # the node that shipped the line (if it accepts returns)


class ShippingRefund(StrEnum):
    never = "never"
    seller_fault = "seller_fault"  # when any returned line is the seller's fault
    always = "always"


class ReturnRule(Model):
    """One row of the policy. The first rule whose channels, categories and reasons match a line applies."""

    name: str = Field(min_length=1, max_length=100)
    channels: list[Channel] | None = Field(default=None, description="null: any channel")
    categories: list[str] | None = Field(default=None, description="Catalog categories; null: any")
    reasons: list[ReturnReason] | None = Field(default=None, description="null: any reason")
    returnable: bool = True
    window_days: int = Field(default=14, ge=0, le=365, description="Days from delivery (or pickup)")
    non_returnable_skus: list[LineSku] = Field(default_factory=list, max_length=1000)
    return_shipping_paid_by: Payer = Field(
        default=Payer.buyer, description="When the reason is not the seller's fault; otherwise the seller pays"
    )
    return_shipping_fee: Amount = Field(
        default=Decimal(0), description="Taken from the refund when the buyer pays and ships back"
    )
    currency: str = Field(
        default="IDR", min_length=3, max_length=3, description="Of the fee: orders in another currency pay none"
    )
    restocking_fee_pct: Decimal = Field(
        default=Decimal(0), ge=0, le=100, max_digits=5, decimal_places=2, description="Not on the seller's fault"
    )
    refund_original_shipping: ShippingRefund = Field(
        default=ShippingRefund.seller_fault, description="Refunded with the return that brings back the last unit"
    )
    refund_timing: RefundTiming = RefundTiming.on_inspection
    refund_damaged_by_buyer: bool = Field(
        default=False, description="Units inspected damaged on a return that is not the seller's fault: refunded?"
    )
    ship_back_to: ShipBackTo = ShipBackTo.nearest_return_center
    defective_to_supplier: bool = Field(
        default=False, description="Defective units of SKUs with a supplier are shipped back to the supplier"
    )


class ReturnPolicy(Model):
    version: int = Field(default=1, ge=1, strict=True, description="Send the version you read; a save makes the next")
    updated_at: datetime | None = None
    updated_by: str | None = Field(default=None, description="Who saved this version (the API key's actor)")
    expire_after_days: int = Field(
        default=30, ge=1, le=365, description="An RMA whose goods have not arrived by then is cancelled (daily job)"
    )
    rules: list[ReturnRule] = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _unique_names(self) -> ReturnPolicy:
        names = [rule.name for rule in self.rules]
        if len(set(names)) != len(names):
            raise ValueError("rule names must be unique")
        return self


# ---------------------------------------------------------------- requests


class ReturnLineRequest(Model):
    line_id: str = Field(min_length=1, max_length=100)
    quantity: int = Field(strict=True, ge=1, le=100_000)
    reason: ReturnReason
    note: str | None = Field(default=None, max_length=500, description="The buyer's words (staff only)")
    exchange_sku: LineSku | None = Field(default=None, description="Exchange: the replacement SKU (default: the same)")


class ReturnCreate(Model):
    order_id: str = Field(min_length=1, max_length=64)
    lines: list[ReturnLineRequest] = Field(min_length=1, max_length=100)
    method: ReturnMethod
    drop_off_node_id: NodeId | None = Field(default=None, description="The store, for store_drop_off")
    resolution: Resolution = Resolution.refund
    request_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Your id for it: a retry returns the same RMAs",
    )
    channel_return_id: str | None = Field(default=None, max_length=100, description="The marketplace's return id")

    @model_validator(mode="after")
    def _consistent(self) -> ReturnCreate:
        if (self.method is ReturnMethod.store_drop_off) != (self.drop_off_node_id is not None):
            raise ValueError("drop_off_node_id is required for store_drop_off and only for it")
        if len({line.line_id for line in self.lines}) != len(self.lines):
            raise ValueError("each line_id once per return")
        if self.resolution is Resolution.refund and any(line.exchange_sku for line in self.lines):
            raise ValueError("exchange_sku is for resolution exchange")
        return self


class ReceivedLine(Model):
    line_id: str = Field(min_length=1, max_length=100)
    quantity: int = Field(strict=True, ge=0, le=100_000, description="What arrived (0: announced, not in the box)")


class UnexpectedItem(Model):
    """Something in the box that is not on the RMA: recorded for staff, never stocked."""

    sku: LineSku | None = None
    description: str = Field(min_length=1, max_length=300)
    quantity: int = Field(strict=True, ge=1, le=100_000)


class ReturnReceipt(Model):
    lines: list[ReceivedLine] = Field(min_length=1, max_length=100)
    unexpected: list[UnexpectedItem] = Field(default_factory=list, max_length=50)
    note: str | None = Field(default=None, max_length=500)

    @field_validator("lines")
    @classmethod
    def _once(cls, lines: list[ReceivedLine]) -> list[ReceivedLine]:
        if len({line.line_id for line in lines}) != len(lines):
            raise ValueError("each line_id once per receipt")
        return lines


class InspectedUnits(Model):
    line_id: str = Field(min_length=1, max_length=100)
    condition: Condition
    quantity: int = Field(strict=True, ge=1, le=100_000)
    note: str | None = Field(default=None, max_length=500)


class ReturnInspection(Model):
    units: list[InspectedUnits] = Field(min_length=1, max_length=200)
    inspection_id: str | None = Field(
        default=None, min_length=1, max_length=100, description="Your id for this inspection: a retry changes nothing"
    )


class RefundOutcomeKind(StrEnum):
    completed = "completed"
    failed = "failed"


class RefundReport(Model):
    """Settled outside the OMS (cash, bank transfer, the marketplace, the web store's admin), or a retry."""

    outcome: RefundOutcomeKind
    reference: str | None = Field(default=None, max_length=100, description="The payment provider's refund id")
    reason: str | None = Field(default=None, max_length=300, description="Why it failed")


# ---------------------------------------------------------------- the RMA


class RmaStatus(StrEnum):
    authorized = "authorized"  # accepted; waiting for the goods
    received = "received"  # arrived; waiting for inspection
    inspected = "inspected"  # every received unit has its disposition; the refund may be open
    closed = "closed"  # inspected (or nothing arrived) and the refund settled
    cancelled = "cancelled"  # withdrawn before anything arrived or was refunded: its units count no more


OPEN_RMA = frozenset({RmaStatus.authorized, RmaStatus.received, RmaStatus.inspected})


class RefundStatus(StrEnum):
    pending = "pending"  # waits for its moment (receipt, inspection)
    requested = "requested"  # RefundRequested emitted; the provider, the channel or a person settles it
    completed = "completed"
    failed = "failed"  # declined: ops retry (POST /returns/{rma_id}/refund/retry) or settle by hand
    not_due = "not_due"  # nothing to refund (an exchange, nothing arrived, a transfer between nodes)


class RefundMethod(StrEnum):
    gateway = "gateway"  # the payment provider's refund API (own channels paid online)
    channel = "channel"  # the marketplace refunds the buyer; reported back
    manual = "manual"  # cash on delivery, web stores: a person refunds and reports it


class RefundPart(Model):
    label: str = Field(description="goods, restocking fee, return shipping, original shipping")
    amount: Decimal = Field(description="Signed: fees are negative")


class Refund(Model):
    status: RefundStatus = RefundStatus.pending
    method: RefundMethod
    amount: Amount = Field(default=Decimal(0), description="What is (or will be) refunded")
    currency: str = "IDR"
    parts: list[RefundPart] = Field(default_factory=list)
    timing: RefundTiming
    requested_at: datetime | None = None
    settled_at: datetime | None = None
    reference: str | None = None
    failure: str | None = None
    attempt: int = Field(default=0, description="Requests made (a retry after a failure makes another)")


class Inspection(Model):
    inspection_id: str | None = Field(default=None, description="The caller's id for the inspection it came with")
    condition: Condition
    quantity: int
    disposition: Disposition
    at: datetime
    by: str
    note: str | None = None
    movement_id: str | None = Field(
        default=None, description="The stock movement that restocks them (fixed when recorded; applied after)"
    )
    forwarded_to: str | None = Field(default=None, description="The RMA that takes them to a return center")
    supplier: str | None = None


class RmaLine(Model):
    line_id: str
    sku: str
    quantity: int = Field(description="Authorized")
    reason: ReturnReason
    note: str | None = None
    unit_refund: Decimal = Field(description="What the buyer paid per unit: line price, discounts prorated")
    rule: str = Field(description="The policy rule that applied")
    exchange_sku: str | None = None
    received: int | None = Field(default=None, description="What arrived (None: not yet)")
    inspections: list[Inspection] = Field(default_factory=list)

    @property
    def inspected(self) -> int:
        return sum(entry.quantity for entry in self.inspections)


class Destination(Model):
    node_id: str | None = None
    supplier: str | None = None
    why: str = Field(description="drop-off store, nearest return center, original node, supplier ...")

    @property
    def key(self) -> str:
        return f"node:{self.node_id}" if self.node_id else f"supplier:{self.supplier}"


class ExchangeLine(Model):
    line_id: str
    sku: str
    quantity: int
    unit_price: Decimal


class Rma(Model):
    rma_id: str = Field(description="RMA-<order number>-<n>")
    status: RmaStatus = RmaStatus.authorized
    method: ReturnMethod
    resolution: Resolution
    destination: Destination
    lines: list[RmaLine]
    return_shipping_paid_by: Payer
    return_shipping_fee: Amount = Field(
        default=Decimal(0), description="Taken from this RMA's refund (once per request and place)"
    )
    terms: ReturnRule = Field(description="The policy rule as it stood when the return was accepted")
    refund: Refund
    created_at: datetime
    updated_at: datetime
    by: str = Field(description="Who asked: cs:<key>, channel:<name>, ...")
    request_id: str | None = None
    channel_return_id: str | None = None
    forwarded_from: str | None = Field(default=None, description="A transfer leg: the RMA whose units it carries")
    received_at: datetime | None = None
    received_by: str | None = None
    receipt_note: str | None = None
    unexpected: list[UnexpectedItem] = Field(default_factory=list)
    exchange_order_id: str | None = Field(default=None, description="The replacement order (captured once due)")
    exchange_lines: list[ExchangeLine] = Field(default_factory=list)
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None

    @property
    def received_units(self) -> int:
        return sum(line.received or 0 for line in self.lines)


class ReturnAccepted(Model):
    outcome: str = Field(description="created, or duplicate (the same request_id again)")
    order_id: str
    rmas: list[Rma] = Field(description="One per destination: a return whose lines go to different places is split")


class RmaSummary(Model):
    """A row of GET /returns (kept from the return events; a second or so behind)."""

    rma_id: str
    order_id: str
    order_number: str
    channel: Channel
    status: RmaStatus
    node_id: str | None
    supplier: str | None = None
    reasons: list[ReturnReason]
    skus: list[str]
    units: int
    refund_status: RefundStatus
    refund_amount: Decimal
    created_at: datetime
    updated_at: datetime


class RmaPage(Model):
    items: list[RmaSummary]
    next_cursor: str | None = None


class ReturnCancel(Model):
    reason: str = Field(min_length=1, max_length=300)


class ReturnRateRow(Model):
    sku: str
    delivered_units: int
    returned_units: int
    return_rate: Decimal | None = Field(description="Returned / delivered units in the range (null: none delivered)")
    by_reason: dict[str, int]


class ReturnStats(Model):
    start: str
    end: str
    delivered_units: int
    returned_units: int
    by_reason: dict[str, int]
    skus: list[ReturnRateRow]
