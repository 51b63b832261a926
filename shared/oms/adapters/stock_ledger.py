"""The stock ledger table in DynamoDB: movements (pk ``STOCK#<sku>#<node>``,
written from the inventory stream), snapshot bookkeeping (``SNAPSHOT#<id>``
headers, ``SNAPNODE#<node>`` marks) and job reports (``RUN#<kind>``).
DynamoStock (oms.adapters.stock) is built on this."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from oms.adapters.aws import client, error_code
from oms.adapters.dynamo import from_item, to_item
from oms.domain.ledger import iso, parse_time
from oms.models.inventory import SnapshotScope
from oms.ports.stock import SnapshotHeader, SnapshotLog, SnapshotMark, StockLedger

REPORT_DAYS = 90
_NOT_MOVES = ("count", "reconcile", "audit")  # ledger kinds that are not goods moving


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _header(values: dict[str, Any]) -> SnapshotHeader:
    raw = values.get("part_stats")
    as_of = parse_time(values["as_of"])
    assert as_of is not None
    return SnapshotHeader(
        snapshot_id=values["pk"].removeprefix("SNAPSHOT#"),
        node_id=values["node_id"],
        as_of=as_of,
        scope=SnapshotScope(values["scope"]),
        parts=int(values["parts"]),
        parts_received=frozenset(int(p) for p in values.get("parts_received", set())),
        part_stats={int(k): v for k, v in json.loads(raw or "{}").items()},
        received_at=parse_time(values.get("received_at")),
        applied_at=parse_time(values.get("applied_at")),
        zeroed_at=parse_time(values.get("zeroed_at")),
        rows_zeroed=int(values.get("rows_zeroed", 0)),
        version=raw,
    )


class DynamoLedger(StockLedger, SnapshotLog):
    def __init__(self, ledger_table: str) -> None:
        self.ledger_table = ledger_table

    # ------------------------------------------------------------ movements

    def put_movements(self, entries: list[dict[str, Any]]) -> None:
        """Ledger entries from the inventory stream; keyed by stream sequence, so a replay overwrites."""
        for start in range(0, len(entries), 25):
            request = {self.ledger_table: [{"PutRequest": {"Item": to_item(e)}} for e in entries[start : start + 25]]}
            while request:
                response = client("dynamodb").batch_write_item(RequestItems=request)
                request = response.get("UnprocessedItems") or {}

    def on_hand_moves_since(self, sku: str, node_id: str, since: datetime) -> tuple[int, datetime | None]:
        total = 0
        newest: datetime | None = None
        paginator = client("dynamodb").get_paginator("query")
        for page in paginator.paginate(
            TableName=self.ledger_table,
            KeyConditionExpression="pk = :pk AND sk > :since",
            ExpressionAttributeValues={":pk": _s(f"STOCK#{sku}#{node_id}"), ":since": _s(iso(since))},
            ProjectionExpression="d_on_hand, kind, moved_at",
        ):
            for item in page["Items"]:
                if item.get("kind", {}).get("S") in _NOT_MOVES:
                    continue
                moved = int(item.get("d_on_hand", {}).get("N", "0"))
                if moved:
                    total += moved
                    at = parse_time(item.get("moved_at", {}).get("S"))
                    if at is not None and (newest is None or at > newest):
                        newest = at
        return total, newest

    def movements(self, sku: str, node_id: str, limit: int = 50) -> list[dict[str, Any]]:
        response = client("dynamodb").query(
            TableName=self.ledger_table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": _s(f"STOCK#{sku}#{node_id}")},
            ScanIndexForward=False,
            Limit=limit,
        )
        # Figures are whole units: numbers, not the strings a Decimal would become in JSON.
        return [
            {name: int(value) if isinstance(value, Decimal) else value for name, value in from_item(item).items()}
            for item in response["Items"]
        ]

    # ------------------------------------------------------------ reports

    def put_report(self, kind: str, started_at: datetime, body: dict[str, Any]) -> None:
        client("dynamodb").put_item(
            TableName=self.ledger_table,
            Item=to_item(
                {
                    "pk": f"RUN#{kind}",
                    "sk": iso(started_at),
                    "report": json.dumps(body, default=str),
                    "expires_at": int((started_at + timedelta(days=REPORT_DAYS)).timestamp()),
                }
            ),
        )

    def latest_report(self, kind: str) -> dict[str, Any] | None:
        response = client("dynamodb").query(
            TableName=self.ledger_table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": _s(f"RUN#{kind}")},
            ScanIndexForward=False,
            Limit=1,
        )
        items = response["Items"]
        return json.loads(items[0]["report"]["S"]) if items else None

    # ------------------------------------------------------------ snapshots

    def latest_snapshot(self, node_id: str) -> SnapshotMark | None:
        latest = self._get(f"SNAPNODE#{node_id}", "LATEST")
        if latest is None:
            return None
        as_of = parse_time(latest["as_of"])
        assert as_of is not None
        return SnapshotMark(as_of, latest["snapshot_id"])

    def mark_latest(self, node_id: str, as_of: datetime, snapshot_id: str) -> None:
        self._update(
            f"SNAPNODE#{node_id}",
            "LATEST",
            UpdateExpression="SET as_of = :a, snapshot_id = :id",
            ConditionExpression="attribute_not_exists(as_of) OR as_of <= :a",
            ExpressionAttributeValues={":a": _s(iso(as_of)), ":id": _s(snapshot_id)},
        )

    def open_snapshot(
        self, snapshot_id: str, node_id: str, as_of: datetime, scope: SnapshotScope, parts: int, now: datetime
    ) -> SnapshotHeader | None:
        header = self._update(
            f"SNAPSHOT#{snapshot_id}",
            "HEADER",
            UpdateExpression=(
                "SET node_id = if_not_exists(node_id, :n), as_of = if_not_exists(as_of, :a), "
                "#sc = if_not_exists(#sc, :s), parts = if_not_exists(parts, :p), "
                "received_at = if_not_exists(received_at, :now)"
            ),
            ConditionExpression="attribute_not_exists(pk) OR (node_id = :n AND as_of = :a AND #sc = :s AND parts = :p)",
            ExpressionAttributeNames={"#sc": "scope"},
            ExpressionAttributeValues={
                ":n": _s(node_id),
                ":a": _s(iso(as_of)),
                ":s": _s(scope.value),
                ":p": _n(parts),
                ":now": _s(iso(now)),
            },
        )
        return _header(header) if header is not None else None

    def add_received_part(self, snapshot_id: str, part: int) -> None:
        self._update(
            f"SNAPSHOT#{snapshot_id}",
            "HEADER",
            UpdateExpression="ADD parts_received :p",
            ExpressionAttributeValues={":p": {"NS": [str(part)]}},
        )

    def get_snapshot(self, snapshot_id: str) -> SnapshotHeader | None:
        header = self._get(f"SNAPSHOT#{snapshot_id}", "HEADER")
        return _header(header) if header is not None else None

    def save_part_stats(
        self, header: SnapshotHeader, part_stats: dict[int, dict[str, int]], applied_at: datetime | None
    ) -> bool:
        # A compare-and-set on the stats text as read: parts applied at once merge, none is lost.
        expression = "SET part_stats = :new"
        values: dict[str, Any] = {":new": _s(json.dumps({str(k): v for k, v in part_stats.items()}))}
        if header.version is None:
            condition = "attribute_not_exists(part_stats)"
        else:
            condition = "part_stats = :old"
            values[":old"] = _s(header.version)
        if applied_at is not None:
            expression += ", applied_at = if_not_exists(applied_at, :now)"
            values[":now"] = _s(iso(applied_at))
        updated = self._update(
            f"SNAPSHOT#{header.snapshot_id}",
            "HEADER",
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
        )
        return updated is not None

    def finish_snapshot(self, snapshot_id: str, rows_zeroed: int, now: datetime) -> None:
        self._update(
            f"SNAPSHOT#{snapshot_id}",
            "HEADER",
            UpdateExpression="SET zeroed_at = :now, applied_at = :now, rows_zeroed = :z",
            ExpressionAttributeValues={":now": _s(iso(now)), ":z": _n(rows_zeroed)},
        )

    # ------------------------------------------------------------ raw items

    def _get(self, pk: str, sk: str, consistent: bool = True) -> dict[str, Any] | None:
        response = client("dynamodb").get_item(
            TableName=self.ledger_table, Key={"pk": _s(pk), "sk": _s(sk)}, ConsistentRead=consistent
        )
        item = response.get("Item")
        return from_item(item) if item else None

    def _update(self, pk: str, sk: str, **kwargs: Any) -> dict[str, Any] | None:
        """An UpdateItem on the ledger table; None when its condition failed."""
        try:
            response = client("dynamodb").update_item(
                TableName=self.ledger_table, Key={"pk": _s(pk), "sk": _s(sk)}, ReturnValues="ALL_NEW", **kwargs
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        return from_item(response["Attributes"])
