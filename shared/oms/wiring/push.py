"""The push of availability to channels (the inventory stream's consumer)."""

from __future__ import annotations

from datetime import UTC, datetime

from oms.adapters.stock_push import DynamoPushStates
from oms.domain.stock_push import StockPush
from oms.settings import get_settings
from oms.wiring import built
from oms.wiring.outbound import channel_client
from oms.wiring.stock import inventory


@built
def stock_push() -> StockPush:
    return StockPush(
        inventory(), DynamoPushStates(get_settings().stock_ledger_table), channel_client(), lambda: datetime.now(UTC)
    )
