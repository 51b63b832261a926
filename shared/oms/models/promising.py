"""Promising: node calendars, carrier lanes, and the dates a quote or an
allocation promises (ship-by at the node, delivery window or pickup-ready
time in the buyer's local time)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, WithJsonSchema, field_validator, model_validator

from oms.models.common import REGIONS, Channel, Model, Moment, NotBool
from oms.models.order import PromiseDates, ServiceLevel

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ShippedLevel = Literal["next_day", "regular", "economy"]
CLOCK_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"


def _local(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("is a local time of day (the node's or the buyer's): send HH:MM without an offset")
    return value


# A wall-clock time without an offset. OpenAPI's `format: time` (RFC 3339 full-time) requires an offset,
# so the schema says what is parsed: "HH:MM" (answers carry "HH:MM:SS").
ClockTime = Annotated[
    time,
    AfterValidator(_local),
    WithJsonSchema({"type": "string", "pattern": CLOCK_PATTERN, "examples": ["15:00"]}),
]


def within_a_year(value: datetime) -> datetime:
    """An aware moment within a year of now: the calendars (holidays, cuti bersama) are known that far."""
    if value.tzinfo is None:
        raise ValueError("must carry a time zone offset")
    now = datetime.now(UTC)
    if not now - timedelta(days=366) <= value <= now + timedelta(days=366):
        raise ValueError("must be within a year of now")
    return value


class OpeningHours(Model):
    open: ClockTime
    close: ClockTime

    @model_validator(mode="after")
    def _ordered(self) -> OpeningHours:
        if self.close <= self.open:
            raise ValueError(f"closes at {self.close} before it opens at {self.open}")
        return self


class NodeCalendar(Model):
    """When a node works, in its own time zone (the node's `tz`)."""

    hours: dict[Weekday, OpeningHours] = Field(description="Opening hours per weekday; a day not named is closed")
    closures: list[date] = Field(default_factory=list, description="Dates the node is closed (stock take, renovation)")
    observes_public_holidays: bool = Field(
        default=True, description="Closed on Indonesian public holidays and cuti bersama (mall stores often are not)"
    )
    cutoffs: dict[ServiceLevel, ClockTime] = Field(
        default_factory=dict, description="Order cut-off per service level; the rules' defaults where not named"
    )
    pickup_ready_minutes: int = Field(default=120, ge=0, le=1440, description="Picking a pickup order, in open hours")


class Lane(Model):
    """A carrier service between two regions, in carrier working days after hand-over."""

    carrier: str = Field(min_length=2, max_length=40, description="jne, jnt, sicepat ...")
    service: str = Field(min_length=1, max_length=40, description="The carrier's product: REG, YES, OKE, EZ, BEST ...")
    level: ShippedLevel
    origin: str = Field(description="Region of the shipping node")
    destination: str = Field(description="Region of the buyer")
    postal_prefix: str | None = Field(
        default=None, max_length=5, pattern=r"^[0-9]+$", description="Only buyers whose postal code starts so"
    )
    days_min: int = Field(ge=0, le=30)
    days_max: int = Field(ge=0, le=30)
    pickup_days: list[Weekday] = Field(
        default_factory=lambda: ["mon", "tue", "wed", "thu", "fri", "sat"], description="Days the carrier collects"
    )
    works_sundays: bool = False
    works_holidays: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Lane:
        for region in (self.origin, self.destination):
            if region not in REGIONS:
                raise ValueError(f"region '{region}': regions are {', '.join(REGIONS)}")
        if self.days_min > self.days_max:
            raise ValueError(f"days_min {self.days_min} is after days_max {self.days_max}")
        return self


class LocalPromise(Model):
    """Same day and instant: riders from a node nearby (their cut-offs are in default_cutoffs and the
    node's calendar)."""

    deliver_within_hours: int | None = Field(default=None, ge=1, le=24, description="Instant: from hand-over")
    deliver_by: ClockTime | None = Field(default=None, description="Same day: delivered by this time (buyer's time)")


class ExtraHoliday(Model):
    day: date
    name: str = Field(max_length=100)
    provinces: list[str] | None = Field(default=None, description="Regional only (e.g. Nyepi for Bali); null = all")


class CarrierDelay(Model):
    """A delay a carrier announced (Lebaran, 11.11 and 12.12 peaks, floods, a closed port): parcels handed over
    within the dates take `extra_days` more. What a carrier did without announcing it is learned from deliveries."""

    carrier: str | None = Field(default=None, max_length=40, description="null = every carrier")
    service: str | None = Field(default=None, max_length=40, description="null = every service of the carrier")
    origins: list[str] | None = Field(default=None, description="Regions handed over in; null = all")
    destinations: list[str] | None = Field(default=None, description="Buyers' regions; null = all")
    first_day: date = Field(description="First hand-over day affected")
    last_day: date = Field(description="Last hand-over day affected")
    extra_days: int = Field(ge=1, le=14)
    note: str | None = Field(default=None, max_length=200, description="The carrier's announcement")

    @model_validator(mode="after")
    def _consistent(self) -> CarrierDelay:
        if self.last_day < self.first_day:
            raise ValueError(f"last_day {self.last_day} is before first_day {self.first_day}")
        for region in (self.origins or []) + (self.destinations or []):
            if region not in REGIONS:
                raise ValueError(f"region '{region}': regions are {', '.join(REGIONS)}")
        return self

    def applies(self, carrier: str, service: str, origin: str, destination: str, day: date) -> bool:
        return (
            self.first_day <= day <= self.last_day
            and self.carrier in (None, carrier)
            and self.service in (None, service)
            and (self.origins is None or origin in self.origins)
            and (self.destinations is None or destination in self.destinations)
        )


class LearningRules(Model):
    """How lanes learn their transit days from delivered parcels."""

    enabled: bool = True
    latest_percentile: float = Field(
        default=0.985, ge=0.5, le=1.0, description="The latest date holds this share of recent parcels"
    )
    earliest_percentile: float = Field(default=0.25, ge=0.0, le=0.5, description="The earliest date, likewise")
    window_days: int = Field(default=14, ge=3, le=90, description="Deliveries older than this are forgotten")
    min_observations: int = Field(default=20, ge=5, le=10_000, description="Parcels a lane needs to use its own")
    min_pool_lanes: int = Field(
        default=3, ge=1, le=100, description="Lanes a region's (or the overall) pool needs before quiet lanes follow it"
    )


class PromisingRules(Model):
    version: int = Field(default=1, ge=1, strict=True, description="Send the version you read; a save makes the next")
    updated_at: datetime | None = None
    updated_by: str | None = Field(default=None, description="Who saved this version (the API key's actor)")
    default_cutoffs: dict[ServiceLevel, ClockTime] = Field(
        default_factory=lambda: {
            ServiceLevel.next_day: time(12, 0),
            ServiceLevel.regular: time(15, 0),
            ServiceLevel.economy: time(15, 0),
            ServiceLevel.same_day: time(12, 0),
            ServiceLevel.instant: time(19, 0),
            ServiceLevel.pickup: time(19, 0),
        }
    )
    dc_hours: dict[Weekday, OpeningHours] = Field(
        default_factory=lambda: {
            **{day: OpeningHours(open=time(8), close=time(17)) for day in ("mon", "tue", "wed", "thu", "fri")},
            "sat": OpeningHours(open=time(8), close=time(13)),
        },
        description="Hours of a DC without a calendar of its own",
    )
    store_hours: dict[Weekday, OpeningHours] = Field(
        default_factory=lambda: {day: OpeningHours(open=time(10), close=time(22)) for day in WEEKDAYS},
        description="Hours of a store without a calendar of its own (malls open every day)",
    )
    lanes: list[Lane] = Field(default_factory=list, description="At least one when saved")
    max_pickup_km: int = Field(default=30, ge=1, le=500, description="Pickup stores offered within this distance")
    same_day: LocalPromise = Field(default_factory=lambda: LocalPromise(deliver_by=time(21, 0)))
    instant: LocalPromise = Field(default_factory=lambda: LocalPromise(deliver_within_hours=3))
    extra_holidays: list[ExtraHoliday] = Field(
        default_factory=list, description="What the holidays package lacks: next year's cuti bersama, regional days"
    )
    carrier_delays: list[CarrierDelay] = Field(default_factory=list, description="Delays carriers announced")
    learning: LearningRules = Field(default_factory=LearningRules)


# ---------------------------------------------------------------- quotes


class PromiseDestination(Model):
    postal_code: str | None = Field(default=None, max_length=10, pattern=r"^[0-9]{5}$")
    city: str | None = Field(default=None, max_length=100)
    province: str | None = Field(default=None, max_length=100)
    lat: Annotated[float, NotBool] | None = Field(default=None, ge=-90, le=90)
    lng: Annotated[float, NotBool] | None = Field(default=None, ge=-180, le=180)


class PromiseLine(Model):
    sku: Annotated[str, Field(min_length=1, max_length=64)]
    quantity: Annotated[int, Field(strict=True, ge=1, le=10_000)]


class PromiseRequest(Model):
    channel: Channel = Channel.web
    destination: PromiseDestination
    lines: list[PromiseLine] = Field(min_length=1, max_length=50)
    as_of: Moment | None = Field(default=None, description="Quote as if at this moment (default: now)")
    levels: list[ServiceLevel] | None = Field(default=None, description="Only these service levels")

    @field_validator("as_of")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return within_a_year(value) if value is not None else None


class PromiseParcel(Model):
    node_id: str
    lines: list[PromiseLine]
    promise: PromiseDates


class PromiseOption(Model):
    level: ServiceLevel
    available: bool
    reason: str | None = Field(default=None, description="Why this level is not offered")
    parcels: list[PromiseParcel] = Field(default_factory=list)
    ship_by: datetime | None = None
    deliver_earliest: date | None = None
    deliver_latest: date | None = None
    deliver_by: datetime | None = None
    ready_at: datetime | None = None
    pickup_node_id: str | None = None


class PromiseResponse(Model):
    as_of: datetime
    destination: dict
    options: list[PromiseOption]


# ---------------------------------------------------------------- what deliveries taught


class OnTimeRow(Model):
    name: str = Field(description="Node id, carrier, or lane (carrier#service#origin#destination)")
    delivered: int
    on_time: int
    on_time_pct: float | None = Field(description="Delivered on or before the first promised latest date")


class LaneLearned(Model):
    lane: str = Field(description="carrier#service#origin#destination")
    postal_prefix: str | None = None
    stated: list[int] = Field(description="Transit days (min, max) in the rules")
    promised: list[int] = Field(description="Transit days (earliest, latest) promised today, before announced delays")
    parcels: int = Field(description="Parcels delivered on the lane within the learning window")
    histogram: dict[str, int] = Field(description="Parcels per transit days")


class PromisePerformance(Model):
    first_day: date
    last_day: date
    on_time: dict[str, list[OnTimeRow]] = Field(description="Per node, carrier and lane; worst first")
    lanes: list[LaneLearned] = Field(description="Lanes that delivered parcels or promise other days than stated")
