"""Shipping a parcel: the state a seller's team works it through (arrange, resi, label, print,
hand over), on the marketplace's own courier or a courier the OMS books; print jobs; the API's bodies.

A parcel (one fulfillment) with no `shipping` yet is "to arrange" when it can still ship: the state
lives on the fulfillment, in the order document, so the order stays the one unit of consistency.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from oms.models.common import Amount, Channel, Model, NotBool


class ShippingState(StrEnum):
    to_arrange = "to_arrange"  # can ship, nothing arranged yet
    arranging = "arranging"  # asked for; the marketplace or the courier has not answered yet
    arrange_failed = "arrange_failed"  # refused, with the vendor's reason: arrange again
    waiting_for_resi = "waiting_for_resi"  # arranged; the airway bill (resi) or its label is still to come
    label_ready = "label_ready"  # the label is kept (S3): print it
    printed = "printed"  # in a print job at least once
    handed_over = "handed_over"  # the courier has it (picked up or dropped off)


OPEN_STATES = frozenset({ShippingState.arranging, ShippingState.waiting_for_resi})


class ArrangedBy(StrEnum):
    marketplace = "marketplace"  # the marketplace's own courier (Shopee, Lazada, TikTok Shop, Tokopedia)
    own_courier = "own_courier"  # booked by the OMS through the courier aggregator (Biteship)


class Handover(StrEnum):
    pickup = "pickup"  # the courier comes to the node
    dropoff = "dropoff"  # the node takes it to the courier's branch
    booked = "booked"  # own courier booked: it collects as the booking says


class ShippingFailure(Model):
    code: str | None = Field(default=None, max_length=100, description="The vendor's own error code")
    message: str = Field(max_length=500, description="The vendor's own words (or the OMS's, said so)")
    at: datetime
    retryable: bool = False


class ParcelShipping(Model):
    """How one parcel ships: who arranged it, where it stands, its resi and its label."""

    arranged_by: ArrangedBy
    state: ShippingState
    handover: Handover
    slot_id: str | None = Field(default=None, max_length=200, description="The pickup slot asked for")
    package_id: str | None = Field(default=None, max_length=100, description="The marketplace's package")
    resi: str | None = Field(default=None, max_length=64, description="The airway bill: the parcel's tracking number")
    carrier: str | None = Field(default=None, max_length=100)
    service: str | None = Field(default=None, max_length=100)
    booking_id: str | None = Field(default=None, max_length=100, description="The courier aggregator's order id")
    price: Amount | None = Field(default=None, description="What the booked courier charges")
    label_key: str | None = Field(default=None, max_length=300, description="Where its label is kept")
    failure: ShippingFailure | None = None
    attempts: Annotated[int, NotBool] = Field(default=0, ge=0, description="Arrange calls made")
    resi_asks: Annotated[int, NotBool] = Field(default=0, ge=0, description="Times the resi was asked for")
    label_asks: Annotated[int, NotBool] = Field(default=0, ge=0, description="Times the label was asked for")
    printed_count: Annotated[int, NotBool] = Field(default=0, ge=0)
    printed_at: datetime | None = None
    ready_to_ship_at: datetime | None = Field(default=None, description="Lazada: ReadyToShip told")
    again: bool = Field(default=False, description="Arranged before and the pickup failed: arranged again")
    requested_by: str | None = Field(default=None, max_length=100)
    requested_at: datetime
    updated_at: datetime


# --- the HTTP API's bodies


PARCEL_ID = re.compile(r"^[A-Za-z0-9_]+-F[0-9]+$")  # <order id>-F<n>
ParcelId = Annotated[str, Field(min_length=3, max_length=80, pattern=PARCEL_ID.pattern)]
ParcelIds = Annotated[list[ParcelId], Field(min_length=1, max_length=500)]


class ArrangeBody(Model):
    """Arrange the marketplace's courier for parcels (bulk: each parcel answered on its own)."""

    parcel_ids: ParcelIds
    handover: Literal["pickup", "dropoff"] = Field(description="The courier collects, or the node drops off")
    slot_id: str | None = Field(
        default=None, max_length=200, description="A pickup slot from GET /shipping/options; none: the earliest"
    )


class BookBody(Model):
    """Book the retailer's own courier for own-channel parcels (web, POS, social, call center)."""

    parcel_ids: ParcelIds
    courier: str | None = Field(default=None, max_length=40, description="e.g. jne; none: the promised or cheapest")
    service: str | None = Field(default=None, max_length=40, description="e.g. reg")


class ParcelOutcome(Model):
    parcel_id: str
    outcome: Literal["accepted", "refused", "not_found"]
    state: ShippingState | None = None
    reason: str | None = None


class BulkAnswer(Model):
    accepted: int
    refused: int
    parcels: list[ParcelOutcome]


class PrintBody(Model):
    parcel_ids: Annotated[list[Annotated[str, Field(min_length=3, max_length=80)]], Field(min_length=1, max_length=300)]
    layout: Literal["a6", "a4x4"] = Field(default="a6", description="One label a page, or four to an A4 sheet")
    reprint: bool = Field(default=False, description="Print parcels printed before (else they are refused)")


class PrintedParcel(Model):
    parcel_id: str
    printed: bool
    reason: str | None = None


class PrintJob(Model):
    job_id: str
    created_at: datetime
    created_by: str | None = None
    layout: Literal["a6", "a4x4"]
    parcels: list[PrintedParcel]
    printed: int
    failed: int
    pages: int
    bytes: int
    document_key: str
    download_url: str | None = Field(default=None, description="The PDF, for 15 minutes")


class ParcelRow(Model):
    """One parcel as the shipping lists show it (a projection of the order, eventually consistent)."""

    parcel_id: str
    order_id: str
    order_number: str
    channel: Channel
    channel_order_id: str
    shop_id: str | None = Field(default=None, description="The marketplace shop that sold it")
    node_id: str
    state: ShippingState
    ship_by: datetime | None = None
    arranged_by: ArrangedBy | None = None
    handover: Handover | None = None
    resi: str | None = None
    carrier: str | None = None
    failure: str | None = None
    printed_count: int = 0
    version: int
    updated_at: datetime


class ParcelPage(Model):
    items: list[ParcelRow]
    next_cursor: str | None = None


class SlotView(Model):
    slot_id: str
    label: str
    start: datetime | None = None
    end: datetime | None = None


class OptionsView(Model):
    parcel_id: str
    pickup: bool = False
    dropoff: bool = False
    slots: list[SlotView] = Field(default_factory=list)
    carrier: str | None = None
    error: str | None = None


class RateView(Model):
    courier: str
    service: str
    price: Amount
    description: str | None = None
    duration: str | None = None
    cod: bool = False
