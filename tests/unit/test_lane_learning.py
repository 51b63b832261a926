"""Learning lane transit from deliveries: percentiles of recent parcels, a regional
fallback for quiet lanes, old observations forgotten."""

from __future__ import annotations

from datetime import date, timedelta

from oms.domain.lane_learning import LaneLearner

LANE = ("jne", "REG", "java", "sulawesi")
QUIET = ("sicepat", "REG", "java", "sulawesi")
DAY = date(2026, 3, 2)


def test_a_busy_lane_promises_its_own_high_percentile_not_its_mean():
    learner = LaneLearner()
    for n in range(100):
        learner.observe(LANE, DAY, 3 if n < 90 else (4 if n < 99 else 6), stated_max=5)
    assert learner.days(LANE, (3, 5), DAY) == (3, 4)  # 99 of 100 within 4 days; the outlier is not promised


def test_a_quiet_lane_follows_how_late_its_region_runs():
    learner = LaneLearner()
    for _ in range(40):
        learner.observe(LANE, DAY, 6, stated_max=5)  # a peak: a day over what was stated
    assert learner.days(QUIET, (3, 5), DAY) == (3, 6)
    assert learner.days(("jne", "REG", "java", "java"), (1, 2), DAY) == (1, 3)  # the overall pool, too


def test_without_enough_parcels_the_stated_days_stand_and_old_ones_are_forgotten():
    learner = LaneLearner()
    for _ in range(5):
        learner.observe(LANE, DAY, 9, stated_max=5)
    assert learner.days(LANE, (3, 5), DAY) == (3, 5)
    for _ in range(30):
        learner.observe(LANE, DAY + timedelta(days=30), 3, stated_max=5)
    assert learner.days(LANE, (3, 5), DAY + timedelta(days=30)) == (3, 3)  # the slow month is past
    assert learner.days(LANE, (3, 5), DAY + timedelta(days=90)) == (3, 5)  # gone quiet: the stated days again
    learner.score("node", "DC-CKG", True)
    learner.score("node", "DC-CKG", False)
    assert learner.on_time_rate("node", "DC-CKG") == 0.5 and learner.on_time_rate("node", "X") is None
