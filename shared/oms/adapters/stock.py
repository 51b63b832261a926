"""Stock, reservations and the stock ledger in DynamoDB.

The invariant lives in the writes. DynamoDB conditions cannot add, so every
stock item stores ``atp`` (on hand - reserved - safety stock) and every write
moves it together with what it changes: a reservation is
``SET reserved = reserved + q, atp = atp - q IF atp >= q``. Writes that set an
absolute figure (a count, a repair) are conditional on the figure they read.

Items of the inventory table: pk ``SKU#<sku>`` (bucket 0) or ``SKU#<sku>#B<n>``
(bucket n of a hot SKU), sk ``NODE#<node>``. Reservations have their own table
(pk reservation_id). The ledger table keeps movements (pk ``STOCK#<sku>#<node>``,
written from the inventory stream), request keys (``REQ#...``), snapshots
(``SNAPSHOT#...``, ``SNAPNODE#...``) and job reports (``RUN#<kind>``).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from oms.adapters.aws import client, error_code
from oms.adapters.capacity import CapacityTake, take_item
from oms.adapters.dynamo import batch_get, from_item, to_item
from oms.errors import DependencyError
from oms.models.inventory import Reservation, ReservationLine, ReservationStatus, StockLevel

HOLD_SHARDS = 8  # the active-holds index is spread over this many partition keys
FINISHED_RESERVATION_DAYS = 30  # finished reservations stay readable this long
LEDGER_DAYS = 400
SCAN_PAGE = 1000  # items a scan page: each call stays well inside the client's 5 s read timeout


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def stock_key(sku: str, node_id: str, bucket: int = 0) -> dict[str, dict[str, str]]:
    pk = f"SKU#{sku}" if bucket == 0 else f"SKU#{sku}#B{bucket}"
    return {"pk": {"S": pk}, "sk": {"S": f"NODE#{node_id}"}}


def level_from_item(item: dict[str, Any]) -> StockLevel:
    values = from_item(item)
    return StockLevel(
        sku=values["sku"],
        node_id=values["node_id"],
        bucket=int(values.get("bucket", 0)),
        buckets=int(values.get("buckets", 1)),
        on_hand=int(values.get("on_hand", 0)),
        reserved=int(values.get("reserved", 0)),
        safety_stock=int(values.get("safety_stock", 0)),
        atp=int(values.get("atp", 0)),
        counted_on_hand=int(values["counted_on_hand"]) if "counted_on_hand" in values else None,
        counted_as_of=parse_time(values.get("counted_as_of")),
        moved_since_count=int(values.get("moved_since_count", 0)),
        last_move_at=parse_time(values.get("last_move_at")),
        updated_at=parse_time(values.get("updated_at")),
    )


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _change(kind: str, ref: str, at: datetime) -> dict[str, Any]:
    return {"M": {"kind": _s(kind), "ref": _s(ref), "at": _s(iso(at))}}


@dataclass(frozen=True)
class StockDelta:
    """A relative change to one stock item, with the guard that keeps the invariant."""

    sku: str
    node_id: str
    bucket: int = 0
    on_hand: int = 0
    reserved: int = 0
    guard: str | None = None  # "atp" (needs atp >= what leaves), "on_hand" (needs on_hand >= what leaves)
    create: bool = False  # may create the item (a receipt at a new (sku, node))
    safety_stock_if_new: int = 0


def _per_item(lines: list[ReservationLine]) -> dict[tuple[str, str, int], tuple[int, int]]:
    """(sku, node, bucket) -> (units, index of its first line). Two order lines of one SKU share a
    stock item, and a transaction may touch an item only once."""
    out: dict[tuple[str, str, int], tuple[int, int]] = {}
    for index, line in enumerate(lines):
        key = (line.sku, line.node_id, line.bucket)
        units, first = out.get(key, (0, index))
        out[key] = (units + line.quantity, first)
    return out


@dataclass
class Cancelled(Exception):
    """A transaction was cancelled; ``failed`` are the indexes of the items whose condition failed."""

    failed: list[int] = field(default_factory=list)
    parts: list[tuple] = field(default_factory=list)  # what each failed index was, when the writer says


class DynamoStock:
    def __init__(
        self, inventory_table: str, reservations_table: str, ledger_table: str, sourcing_table: str = ""
    ) -> None:
        self.inventory_table = inventory_table
        self.reservations_table = reservations_table
        self.ledger_table = ledger_table
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
            ExpressionAttributeValues={":n": _s(node_id)},
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
                    raise Cancelled(failed) from exc
                # TransactionConflict (another transaction on the same item): worth a retry
                raise Cancelled([]) from exc
            if code in ("ProvisionedThroughputExceededException", "ThrottlingException", "InternalServerError"):
                raise DependencyError(f"DynamoDB is throttling or failing ({code})") from exc
            raise

    def _delta_update(self, delta: StockDelta, kind: str, ref: str, now: datetime) -> dict[str, Any]:
        names = {"#oh": "on_hand", "#rs": "reserved", "#atp": "atp", "#bk": "bucket"}
        values: dict[str, Any] = {":now": _s(iso(now)), ":chg": _change(kind, ref, now), ":zero": _n(0)}
        sets = ["updated_at = :now", "last_change = :chg"]
        atp_delta = delta.on_hand - delta.reserved
        if delta.on_hand:
            values[":doh"] = _n(delta.on_hand)
            sets.append("#oh = if_not_exists(#oh, :zero) + :doh")
            sets.append("last_move_at = :now")
            sets.append("moved_since_count = if_not_exists(moved_since_count, :zero) + :doh")
        if delta.reserved:
            values[":drs"] = _n(delta.reserved)
            sets.append("#rs = if_not_exists(#rs, :zero) + :drs")
        if atp_delta:
            values[":datp"] = _n(atp_delta)
            if delta.create:
                values[":safe"] = _n(delta.safety_stock_if_new)
                values[":atp0"] = _n(-delta.safety_stock_if_new)
                sets.append("#atp = if_not_exists(#atp, :atp0) + :datp")
                sets.append("safety_stock = if_not_exists(safety_stock, :safe)")
            else:
                sets.append("#atp = #atp + :datp")
        conditions = []
        if not delta.create:
            conditions.append("attribute_exists(pk)")
        else:
            values[":sku"] = _s(delta.sku)
            values[":node"] = _s(delta.node_id)
            values[":bucket"] = _n(delta.bucket)
            sets += ["sku = :sku", "node_id = :node", "#bk = if_not_exists(#bk, :bucket)"]
            if delta.bucket == 0:
                sets.append("node_key = :node")
        if delta.guard == "atp":
            values[":need"] = _n(-atp_delta)
            conditions.append("#atp >= :need")
        elif delta.guard == "on_hand":
            values[":need"] = _n(-delta.on_hand)
            conditions.append("#oh >= :need")
        update: dict[str, Any] = {
            "TableName": self.inventory_table,
            "Key": stock_key(delta.sku, delta.node_id, delta.bucket),
            "UpdateExpression": "SET " + ", ".join(sets),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        if conditions:
            update["ConditionExpression"] = " AND ".join(conditions)
        used = " ".join([update["UpdateExpression"], update.get("ConditionExpression", "")])
        update["ExpressionAttributeNames"] = {k: v for k, v in names.items() if k in used}
        update["ExpressionAttributeValues"] = {k: v for k, v in values.items() if k in used}
        return {"Update": update}

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
            TableName=self.reservations_table, Key={"reservation_id": _s(reservation_id)}, ConsistentRead=True
        )
        item = response.get("Item")
        return self._reservation_from(item) if item else None

    def create_reservation(self, reservation: Reservation, now: datetime) -> None:
        """Header and every line's stock in one transaction. Raises Cancelled: index 0 = the
        reservation exists already; index i = line i-1 is short."""
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
            items.append(self._delta_update(delta, "reserve", reservation.reservation_id, now))
        self._transact(items)

    def create_reservations(self, reservations: list[Reservation], now: datetime, capacity: list[CapacityTake]) -> None:
        """Several reservations (an order's nodes), their stock and the node capacity they take,
        in one transaction: all or nothing. Raises Cancelled with ``parts`` naming each failed
        item: ("reservation", i) exists already, ("line", i, j) is short, ("capacity", k) is full."""
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
            for item_key, (quantity, first) in _per_item(reservation.lines).items():
                sku, node_id, bucket = item_key
                delta = StockDelta(sku, node_id, bucket, reserved=quantity, guard="atp")
                items.append(self._delta_update(delta, "reserve", reservation.reservation_id, now))
                parts.append(("line", i, first))
        for k, take in enumerate(capacity):
            items.append(take_item(self.sourcing_table, take))
            parts.append(("capacity", k))
        try:
            self._transact(items)
        except Cancelled as exc:
            exc.parts = [parts[index] for index in exc.failed]
            raise

    def finish_reservation(
        self, reservation: Reservation, status: ReservationStatus, now: datetime, reason: str | None = None
    ) -> None:
        """Release every line not consumed and close the reservation. Cancelled([0]) when it is not active."""
        open_lines = [line for line in reservation.lines if line.line_id not in reservation.consumed_lines]
        values: dict[str, Any] = {
            ":active": _s(ReservationStatus.active.value),
            ":status": _s(status.value),
            ":now": _s(iso(now)),
            ":purge": _n(int((now + timedelta(days=FINISHED_RESERVATION_DAYS)).timestamp())),
        }
        sets = "#st = :status, finished_at = :now, purge_at = :purge"
        if reason:
            values[":reason"] = _s(reason)
            sets += ", reason = :reason"
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.reservations_table,
                    "Key": {"reservation_id": _s(reservation.reservation_id)},
                    "UpdateExpression": f"SET {sets} REMOVE hold_shard",
                    "ConditionExpression": "#st = :active",
                    "ExpressionAttributeNames": {"#st": "status"},
                    "ExpressionAttributeValues": values,
                }
            }
        ]
        for (sku, node_id, bucket), (quantity, _) in _per_item(open_lines).items():
            delta = StockDelta(sku, node_id, bucket, reserved=-quantity)
            items.append(self._delta_update(delta, status.value, reservation.reservation_id, now))
        self._transact(items)

    def consume_lines(self, reservation: Reservation, line_ids: list[str], now: datetime) -> None:
        """Shipped: the lines' units leave on hand and reserved together. Cancelled([0]) when a
        line was consumed already or the reservation is not active."""
        lines = [line for line in reservation.lines if line.line_id in line_ids]
        done = set(reservation.consumed_lines) | set(line_ids)
        finished = done >= {line.line_id for line in reservation.lines}
        values: dict[str, Any] = {":active": _s(ReservationStatus.active.value), ":ids": {"SS": sorted(line_ids)}}
        names = {"#st": "status"}
        conditions = ["#st = :active"]
        for index, line_id in enumerate(line_ids):
            values[f":l{index}"] = _s(line_id)
            conditions.append(f"NOT contains(consumed_lines, :l{index})")
        expression = "ADD consumed_lines :ids"
        if finished:
            values[":consumed"] = _s(ReservationStatus.consumed.value)
            values[":now"] = _s(iso(now))
            values[":purge"] = _n(int((now + timedelta(days=FINISHED_RESERVATION_DAYS)).timestamp()))
            expression = "SET #st = :consumed, finished_at = :now, purge_at = :purge REMOVE hold_shard " + expression
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.reservations_table,
                    "Key": {"reservation_id": _s(reservation.reservation_id)},
                    "UpdateExpression": expression,
                    "ConditionExpression": " AND ".join(conditions),
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            }
        ]
        for (sku, node_id, bucket), (quantity, _) in _per_item(lines).items():
            delta = StockDelta(sku, node_id, bucket, on_hand=-quantity, reserved=-quantity)
            items.append(self._delta_update(delta, "consume", reservation.reservation_id, now))
        self._transact(items)

    def expired_holds(self, now: datetime, limit: int = 500) -> list[str]:
        ids: list[str] = []
        for shard in range(HOLD_SHARDS):
            paginator = client("dynamodb").get_paginator("query")
            for page in paginator.paginate(
                TableName=self.reservations_table,
                IndexName="active_holds",
                KeyConditionExpression="hold_shard = :shard AND expires_at <= :now",
                ExpressionAttributeValues={":shard": _s(f"HOLD#{shard}"), ":now": _s(iso(now))},
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
            ExpressionAttributeValues={":active": _s(ReservationStatus.active.value)},
            ConsistentRead=True,
            PaginationConfig={"PageSize": SCAN_PAGE},
        ):
            for item in page["Items"]:
                yield self._reservation_from(item)

    # ------------------------------------------------------------ movements

    def apply_movement(
        self, request_key: str, fingerprint: str, deltas: list[StockDelta], kind: str, now: datetime
    ) -> None:
        """The deltas and the request key in one transaction. Cancelled([0]) = key seen before."""
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
        items += [self._delta_update(delta, kind, request_key, now) for delta in deltas]
        self._transact(items)

    def request_fingerprint(self, request_key: str) -> str | None:
        response = client("dynamodb").get_item(
            TableName=self.ledger_table, Key={"pk": _s(f"REQ#{request_key}"), "sk": _s("REQ")}, ConsistentRead=True
        )
        item = response.get("Item")
        return item["fingerprint"]["S"] if item else None

    # ------------------------------------------------------------ absolute writes (counts, repairs, buckets)

    def count_update(
        self,
        level: StockLevel | None,
        sku: str,
        node_id: str,
        *,
        counted: int,
        as_of: datetime,
        moves_since: int,
        new_on_hand: int | None,
        ref: str,
        now: datetime,
        safety_if_new: int = 0,
    ) -> dict[str, Any]:
        """A count as a transaction item: recorded always, and on hand set when new_on_hand is given.
        Conditional on the on hand it was computed from (or on the item not existing)."""
        if level is None:  # a Put: the same figures, and far cheaper for the embedded AWS to apply
            on_hand = new_on_hand if new_on_hand is not None else 0
            item = {
                **stock_key(sku, node_id, 0),
                "sku": _s(sku),
                "node_id": _s(node_id),
                "node_key": _s(node_id),
                "bucket": _n(0),
                "on_hand": _n(on_hand),
                "reserved": _n(0),
                "safety_stock": _n(safety_if_new),
                "atp": _n(on_hand - safety_if_new),
                "counted_on_hand": _n(counted),
                "counted_as_of": _s(iso(as_of)),
                "moved_since_count": _n(moves_since),
                "updated_at": _s(iso(now)),
                "last_change": _change("count", ref, now),
            }
            return {
                "Put": {
                    "TableName": self.inventory_table,
                    "Item": item,
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        values: dict[str, Any] = {
            ":counted": _n(counted),
            ":asof": _s(iso(as_of)),
            ":moved": _n(moves_since),
            ":now": _s(iso(now)),
            ":chg": _change("count", ref, now),
            ":seen": _n(level.on_hand),
        }
        sets = ["counted_on_hand = :counted", "counted_as_of = :asof", "moved_since_count = :moved"]
        sets += ["updated_at = :now", "last_change = :chg"]
        if new_on_hand is not None and new_on_hand != level.on_hand:
            values[":oh"] = _n(new_on_hand)
            values[":diff"] = _n(new_on_hand - level.on_hand)
            sets += ["#oh = :oh", "atp = atp + :diff"]
        return {
            "Update": {
                "TableName": self.inventory_table,
                "Key": stock_key(sku, node_id, level.bucket),
                "UpdateExpression": "SET " + ", ".join(sets),
                "ConditionExpression": "#oh = :seen",
                "ExpressionAttributeNames": {"#oh": "on_hand"},
                "ExpressionAttributeValues": values,
            }
        }

    def transact(self, items: list[dict[str, Any]]) -> None:
        self._transact(items)

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
            ":oh": _n(new_on_hand),
            ":rs": _n(new_reserved),
            ":atp": _n(atp),
            ":seen_oh": _n(level.on_hand),
            ":seen_rs": _n(level.reserved),
            ":now": _s(iso(now)),
            ":chg": _change(kind, ref, now),
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
        by_bucket = {level.bucket: level for level in levels}
        items: list[dict[str, Any]] = []
        sku, node_id = levels[0].sku, levels[0].node_id
        for bucket in sorted(set(range(buckets)) | set(by_bucket)):
            delta = targets.get(bucket, 0)
            level = by_bucket.get(bucket)
            values: dict[str, Any] = {
                ":d": _n(delta),
                ":now": _s(iso(now)),
                ":chg": _change("rebalance", "buckets", now),
            }
            sets = ["on_hand = on_hand + :d", "atp = atp + :d", "updated_at = :now", "last_change = :chg"]
            if level is None:
                values.update(
                    {":oh": _n(delta), ":zero": _n(0), ":sku": _s(sku), ":node": _s(node_id), ":b": _n(bucket)}
                )
                sets = ["on_hand = :oh", "atp = :oh", "reserved = :zero", "safety_stock = :zero", "#bk = :b"]
                sets += ["sku = :sku", "node_id = :node", "updated_at = :now", "last_change = :chg"]
                condition = "attribute_not_exists(pk)"
            else:
                values[":seen"] = _n(level.atp)
                condition = "atp = :seen"
            if bucket == 0:
                values[":n"] = _n(buckets)
                sets.append("buckets = :n")
            if delta == 0 and level is not None and bucket != 0:
                continue
            items.append(
                {
                    "Update": {
                        "TableName": self.inventory_table,
                        "Key": stock_key(sku, node_id, bucket),
                        "UpdateExpression": "SET " + ", ".join(sets),
                        "ConditionExpression": condition,
                        "ExpressionAttributeValues": {
                            k: v for k, v in values.items() if k in " ".join(sets) + condition
                        },
                        **({"ExpressionAttributeNames": {"#bk": "bucket"}} if "#bk" in " ".join(sets) else {}),
                    }
                }
            )
        self._transact(items)

    # ------------------------------------------------------------ ledger

    def put_movements(self, entries: list[dict[str, Any]]) -> None:
        """Ledger entries from the inventory stream; keyed by stream sequence, so a replay overwrites."""
        for start in range(0, len(entries), 25):
            request = {self.ledger_table: [{"PutRequest": {"Item": to_item(e)}} for e in entries[start : start + 25]]}
            while request:
                response = client("dynamodb").batch_write_item(RequestItems=request)
                request = response.get("UnprocessedItems") or {}

    def on_hand_moves_since(self, sku: str, node_id: str, since: datetime) -> tuple[int, datetime | None]:
        """Sum of on-hand movements recorded after ``since`` (counts excluded), and the newest one's time."""
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
                if item.get("kind", {}).get("S") in ("count", "reconcile", "audit"):
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

    # ------------------------------------------------------------ snapshots and reports

    def get_item(self, pk: str, sk: str, consistent: bool = True) -> dict[str, Any] | None:
        response = client("dynamodb").get_item(
            TableName=self.ledger_table, Key={"pk": _s(pk), "sk": _s(sk)}, ConsistentRead=consistent
        )
        item = response.get("Item")
        return from_item(item) if item else None

    def update_item(self, pk: str, sk: str, **kwargs: Any) -> dict[str, Any] | None:
        """A raw UpdateItem on the ledger table; None when its condition failed."""
        try:
            response = client("dynamodb").update_item(
                TableName=self.ledger_table, Key={"pk": _s(pk), "sk": _s(sk)}, ReturnValues="ALL_NEW", **kwargs
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        return from_item(response["Attributes"])

    def put_report(self, kind: str, started_at: datetime, body: dict[str, Any]) -> None:
        client("dynamodb").put_item(
            TableName=self.ledger_table,
            Item=to_item(
                {
                    "pk": f"RUN#{kind}",
                    "sk": iso(started_at),
                    "report": json.dumps(body, default=str),
                    "expires_at": int((started_at + timedelta(days=90)).timestamp()),
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
