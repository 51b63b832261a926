"""The returns table: what the returns worker keeps from the return events.

* pk RMA#<rma_id>, sk RMA: one row per RMA for the lists (GSIs by_status, by_node, by_day), written
  only over an older order version, so a replayed or late event never takes a row back.
* pk STAT#<day>, sk SKU#<sku>: units delivered and returned that day (ADD), returned per reason
  (r_<reason>); pk SEEN#<what>#<id>: the event was counted (in the same transaction, so once).

Rows and counts expire after 400 days (`purge_at`): a year of return rates, compared year on year.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from oms.adapters.aws import client, error_code
from oms.adapters.dynamo import from_item, to_item
from oms.adapters.orders import _decode_cursor, _encode_cursor
from oms.errors import BadRequest
from oms.models.returns import ReturnRateRow, ReturnStats, RmaPage, RmaSummary
from oms.ports.returns import ReturnsStore

_log = logging.getLogger("oms")  # Powertools' logger (service "oms") when the handler set it up
KEEP_DAYS = 400
MAX_DAYS = 92


def _purge_at(day: date) -> dict[str, str]:
    return {"N": str(int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) + KEEP_DAYS * 86_400)}


class DynamoReturns(ReturnsStore):
    def __init__(self, table: str) -> None:
        self.table = table

    # ------------------------------------------------------------ the list rows

    def put_summary(self, summary: RmaSummary, order_version: int) -> bool:
        """Write the row unless a newer order version wrote it; False when this one was older (or the same)."""
        created = summary.created_at.astimezone(UTC)
        item = {
            "pk": f"RMA#{summary.rma_id}",
            "sk": "RMA",
            "rma_status": summary.status.value,
            "node_key": summary.node_id or f"supplier:{summary.supplier}",
            "created_day": created.date().isoformat(),
            "created": created.isoformat(timespec="milliseconds"),
            "channel": summary.channel.value,
            "reasons": sorted({reason.value for reason in summary.reasons}),
            "order_version": order_version,
            "doc": summary.model_dump_json(),
        }
        raw = to_item(item)
        raw["purge_at"] = _purge_at(created.date())
        try:
            client("dynamodb").put_item(
                TableName=self.table,
                Item=raw,
                ConditionExpression="attribute_not_exists(pk) OR order_version < :v",
                ExpressionAttributeValues={":v": {"N": str(order_version)}},
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def list(  # noqa: PLR0912 (one walk over index partitions, like the orders list)
        self,
        *,
        status: str | None,
        node_id: str | None,
        reason: str | None,
        channel: str | None,
        start: datetime,
        end: datetime,
        limit: int,
        cursor: str | None,
    ) -> RmaPage:
        """Newest first, from one index: the node's, else the status's, else the days of the range."""
        if start > end:
            raise BadRequest("created_from is after created_to")
        if node_id is not None:
            index, key_name, partitions = "by_node", "node_key", [node_id]
        elif status is not None:
            index, key_name, partitions = "by_status", "rma_status", [status]
        else:
            if (end - start).days > MAX_DAYS:
                raise BadRequest(f"a range over {MAX_DAYS} days needs a status or node filter")
            index, key_name = "by_day", "created_day"
            days = _days(start.astimezone(UTC).date(), end.astimezone(UTC).date())  # rows carry UTC days
            partitions = [d.isoformat() for d in days][::-1]
        filters, values, names = [], {}, {}
        if status is not None and index != "by_status":
            filters.append("rma_status = :s")
            values[":s"] = {"S": status}
        if reason is not None:
            filters.append("contains(reasons, :r)")
            values[":r"] = {"S": reason}
        if channel is not None:
            filters.append("#c = :c")
            values[":c"] = {"S": channel}
            names["#c"] = "channel"
        state = _decode_cursor(cursor) if cursor else {}
        if state.get("partition") in partitions:
            partitions = partitions[partitions.index(state["partition"]) :]
        elif state:
            raise BadRequest("cursor belongs to another list: send the same filters as the page it came from")
        bounds = {
            ":a": {"S": start.astimezone(UTC).isoformat(timespec="milliseconds")},
            ":b": {"S": end.astimezone(UTC).isoformat(timespec="milliseconds") + "~"},
        }
        items: list[RmaSummary] = []
        start_key = state.get("key")
        for partition in partitions:
            while True:
                args: dict[str, Any] = {
                    "TableName": self.table,
                    "IndexName": index,
                    "KeyConditionExpression": f"{key_name} = :p AND created BETWEEN :a AND :b",
                    "ExpressionAttributeValues": {**bounds, ":p": {"S": partition}, **values},
                    "ScanIndexForward": False,
                    "Limit": limit - len(items),
                }
                if filters:
                    args["FilterExpression"] = " AND ".join(filters)
                if names:
                    args["ExpressionAttributeNames"] = names
                if start_key:
                    args["ExclusiveStartKey"] = start_key
                response = client("dynamodb").query(**args)
                items += [RmaSummary.model_validate_json(from_item(item)["doc"]) for item in response["Items"]]
                start_key = response.get("LastEvaluatedKey")
                if len(items) >= limit:
                    following = partitions.index(partition) + 1
                    next_state = (
                        {"partition": partition, "key": start_key}
                        if start_key
                        else {"partition": partitions[following]}
                        if following < len(partitions)
                        else None
                    )
                    return RmaPage(items=items, next_cursor=_encode_cursor(next_state) if next_state else None)
                if not start_key:
                    break
        return RmaPage(items=items)

    # ------------------------------------------------------------ return rates

    def count(self, marker: str, day: date, counts: dict[str, dict[str, int]]) -> bool:
        """Add counts per SKU (attribute -> units) for a day, once per marker; False when counted before."""
        purge = _purge_at(day)
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {"pk": {"S": f"SEEN#{marker}"}, "sk": {"S": "-"}, "purge_at": purge},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
        if len(counts) > 98:  # one transaction: the marker and 98 SKUs (a parcel or RMA of more is rare)
            _log.warning("return rate counts cut to 98 SKUs", extra={"marker": marker, "skus": len(counts)})
        for sku, adds in sorted(counts.items())[:98]:
            names = {f"#a{n}": name for n, name in enumerate(adds)}
            values = {f":a{n}": {"N": str(value)} for n, value in enumerate(adds.values())}
            items.append(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": {"pk": {"S": f"STAT#{day.isoformat()}"}, "sk": {"S": f"SKU#{sku}"}},
                        "UpdateExpression": "ADD "
                        + ", ".join(f"#a{n} :a{n}" for n in range(len(adds)))
                        + " SET purge_at = :purge",
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": {**values, ":purge": purge},
                    }
                }
            )
        try:
            client("dynamodb").transact_write_items(TransactItems=items)
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons") or []
            if (
                error_code(exc) == "TransactionCanceledException"
                and reasons
                and reasons[0].get("Code") == ("ConditionalCheckFailed")
            ):
                return False
            raise
        return True

    def stats(self, start: date, end: date) -> ReturnStats:
        if start > end:
            raise BadRequest("from is after to")
        if (end - start).days > 366:
            raise BadRequest("at most 366 days")
        per_sku: dict[str, dict[str, int]] = {}
        for day in _days(start, end):
            for item in self._day(day):
                sku = item["sk"].removeprefix("SKU#")
                row = per_sku.setdefault(sku, {})
                for name, value in item.items():
                    if name in ("delivered", "returned") or name.startswith("r_"):
                        row[name] = row.get(name, 0) + int(value)
        rows = []
        by_reason: dict[str, int] = {}
        for sku, row in sorted(per_sku.items()):
            reasons = {name[2:]: value for name, value in row.items() if name.startswith("r_")}
            for reason, value in reasons.items():
                by_reason[reason] = by_reason.get(reason, 0) + value
            delivered, returned = row.get("delivered", 0), row.get("returned", 0)
            rate = (Decimal(returned) / Decimal(delivered)).quantize(Decimal("0.0001")) if delivered else None
            rows.append(
                ReturnRateRow(
                    sku=sku,
                    delivered_units=delivered,
                    returned_units=returned,
                    return_rate=rate,
                    by_reason=reasons,
                )
            )
        rows.sort(key=lambda r: (-(r.return_rate or 0), -r.returned_units, r.sku))
        return ReturnStats(
            start=start.isoformat(),
            end=end.isoformat(),
            delivered_units=sum(r.delivered_units for r in rows),
            returned_units=sum(r.returned_units for r in rows),
            by_reason=by_reason,
            skus=rows,
        )

    def _day(self, day: date) -> Iterator[dict[str, Any]]:
        args: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": f"STAT#{day.isoformat()}"}},
        }
        while True:
            response = client("dynamodb").query(**args)
            yield from (from_item(item) for item in response["Items"])
            if "LastEvaluatedKey" not in response:
                return
            args["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]
