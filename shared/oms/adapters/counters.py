"""Order numbers from an atomic counter, taken in blocks so that most orders
cost no counter write at all. Numbers left in a block when a container dies
are skipped: order numbers are unique and increasing, not gapless."""

from __future__ import annotations

import threading

from oms.adapters.aws import client
from oms.ports import OrderNumberAllocator


class BlockAllocator(OrderNumberAllocator):
    def __init__(self, table: str, name: str = "order_number", block: int = 20) -> None:
        self.table = table
        self.name = name
        self.block = block
        self._free: list[int] = []
        self._lock = threading.Lock()

    def _refill(self) -> None:
        response = client("dynamodb").update_item(
            TableName=self.table,
            Key={"name": {"S": self.name}},
            UpdateExpression="ADD #v :n",
            ExpressionAttributeNames={"#v": "value"},
            ExpressionAttributeValues={":n": {"N": str(self.block)}},
            ReturnValues="UPDATED_NEW",
        )
        last = int(response["Attributes"]["value"]["N"])
        self._free = list(range(last, last - self.block, -1))  # popped from the end: ascending

    def take(self) -> int:
        with self._lock:
            if not self._free:
                self._refill()
            return self._free.pop()

    def give_back(self, number: int) -> None:
        with self._lock:
            self._free.append(number)
