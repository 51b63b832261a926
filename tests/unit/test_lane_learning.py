"""Learning lane transit from deliveries: percentiles of recent parcels, a regional
fallback for quiet lanes, old observations forgotten."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from oms.domain.calendar import Holidays, carrier_days_after, carrier_days_between
from oms.domain.lane_learning import LaneLearner, delivery_from_event, lane_key, on_time_rates
from oms.domain.promising_defaults import default_promising_rules
from oms.models.events import ParcelDeliveredDetail
from oms.models.promising import CarrierDelay, LearningRules

RULES = default_promising_rules()

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
    assert learner.days(QUIET, (3, 5), DAY) == (3, 5)  # one slow lane is that lane's news, not its region's
    for lane in (("jnt", "EZ", "java", "sulawesi"), ("jne", "OKE", "sumatra", "sulawesi")):
        for _ in range(5):
            learner.observe(lane, DAY, 7, stated_max=6)
    assert learner.days(QUIET, (3, 5), DAY) == (3, 6)  # three lanes into Sulawesi ran a day late
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


def test_a_learned_answer_is_recomputed_after_new_deliveries():
    learner = LaneLearner()
    for _ in range(20):
        learner.observe(LANE, DAY, 3, stated_max=5)
    assert learner.days(LANE, (3, 5), DAY) == (3, 3)
    learner.add_transit(LANE, DAY, {6: 20})  # as loaded from the store: a day's histogram
    assert learner.days(LANE, (3, 5), DAY) == (3, 6)


def test_learning_switched_off_promises_the_stated_days():
    learner = LaneLearner(LearningRules(enabled=False))
    for _ in range(50):
        learner.observe(LANE, DAY, 9, stated_max=5)
    assert learner.days(LANE, (3, 5), DAY) == (3, 5)


def _delivered(delivered_at: str, ship_by: str = "2026-03-02T15:00:00+07:00", latest: str = "2026-03-06"):
    return ParcelDeliveredDetail(
        fulfillment_id="ord_1-F1", node_id="DC-CKG", carrier="jne", service="REG", origin_region="java",
        destination_region="sulawesi", destination_province="Sulawesi Selatan",
        promised_ship_by=datetime.fromisoformat(ship_by), delivered_at=datetime.fromisoformat(delivered_at),
        promised_latest=date.fromisoformat(latest))  # fmt: skip


def test_a_delivery_counts_carrier_working_days_in_the_buyers_time():
    # Handed over Monday 2 March; delivered Saturday 7 March 20:00 WITA: 5 carrier days (no Sunday between).
    delivery = delivery_from_event(_delivered("2026-03-07T12:00:00+00:00"), RULES, Holidays([]))
    assert delivery.transit_days == 5 and delivery.delivered_on == date(2026, 3, 7)
    assert delivery.on_time is False and delivery.stated_max == _stated(LANE)[1]
    # Delivered Monday 9 March: the Sunday between is not a carrier day.
    assert delivery_from_event(_delivered("2026-03-09T03:00:00+00:00"), RULES, Holidays([])).transit_days == 6
    early = delivery_from_event(_delivered("2026-03-05T03:00:00+00:00"), RULES, Holidays([]))
    assert early.on_time is True and early.tallies() == [
        ("node", "DC-CKG"), ("carrier", "jne"), ("lane", "jne#REG#java#sulawesi")]  # fmt: skip


def test_an_announced_delay_is_not_learned_as_the_lanes_own_slowness():
    peak = CarrierDelay(carrier="jne", destinations=["sulawesi"], first_day=date(2026, 3, 1),
                        last_day=date(2026, 3, 3), extra_days=2)  # fmt: skip
    rules = RULES.model_copy(update={"carrier_delays": [peak]})
    delivery = delivery_from_event(_delivered("2026-03-07T12:00:00+00:00"), rules, Holidays([]))
    assert delivery.transit_days == 3  # 5 seen, 2 announced
    unknown = _delivered("2026-03-07T12:00:00+00:00").model_copy(update={"carrier": "pos"})
    assert delivery_from_event(unknown, rules, Holidays([])).transit_days is None  # no lane: only on-time counts


def test_on_time_rates_sum_days_and_list_the_worst_first():
    rates = on_time_rates([("node", "DC-A", 9, 10), ("node", "DC-A", 10, 10), ("node", "DC-B", 1, 2),
                           ("carrier", "jne", 3, 4)])  # fmt: skip
    assert [(r["name"], r["on_time_pct"]) for r in rates["node"]] == [("DC-B", 50.0), ("DC-A", 95.0)]
    assert rates["carrier"][0]["delivered"] == 4 and rates["lane"] == []


def _stated(key):
    lane = next(x for x in RULES.lanes if lane_key(x) == key and not x.postal_prefix)
    return lane.days_min, lane.days_max


def test_a_parcel_delivered_on_a_day_off_counts_to_the_next_working_day():
    lane = next(x for x in RULES.lanes if lane_key(x) == ("jne", "REG", "java", "java"))
    holidays = Holidays([])
    thursday, sunday = date(2026, 3, 5), date(2026, 3, 8)
    assert carrier_days_between(lane, thursday, sunday, holidays, "DKI Jakarta") == 3  # promised by Monday: kept
    for start in (date(2026, 3, 2) + timedelta(days=n) for n in range(40)):  # Nyepi and Lebaran in between
        for days in range(8):
            end = carrier_days_after(lane, start, days, holidays, "Bali")
            assert carrier_days_between(lane, start, end, holidays, "Bali") == days
        for later in range(12):
            end = start + timedelta(days=later)
            counted = carrier_days_between(lane, start, end, holidays, "Bali")
            assert carrier_days_after(lane, start, counted, holidays, "Bali") >= end
            assert counted == 0 or carrier_days_after(lane, start, counted - 1, holidays, "Bali") < end
