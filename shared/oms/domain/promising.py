"""Promising, in plain Python: what a parcel from a node promises (hand-over,
delivery window or pickup-ready time), from the node's calendar and cut-offs,
Indonesian holidays and the carrier lanes; and quotes for a cart per service
level, with the sourcing planner choosing the nodes.

Dates are only ever computed, never guessed: no lane, no open day within
45 days, or a destination the rules cannot place gives no option and says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from oms.domain.calendar import Holidays, NodeClock, buyer_zone, carrier_days_after
from oms.domain.geo import Place, distance_km, place, postal_city, postal_province
from oms.domain.lane_learning import LaneKey, announced_delay, lane_key
from oms.domain.planner import NeedLine, SourcingInput
from oms.models.inventory import Node
from oms.models.order import PICKUP_METHODS, Channel, DeliveryMethod, ServiceLevel
from oms.models.promising import (
    Lane,
    PromiseDates,
    PromiseLine,
    PromiseOption,
    PromiseParcel,
    PromiseRequest,
    PromiseResponse,
    PromisingRules,
)
from oms.models.sourcing import Plan, PlanOutcome

# (lane, its stated (min, max) days, the day asked for) -> the (min, max) to promise
Learned = Callable[[LaneKey, tuple[int, int], date], tuple[int, int]]

QUOTED_LEVELS = (
    ServiceLevel.instant,
    ServiceLevel.same_day,
    ServiceLevel.next_day,
    ServiceLevel.regular,
    ServiceLevel.economy,
    ServiceLevel.pickup,
)
# What "working days" means for a service level's target: Monday to Saturday, not holidays.
GENERIC_LANE = Lane(carrier="any", service="any", level="regular", origin="java", destination="java", days_min=0,
                    days_max=0)  # fmt: skip


def method_for(level: ServiceLevel) -> DeliveryMethod:
    return {
        ServiceLevel.instant: DeliveryMethod.instant,
        ServiceLevel.same_day: DeliveryMethod.same_day,
        ServiceLevel.pickup: DeliveryMethod.pickup,
    }.get(level, DeliveryMethod.ship)


@dataclass(frozen=True)
class Refusal:
    reason: str
    closed: bool = False  # the node (or its carrier) does not work for weeks: it cannot serve at all


class Promiser:
    """Promises for one parcel. Built per rule-set version; keeps each node's clock."""

    def __init__(self, rules: PromisingRules, learned: Learned | None = None) -> None:
        self.rules = rules
        self.learned = learned  # transit days carriers were seen to take (oms.domain.lane_learning)
        self.holidays = Holidays(rules.extra_holidays)
        self._clocks: dict[str, tuple[Node, NodeClock]] = {}
        self._lanes: dict[tuple[str, str, str], list[Lane]] = {}
        for lane in rules.lanes:
            self._lanes.setdefault((lane.level, lane.origin, lane.destination), []).append(lane)

    def clock(self, node: Node) -> NodeClock:
        cached = self._clocks.get(node.node_id)
        if cached is None or cached[0] is not node:
            cached = (node, NodeClock(node, self.rules, self.holidays))
            self._clocks[node.node_id] = cached
        return cached[1]

    def target_date(self, as_of: datetime, destination: Place, working_days: int) -> date:
        """The latest delivery date a service level allows: working days (Monday to Saturday, not holidays) after
        the order's date in the buyer's time."""
        start = as_of.astimezone(buyer_zone(destination.province)).date()
        return carrier_days_after(GENERIC_LANE, start, working_days, self.holidays, destination.province)

    def lanes(
        self, origin: str | None, destination: Place, postal_code: str | None, level: ServiceLevel, day: date
    ) -> list[Lane]:
        """The lanes for the level between the regions (lanes for the buyer's postal prefix, the longest one,
        beat regional ones), with the days each takes now: learned from deliveries when it has enough.
        Postal-prefix lanes keep their stated days (deliveries name regions, not prefixes)."""
        if origin is None or destination.region is None:
            return []
        found: list[Lane] = []
        longest = -1
        for lane in self._lanes.get((level.value, origin, destination.region), ()):
            prefix = lane.postal_prefix or ""
            if prefix and not (postal_code or "").startswith(prefix):
                continue
            if len(prefix) > longest:
                found, longest = [], len(prefix)
            if len(prefix) == longest:
                found.append(self._learned(lane, day))
        return found

    def _learned(self, lane: Lane, day: date) -> Lane:
        if self.learned is None or lane.postal_prefix:
            return lane
        low, high = self.learned(lane_key(lane), (lane.days_min, lane.days_max), day)
        if (low, high) == (lane.days_min, lane.days_max):
            return lane
        return lane.model_copy(update={"days_min": low, "days_max": high})

    def parcel(  # noqa: PLR0911 (one answer per delivery method, or why not)
        self,
        node: Node,
        destination: Place,
        postal_code: str | None,
        method: DeliveryMethod,
        level: ServiceLevel,
        as_of: datetime,
    ) -> PromiseDates | Refusal:
        clock = self.clock(node)
        if method in PICKUP_METHODS:
            ready = clock.ready_after(as_of, clock.calendar.pickup_ready_minutes)
            if ready is None:
                return Refusal(f"{node.node_id} is closed for the next weeks", closed=True)
            return PromiseDates(ship_by=ready, ready_at=ready, buyer_tz=node.tz)
        zone = buyer_zone(destination.province)
        if method in (DeliveryMethod.same_day, DeliveryMethod.instant):
            level = ServiceLevel(method.value)
            cut = clock.next_handover(as_of, level)
            if cut is None:
                return Refusal(f"{node.node_id} is closed for the next weeks", closed=True)
            hours = clock.hours(cut.date())
            assert hours is not None  # a cut-off exists only on open days
            start = max(as_of.astimezone(clock.zone), datetime.combine(cut.date(), hours.open, clock.zone))
            if method is DeliveryMethod.instant:
                within = self.rules.instant.deliver_within_hours or 3
                return PromiseDates(ship_by=start, deliver_by=(start + timedelta(hours=within)).astimezone(zone),
                                    buyer_tz=zone.key)  # fmt: skip
            by = self.rules.same_day.deliver_by or hours.close
            return PromiseDates(ship_by=cut, deliver_by=datetime.combine(cut.date(), by, zone), buyer_tz=zone.key)
        origin = place(node.province, node.city, node.lat, node.lng)
        lanes = self.lanes(origin.region, destination, postal_code, level, as_of.astimezone(clock.zone).date())
        if not lanes:
            return Refusal(f"no {level.value} lane from {origin.region} to {destination.region}")
        # The lane that delivers soonest from its own hand-over (its pickup days, Sundays, announced delays).
        best: tuple[tuple, PromiseDates] | None = None
        for lane in lanes:
            handover = clock.next_handover(as_of, level, lane)
            if handover is None:
                continue
            day = handover.date()
            delay = announced_delay(self.rules, lane_key(lane), day) if self.rules.carrier_delays else 0
            dates = PromiseDates(
                ship_by=handover,
                deliver_earliest=carrier_days_after(lane, day, lane.days_min + delay, self.holidays,
                                                    destination.province),
                deliver_latest=carrier_days_after(lane, day, lane.days_max + delay, self.holidays,
                                                  destination.province),
                carrier=lane.carrier,
                service=lane.service,
                buyer_tz=zone.key,
            )  # fmt: skip
            window = dates.deliver_latest - dates.deliver_earliest  # on a tie, the narrower window promises more
            key = (dates.deliver_latest, window, handover, lane.carrier, lane.service)
            if best is None or key < best[0]:
                best = (key, dates)
        if best is None:
            return Refusal(f"{node.node_id} or its carriers do not work for the next weeks", closed=True)
        return best[1]


class Planner(Protocol):
    def plan_for(
        self,
        request: SourcingInput,
        now: datetime,
        stock: dict[tuple[str, str], int],
        capacity_left: dict[tuple[str, str], int],
    ) -> Plan: ...

    def capacity_for(self, now: datetime) -> dict[tuple[str, str], int]: ...

    def nodes(self) -> dict[str, Node]: ...

    def stock_for(self, skus: list[str]) -> dict[tuple[str, str], int]: ...

    def eligible_for(self, channel: Channel) -> set[str] | None: ...


def destination_of(request: PromiseRequest) -> tuple[Place, str | None]:
    dest = request.destination
    province = dest.province or postal_province(dest.postal_code)
    city = dest.city or postal_city(dest.postal_code)
    return place(province, city, dest.lat, dest.lng), dest.postal_code


class PromiseService:
    def __init__(self, planner: Planner, promiser_for: object, clock: object) -> None:
        self.planner = planner
        self.promiser_for = promiser_for  # () -> Promiser for the rules in force
        self.clock = clock

    def quote(self, request: PromiseRequest) -> PromiseResponse:
        as_of = request.as_of or self.clock()  # type: ignore[operator]
        promiser: Promiser = self.promiser_for()  # type: ignore[operator]
        destination, postal_code = destination_of(request)
        lines = tuple(NeedLine(str(i + 1), line.sku, line.quantity) for i, line in enumerate(request.lines))
        # One read of stock and of node capacity serves every level.
        stock = self.planner.stock_for(sorted({line.sku for line in lines}))
        capacity = self.planner.capacity_for(as_of)
        options = []
        for level in request.levels or QUOTED_LEVELS:
            if level is ServiceLevel.pickup:
                options.append(self._pickup(request, promiser, destination, lines, as_of, stock))
            else:
                options.append(
                    self._delivered(request, promiser, destination, postal_code, lines, level, as_of, stock, capacity)
                )
        summary = {"province": destination.province, "city": destination.city, "region": destination.region,
                   "located": destination.located, "buyer_tz": buyer_zone(destination.province).key}  # fmt: skip
        return PromiseResponse(as_of=as_of, destination=summary, options=options)

    def _delivered(
        self,
        request: PromiseRequest,
        promiser: Promiser,
        destination: Place,
        postal_code: str | None,
        lines: tuple[NeedLine, ...],
        level: ServiceLevel,
        as_of: datetime,
        stock: dict[tuple[str, str], int],
        capacity: dict[tuple[str, str], int],
    ) -> PromiseOption:
        if destination.region is None:
            return PromiseOption(level=level, available=False, reason="destination unknown: send a postal code or city")
        method = method_for(level)
        sourcing_input = SourcingInput(request.channel, method, level, destination, lines, postal_code=postal_code)
        result = self.planner.plan_for(sourcing_input, as_of, stock, capacity)
        if result.outcome is PlanOutcome.unroutable:
            removed = sorted({_generic(node.removed) for node in result.trace.nodes if node.removed})
            shown = "; ".join(removed[:3])
            return PromiseOption(level=level, available=False, reason=f"no node can serve it this way ({shown})")
        if result.outcome is not PlanOutcome.allocated:
            reason = result.reason or result.outcome.value
            return PromiseOption(level=level, available=False, reason=f"cannot ship every unit this way: {reason}")
        nodes = self.planner.nodes()
        parcels = []
        for shipment in result.shipments:
            dates = promiser.parcel(nodes[shipment.node_id], destination, postal_code, method, level, as_of)
            if isinstance(dates, Refusal):
                return PromiseOption(level=level, available=False, reason=dates.reason)
            parcel_lines = [PromiseLine(sku=x.sku, quantity=x.quantity) for x in shipment.lines]
            parcels.append(PromiseParcel(node_id=shipment.node_id, lines=parcel_lines, promise=dates))
        return _combined(level, parcels)

    def _pickup(
        self,
        request: PromiseRequest,
        promiser: Promiser,
        destination: Place,
        lines: tuple[NeedLine, ...],
        as_of: datetime,
        stock: dict[tuple[str, str], int],
    ) -> PromiseOption:
        """The nearest store that holds every unit, and when the order is ready there."""
        nodes = self.planner.nodes()
        eligible = self.planner.eligible_for(request.channel)
        demand: dict[str, int] = {}
        for line in lines:
            demand[line.sku] = demand.get(line.sku, 0) + line.quantity
        if not destination.located:
            return PromiseOption(
                level=ServiceLevel.pickup, available=False, reason="send a city or a location to find pickup stores"
            )
        stores = []
        for node_id, node in nodes.items():
            if not (node.enabled and node.may_pickup) or (eligible is not None and node_id not in eligible):
                continue
            if any(stock.get((sku, node_id), 0) < max(qty, node.routing_threshold) for sku, qty in demand.items()):
                continue
            there = place(node.province, node.city, node.lat, node.lng)
            if not there.located:
                continue
            far = distance_km(destination.lat, destination.lng, there.lat, there.lng)  # type: ignore[arg-type]
            if far <= promiser.rules.max_pickup_km:
                stores.append((far, node_id))
        pickup = (DeliveryMethod.pickup, ServiceLevel.pickup)
        for _, node_id in sorted(stores):  # the nearest store that is open in the coming weeks
            dates = promiser.parcel(nodes[node_id], destination, None, *pickup, as_of)
            if not isinstance(dates, Refusal):
                break
        else:
            reason = f"no pickup store within {promiser.rules.max_pickup_km} km holds every unit"
            return PromiseOption(level=ServiceLevel.pickup, available=False, reason=reason)
        parcel = PromiseParcel(node_id=node_id, lines=[PromiseLine(sku=x.sku, quantity=x.quantity) for x in lines],
                               promise=dates)  # fmt: skip
        option = _combined(ServiceLevel.pickup, [parcel])
        option.pickup_node_id = node_id
        return option


def _generic(reason: str) -> str:
    """A rule's reason without the node's own numbers, so equal reasons read once."""
    return reason.split(" (", maxsplit=1)[0] if "km away" not in reason else "too far away"


def _combined(level: ServiceLevel, parcels: list[PromiseParcel]) -> PromiseOption:
    """The order arrives with its last parcel."""

    def latest(values: list) -> object:
        present = [v for v in values if v is not None]
        return max(present) if present else None

    return PromiseOption(
        level=level,
        available=True,
        parcels=parcels,
        ship_by=latest([p.promise.ship_by for p in parcels]),
        deliver_earliest=latest([p.promise.deliver_earliest for p in parcels]),
        deliver_latest=latest([p.promise.deliver_latest for p in parcels]),
        deliver_by=latest([p.promise.deliver_by for p in parcels]),
        ready_at=latest([p.promise.ready_at for p in parcels]),
    )
