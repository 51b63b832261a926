"""Working time, in plain Python: Indonesian holidays (the `holidays` package's
public holidays and cuti bersama, plus the rules' extra days), a node's open
days, hours and cut-offs in its own time zone, and carrier working days."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from oms.domain.geo import REGION_BY_PROVINCE, province_key
from oms.models.inventory import Node, NodeKind
from oms.models.order import ServiceLevel
from oms.models.promising import WEEKDAYS, ExtraHoliday, Lane, NodeCalendar, OpeningHours, PromisingRules

SEARCH_DAYS = 45  # a node closed longer than this gets no date at all (the answer says so)

# Indonesia's three time zones by region; Kalimantan is split (west and central keep WIB).
_WITA_KALIMANTAN = {"kalimantan selatan", "kalimantan timur", "kalimantan utara"}
_ZONE_BY_REGION = {
    "java": "Asia/Jakarta",
    "sumatra": "Asia/Jakarta",
    "kalimantan": "Asia/Jakarta",
    "bali_nt": "Asia/Makassar",
    "sulawesi": "Asia/Makassar",
    "papua_maluku": "Asia/Jayapura",
}


def buyer_zone(province: str | None) -> ZoneInfo:
    """WIB, WITA or WIT for a province (WIB when unknown: most buyers live there)."""
    key = province_key(province) if province else None
    if key in _WITA_KALIMANTAN:
        return ZoneInfo("Asia/Makassar")
    region = REGION_BY_PROVINCE.get(key or "")
    return ZoneInfo(_ZONE_BY_REGION.get(region or "", "Asia/Jakarta"))


@lru_cache(maxsize=16)
def _national(year: int) -> dict[date, str]:
    import holidays as holiday_tables  # here: functions that never count working days do not load it

    table = holiday_tables.country_holidays("ID", years=year, categories=("public", "government"))
    return dict(table.items())


class Holidays:
    """Public holidays and cuti bersama (joint leave days), with the rules' extra days."""

    def __init__(self, extra: list[ExtraHoliday]) -> None:
        self.extra = {}
        for holiday in extra:
            self.extra.setdefault(holiday.day, []).append(holiday)

    def name(self, day: date, province: str | None = None) -> str | None:
        found = _national(day.year).get(day)
        if found:
            return found
        for holiday in self.extra.get(day, []):
            if holiday.provinces is None or (
                province and province_key(province) in map(province_key, holiday.provinces)
            ):
                return holiday.name
        return None


class NodeClock:
    """A node's working time: open days, hours and cut-offs, in the node's time zone."""

    def __init__(self, node: Node, rules: PromisingRules, holidays: Holidays) -> None:
        self.node = node
        self.zone = ZoneInfo(node.tz)
        calendar = node.calendar or NodeCalendar(
            hours=rules.store_hours if node.kind is NodeKind.store else rules.dc_hours
        )
        self.calendar = calendar
        self.rules = rules
        self.holidays = holidays

    def hours(self, day: date) -> OpeningHours | None:
        """The day's opening hours, or None when closed."""
        if day in self.calendar.closures:
            return None
        if self.calendar.observes_public_holidays and self.holidays.name(day, self.node.province):
            return None
        return self.calendar.hours.get(WEEKDAYS[day.weekday()])

    def cutoff(self, day: date, level: ServiceLevel) -> datetime | None:
        """The last moment an order makes the day's hand-over (never after closing), or None if closed."""
        hours = self.hours(day)
        if hours is None:
            return None
        cut = self.calendar.cutoffs.get(level) or self.rules.default_cutoffs.get(level) or hours.close
        if cut <= hours.open:
            return None  # the day's cut-off passes before it opens: no hand-over that day
        return datetime.combine(day, min(cut, hours.close), self.zone)

    def next_handover(self, as_of: datetime, level: ServiceLevel, lane: Lane | None = None) -> datetime | None:
        """When an order placed at as_of leaves the node: the cut-off of the first working day whose
        cut-off it makes (and, with a lane, a day the carrier collects)."""
        local = as_of.astimezone(self.zone)
        for offset in range(SEARCH_DAYS):
            day = local.date() + timedelta(days=offset)
            cut = self.cutoff(day, level)
            if cut is None or local > cut:
                continue
            if lane is not None and not carrier_collects(lane, day, self.holidays):
                continue
            return cut
        return None

    def ready_after(self, as_of: datetime, minutes: int) -> datetime | None:
        """as_of plus `minutes` of open time (a pickup order being picked)."""
        local = as_of.astimezone(self.zone)
        left = timedelta(minutes=minutes)
        for offset in range(SEARCH_DAYS):
            day = local.date() + timedelta(days=offset)
            hours = self.hours(day)
            if hours is None:
                continue
            start = max(local, datetime.combine(day, hours.open, self.zone))
            end = datetime.combine(day, hours.close, self.zone)
            if start >= end:
                continue
            if start + left <= end:
                return start + left
            left -= end - start
        return None


def carrier_collects(lane: Lane, day: date, holidays: Holidays) -> bool:
    if WEEKDAYS[day.weekday()] not in lane.pickup_days:
        return False
    return lane.works_holidays or not holidays.name(day)


def carrier_days_after(lane: Lane, start: date, days: int, holidays: Holidays, province: str | None) -> date:
    """The date `days` carrier working days after start (Sundays and holidays off unless the lane works them)."""
    day = start
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        counted += _carrier_works(lane, day, holidays, province)
    return day


def carrier_days_between(lane: Lane, start: date, end: date, holidays: Holidays, province: str | None) -> int:
    """The fewest carrier working days d with carrier_days_after(start, d) on or after end: a parcel that
    arrived on a Sunday or holiday the lane does not work took until the next working day's count."""
    days = 0
    day = start
    while day < end:
        day += timedelta(days=1)
        days += _carrier_works(lane, day, holidays, province)
    if end > start and not _carrier_works(lane, end, holidays, province):
        days += 1
    return days


def _carrier_works(lane: Lane, day: date, holidays: Holidays, province: str | None) -> bool:
    if day.weekday() == 6 and not lane.works_sundays:
        return False
    return lane.works_holidays or not holidays.name(day, province)
