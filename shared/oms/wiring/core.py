"""What almost every function uses: orders, the catalog and reference data,
API keys, the webhook inbox, secrets and the event bus."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from oms.adapters.apikeys import DynamoApiKeys
from oms.adapters.catalog import CachedCatalog, CachedReferenceData, DynamoCatalog, DynamoReferenceData
from oms.adapters.eventbus import EventBridgePublisher
from oms.adapters.inbox import DynamoInbox
from oms.adapters.orders import DynamoOrders
from oms.adapters.secrets import SsmSecrets
from oms.settings import get_settings
from oms.wiring import built

if TYPE_CHECKING:
    from oms.adapters.shops import DynamoShops
    from oms.domain.shops import ShopService


@built
def orders() -> DynamoOrders:
    return DynamoOrders(get_settings().orders_table)


@built
def api_keys() -> DynamoApiKeys:
    return DynamoApiKeys(get_settings().api_keys_table)


@built
def catalog() -> CachedCatalog:
    return CachedCatalog(DynamoCatalog(get_settings().catalog_table))


@built
def reference_data() -> CachedReferenceData:
    return CachedReferenceData(DynamoReferenceData(get_settings().catalog_table))


def secrets(max_age: int | None = None) -> SsmSecrets:
    """The channel secrets under the stage's path (Powertools caches the reads)."""
    path = get_settings().secrets_path
    return SsmSecrets(path) if max_age is None else SsmSecrets(path, max_age=max_age)


@built
def shops() -> DynamoShops:
    """The seller's registered shops (catalog table), read through a 30-second cache."""
    from oms.adapters.shops import DynamoShops  # only the functions that call marketplaces pay for it (~10 ms)

    return DynamoShops(get_settings().catalog_table)


@built
def shop_service() -> ShopService:
    """Connecting shops and how each stands; its secrets read uncached (an expiry just renewed shows)."""
    from oms.domain.shops import ShopService

    return ShopService(shops(), secrets(max_age=0), lambda: datetime.now(UTC))


@built
def inbox() -> DynamoInbox:
    settings = get_settings()
    return DynamoInbox(settings.inbox_table, timedelta(days=settings.inbox_retention_days))


@built
def event_publisher() -> EventBridgePublisher:
    return EventBridgePublisher(get_settings().event_bus_name)
