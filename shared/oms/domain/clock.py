"""Indonesian days. Counts, reports and "today" in a range are the retailer's
days, and the retailer's day is a WIB (Asia/Jakarta) day: at 00:30 WIB it is
already tomorrow in Indonesia while UTC is still on yesterday."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

WIB = ZoneInfo("Asia/Jakarta")


def wib_day(moment: datetime) -> date:
    """The WIB day of an instant (which must carry its offset)."""
    if moment.tzinfo is None:
        raise ValueError("an instant without a time zone has no WIB day")
    return moment.astimezone(WIB).date()
