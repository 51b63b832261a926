"""The composition root: settings in, services out, built once per container.

Handlers take these as optional arguments so tests can hand in fakes.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache

from oms.adapters.apikeys import DynamoApiKeys
from oms.adapters.catalog import CachedCatalog, DynamoCatalog
from oms.adapters.counters import BlockAllocator
from oms.adapters.eventbus import EventBridgePublisher
from oms.adapters.inbox import DynamoInbox
from oms.adapters.orders import DynamoOrders
from oms.adapters.secrets import SsmSecrets
from oms.domain.capture import CaptureService
from oms.domain.webhooks import WebhookReceiver
from oms.settings import get_settings


@cache
def inbox() -> DynamoInbox:
    settings = get_settings()
    return DynamoInbox(settings.inbox_table, timedelta(days=settings.inbox_retention_days))


@cache
def orders() -> DynamoOrders:
    return DynamoOrders(get_settings().orders_table)


@cache
def api_keys() -> DynamoApiKeys:
    return DynamoApiKeys(get_settings().api_keys_table)


@cache
def capture_service() -> CaptureService:
    settings = get_settings()
    return CaptureService(
        orders(),
        CachedCatalog(DynamoCatalog(settings.catalog_table)),
        BlockAllocator(settings.counters_table, block=settings.order_number_block),
        number_prefix=settings.order_number_prefix,
    )


@cache
def webhook_receiver() -> WebhookReceiver:
    settings = get_settings()
    return WebhookReceiver(
        inbox(),
        SsmSecrets(settings.secrets_path),
        max_body_bytes=settings.max_body_bytes,
        max_age=timedelta(hours=settings.webhook_max_age_hours),
    )


@cache
def event_publisher() -> EventBridgePublisher:
    return EventBridgePublisher(get_settings().event_bus_name)


def reset() -> None:
    """For tests: forget every built service and the settings."""
    for factory in (inbox, orders, api_keys, capture_service, webhook_receiver, event_publisher):
        factory.cache_clear()
    get_settings.cache_clear()
