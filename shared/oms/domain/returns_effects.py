"""What a return sets off outside its order: a resellable unit's restock and an exchange's replacement order.

Each is recorded on the order first, with a fixed key (movement RET-<rma>-<line>-<n>; channel order id =
the RMA id), and done after the write: the API does it at once (`after_write`), and the returns worker
does it again from the events (ReturnUnitsInspected, ExchangeRequested), so a crash in between loses
nothing and a repeat changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from oms.domain.returns_exchanges import exchange_draft
from oms.errors import OmsError
from oms.models.order import Order, OrderDraft
from oms.models.returns import Disposition, Rma
from oms.ports import OrderRepository

_log = logging.getLogger("oms")  # Powertools' logger (service "oms") when the handler set it up


class Inventory(Protocol):
    def restock(self, sku: str, node_id: str, quantity: int, movement_id: str, now: datetime) -> str: ...


class ReturnEffects:
    def __init__(
        self,
        orders: OrderRepository,
        inventory: Inventory,
        capture: Callable[[OrderDraft], str] | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.orders = orders
        self.inventory = inventory
        self.capture = capture
        self.clock = clock

    def restock_inspected(self, rma: Rma, only: set[str] | None = None) -> int:
        """Apply the restocks an RMA recorded (each movement once, whoever asks; `only` these movements): the
        units restocked now. Each movement on its own: one the inventory refuses for good (the node or the SKU
        gone, its id taken) is logged for a person and the others go on; a passing failure (throttling, an
        outage) is raised after the rest were tried, so the event is retried."""
        applied = 0
        passing: Exception | None = None
        for line in rma.lines:
            for entry in line.inspections:
                if entry.disposition is not Disposition.restocked or entry.movement_id is None:
                    continue
                if only is not None and entry.movement_id not in only:
                    continue
                assert rma.destination.node_id is not None
                try:
                    outcome = self.inventory.restock(
                        line.sku, rma.destination.node_id, entry.quantity, entry.movement_id, self.clock()
                    )
                except OmsError as exc:
                    if exc.status_code >= 500:
                        passing = exc
                        continue
                    _log.error("restock refused: a person must place these units", extra={
                        "rma_id": rma.rma_id, "movement_id": entry.movement_id, "error": exc.code})  # fmt: skip
                    continue
                applied += entry.quantity if outcome == "applied" else 0
        if passing is not None:
            raise passing
        return applied

    def create_exchange(self, order: Order, rma: Rma) -> str | None:
        """The replacement order, through normal capture (and so sourcing); its id is fixed by the RMA."""
        if self.capture is None or not rma.exchange_lines or rma.exchange_order_id is None:
            return None
        if self.orders.get(rma.exchange_order_id) is not None:
            return rma.exchange_order_id  # captured before: a repeat must not make it look like a channel update
        return self.capture(exchange_draft(order, rma))

    def after_write(self, before: Order, after: Order, rma_ids: list[str]) -> None:
        """Restocks and replacement orders the write recorded, done now (the worker does them again from the
        events if this is cut short)."""
        was = {rma.rma_id: rma for rma in before.returns}
        for rma in after.returns:
            if rma.rma_id not in rma_ids:
                continue
            old = was.get(rma.rma_id)
            new = _movements(rma) - _movements(old)
            if new:
                try:
                    self.restock_inspected(rma, only=new)
                except Exception:  # recorded on the order: the worker finishes it from ReturnUnitsInspected
                    _log.warning("restock left to the returns worker", extra={"rma_id": rma.rma_id}, exc_info=True)
            if rma.exchange_order_id and (old is None or old.exchange_order_id is None):
                try:
                    self.create_exchange(after, rma)
                except Exception:  # recorded on the order: the worker finishes it from ExchangeRequested
                    _log.warning("exchange left to the returns worker", extra={"rma_id": rma.rma_id}, exc_info=True)


def _movements(rma: Rma | None) -> set[str]:
    if rma is None:
        return set()
    return {e.movement_id for line in rma.lines for e in line.inspections if e.movement_id}
