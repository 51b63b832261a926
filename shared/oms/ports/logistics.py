"""Shipping a parcel: the marketplaces' own couriers (arrange, resi, label), the retailer's own
courier booking (Biteship), and the printer that draws the OMS's labels and print jobs.

Every bulk method takes many parcels, batches them as the vendor's API allows, and answers one
outcome per parcel: one parcel's refusal never fails the others. Only an outage of the whole vendor
(unreachable, 5xx, throttled past the retries) raises oms.errors.DependencyError.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol

from oms.models.common import Channel

HandoverMethod = Literal["pickup", "dropoff"]
LabelLayout = Literal["a6", "a4x4"]  # one label a page (thermal), or four to an A4 sheet
LabelSize = Literal["a6", "10x15"]  # the OMS's own label: A6 (105 x 148 mm) or 10 x 15 cm thermal


# --- marketplace-arranged shipping


@dataclass(frozen=True)
class ShipParcel:
    """What an adapter needs to know about one parcel to ship it on the marketplace's courier."""

    parcel_id: str  # the OMS's fulfillment id
    channel: Channel
    shop_id: str | None
    channel_order_id: str  # Shopee order_sn, Lazada order id, TikTok Shop / Tokopedia order id
    package_id: str | None = None  # the channel's package once known: Shopee package_number, Lazada / TikTok package id
    line_ids: tuple[str, ...] = ()  # the channel's line ids in this parcel (Lazada order_item_id, TikTok line item id)
    line_quantities: tuple[int, ...] = ()  # units of each line id in this parcel (Lazada: one item row a unit)
    resi: str | None = None  # the airway bill, once known
    # The order's other live parcels (by the OMS's plan: several nodes, or a split), each as (line ids, units
    # of each): what the marketplace's one package must be split into before this parcel is arranged alone.
    siblings: tuple[tuple[tuple[str, ...], tuple[int, ...]], ...] = ()


@dataclass(frozen=True)
class PickupSlot:
    slot_id: str  # opaque to the OMS: what arrange needs back (Shopee "<address_id>:<pickup_time_id>")
    label: str  # for people: "Sel 8 Des 13:00-17:00 WIB, Gudang Cakung"
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class HandoverOptions:
    parcel_id: str
    pickup: bool = False
    dropoff: bool = False
    slots: tuple[PickupSlot, ...] = ()
    package_id: str | None = None
    carrier: str | None = None  # the marketplace's logistics channel / provider, as it names it
    error: str | None = None  # why no options (the channel's own words)


@dataclass(frozen=True)
class ArrangeRequest:
    parcel: ShipParcel
    method: HandoverMethod
    slot_id: str | None = None  # pickup: one of the parcel's slots; None: the earliest offered
    again: bool = False  # the courier's pickup failed: arrange again (Shopee update_shipping_order)


@dataclass(frozen=True)
class ArrangeOutcome:
    parcel_id: str
    ok: bool
    package_id: str | None = None
    resi: str | None = None  # when the channel gives it at once (Lazada's pack)
    carrier: str | None = None
    error_code: str | None = None  # the channel's own code
    message: str | None = None  # the channel's own words
    retryable: bool = False  # transient (throttled, busy): the same call may succeed later


@dataclass(frozen=True)
class ResiOutcome:
    parcel_id: str
    resi: str | None = None  # None: not assigned yet (ask again later, or wait for the push)
    carrier: str | None = None
    package_id: str | None = None
    error: str | None = None
    retryable: bool = True


@dataclass(frozen=True)
class LabelOutcome:
    parcel_id: str
    pdf: bytes | None = None  # the channel's label, downloaded at once (its links expire)
    pending: bool = False  # being made (Shopee PROCESSING): ask again shortly
    error: str | None = None
    retryable: bool = False


class MarketplaceLogistics(Protocol):
    """One marketplace's shipping on its own couriers (one shop's credentials)."""

    def handover_options(self, parcels: Sequence[ShipParcel]) -> dict[str, HandoverOptions]: ...

    def arrange(self, requests: Sequence[ArrangeRequest]) -> dict[str, ArrangeOutcome]: ...

    def resi(self, parcels: Sequence[ShipParcel]) -> dict[str, ResiOutcome]: ...

    def labels(self, parcels: Sequence[ShipParcel]) -> dict[str, LabelOutcome]: ...

    def ready_to_ship(self, parcels: Sequence[ShipParcel]) -> dict[str, str | None]:
        """After the label: tell the courier to come (Lazada's ReadyToShip). parcel id -> error or None.
        Channels without such a step answer {}."""
        ...

    def calls(self) -> int:
        """API calls made so far (the batching at work)."""
        ...


# --- the retailer's own courier (web, POS, social, call center orders)


@dataclass(frozen=True)
class Party:
    name: str
    phone: str
    address: str  # one line: street, district, city, province
    postal_code: str | None = None
    email: str | None = None
    lat: Decimal | None = None
    lng: Decimal | None = None
    note: str | None = None


@dataclass(frozen=True)
class BookingItem:
    name: str
    sku: str
    quantity: int
    value: Decimal  # per unit, IDR
    weight_grams: int  # per unit


@dataclass(frozen=True)
class BookingRequest:
    parcel_id: str
    reference: str  # the order number, shown to the courier
    origin: Party
    destination: Party
    items: tuple[BookingItem, ...]
    cod_amount: Decimal | None = None  # cash on delivery: what the courier collects


@dataclass(frozen=True)
class CourierRate:
    courier: str  # the courier's code: jne, jnt, sicepat, anteraja ...
    service: str  # its service code: reg, yes, best ...
    price: Decimal
    description: str | None = None
    duration: str | None = None  # the courier's estimate as it says it: "1 - 2 days"
    cod: bool = False  # takes cash on delivery


@dataclass(frozen=True)
class Booking:
    booking_id: str  # the aggregator's order id
    courier: str
    service: str
    waybill: str | None = None  # the courier's resi; None until the courier assigns it
    price: Decimal | None = None
    status: str | None = None


class BookingRefused(Exception):
    """The aggregator refused the booking (bad address, no such service, COD not allowed): its words."""

    def __init__(self, code: str | None, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class CourierBooking(Protocol):
    def rates(self, request: BookingRequest) -> list[CourierRate]: ...

    def book(self, request: BookingRequest, courier: str, service: str) -> Booking:
        """Book it (the parcel id travels as the aggregator's reference, so a retried booking is found
        again, not made twice). Raises BookingRefused, or DependencyError."""
        ...

    def booking(self, booking_id: str) -> Booking:
        """The booking as it stands now (the waybill when it came late)."""
        ...


# --- printing


@dataclass(frozen=True)
class LabelParty:
    name: str
    phone: str | None
    lines: tuple[str, ...]  # the address, a line each


@dataclass(frozen=True)
class LabelLine:
    sku: str
    name: str | None
    quantity: int


@dataclass(frozen=True)
class OwnLabel:
    """The OMS's own label, for a parcel on the retailer's own courier."""

    parcel_id: str
    order_number: str
    channel: str
    sender: LabelParty
    recipient: LabelParty
    courier: str
    service: str | None
    resi: str  # drawn as a Code 128 barcode
    cod_amount: Decimal | None  # None: not COD
    lines: tuple[LabelLine, ...]
    weight_grams: int | None = None
    ship_by: datetime | None = None


@dataclass(frozen=True)
class PickLine:
    sku: str
    name: str | None
    quantity: int  # over the whole batch
    parcels: int  # how many parcels want it
    node_id: str | None = None
    location: str | None = None  # the bin, when the node keeps them


@dataclass(frozen=True)
class PackingList:
    parcel_id: str
    order_number: str
    channel: str
    resi: str | None
    courier: str | None
    lines: tuple[LabelLine, ...]
    shop: str | None = None
    node_id: str | None = None


@dataclass(frozen=True)
class PrintSheet:
    layout: LabelLayout
    labels: tuple[tuple[str, bytes], ...]  # (parcel id, the label as a PDF of any page size), in print order
    pick_list: tuple[PickLine, ...]
    packing_lists: tuple[PackingList, ...]
    title: str  # e.g. "Print job PJ-20261208-0001"
    printed_at: datetime  # aware; shown in WIB


@dataclass(frozen=True)
class PrintedSheet:
    pdf: bytes
    pages: int
    failed: dict[str, str] = field(default_factory=dict)  # parcel id -> why its label could not be placed


class Printer(Protocol):
    def own_label(self, label: OwnLabel, size: LabelSize = "a6") -> bytes: ...

    def sheet(self, sheet: PrintSheet) -> PrintedSheet: ...


# --- where shipping keeps its things


class DocumentStore(Protocol):
    """Labels and print jobs as files (S3)."""

    def put(self, key: str, data: bytes, content_type: str = "application/pdf") -> None: ...

    def get(self, key: str) -> bytes | None: ...

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes | None]:
        """Several files at once (a print job's labels): key -> its bytes, None when missing."""
        ...

    def url(self, key: str, seconds: int = 900) -> str:
        """A link that fetches the file for a while (presigned)."""
        ...


class ShippingCommands(Protocol):
    """The shipping worker's queue: the next step for some parcels, now or after a delay."""

    def send(self, command: dict, delay_seconds: int = 0) -> None: ...


class ShippingStore(Protocol):
    """The parcel lists (a projection of the orders) and the print jobs."""

    def upsert_parcels(self, rows: Sequence[dict], version: int) -> None:
        """Write each row unless a newer version of the order wrote it already."""
        ...

    def remove_parcels(self, parcel_ids: Sequence[str], version: int) -> None: ...

    def parcels(
        self,
        state: str,
        limit: int,
        cursor: str | None,
        channel: str | None = None,
        node_id: str | None = None,
        shop_id: str | None = None,
    ) -> tuple[list[dict], str | None]: ...

    def counts(self) -> dict[str, int]: ...

    def put_print_job(self, job: dict) -> None: ...

    def print_job(self, job_id: str) -> dict | None: ...
