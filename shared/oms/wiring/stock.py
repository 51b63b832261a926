"""Stock: the inventory service over its DynamoDB store, counts (snapshots) and
the audit's view of orders."""

from __future__ import annotations

from oms.adapters.queues import SqsQueue
from oms.adapters.stock import DynamoStock
from oms.domain.stock import InventoryService
from oms.domain.stock_jobs import Snapshots
from oms.models.order import OrderStatus
from oms.settings import get_settings
from oms.wiring import built
from oms.wiring.core import catalog, orders, reference_data


@built
def inventory() -> InventoryService:
    settings = get_settings()
    store = DynamoStock(
        settings.inventory_table, settings.reservations_table, settings.stock_ledger_table, settings.sourcing_table
    )
    return InventoryService(store, reference_data(), catalog())


@built
def snapshots() -> Snapshots:
    return Snapshots(inventory(), SqsQueue(get_settings().snapshot_queue_url))


class OrderStatuses:
    """What the stock audit asks of orders: does the order exist, and is it cancelled."""

    def status_of(self, order_id: str) -> OrderStatus | None:
        order = orders().get(order_id)
        return order.status if order else None


def order_statuses() -> OrderStatuses:
    return OrderStatuses()
