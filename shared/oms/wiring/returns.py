"""Returns: the RMA service, its store, the refund gateway and the retry queue."""

from __future__ import annotations

from datetime import UTC, datetime

from oms.adapters.queues import SqsQueue
from oms.adapters.refund_gateway import HttpRefundGateway
from oms.adapters.returns_store import DynamoReturns
from oms.domain.return_followups import ReturnFollowUps
from oms.domain.returns import ReturnsService
from oms.models.order import OrderDraft
from oms.settings import get_settings
from oms.wiring import built
from oms.wiring.capture import capture_service
from oms.wiring.core import catalog, orders, reference_data, secrets
from oms.wiring.stock import inventory


@built
def returns() -> ReturnsService:
    def capture(draft: OrderDraft) -> str:
        return capture_service().capture(draft, datetime.now(UTC), likely_new=True).order.order_id

    return ReturnsService(
        orders(),
        inventory(),
        reference_data().returns_policy,
        reference_data().nodes,
        catalog().sku_facts,
        capture,
        lambda: datetime.now(UTC),
    )


@built
def returns_store() -> DynamoReturns:
    return DynamoReturns(get_settings().returns_table)


@built
def refund_gateway() -> HttpRefundGateway:
    settings = get_settings()
    keys = secrets()
    return HttpRefundGateway(
        settings.oms_payments_api_base or "https://api.xendit.co", lambda: keys.channel_secret("payments", "secret_key")
    )


@built
def returns_queue() -> SqsQueue:
    return SqsQueue(get_settings().returns_queue_url)


@built
def followups() -> ReturnFollowUps:
    return ReturnFollowUps(
        returns(), returns_store(), refund_gateway, lambda: reference_data().returns_policy().expire_after_days
    )
