"""In-memory fakes of the ports, for domain tests (no AWS, no mocks), and of what Lambda hands a
handler. The orders fake has its own module (importable from here too); the returns service's other
ports are in tests.fakes.returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from oms.models.apikey import ApiKey
from oms.models.events import DomainEvent
from oms.models.inbox import InboxEntry
from oms.ports import (
    ApiKeyRepository,
    CatalogRepository,
    EventPublisher,
    InboxRepository,
    OrderNumberAllocator,
    SecretsProvider,
)
from oms.ports.cursors import Cursors
from tests.fakes.orders import FakeOrders

__all__ = [
    "FakeCatalog",
    "FakeClock",
    "FakeContext",
    "FakeInbox",
    "FakeKeys",
    "FakeNumbers",
    "FakeOrders",
    "FakePublisher",
    "FakeSecrets",
]


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


class FakeClock:
    """A clock a test moves by hand: call it for now, tick() it on."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def tick(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class FakeContext:
    """The Lambda context a handler is called with."""

    function_name: str = "oms-test"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:oms-test"
    aws_request_id: str = "test-request"
    log_group_name: str = "/aws/lambda/oms-test"
    log_stream_name: str = "test"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


class FakeCursors(Cursors):
    """Where each walk stopped, in a dict (`values`)."""

    def __init__(self) -> None:
        self.values: dict[str, str | None] = {}

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def put(self, name: str, cursor: str | None) -> None:
        self.values[name] = cursor
