"""What the returns domain needs besides orders and stock: the RMA list rows and
return-rate counts, and the payment provider's refunds."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from oms.errors import DependencyError
from oms.models.returns import ReturnStats, RmaPage, RmaSummary


class RefundPending(DependencyError):
    """The provider accepted the refund and has not settled it: asked again later (same key)."""


@dataclass(frozen=True)
class GatewayAnswer:
    completed: bool
    reference: str | None
    failure: str | None = None


class RefundGateway(ABC):
    @abstractmethod
    def refund(
        self, *, rma_id: str, attempt: int, amount: Decimal, currency: str, payment_reference: str, order_id: str,
        order_number: str, channel_order_id: str,
    ) -> GatewayAnswer:  # fmt: skip
        """Pay back once per (rma_id, attempt): a repeated call asks about the same refund. RefundPending
        while the provider settles it."""


class ReturnsStore(ABC):
    @abstractmethod
    def put_summary(self, summary: RmaSummary, order_version: int) -> bool:
        """Write the list row unless a newer order version wrote it; False when this one was older."""

    @abstractmethod
    def count(self, marker: str, day: date, counts: dict[str, dict[str, int]]) -> bool:
        """Add counts per SKU (attribute -> units) for a WIB day, once per marker; False when counted before."""

    @abstractmethod
    def list(
        self, *, status: str | None, node_id: str | None, reason: str | None, channel: str | None, start: datetime,
        end: datetime, limit: int, cursor: str | None,
    ) -> RmaPage: ...  # fmt: skip

    @abstractmethod
    def stats(self, start: date, end: date) -> ReturnStats: ...
