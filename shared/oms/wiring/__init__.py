"""Wiring: what each Lambda function builds, split so that a function imports
only what it uses (its cold start pays for nothing else).

Each module here builds one part of the graph from the settings, once per
container (`@built`), and imports only the adapters and services of that
part: `core` (orders, catalog, reference data, keys, inbox, events), `stock`,
`sourcing` (with promising), `status`, `capture`, `channels` (marketplace
pulls), `outbound` (pushes to channels) and `returns`. A handler imports the
module(s) it needs; `oms.container` gathers them all for tools and tests.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TypeVar

T = TypeVar("T")

_BUILT: list[Callable[..., object]] = []
_FORGET: list[Callable[[], None]] = []


def built(factory: Callable[[], T]) -> Callable[[], T]:
    """Build once per container; `reset()` forgets it (tests)."""
    cached = cache(factory)
    _BUILT.append(cached)
    return cached


def on_reset(forget: Callable[[], None]) -> None:
    """Something besides a factory to forget on reset (a cache with its own clock)."""
    _FORGET.append(forget)


def reset() -> None:
    """For tests: forget every built service and the settings."""
    from oms.settings import get_settings

    for factory in _BUILT:
        factory.cache_clear()  # type: ignore[attr-defined]
    for forget in _FORGET:
        forget()
    get_settings.cache_clear()
