"""Sourcing and promising: the planner's service, the promiser (rules plus
what lanes learned from deliveries) and the backorder sweep's cursors."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from oms.adapters.capacity import DynamoCapacity
from oms.adapters.lane_stats import DynamoLaneStats
from oms.adapters.sweep_cursors import DynamoSweepCursors
from oms.domain.backorders import BackorderSweep
from oms.domain.clock import wib_day
from oms.domain.lane_learning import DeliveryLearning, LaneLearner
from oms.domain.promising import Promiser, PromiseService
from oms.domain.sourcing import SourcingService
from oms.models.promising import LearningRules, PromisingRules
from oms.settings import get_settings
from oms.wiring import built
from oms.wiring.core import catalog, orders, reference_data
from oms.wiring.stock import inventory


class PromiserCache:
    """One Promiser per rule set read (the reference data keeps a rule set 30 s): node clocks and
    holiday tables are built once, a saved rule set is used as soon as it is read. What lanes learned
    from deliveries is loaded apart, every `refresh_seconds` (or when the learning rules change); a
    failed load keeps what was loaded before (or the stated lanes) rather than failing quotes."""

    def __init__(
        self, rules: Callable[[], PromisingRules], stats: Callable[[], DynamoLaneStats], refresh_seconds: float
    ) -> None:
        self._read_rules, self._stats, self._refresh = rules, stats, refresh_seconds
        self._rules: object = None
        self._promiser: Promiser | None = None
        self._learner: LaneLearner | None = None
        self._learning: LearningRules | None = None
        self._learned_at = float("-inf")
        self._used: LaneLearner | None = None

    def __call__(self) -> Promiser:
        rules = self._read_rules()
        learner = self._learner_for(rules.learning) if rules.learning.enabled else None
        if self._promiser is None or rules is not self._rules or learner is not self._used:
            self._rules, self._used = rules, learner
            self._promiser = Promiser(rules, learner.days if learner else None)
        return self._promiser

    def _learner_for(self, learning: LearningRules) -> LaneLearner | None:
        stale = time.monotonic() - self._learned_at >= self._refresh
        if self._learner is None or stale or learning != self._learning:
            self._learned_at = time.monotonic()  # a failed load is not retried on every quote either
            self._learning = learning
            try:
                self._learner = self._stats().learner(learning, wib_day(datetime.now(UTC)))
            except Exception:  # learning sharpens promises; without it the stated lanes still hold
                from oms.observability import logger  # here: importing it builds the metrics from the environment

                logger.exception("lane learning not loaded; promising from what was loaded before")
        return self._learner

    def forget_learning(self) -> None:
        self._learned_at = float("-inf")


@built
def lane_stats() -> DynamoLaneStats:
    return DynamoLaneStats(get_settings().sourcing_table)


@built
def promiser() -> PromiserCache:
    return PromiserCache(
        lambda: reference_data().promising_rules(), lane_stats, get_settings().learning_refresh_seconds
    )


@built
def delivery_learning() -> DeliveryLearning:
    return DeliveryLearning(lane_stats(), reference_data().promising_rules)


@built
def sourcing() -> SourcingService:
    return SourcingService(
        orders(),
        inventory(),
        reference_data(),
        catalog(),
        DynamoCapacity(get_settings().sourcing_table),
        lambda: datetime.now(UTC),
        promiser(),
    )


@built
def promises() -> PromiseService:
    return PromiseService(sourcing().planner, promiser(), lambda: datetime.now(UTC))  # quotes plan as sourcing does


@built
def backorder_sweep() -> BackorderSweep:
    return BackorderSweep(orders(), sourcing(), DynamoSweepCursors(get_settings().sourcing_table))
