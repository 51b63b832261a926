"""Learning lane transit times from what carriers actually did.

Each delivered parcel is one observation: the carrier working days between
the promised hand-over and delivery on its lane, less any delay the carrier
announced for that day (announced delays are added back when promising, so
they are not counted twice). A lane's promise then uses a high percentile of
its recent observations for the latest date (a mean would be late half the
time) and a low one for the earliest, once it has enough of them; until then
the lane's stated days stand, moved by how late parcels to its region (or
anywhere) ran. Observations age out after `window_days`, so a carrier that
slows down or speeds up is followed within days.

Observations are day histograms (day -> transit days -> parcels): the form
they are stored in (oms.adapters.lane_stats), so a Lambda loads two weeks of
deliveries as a few hundred small items. Plain Python, no I/O.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from oms.domain.calendar import Holidays, buyer_zone, carrier_days_between
from oms.models.events import ParcelDeliveredDetail
from oms.models.promising import Lane, LaneLearned, LearningRules, OnTimeRow, PromisePerformance, PromisingRules

LaneKey = tuple[str, str, str, str]  # carrier, service, origin region, destination region
EVERYWHERE = "*"  # the pool of every region's excess


def lane_key(lane: Lane) -> LaneKey:
    return (lane.carrier, lane.service, lane.origin, lane.destination)


def announced_delay(rules: PromisingRules, key: LaneKey, day: date) -> int:
    """Extra days carriers announced for parcels handed over on `day` on the lane (the largest that applies)."""
    return max((d.extra_days for d in rules.carrier_delays if d.applies(*key, day)), default=0)


@dataclass(frozen=True)
class Delivery:
    """One delivered parcel, as learning counts it."""

    fulfillment_id: str
    delivered_on: date  # the buyer's date
    lane: LaneKey
    transit_days: int | None  # None: no lane in the rules for it (its on-time still counts)
    stated_max: int | None
    on_time: bool | None  # None: it had no promised latest date
    node_id: str

    def tallies(self) -> list[tuple[str, str]]:
        """The (dimension, name) pairs its on-time counts against."""
        return [("node", self.node_id), ("carrier", self.lane[0]), ("lane", "#".join(self.lane))]


def delivery_from_event(event: ParcelDeliveredDetail, rules: PromisingRules, holidays: Holidays) -> Delivery:
    key: LaneKey = (event.carrier, event.service, event.origin_region, event.destination_region)
    lane = next((x for x in rules.lanes if lane_key(x) == key and not x.postal_prefix), None)
    lane = lane or next((x for x in rules.lanes if lane_key(x) == key), None)
    delivered_on = _local_date(event.delivered_at, event.destination_province)
    transit = stated_max = None
    if lane is not None:
        start = event.promised_ship_by.date()  # in the node's own time, as promised
        seen = carrier_days_between(lane, start, delivered_on, holidays, event.destination_province)
        transit = max(0, seen - announced_delay(rules, key, start))
        stated_max = lane.days_max
    on_time = delivered_on <= event.promised_latest if event.promised_latest else None
    return Delivery(event.fulfillment_id, delivered_on, key, transit, stated_max, on_time, event.node_id)


def _local_date(moment: datetime, province: str | None) -> date:
    return moment.astimezone(buyer_zone(province)).date()


class LaneLearner:
    """Recent transit histograms per lane and per destination region's excess over stated days."""

    def __init__(self, rules: LearningRules | None = None) -> None:
        self.rules = rules or LearningRules()
        self._transit: dict[LaneKey, dict[date, Counter[int]]] = defaultdict(lambda: defaultdict(Counter))
        # How much later than its stated latest a parcel arrived, pooled by destination region and overall:
        # what a lane with too few parcels of its own learns from (a Lebaran peak slows every lane).
        self._excess: dict[str, dict[date, Counter[int]]] = defaultdict(lambda: defaultdict(Counter))
        self._memo: dict[tuple[LaneKey, tuple[int, int], date], tuple[int, int]] = {}

    def observe(self, key: LaneKey, delivered_on: date, transit_days: int, stated_max: int, count: int = 1) -> None:
        self.add_transit(key, delivered_on, {transit_days: count})
        self.add_excess(key[3], delivered_on, {transit_days - stated_max: count})

    def add_transit(self, key: LaneKey, day: date, histogram: dict[int, int]) -> None:
        self._transit[key][day].update(histogram)
        self._memo.clear()

    def add_excess(self, region: str, day: date, histogram: dict[int, int]) -> None:
        for pool in (region, EVERYWHERE):
            self._excess[pool][day].update(histogram)
        self._memo.clear()

    def days(self, key: LaneKey, stated: tuple[int, int], today: date) -> tuple[int, int]:
        """(earliest, latest) transit days to promise on the lane: its own recent parcels when it has
        enough, else its stated days moved by how late parcels to its region (or anywhere) ran.
        A lane gone quiet returns to its stated days."""
        memo_key = (key, stated, today)
        answer = self._memo.get(memo_key)
        if answer is None:
            answer = self._memo[memo_key] = self._days(key, stated, today)
        return answer

    def _days(self, key: LaneKey, stated: tuple[int, int], today: date) -> tuple[int, int]:
        rules = self.rules
        if not rules.enabled:
            return stated
        own = self._recent(self._transit.get(key), today)
        if own.total() >= rules.min_observations:
            return _percentile(own, rules.earliest_percentile), _percentile(own, rules.latest_percentile)
        for pool in (key[3], EVERYWHERE):
            if self._lanes_in(pool, today) < rules.min_pool_lanes:
                continue  # one slow lane is that lane's news, not its region's
            excess = self._recent(self._excess.get(pool), today)
            if excess.total() >= rules.min_observations:
                late = max(0, _percentile(excess, rules.latest_percentile))
                return stated[0], stated[1] + late
        return stated

    def _lanes_in(self, pool: str, today: date) -> int:
        """Lanes into the pool's region (every lane for the overall pool) with recent parcels."""
        return sum(
            1
            for key, by_day in self._transit.items()
            if (pool == EVERYWHERE or key[3] == pool) and self._recent(by_day, today).total() > 0
        )

    def _recent(self, by_day: dict[date, Counter[int]] | None, today: date) -> Counter[int]:
        merged: Counter[int] = Counter()
        if by_day:
            first = today - timedelta(days=self.rules.window_days - 1)
            for day, histogram in by_day.items():
                if first <= day <= today:
                    merged.update(histogram)
        return merged

    def learned_lanes(self, lanes: list[Lane], today: date) -> list[dict]:
        """Per lane: its stated days, what it promises now and the parcels that taught it (for ops)."""
        out = []
        for lane in lanes:
            key = lane_key(lane)
            stated = (lane.days_min, lane.days_max)
            recent = self._recent(self._transit.get(key), today)
            low, high = self.days(key, stated, today)
            out.append({"lane": "#".join(key), "postal_prefix": lane.postal_prefix, "stated": list(stated),
                        "promised": [low, high], "parcels": recent.total(),
                        "histogram": {str(k): v for k, v in sorted(recent.items())}})  # fmt: skip
        return out


def _percentile(histogram: Counter[int], share: float) -> int:
    """The smallest value with at least `share` of the observations at or below it."""
    total = histogram.total()
    needed = max(1, int(share * total + 0.999999))
    running = 0
    for value in sorted(histogram):
        running += histogram[value]
        if running >= needed:
            return value
    return max(histogram)


def on_time_rates(tallies: list[tuple[str, str, int, int]]) -> dict[str, list[dict]]:
    """(dimension, name, on time, delivered) rows, summed per dimension and name, worst first."""
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for dimension, name, hits, total in tallies:
        sums[(dimension, name)][0] += hits
        sums[(dimension, name)][1] += total
    out: dict[str, list[dict]] = {"node": [], "carrier": [], "lane": []}
    for (dimension, name), (hits, total) in sums.items():
        rate = round(100 * hits / total, 2) if total else None
        out.setdefault(dimension, []).append({"name": name, "delivered": total, "on_time": hits, "on_time_pct": rate})
    for rows in out.values():
        rows.sort(key=lambda row: (row["on_time_pct"] if row["on_time_pct"] is not None else 101, row["name"]))
    return out


class DeliveryStats(Protocol):
    def record(self, delivery: Delivery) -> bool: ...

    def learner(self, rules: LearningRules, today: date) -> LaneLearner: ...

    def on_time(self, today: date, days: int) -> list[tuple[str, str, int, int]]: ...


class DeliveryLearning:
    """ParcelDelivered in, counted once: the lane's transit (for promising) and on time per node, carrier, lane."""

    def __init__(self, stats: DeliveryStats, rules_for: Callable[[], PromisingRules]) -> None:
        self.stats = stats
        self.rules_for = rules_for  # the promising rules in force (lanes, announced delays, extra holidays)
        self._holidays: tuple[PromisingRules, Holidays] | None = None

    def delivered(self, event: ParcelDeliveredDetail) -> Delivery | None:
        """The parcel as counted, or None when it was counted before."""
        rules = self.rules_for()
        if self._holidays is None or self._holidays[0] is not rules:
            self._holidays = (rules, Holidays(rules.extra_holidays))
        delivery = delivery_from_event(event, rules, self._holidays[1])
        return delivery if self.stats.record(delivery) else None


def performance(stats: DeliveryStats, rules: PromisingRules, today: date, days: int) -> PromisePerformance:
    """On-time rates over the last `days` days, and what each lane learned (for operations)."""
    learner = stats.learner(rules.learning, today)
    lanes = [
        LaneLearned.model_validate(row)
        for row in learner.learned_lanes(rules.lanes, today)
        if row["parcels"] or row["promised"] != row["stated"]
    ]
    rates = {dimension: [OnTimeRow.model_validate(row) for row in rows]
             for dimension, rows in on_time_rates(stats.on_time(today, days)).items()}  # fmt: skip
    return PromisePerformance(first_day=today - timedelta(days=days - 1), last_day=today, on_time=rates, lanes=lanes)
