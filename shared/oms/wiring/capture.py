"""Capture: drafts into orders with their numbers."""

from __future__ import annotations

from oms.adapters.counters import BlockAllocator
from oms.domain.capture import CaptureService
from oms.settings import get_settings
from oms.wiring import built
from oms.wiring.core import catalog, orders


@built
def capture_service() -> CaptureService:
    settings = get_settings()
    return CaptureService(
        orders(),
        catalog(),
        BlockAllocator(settings.counters_table, block=settings.order_number_block),
        number_prefix=settings.order_number_prefix,
    )
