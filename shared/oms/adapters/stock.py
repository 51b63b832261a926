"""Stock, reservations and the stock ledger in DynamoDB.

The invariant lives in the writes. DynamoDB conditions cannot add, so every
stock item stores ``atp`` (on hand - reserved - safety stock) and every write
moves it together with what it changes: a reservation is
``SET reserved = reserved + q, atp = atp - q IF atp >= q``. Writes that set an
absolute figure (a count, a repair) are conditional on the figure they read.

Items of the inventory table: pk ``SKU#<sku>`` (bucket 0) or ``SKU#<sku>#B<n>``
(bucket n of a hot SKU), sk ``NODE#<node>``. Reservations have their own table
(pk reservation_id). The ledger table keeps request keys (``REQ#...``) beside
what oms.adapters.stock_ledger keeps there.

A cancelled transaction is decoded here, item by item, into the port's
WriteRefused (what existed, which line or movement was short, which node was
full); the domain never sees an index or a DynamoDB error code.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from oms.adapters.aws import client, error_code
from oms.adapters.capacity import take_item
from oms.adapters.dynamo import batch_get, from_item, to_item
from oms.adapters.stock_items import (
    change_stamp,
    count_item,
    delta_update,
    level_from_item,
    num,
    per_item,
    rebalance_updates,
    stock_key,
    text,
)
from oms.adapters.stock_ledger import DynamoLedger
from oms.domain.ledger import LEDGER_DAYS, iso, parse_time
from oms.errors import DependencyError
from oms.models.inventory import Reservation, ReservationStatus, StockLevel
from oms.ports.stock import CapacityTake, CountWrite, StockDelta, StockStore, WriteRefused

__all__ = ["DynamoStock", "iso", "level_from_item", "parse_time", "stock_key"]  # iso: oms.adapters.stock_push

HOLD_SHARDS = 8  # the active-holds index is spread over this many partition keys
FINISHED_RESERVATION_DAYS = 30  # finished reservations stay readable this long
SCAN_PAGE = 1000  # items a scan page: each call stays well inside the client's 5 s read timeout
TRANSACTION_ITEMS = 100  # DynamoDB's TransactWriteItems limit


@dataclass(eq=False)
class _Cancelled(Exception):
    """A transaction was cancelled; ``failed`` are the indexes of the items whose condition failed
    (none: another transaction held an item). Decoded into WriteRefused before it leaves."""

    failed: list[int] = field(default_factory=list)


class DynamoStock(DynamoLedger, StockStore):
    def __init__(
        self, inventory_table: str, reservations_table: str, ledger_table: str, sourcing_table: str = ""
    ) -> None:
        super().__init__(ledger_table)
        self.inventory_table = inventory_table
        self.reservations_table = reservations_table
        self.sourcing_table = sourcing_table  # daily node capacity, taken with order reservations

    # ------------------------------------------------------------ reads

    def levels(self, pairs: list[tuple[str, str]], consistent: bool = False) -> list[StockLevel]:
        """Every bucket of the given (sku, node) pairs that exist."""
        unique = sorted(set(pairs))
        heads = [
            level_from_item(item)
            for item in batch_get(self.inventory_table, [stock_key(*p) for p in unique], consistent=consistent)
        ]
        extra = [stock_key(h.sku, h.node_id, b) for h in heads for b in range(1, h.buckets)]
        tails = (
            [level_from_item(item) for item in batch_get(self.inventory_table, extra, consistent=consistent)]
            if extra
            else []
        )
        return heads + tails

    def node_skus(self, node_id: str) -> Iterator[str]:
        """The SKUs with a stock item at the node (the by_node index)."""
        paginator = client("dynamodb").get_paginator("query")
        for page in paginator.paginate(
            TableName=self.inventory_table,
            IndexName="by_node",
            KeyConditionExpression="node_key = :n",
            ExpressionAttributeValues={":n": text(node_id)},
        ):
            for item in page["Items"]:
                yield item["sku"]["S"]

    def scan_levels(self) -> Iterator[StockLevel]:
        paginator = client("dynamodb").get_paginator("scan")
        for page in paginator.paginate(TableName=self.inventory_table, PaginationConfig={"PageSize": SCAN_PAGE}):
            for item in page["Items"]:
                yield level_from_item(item)

    # ------------------------------------------------------------ transactions

    def _transact(self, items: list[dict[str, Any]], token: str | None = None) -> None:
        request: dict[str, Any] = {"TransactItems": items}
        if token:
            request["ClientRequestToken"] = token[:36]
        try:
            client("dynamodb").transact_write_items(**request)
        except Exception as exc:
            code = error_code(exc)
            if code == "TransactionCanceledException":
                reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
                failed = [i for i, reason in enumerate(reasons) if reason.get("Code") == "ConditionalCheckFailed"]
                if failed or not reasons:
                    raise _Cancelled(failed) from exc
                # TransactionConflict (another transaction on the same item): worth a retry
                raise _Cancelled([]) from exc
            if code in ("ProvisionedThroughputExceededException", "ThrottlingException", "InternalServerError"):
                raise DependencyError(f"DynamoDB is throttling or failing ({code})") from exc
            raise

    # ------------------------------------------------------------ reservations

    def _reservation_item(self, reservation: Reservation) -> dict[str, Any]:
        values: dict[str, Any] = {
            "reservation_id": reservation.reservation_id,
            "kind": reservation.kind.value,
            "channel": reservation.channel.value if reservation.channel else None,
            "order_id": reservation.order_id,
            "status": reservation.status.value,
            "created_at": iso(reservation.created_at),
            "lines": json.dumps([line.model_dump() for line in reservation.lines]),
        }
        if reservation.expires_at is not None:
            values["expires_at"] = iso(reservation.expires_at)
            values["hold_shard"] = f"HOLD#{zlib.crc32(reservation.reservation_id.encode()) % HOLD_SHARDS}"
        return to_item(values)

    @staticmethod
    def _reservation_from(item: dict[str, Any]) -> Reservation:
        values = from_item(item)
        return Reservation(
            reservation_id=values["reservation_id"],
            kind=values["kind"],
            channel=values.get("channel"),
            order_id=values.get("order_id"),
            lines=json.loads(values["lines"]),
            status=values["status"],
            created_at=parse_time(values["created_at"]),
            expires_at=parse_time(values.get("expires_at")),
            finished_at=parse_time(values.get("finished_at")),
            consumed_lines=sorted(values.get("consumed_lines", set())),
            reason=values.get("reason"),
        )

    def get_reservation(self, reservation_id: str) -> Reservation | None:
        response = client("dynamodb").get_item(
            TableName=self.reservations_table, Key={"reservation_id": text(reservation_id)}, ConsistentRead=True
        )
        item = response.get("Item")
        return self._reservation_from(item) if item else None

    def create_reservation(self, reservation: Reservation, now: datetime) -> None:
        """Header and every line's stock in one transaction (item 0: the reservation; item i: line i-1)."""
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.reservations_table,
                    "Item": self._reservation_item(reservation),
                    "ConditionExpression": "attribute_not_exists(reservation_id)",
                }
            }
        ]
        for line in reservation.lines:
            delta = StockDelta(line.sku, line.node_id, line.bucket, reserved=line.quantity, guard="atp")
            items.append(delta_update(self.inventory_table, delta, "reserve", reservation.reservation_id, now))
        try:
            self._transact(items)
        except _Cancelled as exc:
            short = [reservation.lines[i - 1] for i in exc.failed if i >= 1]
            raise WriteRefused(exists=0 in exc.failed, short_lines=short) from exc

    def create_reservations(self, reservations: list[Reservation], now: datetime, capacity: list[CapacityTake]) -> None:
        """Several reservations (an order's nodes), their stock and the node capacity they take,
        in one transaction: all or nothing. ``parts`` names each item: ("reservation", i),
        ("line", i, j) (the first line of a stock item), ("capacity", k)."""
        items: list[dict[str, Any]] = []
        parts: list[tuple[Any, ...]] = []
        for i, reservation in enumerate(reservations):
            items.append(
                {
                    "Put": {
                        "TableName": self.reservations_table,
                        "Item": self._reservation_item(reservation),
                        "ConditionExpression": "attribute_not_exists(reservation_id)",
                    }
                }
            )
            parts.append(("reservation", i))
            for item_key, (quantity, first) in per_item(reservation.lines).items():
                sku, node_id, bucket = item_key
                delta = StockDelta(sku, node_id, bucket, reserved=quantity, guard="atp")
                items.append(delta_update(self.inventory_table, delta, "reserve", reservation.reservation_id, now))
                parts.append(("line", i, first))
        for k, take in enumerate(capacity):
            items.append(take_item(self.sourcing_table, take))
            parts.append(("capacity", k))
        try:
            self._transact(items)
        except _Cancelled as exc:
            failed = [parts[index] for index in exc.failed]
            raise WriteRefused(
                exists=any(part[0] == "reservation" for part in failed),
                short_lines=[reservations[part[1]].lines[part[2]] for part in failed if part[0] == "line"],
                full=[capacity[part[1]] for part in failed if part[0] == "capacity"],
            ) from exc

    def finish_reservation(
        self, reservation: Reservation, status: ReservationStatus, now: datetime, reason: str | None = None
    ) -> None:
        """Release every line not consumed and close the reservation (item 0: its status must be active)."""
        open_lines = [line for line in reservation.lines if line.line_id not in reservation.consumed_lines]
        values: dict[str, Any] = {
            ":active": text(ReservationStatus.active.value),
            ":status": text(status.value),
            ":now": text(iso(now)),
            ":purge": num(int((now + timedelta(days=FINISHED_RESERVATION_DAYS)).timestamp())),
        }
        sets = "#st = :status, finished_at = :now, purge_at = :purge"
        if reason:
            values[":reason"] = text(reason)
            sets += ", reason = :reason"
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.reservations_table,
                    "Key": {"reservation_id": text(reservation.reservation_id)},
                    "UpdateExpression": f"SET {sets} REMOVE hold_shard",
                    "ConditionExpression": "#st = :active",
                    "ExpressionAttributeNames": {"#st": "status"},
                    "ExpressionAttributeValues": values,
                }
            }
        ]
        for (sku, node_id, bucket), (quantity, _) in per_item(open_lines).items():
            delta = StockDelta(sku, node_id, bucket, reserved=-quantity)
            items.append(delta_update(self.inventory_table, delta, status.value, reservation.reservation_id, now))
        self._transact_or_stale(items)

    def consume_lines(self, reservation: Reservation, line_ids: list[str], now: datetime) -> None:
        """Shipped: the lines' units leave on hand and reserved together (item 0: the reservation
        is active and no line consumed already)."""
        lines = [line for line in reservation.lines if line.line_id in line_ids]
        done = set(reservation.consumed_lines) | set(line_ids)
        finished = done >= {line.line_id for line in reservation.lines}
        values: dict[str, Any] = {":active": text(ReservationStatus.active.value), ":ids": {"SS": sorted(line_ids)}}
        names = {"#st": "status"}
        conditions = ["#st = :active"]
        for index, line_id in enumerate(line_ids):
            values[f":l{index}"] = text(line_id)
            conditions.append(f"NOT contains(consumed_lines, :l{index})")
        expression = "ADD consumed_lines :ids"
        if finished:
            values[":consumed"] = text(ReservationStatus.consumed.value)
            values[":now"] = text(iso(now))
            values[":purge"] = num(int((now + timedelta(days=FINISHED_RESERVATION_DAYS)).timestamp()))
            expression = "SET #st = :consumed, finished_at = :now, purge_at = :purge REMOVE hold_shard " + expression
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.reservations_table,
                    "Key": {"reservation_id": text(reservation.reservation_id)},
                    "UpdateExpression": expression,
                    "ConditionExpression": " AND ".join(conditions),
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            }
        ]
        for (sku, node_id, bucket), (quantity, _) in per_item(lines).items():
            delta = StockDelta(sku, node_id, bucket, on_hand=-quantity, reserved=-quantity)
            items.append(delta_update(self.inventory_table, delta, "consume", reservation.reservation_id, now))
        self._transact_or_stale(items)

    def expired_holds(self, now: datetime, limit: int = 500) -> list[str]:
        ids: list[str] = []
        for shard in range(HOLD_SHARDS):
            paginator = client("dynamodb").get_paginator("query")
            for page in paginator.paginate(
                TableName=self.reservations_table,
                IndexName="active_holds",
                KeyConditionExpression="hold_shard = :shard AND expires_at <= :now",
                ExpressionAttributeValues={":shard": text(f"HOLD#{shard}"), ":now": text(iso(now))},
            ):
                ids.extend(item["reservation_id"]["S"] for item in page["Items"])
                if len(ids) >= limit:
                    return ids[:limit]
        return ids

    def scan_active_reservations(self) -> Iterator[Reservation]:
        paginator = client("dynamodb").get_paginator("scan")
        for page in paginator.paginate(
            TableName=self.reservations_table,
            FilterExpression="#st = :active",
            ExpressionAttributeNames={"#st": "status"},
            ExpressionAttributeValues={":active": text(ReservationStatus.active.value)},
            ConsistentRead=True,
            PaginationConfig={"PageSize": SCAN_PAGE},
        ):
            for item in page["Items"]:
                yield self._reservation_from(item)

    # ------------------------------------------------------------ movements

    def apply_movement(
        self, request_key: str, fingerprint: str, deltas: list[StockDelta], kind: str, now: datetime
    ) -> None:
        """The deltas and the request key in one transaction (item 0: the key; item i: delta i-1)."""
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.ledger_table,
                    "Item": to_item(
                        {
                            "pk": f"REQ#{request_key}",
                            "sk": "REQ",
                            "kind": kind,
                            "fingerprint": fingerprint,
                            "created_at": iso(now),
                            "expires_at": int((now + timedelta(days=LEDGER_DAYS)).timestamp()),
                        }
                    ),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
        items += [delta_update(self.inventory_table, delta, kind, request_key, now) for delta in deltas]
        try:
            self._transact(items)
        except _Cancelled as exc:
            short = [deltas[i - 1] for i in exc.failed if i >= 1]
            raise WriteRefused(exists=0 in exc.failed, short_deltas=short) from exc

    def request_fingerprint(self, request_key: str) -> str | None:
        response = client("dynamodb").get_item(
            TableName=self.ledger_table, Key={"pk": text(f"REQ#{request_key}"), "sk": text("REQ")}, ConsistentRead=True
        )
        item = response.get("Item")
        return item["fingerprint"]["S"] if item else None

    # ------------------------------------------------------------ absolute writes (counts, repairs, buckets)

    def apply_counts(self, writes: list[CountWrite], ref: str, now: datetime) -> None:
        """Each count and its other buckets' resets, in transactions of at most 100 items, in order."""
        items: list[dict[str, Any]] = []
        for write in writes:
            items.append(count_item(self.inventory_table, write, ref, now))
            items += [
                {
                    "Update": {
                        "TableName": self.inventory_table,
                        "Key": stock_key(write.sku, write.node_id, bucket),
                        "UpdateExpression": "SET moved_since_count = :zero",
                        "ExpressionAttributeValues": {":zero": num(0)},
                    }
                }
                for bucket in write.other_buckets
            ]
        for offset in range(0, len(items), TRANSACTION_ITEMS):
            self._transact_or_stale(items[offset : offset + TRANSACTION_ITEMS])

    def _transact_or_stale(self, items: list[dict[str, Any]]) -> None:
        """A transaction whose conditions are only about what was read (nothing short, nothing new)."""
        try:
            self._transact(items)
        except _Cancelled as exc:
            raise WriteRefused(stale=bool(exc.failed)) from exc

    def set_figures(
        self,
        level: StockLevel,
        *,
        on_hand: int | None = None,
        reserved: int | None = None,
        kind: str,
        ref: str,
        now: datetime,
    ) -> bool:
        """Repair one stock item to the given figures if it still holds what was read. False if it moved."""
        new_on_hand = level.on_hand if on_hand is None else on_hand
        new_reserved = level.reserved if reserved is None else reserved
        atp = new_on_hand - new_reserved - level.safety_stock
        values = {
            ":oh": num(new_on_hand),
            ":rs": num(new_reserved),
            ":atp": num(atp),
            ":seen_oh": num(level.on_hand),
            ":seen_rs": num(level.reserved),
            ":now": text(iso(now)),
            ":chg": change_stamp(kind, ref, now),
        }
        try:
            client("dynamodb").update_item(
                TableName=self.inventory_table,
                Key=stock_key(level.sku, level.node_id, level.bucket),
                UpdateExpression="SET on_hand = :oh, reserved = :rs, atp = :atp, updated_at = :now, last_change = :chg",
                ConditionExpression="on_hand = :seen_oh AND reserved = :seen_rs",
                ExpressionAttributeValues=values,
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def rebalance_items(self, levels: list[StockLevel], targets: dict[int, int], buckets: int, now: datetime) -> None:
        """Move free units between the buckets of one (sku, node): bucket b's on hand changes by
        targets[b], conditional on each bucket's atp as read. Creates missing buckets."""
        self._transact_or_stale(rebalance_updates(self.inventory_table, levels, targets, buckets, now))
