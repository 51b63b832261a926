"""Where the backorder sweep stopped, per status (sourcing table, pk SWEEP): each run goes on from
there, so old backorders that never get stock cannot starve newer ones."""

from __future__ import annotations

from oms.adapters.aws import client
from oms.ports.cursors import Cursors


class DynamoSweepCursors(Cursors):
    def __init__(self, table: str) -> None:
        self.table = table

    def get(self, name: str) -> str | None:
        item = (
            client("dynamodb")
            .get_item(TableName=self.table, Key={"pk": {"S": "SWEEP"}, "sk": {"S": name}}, ConsistentRead=True)
            .get("Item")
        )
        return item["cursor"]["S"] if item and "cursor" in item else None

    def put(self, name: str, cursor: str | None) -> None:
        item = {"pk": {"S": "SWEEP"}, "sk": {"S": name}}
        if cursor:
            item["cursor"] = {"S": cursor}
        client("dynamodb").put_item(TableName=self.table, Item=item)
