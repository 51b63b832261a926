"""Where each channel's reconciliation pull stopped (counters table, name CURSOR#<name>)."""

from __future__ import annotations

from oms.adapters.aws import client
from oms.ports.cursors import Cursors


class DynamoSyncCursors(Cursors):
    def __init__(self, table: str) -> None:
        self.table = table

    def get(self, name: str) -> str | None:
        item = (
            client("dynamodb")
            .get_item(TableName=self.table, Key={"name": {"S": f"CURSOR#{name}"}}, ConsistentRead=True)
            .get("Item")
        )
        return item["cursor"]["S"] if item and "cursor" in item else None

    def put(self, name: str, cursor: str | None) -> None:
        item = {"name": {"S": f"CURSOR#{name}"}}
        if cursor:
            item["cursor"] = {"S": cursor}
        client("dynamodb").put_item(TableName=self.table, Item=item)
