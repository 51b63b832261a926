"""The returns service's other ports in memory: the stock it restocks, the capture that places an
exchange's replacement order, and the payment provider's refund API."""

from __future__ import annotations

from datetime import datetime

from oms.domain.capture import order_id_for
from oms.models.order import OrderDraft
from oms.ports.returns import GatewayAnswer, RefundGateway


class FakeRestock:
    """Records each restock; a movement id seen before is a duplicate and moves nothing. `down`: it raises."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int, str]] = []
        self.applied: dict[str, tuple[str, str, int]] = {}
        self.down = False

    def restock(self, sku: str, node_id: str, quantity: int, movement_id: str, now: datetime) -> str:
        if self.down:
            raise RuntimeError("inventory table throttled")
        self.calls.append((sku, node_id, quantity, movement_id))
        if movement_id in self.applied:
            return "duplicate"
        self.applied[movement_id] = (sku, node_id, quantity)
        return "applied"

    def on_hand(self, sku: str, node_id: str) -> int:
        return sum(q for s, n, q in self.applied.values() if (s, n) == (sku, node_id))


class FakeCapture:
    """Capture: the order id follows from the channel and its order id, as in oms.domain.capture."""

    def __init__(self) -> None:
        self.drafts: list[OrderDraft] = []
        self.down = False

    def __call__(self, draft: OrderDraft) -> str:
        if self.down:
            raise RuntimeError("orders table throttled")
        self.drafts.append(draft)
        return order_id_for(draft.channel, draft.channel_order_id)


class FakeRefundGateway(RefundGateway):
    """The payment provider's refund API: the same answer to every call, each call's arguments kept."""

    def __init__(self, answer: GatewayAnswer) -> None:
        self.answer = answer
        self.calls: list[dict] = []

    def refund(self, **call: object) -> GatewayAnswer:
        self.calls.append(call)
        return self.answer
