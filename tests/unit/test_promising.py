"""Promises from calendars, cut-offs, holidays and lanes: the dates a buyer is shown."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from oms.domain.calendar import buyer_zone
from oms.domain.geo import place
from oms.domain.promising import Promiser, Refusal
from oms.domain.promising_defaults import default_promising_rules
from oms.models.inventory import Node
from oms.models.order import DeliveryMethod, ServiceLevel
from oms.models.promising import CarrierDelay, ExtraHoliday, NodeCalendar, OpeningHours

WIB = ZoneInfo("Asia/Jakarta")
RULES = default_promising_rules()
DC = Node(node_id="DC-CKG", name="DC", kind="dc", city="Bekasi", province="Jawa Barat",
          lat=Decimal("-6.2615"), lng=Decimal("107.1526"))  # fmt: skip
STORE = Node(node_id="ST-JKT", name="Store", kind="store", city="Jakarta Pusat", province="DKI Jakarta",
             lat=Decimal("-6.1951"), lng=Decimal("106.8209"), may_pickup=True, may_same_day=True)  # fmt: skip
JAKARTA = place("DKI Jakarta", "Jakarta Barat", -6.17, 106.76)
JAYAPURA = place("Papua", "Jayapura", -2.53, 140.72)


def wib(day: str, clock: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), WIB)


def regular(as_of: datetime, node: Node = DC, dest=JAKARTA):
    return Promiser(RULES).parcel(node, dest, None, DeliveryMethod.ship, ServiceLevel.regular, as_of)


def test_before_the_cut_off_on_a_working_day_it_ships_that_day_after_it_the_next():
    before = regular(wib("2026-12-02", "14:59"))  # a Wednesday; regular cut-off 15:00
    after = regular(wib("2026-12-02", "15:01"))
    assert before.ship_by == wib("2026-12-02", "15:00")
    assert after.ship_by == wib("2026-12-03", "15:00")
    assert (before.carrier, before.service) == ("jne", "REG")
    assert (before.deliver_earliest, before.deliver_latest) == (date(2026, 12, 3), date(2026, 12, 4))


def test_the_eve_of_a_holiday_skips_it_and_cuti_bersama():
    # 24 December 2026 is cuti bersama, 25 December is Christmas: the next working day is Saturday 26th,
    # when the DC closes at 13:00 (before its 15:00 cut-off), and the carriers do not deliver on Sunday.
    promise = regular(wib("2026-12-23", "16:00"))
    assert promise.ship_by == wib("2026-12-26", "13:00")
    assert promise.deliver_earliest == date(2026, 12, 28)
    assert promise.deliver_latest == date(2026, 12, 29)


def test_a_quote_in_a_closed_period_gives_the_next_possible_date():
    closed = DC.model_copy(
        update={"calendar": NodeCalendar(hours=RULES.dc_hours, closures=[date(2026, 12, 7), date(2026, 12, 8)])}
    )
    promise = regular(wib("2026-12-07", "09:00"), closed)  # Monday and Tuesday: stock take
    assert promise.ship_by == wib("2026-12-09", "15:00")


def test_pickup_is_ready_within_the_store_hours():
    late_evening = Promiser(RULES).parcel(
        STORE, JAKARTA, None, DeliveryMethod.pickup, ServiceLevel.pickup, wib("2026-12-02", "21:30")
    )
    # 30 minutes of picking before 22:00, the other 90 after it opens at 10:00.
    assert late_evening.ready_at == wib("2026-12-03", "11:30")
    morning = Promiser(RULES).parcel(
        STORE, JAKARTA, None, DeliveryMethod.pickup, ServiceLevel.pickup, wib("2026-12-03", "07:00")
    )
    assert morning.ready_at == wib("2026-12-03", "12:00")


def test_same_day_before_its_cut_off_arrives_tonight_after_it_tomorrow():
    promiser = Promiser(RULES)
    on_time = promiser.parcel(
        STORE, JAKARTA, None, DeliveryMethod.same_day, ServiceLevel.same_day, wib("2026-12-02", "11:00")
    )
    late = promiser.parcel(
        STORE, JAKARTA, None, DeliveryMethod.same_day, ServiceLevel.same_day, wib("2026-12-02", "13:00")
    )
    assert on_time.deliver_by == wib("2026-12-02", "21:00")
    assert late.deliver_by == wib("2026-12-03", "21:00")


def test_the_buyer_gets_dates_in_their_own_time_zone_and_papua_is_slower():
    far = regular(wib("2026-12-02", "10:00"), DC, JAYAPURA)
    assert far.buyer_tz == "Asia/Jayapura"
    assert (far.deliver_latest - far.deliver_earliest).days >= 2
    assert buyer_zone("Bali").key == "Asia/Makassar" and buyer_zone("Kalimantan Barat").key == "Asia/Jakarta"


def test_no_lane_or_an_unknown_region_is_said_not_guessed():
    rules = RULES.model_copy(update={"lanes": [lane for lane in RULES.lanes if lane.destination != "papua_maluku"]})
    answer = Promiser(rules).parcel(
        DC, JAYAPURA, None, DeliveryMethod.ship, ServiceLevel.regular, wib("2026-12-02", "10:00")
    )
    assert isinstance(answer, Refusal) and "no regular lane from java to papua_maluku" in answer.reason
    nowhere = Promiser(RULES).parcel(
        DC, place(None, "Atlantis"), None, DeliveryMethod.ship, ServiceLevel.regular, wib("2026-12-02", "10:00")
    )
    assert isinstance(nowhere, Refusal)


def test_extra_holidays_from_the_rules_close_nodes_in_their_province():
    nyepi_like = ExtraHoliday(day=date(2026, 12, 3), name="regional day", provinces=["Jawa Barat"])
    rules = RULES.model_copy(update={"extra_holidays": [nyepi_like]})
    promise = Promiser(rules).parcel(
        DC, JAKARTA, None, DeliveryMethod.ship, ServiceLevel.regular, wib("2026-12-02", "16:00")
    )
    assert promise.ship_by == wib("2026-12-04", "15:00")  # Thursday is off in West Java


def test_a_cut_off_before_opening_means_no_hand_over_that_day():
    late_opener = STORE.model_copy(
        update={
            "calendar": NodeCalendar(
                hours={
                    "sat": OpeningHours(open=time(14), close=time(22)),
                    "mon": OpeningHours(open=time(8), close=time(22)),
                }
            )
        }
    )
    promise = Promiser(RULES).parcel(
        late_opener, JAKARTA, None, DeliveryMethod.same_day, ServiceLevel.same_day, wib("2026-12-05", "09:00")
    )  # a Saturday: the same-day cut-off (12:00) passes before it opens at 14:00
    assert promise.ship_by == wib("2026-12-07", "12:00")


def test_a_node_closed_for_weeks_is_a_refusal_that_says_so():
    closed = STORE.model_copy(update={"calendar": NodeCalendar(hours={})})
    answer = Promiser(RULES).parcel(
        closed, JAKARTA, None, DeliveryMethod.pickup, ServiceLevel.pickup, wib("2026-12-02", "09:00")
    )
    assert isinstance(answer, Refusal) and answer.closed


def test_an_announced_carrier_delay_moves_the_dates_of_its_lanes_only():
    as_of = wib("2026-12-02", "10:00")  # Wednesday; JNE REG and SiCepat REG both take 1-2 days in Java
    assert (regular(as_of).carrier, regular(as_of).deliver_latest) == ("jne", date(2026, 12, 4))

    def delayed(carrier: str | None) -> Promiser:
        flood = CarrierDelay(carrier=carrier, destinations=["java"], first_day=date(2026, 12, 2),
                             last_day=date(2026, 12, 2), extra_days=2, note="flood")  # fmt: skip
        return Promiser(RULES.model_copy(update={"carrier_delays": [flood]}))

    every = delayed(None).parcel(DC, JAKARTA, None, DeliveryMethod.ship, ServiceLevel.regular, as_of)
    assert (every.deliver_earliest, every.deliver_latest) == (date(2026, 12, 5), date(2026, 12, 7))  # Sunday off
    jne_only = delayed("jne").parcel(DC, JAKARTA, None, DeliveryMethod.ship, ServiceLevel.regular, as_of)
    assert (jne_only.carrier, jne_only.deliver_latest) == ("sicepat", date(2026, 12, 4))  # the other carrier
    after = wib("2026-12-03", "10:00")  # handed over after the delay ends
    assert delayed(None).parcel(DC, JAKARTA, None, DeliveryMethod.ship, ServiceLevel.regular, after) == regular(after)
