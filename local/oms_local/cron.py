"""EventBridge schedule expressions: rate(...) and the 6-field AWS cron subset (UTC).

cron(minutes hours day-of-month month day-of-week year) with *, ?, ranges, lists and
/steps; month and weekday names; weekday 1 = SUN. Not supported: L, W and #.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_RATE_RE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}
_MONTH_NAMES = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_MONTHS = {m: i + 1 for i, m in enumerate(_MONTH_NAMES)}
_DAYS = {d: i + 1 for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}


def rate_seconds(expression: str) -> float | None:
    """Interval of a rate() expression, or None if it is not one."""
    m = _RATE_RE.match(expression.strip())
    if not m:
        return None
    return int(m.group(1)) * _UNIT_S[m.group(2).rstrip("s")]


def _field(text: str, lo: int, hi: int, names: dict[str, int] | None = None) -> set[int] | None:
    """Values a field allows; None means "any" (* or ?)."""
    if text in ("*", "?"):
        return None
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            start, end = lo, hi
        elif "-" in base:
            a, b = base.split("-", 1)
            start, end = _value(a, names), _value(b, names)
        else:
            start = _value(base, names)
            end = hi if step_text else start
        if not (lo <= start <= hi and lo <= end <= hi):
            raise ValueError(f"cron field {text!r} out of range {lo}-{hi}")
        values.update(range(start, end + 1, step))
    return values


def _value(text: str, names: dict[str, int] | None) -> int:
    if names and text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise ValueError(f"unsupported cron value {text!r} (L, W and # are not supported locally)")
    return int(text)


class Cron:
    def __init__(self, expression: str) -> None:
        body = expression.strip()
        if body.startswith("cron(") and body.endswith(")"):
            body = body[5:-1]
        parts = body.split()
        if len(parts) != 6:
            raise ValueError(f"cron needs 6 fields, got {expression!r}")
        self.minutes = _field(parts[0], 0, 59) or set(range(60))
        self.hours = _field(parts[1], 0, 23) or set(range(24))
        self.days = _field(parts[2], 1, 31)
        self.months = _field(parts[3], 1, 12, _MONTHS)
        self.weekdays = _field(parts[4], 1, 7, _DAYS)
        self.years = _field(parts[5], 1970, 2199)

    def _day_matches(self, day: datetime) -> bool:
        if self.years is not None and day.year not in self.years:
            return False
        if self.months is not None and day.month not in self.months:
            return False
        if self.days is not None and day.day not in self.days:
            return False
        aws_weekday = (day.weekday() + 1) % 7 + 1  # Python Monday=0 -> AWS Monday=2, Sunday=1
        return self.weekdays is None or aws_weekday in self.weekdays

    def next_after(self, now: datetime) -> datetime:
        """The first fire time strictly after ``now`` (timezone-aware, UTC)."""
        now = now.astimezone(UTC).replace(second=0, microsecond=0)
        day = now.replace(hour=0, minute=0)
        for _ in range(366 * 5):  # a schedule that never fires within 5 years is an error
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = day.replace(hour=hour, minute=minute)
                        if candidate > now:
                            return candidate
            day += timedelta(days=1)
        raise ValueError("cron expression never fires in the next 5 years")
