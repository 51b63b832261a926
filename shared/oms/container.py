"""The composition root: settings in, services out, built once per container.

Handlers take these as optional arguments so tests can hand in fakes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING

from oms.adapters.apikeys import DynamoApiKeys
from oms.adapters.attempts import DynamoAttempts
from oms.adapters.capacity import DynamoCapacity
from oms.adapters.carrier_tracking import BiteshipTracking
from oms.adapters.catalog import CachedCatalog, CachedReferenceData, DynamoCatalog, DynamoReferenceData
from oms.adapters.channel_client import ChannelClients, api_bases, channel_clients
from oms.adapters.counters import BlockAllocator
from oms.adapters.eventbus import EventBridgePublisher
from oms.adapters.inbox import DynamoInbox
from oms.adapters.lane_stats import DynamoLaneStats
from oms.adapters.orders import DynamoOrders
from oms.adapters.queues import SqsQueue
from oms.adapters.secrets import SsmSecrets
from oms.adapters.stock import DynamoStock
from oms.adapters.stock_push import DynamoPushStates
from oms.adapters.sweep_cursors import DynamoSweepCursors
from oms.domain.capture import CaptureService
from oms.domain.carrier_webhooks import CarrierWebhooks
from oms.domain.changes import OrderChanges
from oms.domain.clock import wib_day
from oms.domain.lane_learning import DeliveryLearning, LaneLearner
from oms.domain.polling import CarrierPoller
from oms.domain.promising import Promiser, PromiseService
from oms.domain.sourcing import SourcingService
from oms.domain.status import StatusService
from oms.domain.stock import InventoryService
from oms.domain.stock_jobs import Snapshots
from oms.domain.stock_push import StockPush
from oms.domain.tracking import TrackingService
from oms.domain.watchers import Watcher
from oms.domain.webhooks import WebhookReceiver
from oms.models.order import Channel, OrderDraft, OrderStatus
from oms.models.promising import LearningRules
from oms.settings import get_settings

if TYPE_CHECKING:
    from oms.adapters.fetch_queue import SqsFetchQueue
    from oms.adapters.marketplace_api import MarketplaceApi
    from oms.adapters.refund_gateway import HttpRefundGateway
    from oms.adapters.returns_store import DynamoReturns
    from oms.domain.channel_sync import ChannelReconciler, ChannelSync
    from oms.domain.channel_tokens import TokenKeeper
    from oms.domain.returns import ReturnsService


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
def catalog() -> CachedCatalog:
    return CachedCatalog(DynamoCatalog(get_settings().catalog_table))


@cache
def reference_data() -> CachedReferenceData:
    return CachedReferenceData(DynamoReferenceData(get_settings().catalog_table))


@cache
def inventory() -> InventoryService:
    settings = get_settings()
    store = DynamoStock(
        settings.inventory_table, settings.reservations_table, settings.stock_ledger_table, settings.sourcing_table
    )
    return InventoryService(store, reference_data(), catalog())


@cache
def sweep_cursors() -> DynamoSweepCursors:
    return DynamoSweepCursors(get_settings().sourcing_table)


class _PromiserCache:
    """One Promiser per rule set read (the reference data keeps a rule set 30 s): node clocks and
    holiday tables are built once, a saved rule set is used as soon as it is read. What lanes learned
    from deliveries is loaded apart, every `learning_refresh_seconds` (or when the learning rules
    change); a failed load keeps what was loaded before (or the stated lanes) rather than failing quotes."""

    def __init__(self) -> None:
        self._rules: object = None
        self._promiser: Promiser | None = None
        self._learner: LaneLearner | None = None
        self._learning: LearningRules | None = None
        self._learned_at = float("-inf")
        self._used: LaneLearner | None = None

    def __call__(self) -> Promiser:
        rules = reference_data().promising_rules()
        learner = self._learner_for(rules.learning) if rules.learning.enabled else None
        if self._promiser is None or rules is not self._rules or learner is not self._used:
            self._rules, self._used = rules, learner
            self._promiser = Promiser(rules, learner.days if learner else None)
        return self._promiser

    def _learner_for(self, learning: LearningRules) -> LaneLearner | None:
        stale = time.monotonic() - self._learned_at >= get_settings().learning_refresh_seconds
        if self._learner is None or stale or learning != self._learning:
            self._learned_at = time.monotonic()  # a failed load is not retried on every quote either
            self._learning = learning
            try:
                self._learner = lane_stats().learner(learning, wib_day(datetime.now(UTC)))
            except Exception:  # learning sharpens promises; without it the stated lanes still hold
                from oms.observability import logger  # here: importing it builds the metrics from the environment

                logger.exception("lane learning not loaded; promising from what was loaded before")
        return self._learner

    def forget_learning(self) -> None:
        self._learned_at = float("-inf")


@cache
def lane_stats() -> DynamoLaneStats:
    return DynamoLaneStats(get_settings().sourcing_table)


@cache
def delivery_learning() -> DeliveryLearning:
    return DeliveryLearning(lane_stats(), reference_data().promising_rules)


@cache
def promiser() -> _PromiserCache:
    return _PromiserCache()


@cache
def sourcing() -> SourcingService:
    return SourcingService(
        orders(),
        inventory(),
        reference_data(),
        catalog(),
        DynamoCapacity(get_settings().sourcing_table),
        lambda: datetime.now(UTC),
        promiser(),
    )


@cache
def promises() -> PromiseService:
    return PromiseService(sourcing(), promiser(), lambda: datetime.now(UTC))


@cache
def status() -> StatusService:
    return StatusService(
        orders(), inventory(), sourcing(), reference_data().nodes, lambda: datetime.now(UTC),
        lambda: promiser()().holidays,
    )  # fmt: skip


@cache
def watcher() -> Watcher:
    return Watcher(orders(), lambda: datetime.now(UTC))


@cache
def carrier_poller() -> CarrierPoller:
    settings = get_settings()
    api_key = SsmSecrets(settings.secrets_path).channel_secret("biteship", "api_key")
    carriers = {name.strip().lower() for name in settings.polled_carriers.split(",") if name.strip()}
    tracking = BiteshipTracking(settings.oms_biteship_api_base or "https://api.biteship.com", api_key)
    return CarrierPoller(orders(), tracking, status(), carriers, lambda: datetime.now(UTC),
                         settings.poll_every_minutes)  # fmt: skip


@cache
def order_changes() -> OrderChanges:
    return OrderChanges(orders(), inventory(), sourcing(), lambda: datetime.now(UTC))


@cache
def carrier_webhooks() -> CarrierWebhooks:
    settings = get_settings()
    return CarrierWebhooks(SsmSecrets(settings.secrets_path), status(), settings.max_body_bytes)


@cache
def tracking() -> TrackingService:
    return TrackingService(orders(), DynamoAttempts(get_settings().counters_table), reference_data().nodes)


@cache
def snapshots() -> Snapshots:
    return Snapshots(inventory(), SqsQueue(get_settings().snapshot_queue_url))


@cache
def channel_client() -> ChannelClients:
    return channel_clients(SsmSecrets(get_settings().secrets_path))


@cache
def stock_push() -> StockPush:
    return StockPush(
        inventory(),
        DynamoPushStates(get_settings().stock_ledger_table),
        channel_clients(SsmSecrets(get_settings().secrets_path)),
        lambda: datetime.now(UTC),
    )


@cache
def returns() -> ReturnsService:
    from oms.domain.returns import ReturnsService  # here: only the returns functions need it

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


@cache
def returns_store() -> DynamoReturns:
    from oms.adapters.returns_store import DynamoReturns

    return DynamoReturns(get_settings().returns_table)


@cache
def refund_gateway() -> HttpRefundGateway:
    from oms.adapters.refund_gateway import HttpRefundGateway

    settings = get_settings()
    secrets = SsmSecrets(settings.secrets_path)
    return HttpRefundGateway(
        settings.oms_payments_api_base or "https://api.xendit.co",
        lambda: secrets.channel_secret("payments", "secret_key"),
    )


@cache
def returns_queue() -> SqsQueue:
    return SqsQueue(get_settings().returns_queue_url)


@cache
def capture_service() -> CaptureService:
    settings = get_settings()
    return CaptureService(
        orders(),
        catalog(),
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
def channel_api() -> MarketplaceApi:
    from oms.adapters.marketplace_api import MarketplaceApi, auth_bases

    return MarketplaceApi(api_bases(), SsmSecrets(get_settings().secrets_path), auth_bases())


@cache
def channel_fetch_queue() -> SqsFetchQueue:
    from oms.adapters.fetch_queue import SqsFetchQueue

    return SqsFetchQueue(get_settings().channel_fetch_queue_url)


@cache
def channel_sync() -> ChannelSync:
    from oms.domain.channel_sync import ChannelSync

    return ChannelSync(
        orders(),
        channel_fetch_queue(),
        channel_api(),
        capture_service(),
        inbox(),
        lambda: datetime.now(UTC),
        normalizer=_fetched_normalizer,
    )


def _fetched_normalizer(channel: Channel) -> Callable[[dict], OrderDraft]:
    """The channel's normalizer for fetched documents (Tokopedia's with its decryptor, when configured)."""
    from oms.domain.channel_sync import normalizer_for

    if channel is Channel.tokopedia:
        from functools import partial

        from oms.channels import tokopedia

        return partial(tokopedia.normalize, decrypt=tokopedia_decrypt())
    return normalizer_for(channel)


@cache
def channel_reconciler() -> ChannelReconciler:
    from oms.adapters.sync_cursors import DynamoSyncCursors
    from oms.domain.channel_sync import ChannelReconciler

    cursors = DynamoSyncCursors(get_settings().counters_table)
    return ChannelReconciler(channel_api(), channel_sync(), cursors, lambda: datetime.now(UTC))


@cache
def token_keeper() -> TokenKeeper:
    from oms.domain.channel_tokens import TokenKeeper

    return TokenKeeper(channel_api(), SsmSecrets(get_settings().secrets_path, max_age=0), lambda: datetime.now(UTC))


class _TokopediaDecrypt:
    """Tokopedia's buyer-data decryptor from the seller's private key (SSM tokopedia/private_key), or
    None when no key is configured: the order is then kept with its buyer data encrypted. Looked up
    at most every 5 minutes (a missing parameter is not cached by Powertools)."""

    def __init__(self) -> None:
        self._at = float("-inf")
        self._pem: str | None = None
        self._decrypt: Callable[[dict], dict] | None = None

    def __call__(self) -> Callable[[dict], dict] | None:
        if time.monotonic() - self._at >= 300:
            self._at = time.monotonic()
            pem = SsmSecrets(get_settings().secrets_path).channel_secret("tokopedia", "private_key")
            if pem != self._pem:
                from oms.channels.tokopedia_crypto import decryptor
                from oms.errors import DependencyError, NormalizationError

                try:
                    self._pem, self._decrypt = pem, (decryptor(pem) if pem else None)
                except NormalizationError as exc:
                    # Our configuration, not the channel's payload: retried (and alarmed) until the key is fixed.
                    self._at = float("-inf")
                    raise DependencyError(f"tokopedia/private_key is not usable: {exc.message}") from None
        return self._decrypt

    def forget(self) -> None:
        self._at = float("-inf")


tokopedia_decrypt = _TokopediaDecrypt()


@cache
def event_publisher() -> EventBridgePublisher:
    return EventBridgePublisher(get_settings().event_bus_name)


class _OrderStatuses:
    """What the stock audit asks of orders: does the order exist, and is it cancelled."""

    def status_of(self, order_id: str) -> OrderStatus | None:
        order = orders().get(order_id)
        return order.status if order else None


def order_statuses() -> _OrderStatuses:
    return _OrderStatuses()


def reset() -> None:
    """For tests: forget every built service and the settings."""
    factories = (inbox, orders, api_keys, catalog, reference_data, inventory, snapshots, stock_push, capture_service)
    later = (sourcing, sweep_cursors, promiser, promises, lane_stats, delivery_learning, status, tracking)
    marketplaces = (channel_api, channel_fetch_queue, channel_sync, channel_reconciler, token_keeper)
    for factory in (*later, *marketplaces, carrier_webhooks, order_changes, watcher, carrier_poller, channel_client):
        factory.cache_clear()
    for factory in (
        *factories,
        webhook_receiver,
        event_publisher,
        returns,
        returns_store,
        refund_gateway,
        returns_queue,
    ):
        factory.cache_clear()
    tokopedia_decrypt.forget()
    get_settings.cache_clear()
