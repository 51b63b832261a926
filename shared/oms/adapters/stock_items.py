"""The inventory table's item formats and update expressions, as plain functions:
keys (pk ``SKU#<sku>`` or ``SKU#<sku>#B<n>``, sk ``NODE#<node>``), stock items
to StockLevel, and the writes that keep ``atp`` in step with what they change.
oms.adapters.stock sends them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from oms.adapters.dynamo import from_item
from oms.domain.ledger import iso, parse_time
from oms.models.inventory import ReservationLine, StockLevel
from oms.ports.stock import CountWrite, StockDelta


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


def num(value: int) -> dict[str, str]:
    return {"N": str(value)}


def text(value: str) -> dict[str, str]:
    return {"S": value}


def change_stamp(kind: str, ref: str, at: datetime) -> dict[str, Any]:
    return {"M": {"kind": text(kind), "ref": text(ref), "at": text(iso(at))}}


def per_item(lines: list[ReservationLine]) -> dict[tuple[str, str, int], tuple[int, int]]:
    """(sku, node, bucket) -> (units, index of its first line). Two order lines of one SKU share a
    stock item, and a transaction may touch an item only once."""
    out: dict[tuple[str, str, int], tuple[int, int]] = {}
    for index, line in enumerate(lines):
        key = (line.sku, line.node_id, line.bucket)
        units, first = out.get(key, (0, index))
        out[key] = (units + line.quantity, first)
    return out


def delta_update(table: str, delta: StockDelta, kind: str, ref: str, now: datetime) -> dict[str, Any]:
    names = {"#oh": "on_hand", "#rs": "reserved", "#atp": "atp", "#bk": "bucket"}
    values: dict[str, Any] = {":now": text(iso(now)), ":chg": change_stamp(kind, ref, now), ":zero": num(0)}
    sets = ["updated_at = :now", "last_change = :chg"]
    atp_delta = delta.on_hand - delta.reserved
    if delta.on_hand:
        values[":doh"] = num(delta.on_hand)
        sets.append("#oh = if_not_exists(#oh, :zero) + :doh")
        sets.append("last_move_at = :now")
        sets.append("moved_since_count = if_not_exists(moved_since_count, :zero) + :doh")
    if delta.reserved:
        values[":drs"] = num(delta.reserved)
        sets.append("#rs = if_not_exists(#rs, :zero) + :drs")
    if atp_delta:
        values[":datp"] = num(atp_delta)
        if delta.create:
            values[":safe"] = num(delta.safety_stock_if_new)
            values[":atp0"] = num(-delta.safety_stock_if_new)
            sets.append("#atp = if_not_exists(#atp, :atp0) + :datp")
            sets.append("safety_stock = if_not_exists(safety_stock, :safe)")
        else:
            sets.append("#atp = #atp + :datp")
    conditions = []
    if not delta.create:
        conditions.append("attribute_exists(pk)")
    else:
        values[":sku"] = text(delta.sku)
        values[":node"] = text(delta.node_id)
        values[":bucket"] = num(delta.bucket)
        sets += ["sku = :sku", "node_id = :node", "#bk = if_not_exists(#bk, :bucket)"]
        if delta.bucket == 0:
            sets.append("node_key = :node")
    if delta.guard == "atp":
        values[":need"] = num(-atp_delta)
        conditions.append("#atp >= :need")
    elif delta.guard == "on_hand":
        values[":need"] = num(-delta.on_hand)
        conditions.append("#oh >= :need")
    update: dict[str, Any] = {
        "TableName": table,
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


def count_item(table: str, write: CountWrite, ref: str, now: datetime) -> dict[str, Any]:
    """A count as a transaction item: recorded always, and on hand set when new_on_hand is given.
    Conditional on the on hand it was computed from (or on the item not existing)."""
    level, sku, node_id = write.head, write.sku, write.node_id
    counted, as_of, moves_since = write.counted, write.as_of, write.moves_since
    new_on_hand, safety_if_new = write.new_on_hand, write.safety_if_new
    if level is None:  # a Put: the same figures, and far cheaper for the embedded AWS to apply
        on_hand = new_on_hand if new_on_hand is not None else 0
        item = {
            **stock_key(sku, node_id, 0),
            "sku": text(sku),
            "node_id": text(node_id),
            "node_key": text(node_id),
            "bucket": num(0),
            "on_hand": num(on_hand),
            "reserved": num(0),
            "safety_stock": num(safety_if_new),
            "atp": num(on_hand - safety_if_new),
            "counted_on_hand": num(counted),
            "counted_as_of": text(iso(as_of)),
            "moved_since_count": num(moves_since),
            "updated_at": text(iso(now)),
            "last_change": change_stamp("count", ref, now),
        }
        return {
            "Put": {
                "TableName": table,
                "Item": item,
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
    values: dict[str, Any] = {
        ":counted": num(counted),
        ":asof": text(iso(as_of)),
        ":moved": num(moves_since),
        ":now": text(iso(now)),
        ":chg": change_stamp("count", ref, now),
        ":seen": num(level.on_hand),
    }
    sets = ["counted_on_hand = :counted", "counted_as_of = :asof", "moved_since_count = :moved"]
    sets += ["updated_at = :now", "last_change = :chg"]
    if new_on_hand is not None and new_on_hand != level.on_hand:
        values[":oh"] = num(new_on_hand)
        values[":diff"] = num(new_on_hand - level.on_hand)
        sets += ["#oh = :oh", "atp = atp + :diff"]
    return {
        "Update": {
            "TableName": table,
            "Key": stock_key(sku, node_id, level.bucket),
            "UpdateExpression": "SET " + ", ".join(sets),
            "ConditionExpression": "#oh = :seen",
            "ExpressionAttributeNames": {"#oh": "on_hand"},
            "ExpressionAttributeValues": values,
        }
    }


def rebalance_updates(
    table: str, levels: list[StockLevel], targets: dict[int, int], buckets: int, now: datetime
) -> list[dict[str, Any]]:
    """Bucket b's on hand changes by targets[b], conditional on each bucket's atp as read."""
    by_bucket = {level.bucket: level for level in levels}
    items: list[dict[str, Any]] = []
    sku, node_id = levels[0].sku, levels[0].node_id
    for bucket in sorted(set(range(buckets)) | set(by_bucket)):
        delta = targets.get(bucket, 0)
        level = by_bucket.get(bucket)
        values: dict[str, Any] = {
            ":d": num(delta),
            ":now": text(iso(now)),
            ":chg": change_stamp("rebalance", "buckets", now),
        }
        sets = ["on_hand = on_hand + :d", "atp = atp + :d", "updated_at = :now", "last_change = :chg"]
        if level is None:
            values.update(
                {":oh": num(delta), ":zero": num(0), ":sku": text(sku), ":node": text(node_id), ":b": num(bucket)}
            )
            sets = ["on_hand = :oh", "atp = :oh", "reserved = :zero", "safety_stock = :zero", "#bk = :b"]
            sets += ["sku = :sku", "node_id = :node", "updated_at = :now", "last_change = :chg"]
            condition = "attribute_not_exists(pk)"
        else:
            values[":seen"] = num(level.atp)
            condition = "atp = :seen"
        if bucket == 0:
            values[":n"] = num(buckets)
            sets.append("buckets = :n")
        if delta == 0 and level is not None and bucket != 0:
            continue
        items.append(
            {
                "Update": {
                    "TableName": table,
                    "Key": stock_key(sku, node_id, bucket),
                    "UpdateExpression": "SET " + ", ".join(sets),
                    "ConditionExpression": condition,
                    "ExpressionAttributeValues": {k: v for k, v in values.items() if k in " ".join(sets) + condition},
                    **({"ExpressionAttributeNames": {"#bk": "bucket"}} if "#bk" in " ".join(sets) else {}),
                }
            }
        )
    return items
