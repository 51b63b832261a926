"""The rule set a fresh installation starts with (ops replace it with PUT
/sourcing/rules): courier prices shaped like JNE's published REG, YES and OKE
tariffs between Indonesia's island groups, per kilogram, in IDR."""

from __future__ import annotations

from decimal import Decimal

from oms.models.common import REGIONS
from oms.models.order import ServiceLevel
from oms.models.sourcing import LocalDeliveryRate, RateCell, SourcingRules

# Regular service (REG): price of the first kg and transit days (min, max) from Java.
_FROM_JAVA = {
    "java": (14_000, 2, 3),
    "sumatra": (26_000, 2, 4),
    "bali_nt": (25_000, 2, 4),
    "kalimantan": (36_000, 3, 5),
    "sulawesi": (42_000, 3, 5),
    "papua_maluku": (88_000, 4, 7),
}
# Between two other island groups: through a Java hub, so dearer and slower.
_OUTER_SURCHARGE, _OUTER_EXTRA_DAYS = 12_000, 1


def _regular(origin: str, destination: str) -> tuple[int, int, int]:
    if origin == "java":
        return _FROM_JAVA[destination]
    if destination == "java":
        return _FROM_JAVA[origin]
    if origin == destination:
        price, low, high = _FROM_JAVA[origin]
        return max(12_000, price // 2), max(1, low - 1), max(2, high - 1)
    a, b = _FROM_JAVA[origin], _FROM_JAVA[destination]
    return max(a[0], b[0]) + _OUTER_SURCHARGE, max(a[1], b[1]), max(a[2], b[2]) + _OUTER_EXTRA_DAYS


def _cells(price: int, low: int, high: int) -> dict[ServiceLevel, RateCell]:
    cells = {
        ServiceLevel.regular: RateCell(first_kg=Decimal(price), next_kg=Decimal(price), days_min=low, days_max=high),
        ServiceLevel.economy: RateCell(
            first_kg=Decimal(price * 8 // 10), next_kg=Decimal(price * 8 // 10), days_min=low + 1, days_max=high + 2
        ),
    }
    if high <= 4:  # next-day (YES) is sold only where a plane or a truck makes it overnight
        yes = price * 9 // 5
        cells[ServiceLevel.next_day] = RateCell(
            first_kg=Decimal(yes), next_kg=Decimal(yes), days_min=1, days_max=1 if high <= 3 else 2
        )
    return cells


def default_rules() -> SourcingRules:
    rates = {"city": _cells(9_000, 1, 2), "province": _cells(11_000, 1, 2)}
    for origin in REGIONS:
        for destination in REGIONS:
            rates[f"{origin}>{destination}"] = _cells(*_regular(origin, destination))
    return SourcingRules(
        rates=rates,
        same_day=LocalDeliveryRate(base=Decimal(15_000), per_km=Decimal(2_500), radius_km=40),
        instant=LocalDeliveryRate(base=Decimal(12_000), per_km=Decimal(3_000), radius_km=25),
    )
