"""The orders table: one item per order, its document compressed, plus the
few attributes the list indexes project (so a list never reads documents)."""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from oms.adapters.aws import client, error_code
from oms.adapters.counters import DailyOrderCounts
from oms.adapters.dynamo import as_bytes, from_item, to_item
from oms.domain.lifecycle import AT_NODE
from oms.domain.order_stats import CountKey, StatsRange, count_key, counts_change
from oms.errors import BadRequest, DependencyError, StaleWrite
from oms.models.order import AT_RISK, FlagCode, FulfillmentStatus, Order
from oms.models.timeline import TimelineEntry
from oms.ports import OrderPage, OrderQuery, OrderRepository

SUMMARY_FIELDS = (
    "order_id",
    "order_number",
    "channel",
    "channel_order_id",
    "status",
    "placed_at",
    "created_at",
    "currency",
    "grand_total",
    "hold_codes",
)
# Without a range, lists look back this far (each day is one index partition);
# a longer range than MAX_RANGE must name a status (one partition).
DEFAULT_LOOKBACK = timedelta(days=30)
MAX_RANGE = timedelta(days=92)


def sort_time(moment: datetime) -> str:
    """UTC, fixed width: sorts as text in time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def summary_values(order: Order) -> dict[str, Any]:
    """The attributes list queries read (SUMMARY_FIELDS), from the order."""
    return {
        "order_id": order.order_id,
        "order_number": order.order_number,
        "channel": order.channel.value,
        "channel_order_id": order.channel_order_id,
        "status": order.status.value,
        "placed_at": order.placed_at.isoformat(),
        "created_at": order.created_at.isoformat(),
        "currency": order.currency,
        "grand_total": order.totals.grand_total,
        "hold_codes": order.hold_codes,
    }


def order_to_item(order: Order) -> dict[str, Any]:
    created = sort_time(order.created_at)
    doc = json.dumps(order.model_dump(mode="json"), separators=(",", ":")).encode()
    return to_item(
        {
            "pk": f"ORDER#{order.order_id}",
            "sk": "ORDER",
            **summary_values(order),
            "version": order.version,
            "status_pk": f"STATUS#{order.status.value}",
            **_attention(order),
            "created_pk": f"DAY#{created[:10]}",
            "created_sk": f"{created}#{order.order_id}",
            "doc": zlib.compress(doc, 6),
        }
    )


def _attention(order: Order) -> dict[str, str]:
    """The sparse by_attention index key: late first, then at risk (see oms.domain.watchers)."""
    codes = {flag.code for flag in order.flags}
    if FlagCode.late in codes:
        return {"attention_pk": "ATTENTION#late"}
    if codes & AT_RISK:
        return {"attention_pk": "ATTENTION#at_risk"}
    return {}


TOMBSTONE_DAYS = 30  # an ended node-work item stays this long as a tombstone, so an older replayed put loses


def lookup_items(old: Order | None, new: Order) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(puts, tombstones) of the lookup items a change means: the order number (NUMBER#<number>) and the
    node work lists (pk NODEQ#<node>, sk created_sk): one per node that has a parcel to work on (at the
    node, or waiting there for pickup). Each carries the order's version: put_lookups writes a newer one
    only, so a replayed old batch (or a backfill racing the stream) never brings back what ended."""
    created = sort_time(new.created_at)
    key_sk = f"{created}#{new.order_id}"
    before, after = _work_nodes(old) if old else set(), _work_nodes(new)
    summary = {**summary_values(new), "version": new.version}
    puts = [to_item({"pk": f"NODEQ#{node}", "sk": key_sk, **summary}) for node in sorted(after)]
    if old is None:
        puts.append(to_item({"pk": f"NUMBER#{new.order_number}", "sk": "NUMBER", "order_id": new.order_id,
                             "version": new.version}))  # fmt: skip
    purge = int((new.updated_at + timedelta(days=TOMBSTONE_DAYS)).timestamp())
    tombstones = [
        to_item({"pk": f"NODEQ#{node}", "sk": key_sk, "version": new.version, "gone": True, "purge_at": purge})
        for node in sorted(before - after)
    ]
    return puts, tombstones


def _work_nodes(order: Order) -> set[str]:
    return {
        f.node_id for f in order.fulfillments if f.status in AT_NODE or f.status is FulfillmentStatus.ready_for_pickup
    }


def count_item(old: Order | None, new: Order) -> dict[str, Any] | None:
    """The count write a change means (publisher -> put_lookups as ("count", item)): the order counted as
    it is now, from what its old image was counted as; None when the counts do not move."""
    if not counts_change(old, new):
        return None
    was = count_key(old).text() if old else None
    return to_item(
        {"pk": f"ORDER#{new.order_id}", "sk": "COUNTED", "version": new.version, "counted": count_key(new).text(),
         "was": was}
    )  # fmt: skip


def _was(item: dict[str, Any]) -> CountKey | None:
    return CountKey.parse(item["was"]["S"]) if "was" in item else None


def _filters(query: OrderQuery, bounds: dict[str, Any]) -> dict[str, Any]:
    """What the key cannot say: the channel, and the status on node and attention lists."""
    conditions, names = [], {}
    if query.node_id is not None:
        conditions.append("attribute_not_exists(gone)")  # ended: a tombstone
    if query.channel:
        conditions.append("channel = :c")
        bounds[":c"] = {"S": query.channel}
    if query.status is not None and (query.node_id is not None or query.attention is not None):
        conditions.append("#st = :st")
        names["#st"] = "status"
        bounds[":st"] = {"S": query.status.value}
    if not conditions:
        return {}
    args: dict[str, Any] = {"FilterExpression": " AND ".join(conditions)}
    if names:
        args["ExpressionAttributeNames"] = names
    return args


def _partitions(query: OrderQuery, start: datetime, end: datetime) -> tuple[list[str], str | None, str, str]:
    """(partitions in order, index or None for the table, partition key name, sort key name)."""
    if query.node_id is not None:
        return [f"NODEQ#{query.node_id}"], None, "pk", "sk"
    if query.attention is not None:
        return [f"ATTENTION#{query.attention}"], "by_attention", "attention_pk", "created_sk"
    if query.status is not None:
        return [f"STATUS#{query.status.value}"], "by_status", "status_pk", "created_sk"
    days = (end.astimezone(UTC).date() - start.astimezone(UTC).date()).days
    newest = end.astimezone(UTC).date()
    partitions = [f"DAY#{newest - timedelta(days=offset)}" for offset in range(days + 1)]
    if query.oldest_first:
        partitions.reverse()
    return partitions, "by_created_day", "created_pk", "created_sk"


def order_from_values(values: dict[str, Any]) -> Order:
    """From a deserialized item or stream image."""
    return Order.model_validate_json(zlib.decompress(as_bytes(values["doc"])))


def _summary(values: dict[str, Any]) -> dict[str, Any]:
    summary = {name: values.get(name) for name in SUMMARY_FIELDS}
    if summary["grand_total"] is not None:
        summary["grand_total"] = str(summary["grand_total"])
    return summary


def _encode_cursor(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()


def _decode_cursor(cursor: str) -> dict[str, Any]:
    invalid = BadRequest("cursor is not one this API issued")
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError:
        raise invalid from None
    if not isinstance(state, dict) or not isinstance(state.get("partition", ""), str):
        raise invalid
    key = state.get("key")
    # A start key is the index's string attributes, as DynamoDB handed them out.
    if key is not None and not (
        isinstance(key, dict)
        and key
        and all(isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in key.values())
    ):
        raise invalid
    return state


class DynamoOrders(OrderRepository):
    def __init__(self, table: str) -> None:
        self.table = table

    def get(self, order_id: str, consistent: bool = False) -> Order | None:
        response = client("dynamodb").get_item(
            TableName=self.table,
            Key={"pk": {"S": f"ORDER#{order_id}"}, "sk": {"S": "ORDER"}},
            ConsistentRead=consistent,
        )
        item = response.get("Item")
        return order_from_values(from_item(item)) if item else None

    def put_trace(self, order_id: str, round_: int, at: datetime, outcome: str, trace: dict[str, Any]) -> None:
        """A sourcing decision, kept beside the order (pk ORDER#<id>, sk SOURCING#<round>), written
        before the order itself, once: a retried round keeps the first trace of that round."""
        body = json.dumps(trace, separators=(",", ":"), default=str).encode()
        try:
            self._put_trace(order_id, round_, at, outcome, body)
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            # The first run to reach a round keeps its trace (its reservations are the ones adopted).

    def _put_trace(self, order_id: str, round_: int, at: datetime, outcome: str, body: bytes) -> None:
        client("dynamodb").put_item(
            TableName=self.table,
            ConditionExpression="attribute_not_exists(pk)",
            Item=to_item(
                {
                    "pk": f"ORDER#{order_id}",
                    "sk": f"SOURCING#{round_:04d}",
                    "round": round_,
                    "at": at.isoformat(),
                    "outcome": outcome,
                    "trace": zlib.compress(body, 6),
                }
            ),
        )

    def traces(self, order_id: str) -> list[dict[str, Any]]:
        """Every sourcing decision of the order, oldest first."""
        paginator = client("dynamodb").get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
            ExpressionAttributeValues={":p": {"S": f"ORDER#{order_id}"}, ":s": {"S": "SOURCING#"}},
        )
        out = []
        for item in (item for page in pages for item in page["Items"]):
            values = from_item(item)
            out.append(
                {
                    "round": int(values["round"]),
                    "at": values["at"],
                    "outcome": values["outcome"],
                    "plan": json.loads(zlib.decompress(as_bytes(values["trace"]))),
                }
            )
        return out

    def by_number(self, order_number: str) -> Order | None:
        """The order with this OMS order number (item NUMBER#<number>, written from the stream)."""
        item = (
            client("dynamodb")
            .get_item(TableName=self.table, Key={"pk": {"S": f"NUMBER#{order_number}"}, "sk": {"S": "NUMBER"}})
            .get("Item")
        )
        return self.get(item["order_id"]["S"]) if item else None

    def order_id_for_number(self, order_number: str) -> str | None:
        item = (
            client("dynamodb")
            .get_item(TableName=self.table, Key={"pk": {"S": f"NUMBER#{order_number}"}, "sk": {"S": "NUMBER"}})
            .get("Item")
        )
        return item["order_id"]["S"] if item else None

    def claim_tracking(self, tracking_number: str, carrier: str, fulfillment_id: str) -> str:
        """Tie a tracking number to its parcel (pk TRACKING#<number>), once: the parcel that holds it."""
        key = {"pk": {"S": f"TRACKING#{tracking_number}"}, "sk": {"S": "TRACKING"}}
        try:
            client("dynamodb").put_item(
                TableName=self.table,
                Item={**key, "fulfillment_id": {"S": fulfillment_id}, "carrier": {"S": carrier}},
                ConditionExpression="attribute_not_exists(pk) OR fulfillment_id = :f",
                ExpressionAttributeValues={":f": {"S": fulfillment_id}},
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise DependencyError(f"tracking write failed: {error_code(exc)}") from exc
            owner = self.tracking_owner(tracking_number)
            return owner[0] if owner else ""
        return fulfillment_id

    def tracking_owner(self, tracking_number: str) -> tuple[str, str] | None:
        """(fulfillment id, carrier) of the parcel shipped with the tracking number."""
        item = (
            client("dynamodb")
            .get_item(
                TableName=self.table,
                Key={"pk": {"S": f"TRACKING#{tracking_number}"}, "sk": {"S": "TRACKING"}},
                ConsistentRead=True,
            )
            .get("Item")
        )
        return (item["fulfillment_id"]["S"], item["carrier"]["S"]) if item else None

    def put_timeline(self, entries: list[TimelineEntry]) -> None:
        """Timeline entries beside their order (sk TL#<version>#<n>): the same entry always has the same key
        and content, so a retried batch writes nothing new."""
        requests = [
            {"PutRequest": {"Item": to_item({"pk": f"ORDER#{e.order_id}", "sk": e.key, **e.model_dump(mode="json")})}}
            for e in entries
        ]
        self._batch_write(requests)

    def scan_orders(self) -> Iterator[Order]:
        """Every order (a migration's walk: reads every document)."""
        paginator = client("dynamodb").get_paginator("scan")
        for page in paginator.paginate(
            TableName=self.table,
            FilterExpression="sk = :o",
            ExpressionAttributeValues={":o": {"S": "ORDER"}},
        ):
            for item in page["Items"]:
                yield order_from_values(from_item(item))

    def put_lookups(self, changes: list[tuple[str, dict[str, Any]]]) -> None:
        """Lookup items (puts and tombstones) in stream order; per key the last one is written, and only
        over an older version (a repeat or a late replay changes nothing). Then the counts ("count": see
        count_item), per order from the first change's old state to the last change's new one."""
        last: dict[tuple[str, str], dict[str, Any]] = {}
        for _, item in (change for change in changes if change[0] != "count"):
            last[(item["pk"]["S"], item["sk"]["S"])] = item
        for item in last.values():
            try:
                client("dynamodb").put_item(
                    TableName=self.table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(pk) OR version < :v",
                    ExpressionAttributeValues={":v": item["version"]},
                )
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise DependencyError(f"lookup write failed: {error_code(exc)}") from exc
        counts: dict[str, tuple[CountKey | None, dict[str, Any]]] = {}
        for _, item in (change for change in changes if change[0] == "count"):
            was = counts[item["pk"]["S"]][0] if item["pk"]["S"] in counts else _was(item)
            counts[item["pk"]["S"]] = (was, item)
        daily = DailyOrderCounts(self.table)
        for was, item in counts.values():
            order_id = item["pk"]["S"].removeprefix("ORDER#")
            daily.count(order_id, int(item["version"]["N"]), CountKey.parse(item["counted"]["S"]), was)

    def stats(self, window: StatsRange) -> list[tuple[tuple[str, str], int]]:
        """((status, channel), count) per day of the window, from the daily counts (a BatchGetItem)."""
        return DailyOrderCounts(self.table).read(window.days)

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        for start in range(0, len(requests), 25):
            pending = {self.table: requests[start : start + 25]}
            for _ in range(8):
                answer = client("dynamodb").batch_write_item(RequestItems=pending)
                pending = answer.get("UnprocessedItems") or {}
                if not pending:
                    break
            else:
                raise DependencyError("a batch write kept being throttled")

    def timeline(self, order_id: str) -> list[TimelineEntry]:
        paginator = client("dynamodb").get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
            ExpressionAttributeValues={":p": {"S": f"ORDER#{order_id}"}, ":s": {"S": "TL#"}},
        )
        return [
            TimelineEntry.model_validate({k: v for k, v in from_item(item).items() if k not in ("pk", "sk")})
            for page in pages
            for item in page["Items"]
        ]

    def insert(self, order: Order) -> Order | None:
        try:
            client("dynamodb").put_item(
                TableName=self.table,
                Item=order_to_item(order),
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                old = exc.response.get("Item")
                return order_from_values(from_item(old)) if old else self.get(order.order_id)
            raise DependencyError(f"order write failed: {error_code(exc)}") from exc
        return None

    def replace(self, order: Order, expected_version: int) -> None:
        try:
            client("dynamodb").put_item(
                TableName=self.table,
                Item=order_to_item(order),
                ConditionExpression="version = :v",
                ExpressionAttributeValues={":v": {"N": str(expected_version)}},
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise StaleWrite(f"order {order.order_id} changed since version {expected_version}") from exc
            raise DependencyError(f"order write failed: {error_code(exc)}") from exc

    def ids_of_channel(self, channel: str) -> Iterator[str]:
        """A scan of the order rows (their small attributes only), filtered on the channel."""
        paginator = client("dynamodb").get_paginator("scan")
        pages = paginator.paginate(
            TableName=self.table,
            ProjectionExpression="pk",
            FilterExpression="sk = :sk AND #channel = :c",
            ExpressionAttributeNames={"#channel": "channel"},
            ExpressionAttributeValues={":sk": {"S": "ORDER"}, ":c": {"S": channel}},
        )
        try:
            for page in pages:
                for item in page.get("Items", []):
                    yield item["pk"]["S"].removeprefix("ORDER#")
        except ClientError as exc:
            raise DependencyError(f"order scan failed: {error_code(exc)}") from exc

    def list(self, query: OrderQuery) -> OrderPage:  # noqa: PLR0912 (one walk over index partitions)
        """Summaries newest first (oldest_first: the other way), by status, node, attention or created day."""
        now = datetime.now(UTC)
        try:
            end = (query.created_to or now).astimezone(UTC)
            # Node and attention lists hold what needs work, however old; the others look back 30 days.
            lists = query.node_id is not None or query.attention is not None
            default_start = datetime(2000, 1, 1, tzinfo=UTC) if lists else end - DEFAULT_LOOKBACK
            start = (query.created_from or default_start).astimezone(UTC)
        except OverflowError:
            raise BadRequest("created_from or created_to is out of range") from None
        if start > end:
            raise BadRequest("created_from is after created_to")
        single = query.status is not None or query.node_id is not None or query.attention is not None
        if not single and end - start > MAX_RANGE:
            raise BadRequest(f"a range over {MAX_RANGE.days} days needs a status filter")
        bounds = {":a": {"S": sort_time(start)}, ":b": {"S": sort_time(end) + "~"}}
        state = _decode_cursor(query.cursor) if query.cursor else {}
        filter_args = _filters(query, bounds)
        partitions, index, key_name, sort_name = _partitions(query, start, end)
        if state and state.get("partition") not in partitions:
            raise BadRequest("cursor belongs to another list: send the same filters as the page it came from")
        if state.get("partition") in partitions:
            partitions = partitions[partitions.index(state["partition"]) :]
        items: list[dict[str, Any]] = []
        start_key = state.get("key")
        for partition in partitions:
            while True:
                args: dict[str, Any] = {
                    "TableName": self.table,
                    "KeyConditionExpression": f"{key_name} = :p AND {sort_name} BETWEEN :a AND :b",
                    "ExpressionAttributeValues": {**bounds, ":p": {"S": partition}},
                    "ScanIndexForward": query.oldest_first,
                    "Limit": query.limit - len(items),
                    **filter_args,
                }
                if index:
                    args["IndexName"] = index
                if start_key:
                    args["ExclusiveStartKey"] = start_key
                response = client("dynamodb").query(**args)
                items.extend(_summary(from_item(item)) for item in response["Items"])
                start_key = response.get("LastEvaluatedKey")
                if len(items) >= query.limit:
                    cursor = None
                    if start_key:
                        cursor = _encode_cursor({"partition": partition, "key": start_key})
                    else:
                        following = partitions.index(partition) + 1
                        if following < len(partitions):
                            cursor = _encode_cursor({"partition": partitions[following]})
                    return OrderPage(items=items, next_cursor=cursor)
                if not start_key:
                    break
        return OrderPage(items=items, next_cursor=None)
