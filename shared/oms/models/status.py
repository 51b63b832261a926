"""What nodes and carriers report about a parcel, and what the status API answers."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from oms.models.common import Model, Moment, NotBool, Sku
from oms.models.inventory import Units
from oms.models.order import FulfillmentStatus, Shipment
from oms.models.promising import within_a_year


class _Reported(Model):
    occurred_at: Moment | None = Field(
        default=None, description="When it happened at the node (with a time zone offset); default: when received"
    )

    @field_validator("occurred_at")
    @classmethod
    def _recent(cls, value: Moment | None) -> Moment | None:
        return within_a_year(value) if value is not None else None


class Accepted(_Reported):
    """The node takes the parcel on."""

    type: Literal["accepted"]


class Picked(_Reported):
    type: Literal["picked"]


class Packed(_Reported):
    type: Literal["packed"]
    weight_grams: Annotated[int, NotBool] | None = Field(default=None, ge=1, le=1_000_000)


class Shipped(_Reported):
    """Handed to the carrier: the reservation is consumed (on hand and reserved fall together)."""

    type: Literal["shipped"]
    carrier: str = Field(min_length=2, max_length=40, description="jne, jnt, sicepat, anteraja, ...")
    service: str | None = Field(default=None, max_length=40, description="REG, YES, EZ, BEST, ...")
    tracking_number: str = Field(min_length=4, max_length=64, pattern=r"^[A-Za-z0-9-]+$")
    weight_grams: Annotated[int, NotBool] | None = Field(default=None, ge=1, le=1_000_000)

    @field_validator("carrier")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class ReadyForPickup(_Reported):
    type: Literal["ready_for_pickup"]


class PickedUp(_Reported):
    type: Literal["picked_up"]


class Rejected(Model):
    """The node cannot fulfil it."""

    type: Literal["rejected"]
    reason: str = Field(min_length=1, max_length=500)
    on_hand: dict[Sku, Units] | None = Field(
        default=None,
        description="A short pick: the units of each short SKU the node really has. Its stock is "
        "corrected to that and the node stays eligible; without it the node is not asked again for the order.",
    )


class Delayed(Model):
    """The node will hand the parcel over later than promised: the promise is made again from then."""

    type: Literal["delayed"]
    reason: str = Field(min_length=1, max_length=500)
    ready_at: Moment = Field(description="When the parcel will be ready to hand over (with a time zone offset)")

    @field_validator("ready_at")
    @classmethod
    def _recent(cls, value: Moment) -> Moment:
        return within_a_year(value)


ProgressEvent = Accepted | Picked | Packed | Shipped | ReadyForPickup | PickedUp
NodeEvent = ProgressEvent | Rejected | Delayed


class FulfillmentOutcome(Model):
    order_id: str
    fulfillment_id: str
    outcome: str = Field(description="moved, unchanged (a repeat or a late report), or what sourcing did")
    status: FulfillmentStatus | None = Field(default=None, description="The parcel's status now")
    detail: str | None = None
    shipment: Shipment | None = None


class CancelRequest(Model):
    reason: str = Field(min_length=1, max_length=500, description="Why (kept on the timeline; the buyer sees none)")
    line_ids: list[str] | None = Field(
        default=None, min_length=1, max_length=500, description="Only these lines; none: the whole order"
    )
