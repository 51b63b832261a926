"""Ports: what the domain needs from the outside, as small ABCs.

Adapters in oms.adapters implement them over AWS; tests use the in-memory
fakes in the tests/fakes package.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from oms.models.apikey import ApiKey
from oms.models.events import DomainEvent
from oms.models.inbox import InboxEntry
from oms.models.order import Order, OrderStatus
from oms.models.timeline import TimelineEntry


class InboxRepository(ABC):
    @abstractmethod
    def put_new(self, entry: InboxEntry) -> bool:
        """Store the entry durably; False when an entry with its key exists already."""

    @abstractmethod
    def quarantine(self, pk: str, reason: str, at: datetime) -> None:
        """Mark a stored entry as not normalizable, with the reason."""

    def put_quarantined(self, entry: InboxEntry, reason: str, at: datetime) -> None:
        """Store an entry already quarantined (work the OMS found itself, kept for a replay)."""
        self.put_new(entry)
        self.quarantine(entry.pk, reason, at)


class OrderRepository(ABC):
    @abstractmethod
    def get(self, order_id: str, consistent: bool = False) -> Order | None: ...

    @abstractmethod
    def insert(self, order: Order) -> Order | None:
        """Store a new order; when one with its id exists, store nothing and return that one."""

    @abstractmethod
    def replace(self, order: Order, expected_version: int) -> None:
        """Store a changed order if the stored version is still expected_version, else raise StaleWrite."""

    @abstractmethod
    def list(self, query: OrderQuery) -> OrderPage: ...

    @abstractmethod
    def ids_of_channel(self, channel: str) -> Iterator[str]:
        """Every stored order's id of one channel, however old (a whole-table walk: for migrations)."""

    # Lookups the orders stream keeps beside the orders (a second or so behind the order itself).

    @abstractmethod
    def order_id_for_number(self, order_number: str) -> str | None:
        """The id of the order with this OMS order number."""

    @abstractmethod
    def by_number(self, order_number: str) -> Order | None: ...

    @abstractmethod
    def timeline(self, order_id: str) -> list[TimelineEntry]: ...

    # The tracking number -> parcel link, written once by the first parcel that ships with it.

    @abstractmethod
    def claim_tracking(self, tracking_number: str, carrier: str, fulfillment_id: str) -> str:
        """Tie the tracking number to the parcel unless another holds it; the parcel that holds it."""

    @abstractmethod
    def tracking_owner(self, tracking_number: str) -> tuple[str, str] | None:
        """(fulfillment id, carrier) of the parcel shipped with the tracking number."""

    # Sourcing's decisions, kept beside the order (what a replay of other rules plans again).

    @abstractmethod
    def put_trace(self, order_id: str, round_: int, at: datetime, outcome: str, trace: dict[str, Any]) -> None:
        """Keep a sourcing round's plan and the stock it saw; the first trace of a round stays."""

    @abstractmethod
    def traces(self, order_id: str) -> list[dict[str, Any]]:
        """Every kept round of the order, oldest first: {round, at (ISO), outcome, plan}."""


@dataclass(frozen=True)
class OrderQuery:
    status: OrderStatus | None = None
    channel: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    limit: int = 50
    cursor: str | None = None
    oldest_first: bool = False
    node_id: str | None = None  # orders with work at the node (a parcel at it, or waiting there for pickup)
    attention: str | None = None  # "late" or "at_risk" (flags the watchers set)


@dataclass
class OrderPage:
    items: list[dict] = field(default_factory=list)
    next_cursor: str | None = None


class CatalogRepository(ABC):
    @abstractmethod
    def known_skus(self, skus: set[str]) -> set[str]:
        """The subset of skus the catalog knows."""


class OrderNumberAllocator(ABC):
    @abstractmethod
    def take(self) -> int: ...

    @abstractmethod
    def give_back(self, number: int) -> None:
        """Return an unused number (the order turned out to exist) for the next insert."""


class ApiKeyRepository(ABC):
    @abstractmethod
    def get(self, key_hash: str) -> ApiKey | None: ...

    @abstractmethod
    def put(self, key: ApiKey) -> None: ...


class SecretsProvider(ABC):
    @abstractmethod
    def channel_secret(self, channel: str, name: str) -> str | None:
        """A channel's secret (e.g. shopify/secret), or None when not configured."""


class EventPublisher(ABC):
    @abstractmethod
    def publish(self, events: list[DomainEvent]) -> list[str]:
        """Publish; return the event ids that failed (to be retried)."""
