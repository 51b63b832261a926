"""The listing map in the listings table.

  pk SHOP#<channel>#<shop>   sk SKU#<seller SKU>#<listing key>   one listing (the row as JSON in `doc`)
  pk SHOP#<channel>#<shop>   sk CURSOR                           where the shop's refresh stands

A shop is one partition: a refresh diffs against all of it (one Query), the stock push reads it whole
through a short cache, and a SKU's listings are a prefix of it. Exceptions are a sparse attribute on the
rows themselves (`exception` = unmapped | duplicate, `gsk` = <channel>#<shop>#<seller SKU>#<listing key>)
indexed by the sparse GSI `by_exception`: only exception rows enter it, the list across every shop is one
Query, and the attribute is written in the same put as the row, so list and map never disagree.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from oms.adapters.aws import client
from oms.errors import BadRequest, DependencyError
from oms.models.common import Channel
from oms.models.listings import ExceptionKind, Listing
from oms.ports.cursors import Cursors

BATCH_WRITE = 25
CURSOR_SK = "CURSOR"


def _pk(channel: Channel | str, shop_id: str) -> str:
    return f"SHOP#{Channel(channel).value}#{shop_id}"


def _sk(row: Listing) -> str:
    return f"SKU#{row.seller_sku}#{row.listing_key}"


def _item(row: Listing) -> dict[str, Any]:
    item = {
        "pk": {"S": _pk(row.channel, row.shop_id)},
        "sk": {"S": _sk(row)},
        "seller_sku": {"S": row.seller_sku},
        "doc": {"S": row.model_dump_json(exclude={"primary"})},
    }
    if row.exception is not None:
        item["exception"] = {"S": row.exception.value}
        item["gsk"] = {"S": f"{row.channel.value}#{row.shop_id}#{row.seller_sku}#{row.listing_key}"}
    return item


def _row(item: dict[str, Any]) -> Listing:
    return Listing.model_validate_json(item["doc"]["S"])


class DynamoListings:
    def __init__(self, table: str, max_age: float = 300.0) -> None:
        self.table = table
        self.max_age = max_age  # the push's view: a refresh lands in it within this many seconds
        self._cached: dict[tuple[Channel, str], tuple[float, list[Listing] | None]] = {}

    def _partition(self, channel: Channel, shop_id: str, consistent: bool) -> list[dict[str, Any]]:
        pages = client("dynamodb").get_paginator("query").paginate(
            TableName=self.table, KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": _pk(channel, shop_id)}}, ConsistentRead=consistent,
        )  # fmt: skip
        return [item for page in pages for item in page["Items"]]

    def rows(self, channel: Channel, shop_id: str) -> list[Listing]:
        return [_row(item) for item in self._partition(channel, shop_id, True) if item["sk"]["S"] != CURSOR_SK]

    def cached_rows(self, channel: Channel, shop_id: str) -> list[Listing] | None:
        now = time.monotonic()
        key = (channel, shop_id)
        hit = self._cached.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        items = self._partition(channel, shop_id, False)
        cursor = next((item for item in items if item["sk"]["S"] == CURSOR_SK), None)
        mapped = cursor is not None and bool(json.loads(cursor.get("cursor", {}).get("S") or "{}").get("through"))
        rows = [_row(item) for item in items if item["sk"]["S"] != CURSOR_SK] if mapped else None
        self._cached[key] = (now + self.max_age, rows)
        return rows

    def write(self, puts: list[Listing], deletes: list[Listing]) -> None:
        requests = [{"DeleteRequest": {"Key": {"pk": {"S": _pk(r.channel, r.shop_id)}, "sk": {"S": _sk(r)}}}}
                    for r in deletes]  # fmt: skip
        requests += [{"PutRequest": {"Item": _item(row)}} for row in puts]
        for start in range(0, len(requests), BATCH_WRITE):
            pending: dict[str, Any] = {self.table: requests[start : start + BATCH_WRITE]}
            for attempt in range(8):
                pending = client("dynamodb").batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(min(2.0, 0.05 * 2**attempt))  # throttled: back off before the rest
            if pending:
                raise DependencyError("listings table: writes still unprocessed after retries")
        self._cached.clear()

    def page(
        self, channel: Channel, shop_id: str, sku: str | None, limit: int, cursor: str | None
    ) -> tuple[list[Listing], str | None]:
        prefix = f"SKU#{sku}#" if sku else "SKU#"
        query: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": _pk(channel, shop_id)}, ":prefix": {"S": prefix}},
            "Limit": limit,
        }
        if sku:  # a seller SKU holding '#' may share the prefix
            query["FilterExpression"] = "seller_sku = :sku"
            query["ExpressionAttributeValues"][":sku"] = {"S": sku}
        if cursor:
            query["ExclusiveStartKey"] = {"pk": {"S": _pk(channel, shop_id)}, "sk": {"S": _decode(cursor)}}
        answer = client("dynamodb").query(**query)
        last = answer.get("LastEvaluatedKey")
        return [_row(item) for item in answer["Items"]], (_encode(last["sk"]["S"]) if last else None)

    def exceptions(self, kind: ExceptionKind, channel: Channel | None, shop_id: str | None) -> list[Listing]:
        condition = "exception = :kind"
        values: dict[str, Any] = {":kind": {"S": kind.value}}
        if channel is not None:
            condition += " AND begins_with(gsk, :prefix)"
            values[":prefix"] = {"S": f"{channel.value}#" + (f"{shop_id}#" if shop_id else "")}
        pages = client("dynamodb").get_paginator("query").paginate(
            TableName=self.table, IndexName="by_exception", KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
        )  # fmt: skip
        return [_row(item) for page in pages for item in page["Items"]]


class DynamoListingCursors(Cursors):
    """Each shop's refresh cursor, in its own partition (name: <channel>#<shop>)."""

    def __init__(self, table: str) -> None:
        self.table = table

    def _key(self, name: str) -> dict[str, Any]:
        channel, shop_id = name.split("#", 1)
        return {"pk": {"S": _pk(channel, shop_id)}, "sk": {"S": CURSOR_SK}}

    def get(self, name: str) -> str | None:
        item = client("dynamodb").get_item(TableName=self.table, Key=self._key(name), ConsistentRead=True).get("Item")
        return item["cursor"]["S"] if item and "cursor" in item else None

    def put(self, name: str, cursor: str | None) -> None:
        if cursor is None:
            client("dynamodb").delete_item(TableName=self.table, Key=self._key(name))
            return
        client("dynamodb").put_item(TableName=self.table, Item={**self._key(name), "cursor": {"S": cursor}})


def _encode(sk: str) -> str:
    return base64.urlsafe_b64encode(sk.encode()).decode()


def _decode(cursor: str) -> str:
    try:
        sk = base64.urlsafe_b64decode(cursor.encode()).decode()
    except ValueError:
        raise BadRequest("cursor is not one this API issued") from None
    if not sk.startswith("SKU#"):
        raise BadRequest("cursor is not one this API issued")
    return sk


class SqsRefreshQueue:
    """The refresh worker's FIFO queue: one message group per shop, so a shop's refreshes run one after
    another (a scheduled one and one asked for by ops never interleave), and a repeat of the same ask within
    the de-duplication window is dropped."""

    def __init__(self, queue_url: str) -> None:
        self.queue_url = queue_url

    def send(self, channel: Channel, shop_id: str | None, *, full: bool = False, dedup: str) -> None:
        body = json.dumps({"channel": channel.value, "shop_id": shop_id, "full": full}, separators=(",", ":"))
        client("sqs").send_message(QueueUrl=self.queue_url, MessageBody=body,
                                   MessageGroupId=f"{channel.value}#{shop_id or '-'}",
                                   MessageDeduplicationId=dedup[:128])  # fmt: skip
