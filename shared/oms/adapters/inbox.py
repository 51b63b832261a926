"""The inbox table: raw webhooks, compressed, one item per delivery key."""

from __future__ import annotations

import uuid
import zlib
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from oms.adapters.aws import client, error_code
from oms.adapters.dynamo import as_bytes, from_item, to_item
from oms.errors import DependencyError
from oms.models.inbox import InboxEntry
from oms.ports import InboxRepository


def entry_to_item(entry: InboxEntry, retention: timedelta) -> dict[str, Any]:
    return to_item(
        {
            "pk": entry.pk,
            "channel": entry.channel.value,
            "dedupe_key": entry.dedupe_key,
            "topic": entry.topic,
            "received_at": entry.received_at.isoformat(),
            "content_type": entry.content_type,
            "headers": entry.headers or None,
            # JSON compresses 3-5x; item size is what write units are billed on.
            "body": zlib.compress(entry.body, 6),
            "body_encoding": "zlib",
            "expires_at": int((entry.received_at + retention).timestamp()),
        }
    )


def entry_from_values(values: dict[str, Any]) -> InboxEntry:
    """From a deserialized item or stream image."""
    body = as_bytes(values["body"])
    if values.get("body_encoding") == "zlib":
        body = zlib.decompress(body)
    return InboxEntry(
        channel=values["channel"],
        dedupe_key=values["dedupe_key"],
        topic=values.get("topic"),
        received_at=datetime.fromisoformat(values["received_at"]),
        content_type=values.get("content_type"),
        headers=values.get("headers") or {},
        body=body,
    )


class DynamoInbox(InboxRepository):
    def __init__(self, table: str, retention: timedelta = timedelta(days=90)) -> None:
        self.table = table
        self.retention = retention

    def put_new(self, entry: InboxEntry) -> bool:
        try:
            client("dynamodb").put_item(
                TableName=self.table,
                Item=entry_to_item(entry, self.retention),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise DependencyError(f"inbox write failed: {error_code(exc)}") from exc
        return True

    def quarantine(self, pk: str, reason: str, at: datetime) -> None:
        channel = pk.split("#", 1)[0]
        client("dynamodb").update_item(
            TableName=self.table,
            Key={"pk": {"S": pk}},
            UpdateExpression="SET quarantine_pk = :q, quarantined_at = :at, quarantine_reason = :r",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":q": {"S": channel}, ":at": {"S": at.isoformat()}, ":r": {"S": reason[:1000]}},
        )

    def put_quarantined(self, entry: InboxEntry, reason: str, at: datetime) -> None:
        """One write: the stream's normalizer skips an insert that is quarantined already."""
        item = entry_to_item(entry, self.retention)
        item.update(
            {
                "quarantine_pk": {"S": entry.channel.value},
                "quarantined_at": {"S": at.isoformat()},
                "quarantine_reason": {"S": reason[:1000]},
            }
        )
        client("dynamodb").put_item(TableName=self.table, Item=item)

    # Operations (the replay command), not the hot path.
    def quarantined(self, channel: str) -> list[dict[str, Any]]:
        paginator = client("dynamodb").get_paginator("query")
        items: list[dict[str, Any]] = []
        for page in paginator.paginate(
            TableName=self.table,
            IndexName="quarantine",
            KeyConditionExpression="quarantine_pk = :q",
            ExpressionAttributeValues={":q": {"S": channel}},
        ):
            items.extend(from_item(item) for item in page["Items"])
        return items

    def request_replay(self, pk: str) -> None:
        """Lift the quarantine and change the replay token: the stream hands the entry to the normalizer again."""
        client("dynamodb").update_item(
            TableName=self.table,
            Key={"pk": {"S": pk}},
            UpdateExpression="SET replay_token = :t REMOVE quarantine_pk, quarantined_at",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":t": {"S": uuid.uuid4().hex}},
        )

    def keys_received_between(self, start: str, end: str) -> list[str]:
        """Inbox keys received in [start, end] (ISO times); a scan, for DLQ replays only."""
        paginator = client("dynamodb").get_paginator("scan")
        keys: list[str] = []
        for page in paginator.paginate(
            TableName=self.table,
            ProjectionExpression="pk",
            FilterExpression="received_at BETWEEN :a AND :b",
            ExpressionAttributeValues={":a": {"S": start}, ":b": {"S": end}},
        ):
            keys.extend(item["pk"]["S"] for item in page["Items"])
        return keys
