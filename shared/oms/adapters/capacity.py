"""Daily node capacity, counted in the sourcing table: one item per node and
local day (pk CAP#<node>#<day>), one attribute per kind of work. It is taken
inside the reservation's transaction, so a retried allocation never counts
twice and a full node is never overbooked."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from oms.adapters.dynamo import batch_get, from_item
from oms.ports.stock import CapacityCounter, CapacityTake

KEEP_DAYS = 14


def capacity_key(node_id: str, day: date) -> dict[str, Any]:
    return {"pk": {"S": f"CAP#{node_id}#{day.isoformat()}"}, "sk": {"S": "CAPACITY"}}


def take_item(table: str, take: CapacityTake) -> dict[str, Any]:
    """A transaction item: one more of the day's orders, if the limit allows."""
    return {
        "Update": {
            "TableName": table,
            "Key": capacity_key(take.node_id, take.day),
            "UpdateExpression": "ADD #k :one SET purge_at = if_not_exists(purge_at, :purge)",
            "ConditionExpression": "attribute_not_exists(#k) OR #k < :limit",
            "ExpressionAttributeNames": {"#k": take.kind},
            "ExpressionAttributeValues": {
                ":one": {"N": "1"},
                ":limit": {"N": str(take.limit)},
                ":purge": {"N": str(_epoch(take.day + timedelta(days=KEEP_DAYS)))},
            },
        }
    }


def _epoch(day: date) -> int:
    return (day - date(1970, 1, 1)).days * 86_400


class DynamoCapacity(CapacityCounter):
    def __init__(self, table: str) -> None:
        self.table = table

    def used(self, days: dict[str, date]) -> dict[tuple[str, str], int]:
        """(node, kind) -> orders taken on the node's given local day."""
        keys = [capacity_key(node_id, day) for node_id, day in sorted(days.items())]
        out: dict[tuple[str, str], int] = {}
        for item in batch_get(self.table, keys, consistent=True):
            values = from_item(item)
            node_id = values["pk"].split("#")[1]
            for kind in ("ship", "pickup", "same_day"):
                if kind in values:
                    out[(node_id, kind)] = int(values[kind])
        return out
