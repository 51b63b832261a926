"""In-memory fakes of the ports, for domain tests (no AWS, no mocks)."""

from __future__ import annotations

from datetime import datetime

from oms.errors import DependencyError, StaleWrite
from oms.models.apikey import ApiKey
from oms.models.events import DomainEvent
from oms.models.inbox import InboxEntry
from oms.models.order import Order
from oms.ports import (
    ApiKeyRepository,
    CatalogRepository,
    EventPublisher,
    InboxRepository,
    OrderNumberAllocator,
    OrderPage,
    OrderQuery,
    OrderRepository,
    SecretsProvider,
)


class FakeInbox(InboxRepository):
    def __init__(self) -> None:
        self.entries: dict[str, InboxEntry] = {}
        self.quarantined: dict[str, str] = {}

    def put_new(self, entry: InboxEntry) -> bool:
        if entry.pk in self.entries:
            return False
        self.entries[entry.pk] = entry
        return True

    def quarantine(self, pk: str, reason: str, at: datetime) -> None:
        self.quarantined[pk] = reason


class FakeOrders(OrderRepository):
    def __init__(self) -> None:
        self.orders: dict[str, Order] = {}
        self.writes = 0
        self.timelines: dict[str, dict] = {}
        self.lookups: dict[tuple, dict] = {}
        self.timeline_fails = False

    def get(self, order_id: str, consistent: bool = False) -> Order | None:
        return self.orders.get(order_id)

    def insert(self, order: Order) -> Order | None:
        if order.order_id in self.orders:
            return self.orders[order.order_id]
        self.orders[order.order_id] = order
        self.writes += 1
        return None

    def replace(self, order: Order, expected_version: int) -> None:
        if self.orders[order.order_id].version != expected_version:
            raise StaleWrite("changed")
        self.orders[order.order_id] = order
        self.writes += 1

    def put_timeline(self, entries: list) -> None:
        if self.timeline_fails:
            raise DependencyError("throttled")
        for entry in entries:
            self.timelines.setdefault(entry.order_id, {})[entry.key] = entry

    def put_lookups(self, changes: list) -> None:
        for kind, item in changes:
            key = (item["pk"]["S"], item["sk"]["S"])
            if kind == "put":
                self.lookups[key] = item
            else:
                self.lookups.pop(key, None)

    def list(self, query: OrderQuery) -> OrderPage:
        items = [o.model_dump(mode="json") for o in self.orders.values()]
        return OrderPage(items=items[: query.limit])


class FakeCatalog(CatalogRepository):
    def __init__(self, skus: set[str]) -> None:
        self.skus = skus

    def known_skus(self, skus: set[str]) -> set[str]:
        return skus & self.skus


class FakeNumbers(OrderNumberAllocator):
    def __init__(self) -> None:
        self.next = 1
        self.returned: list[int] = []

    def take(self) -> int:
        if self.returned:
            return self.returned.pop()
        self.next += 1
        return self.next - 1

    def give_back(self, number: int) -> None:
        self.returned.append(number)


class FakeKeys(ApiKeyRepository):
    def __init__(self) -> None:
        self.keys: dict[str, ApiKey] = {}

    def get(self, key_hash: str) -> ApiKey | None:
        return self.keys.get(key_hash)

    def put(self, key: ApiKey) -> None:
        self.keys[key.key_hash] = key


class FakeSecrets(SecretsProvider):
    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = secrets

    def channel_secret(self, channel: str, name: str) -> str | None:
        return self.secrets.get(f"{channel}/{name}")


class FakePublisher(EventPublisher):
    def __init__(self, fail: set[str] | None = None) -> None:
        self.published: list[DomainEvent] = []
        self.fail = fail or set()

    def publish(self, events: list[DomainEvent]) -> list[str]:
        failed = [e.event_id for e in events if e.event_id in self.fail]
        self.published.extend(e for e in events if e.event_id not in self.fail)
        return failed
