"""The lanes a fresh installation starts with: JNE, J&T Express and SiCepat
between Indonesia's island groups, transit in carrier working days after
hand-over, shaped like the carriers' published service estimates."""

from __future__ import annotations

from oms.models.common import REGIONS
from oms.models.promising import Lane, PromisingRules

WEEK_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat")

# Regular service from Java: (min, max) working days.
_FROM_JAVA = {
    "java": (1, 3),
    "sumatra": (2, 4),
    "bali_nt": (2, 4),
    "kalimantan": (3, 5),
    "sulawesi": (3, 5),
    "papua_maluku": (4, 8),
}


def _regular(origin: str, destination: str) -> tuple[int, int]:
    if origin == destination:
        return (1, 2) if origin == "java" else (1, 3)
    if origin == "java":
        return _FROM_JAVA[destination]
    if destination == "java":
        return _FROM_JAVA[origin]
    a, b = _FROM_JAVA[origin], _FROM_JAVA[destination]
    return max(a[0], b[0]), max(a[1], b[1]) + 1  # through a Java hub


# carrier -> (service, level, extra min days, extra max days, only where regular max <= this)
_SERVICES = {
    "jne": [("YES", "next_day", None, None, 4), ("REG", "regular", 0, 0, None), ("OKE", "economy", 1, 2, None)],
    "jnt": [("EZ", "regular", 0, 1, None), ("ECO", "economy", 1, 3, None)],
    "sicepat": [("BEST", "next_day", None, None, 3), ("REG", "regular", 0, 0, None), ("HALU", "economy", 1, 2, None)],
}


def default_lanes() -> list[Lane]:
    lanes = []
    for origin in REGIONS:
        for destination in REGIONS:
            low, high = _regular(origin, destination)
            for carrier, services in _SERVICES.items():
                for service, level, add_low, add_high, only_within in services:
                    if level == "next_day":
                        if high > only_within:
                            continue  # no overnight flight or truck makes it
                        days = (1, 1) if high <= 3 else (1, 2)
                    else:
                        days = (low + add_low, high + add_high)
                    lanes.append(
                        Lane(
                            carrier=carrier,
                            service=service,
                            level=level,
                            origin=origin,
                            destination=destination,
                            days_min=days[0],
                            days_max=days[1],
                            # J&T collects and delivers on Sundays; the others do not.
                            works_sundays=carrier == "jnt",
                            pickup_days=[*WEEK_DAYS, "sun"] if carrier == "jnt" else list(WEEK_DAYS),
                        )
                    )
    return lanes


def default_promising_rules() -> PromisingRules:
    return PromisingRules(lanes=default_lanes())
