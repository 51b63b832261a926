"""Failed attempts per key and hour, in the counters table (name attempt#<key>#<hour>, expiring
after two hours): what the tracking API counts wrong contacts with."""

from __future__ import annotations

from datetime import datetime, timedelta

from oms.adapters.aws import client


class DynamoAttempts:
    def __init__(self, table: str) -> None:
        self.table = table

    def failures(self, key: str, now: datetime) -> int:
        item = (
            client("dynamodb")
            .get_item(TableName=self.table, Key={"name": {"S": _name(key, now)}}, ConsistentRead=True)
            .get("Item")
        )
        return int(item["value"]["N"]) if item and "value" in item else 0

    def count_failure(self, key: str, now: datetime) -> int:
        answer = client("dynamodb").update_item(
            TableName=self.table,
            Key={"name": {"S": _name(key, now)}},
            UpdateExpression="ADD #v :one SET purge_at = if_not_exists(purge_at, :purge)",
            ExpressionAttributeNames={"#v": "value"},
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":purge": {"N": str(int((now + timedelta(hours=2)).timestamp()))},
            },
            ReturnValues="UPDATED_NEW",
        )
        return int(answer["Attributes"]["value"]["N"])


def _name(key: str, now: datetime) -> str:
    return f"attempt#{key}#{now.strftime('%Y%m%d%H')}"
