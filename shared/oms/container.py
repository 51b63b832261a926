"""The whole graph, for tools and tests: every part `oms.wiring` builds, under one name.

No Lambda function imports this module (`make lint` checks): each builds only its own
part through `oms.wiring.<part>`, so its cold start pays for nothing else. The admin
script, the benchmarks and the integration tests reach any service from here; the
objects are the functions' own (the same cached builds), and `reset()` forgets them all.
"""

from __future__ import annotations

from oms.wiring import reset
from oms.wiring.capture import capture_service
from oms.wiring.channels import (
    channel_api,
    channel_fetch_queue,
    channel_reconciler,
    channel_sync,
    fetched_normalizer,
    token_keeper,
)
from oms.wiring.core import api_keys, catalog, event_publisher, inbox, orders, reference_data, secrets
from oms.wiring.inbound import webhook_receiver
from oms.wiring.outbound import channel_client
from oms.wiring.push import stock_push
from oms.wiring.returns import followups, refund_gateway, returns, returns_queue, returns_store
from oms.wiring.sourcing import backorder_sweep, delivery_learning, lane_stats, promiser, promises, sourcing
from oms.wiring.status import carrier_poller, carrier_webhooks, order_changes, status, tracking, watcher
from oms.wiring.stock import inventory, order_statuses, snapshots

__all__ = [
    "api_keys", "backorder_sweep", "capture_service", "carrier_poller", "carrier_webhooks", "catalog",
    "channel_api", "channel_client", "channel_fetch_queue", "channel_reconciler", "channel_sync",
    "delivery_learning", "event_publisher", "fetched_normalizer", "followups", "inbox", "inventory",
    "lane_stats", "order_changes", "order_statuses", "orders", "promiser", "promises", "reference_data",
    "refund_gateway", "reset", "returns", "returns_queue", "returns_store", "secrets", "snapshots",
    "sourcing", "status", "stock_push", "token_keeper", "tracking", "watcher",
    "webhook_receiver",
]  # fmt: skip
