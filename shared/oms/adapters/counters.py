"""Order numbers from an atomic counter, taken in blocks so that most orders
cost no counter write at all. Numbers left in a block when a container dies
are skipped: order numbers are unique and increasing, not gapless.

Order counts per WIB day (GET /orders/stats), kept from the orders stream."""

from __future__ import annotations

import random
import threading
import time
from datetime import date
from typing import Any

from botocore.exceptions import ClientError

from oms.adapters.aws import client, error_code
from oms.adapters.dynamo import batch_get
from oms.domain.order_stats import CountKey, deltas
from oms.errors import DependencyError
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


class DailyOrderCounts:
    """Order counts per WIB day in the orders table (oms.domain.order_stats): one item per day
    (pk STATS#<day>, sk STATS) with a number per status and channel (n#<status>#<channel>), and beside
    each order what it is counted as (pk ORDER#<id>, sk COUNTED: version, counted). A count moves in one
    transaction with its order's mark, on condition of the mark: what is counted, at an older version."""

    ATTEMPTS = 8  # a mark that keeps changing under us (a backfill racing the stream), or conflicts
    # Every order of a day moves the same day item: concurrent publishers (one per stream shard) collide
    # as TransactionConflict, which botocore does not retry. Full jitter spreads them (AWS's backoff advice).
    CONFLICT_BACKOFF_S = (0.02, 1.0)

    def __init__(self, table: str) -> None:
        self.table = table

    def count(self, order_id: str, version: int, now: CountKey, guess: CountKey | None) -> bool:
        """Count the order as `now` (its state at `version`), from `guess` (what the stream's old image says is
        counted; None: nothing yet). False when this version or a newer one is counted already (a replay)."""
        before = guess
        condition = "counted = :was AND version < :v" if guess else "attribute_not_exists(pk)"
        expected = {":was": {"S": guess.text()}} if guess else {}
        for attempt in range(self.ATTEMPTS):
            try:
                self._write(order_id, version, now, before, condition, expected)
                return True
            except ClientError as exc:
                reason = _reason(exc)
                if reason == "TransactionConflict":
                    base, cap = self.CONFLICT_BACKOFF_S
                    time.sleep(random.uniform(0, min(cap, base * 2**attempt)))
                    continue
                if reason != "ConditionalCheckFailed":
                    raise DependencyError(f"order count write failed: {error_code(exc)}") from exc
            mark = self.mark(order_id)  # the guess was wrong (a replay, or an order counted before the stream)
            if mark is not None and mark[0] >= version:
                return False
            if mark is None:
                before, condition, expected = None, "attribute_not_exists(pk)", {}
            else:
                before, condition = mark[1], "version = :mv AND counted = :was"
                expected = {":mv": {"N": str(mark[0])}, ":was": {"S": mark[1].text()}}
        raise DependencyError(f"order {order_id}: its count mark kept changing")

    def mark(self, order_id: str) -> tuple[int, CountKey] | None:
        """(version, what is counted) of the order, or None."""
        item = (
            client("dynamodb").get_item(TableName=self.table, Key=mark_key(order_id), ConsistentRead=True).get("Item")
        )
        return (int(item["version"]["N"]), CountKey.parse(item["counted"]["S"])) if item else None

    def _write(
        self,
        order_id: str,
        version: int,
        now: CountKey,
        before: CountKey | None,
        condition: str,
        expected: dict[str, Any],
    ) -> None:
        mark = {
            "TableName": self.table,
            "Key": mark_key(order_id),
            "UpdateExpression": "SET version = :v, counted = :now",
            "ConditionExpression": condition,
            "ExpressionAttributeValues": {":v": {"N": str(version)}, ":now": {"S": now.text()}, **expected},
        }
        changes = deltas(before, now)
        if not changes:  # counted as it is: only the mark moves on (so an older replay finds it newer)
            client("dynamodb").update_item(**mark)
            return
        actions: list[dict[str, Any]] = [{"Update": mark}]
        for day, counts in sorted(changes.items()):
            names = {f"#n{i}": count_name(status, channel) for i, (status, channel) in enumerate(counts)}
            adds = {f":n{i}": {"N": str(n)} for i, n in enumerate(counts.values())}
            actions.append(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": day_key(day),
                        "UpdateExpression": "ADD " + ", ".join(f"#n{i} :n{i}" for i in range(len(counts))),
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": adds,
                    }
                }
            )
        client("dynamodb").transact_write_items(TransactItems=actions)

    def read(self, days: list[date]) -> list[tuple[tuple[str, str], int]]:
        """((status, channel), count) of each day's item (a BatchGetItem per 100 days)."""
        out: list[tuple[tuple[str, str], int]] = []
        for item in batch_get(self.table, [day_key(day) for day in days]):
            for name, value in item.items():
                if name.startswith("n#"):
                    status, channel = name[2:].split("#", 1)
                    out.append(((status, channel), int(value["N"])))
        return out


def _reason(exc: ClientError) -> str | None:
    """Why a transaction (or the mark's update) was refused: ConditionalCheckFailed, TransactionConflict …"""
    if error_code(exc) == "ConditionalCheckFailedException":
        return "ConditionalCheckFailed"
    if error_code(exc) == "TransactionConflictException":
        return "TransactionConflict"
    if error_code(exc) != "TransactionCanceledException":
        return None
    codes = [reason.get("Code") for reason in exc.response.get("CancellationReasons") or []]
    for code in ("ConditionalCheckFailed", "TransactionConflict"):
        if code in codes:
            return code
    return codes[0] if codes else None


def count_name(status: str, channel: str) -> str:
    """The day item's attribute counting orders of this status and channel."""
    return f"n#{status}#{channel}"


def mark_key(order_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"ORDER#{order_id}"}, "sk": {"S": "COUNTED"}}


def day_key(day: date) -> dict[str, Any]:
    return {"pk": {"S": f"STATS#{day.isoformat()}"}, "sk": {"S": "STATS"}}
