"""Learning lane transit times from what carriers actually did.

Each delivered parcel is one observation: the carrier working days between
hand-over and delivery on its lane. A lane's promise then uses a high
percentile of its recent observations for the latest date (a mean would be
late half the time) and a low one for the earliest, once it has enough of
them; until then the lane's stated days stand. Observations age out after
`window_days`, so a carrier that slows down (a Lebaran peak) or speeds up is
followed within days. On-time rates are kept per node, carrier and lane.

Plain Python; the status issue's `ParcelDelivered` events feed it (the event
contract is in docs/events.md); the promising bench feeds it directly.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import date, timedelta

LaneKey = tuple[str, str, str, str]  # carrier, service, origin region, destination region


@dataclass
class LaneLearner:
    latest_percentile: float = 0.985
    earliest_percentile: float = 0.25
    min_observations: int = 20
    window_days: int = 14
    _seen: dict[LaneKey, deque[tuple[date, int]]] = field(default_factory=lambda: defaultdict(deque))
    # How much later than its stated latest a parcel arrived, pooled by destination region and overall:
    # what a lane with too few parcels of its own learns from (a Lebaran peak slows every lane).
    _excess: dict[str, deque[tuple[date, int]]] = field(default_factory=lambda: defaultdict(deque))
    _on_time: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))

    def observe(self, key: LaneKey, delivered_on: date, transit_days: int, stated_max: int) -> None:
        horizon = delivered_on - timedelta(days=self.window_days)  # the last window_days days, today included
        for seen, value in (
            (self._seen[key], transit_days),
            (self._excess[key[3]], transit_days - stated_max),
            (self._excess["*"], transit_days - stated_max),
        ):
            seen.append((delivered_on, value))
            while seen and seen[0][0] <= horizon:
                seen.popleft()

    def score(self, kind: str, name: str, on_time: bool) -> None:
        """Count a delivery against its promise, per node, carrier or lane ("node", "DC-CKG")."""
        tally = self._on_time[(kind, name)]
        tally[0] += on_time
        tally[1] += 1

    def on_time_rate(self, kind: str, name: str) -> float | None:
        hits, total = self._on_time.get((kind, name), (0, 0))
        return hits / total if total else None

    def days(self, key: LaneKey, stated: tuple[int, int], today: date) -> tuple[int, int]:
        """(earliest, latest) transit days to promise on the lane: its own recent parcels when it has
        enough, else its stated days moved by how late parcels to its region (or anywhere) ran.
        Parcels older than the window are forgotten here too: a lane gone quiet returns to its stated days."""
        horizon = today - timedelta(days=self.window_days)
        for queue in (self._seen.get(key), self._excess.get(key[3]), self._excess.get("*")):
            while queue and queue[0][0] <= horizon:
                queue.popleft()
        seen = self._seen.get(key)
        if seen and len(seen) >= self.min_observations:
            ordered = sorted(days for _, days in seen)
            return _percentile(ordered, self.earliest_percentile), _percentile(ordered, self.latest_percentile)
        for pool in (key[3], "*"):
            excess = self._excess.get(pool)
            if excess and len(excess) >= self.min_observations:
                late = max(0, _percentile(sorted(value for _, value in excess), self.latest_percentile))
                return stated[0], stated[1] + late
        return stated


def _percentile(ordered: list[int], share: float) -> int:
    """The smallest value with at least `share` of the observations at or below it."""
    index = max(0, min(len(ordered) - 1, int(share * len(ordered) + 0.999999) - 1))
    return ordered[index]
