"""TransactWriteItems in moto, made item-sized.

moto backs a transaction up by deep-copying every table it touches, so one
reservation against a 100,000-item inventory table copied 100,000 items; and a
cancelled transaction left the stream records of its partial writes behind
(phantom changes for every stream consumer). This patch keeps the copy to the
items the transaction names and takes back their stream records on cancel, as
DynamoDB does (a cancelled transaction writes nothing).

Used by the embedded AWS (moto_server) and by the integration tests.
"""

from __future__ import annotations

import copy
import types
from typing import Any

_STATE = {"patched": False}


def patch_transactions() -> None:
    if _STATE["patched"]:
        return
    _STATE["patched"] = True

    from moto.dynamodb import models as backend_module
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    # The original's whole-table backup becomes the table itself (its restore a no-op);
    # the item backups below do the rollback.
    shim = types.SimpleNamespace(**{name: getattr(copy, name) for name in dir(copy) if not name.startswith("__")})
    shim.deepcopy = lambda obj, memo=None: obj if isinstance(obj, Table) else copy.deepcopy(obj, memo)
    backend_module.copy = shim  # type: ignore[attr-defined]

    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        backups: list[tuple[Table, DynamoType, DynamoType | None, Any]] = []
        shards: dict[str, tuple[Any, int]] = {}
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName", ""))
            if table is None:
                continue
            key = op.get("Key") or op.get("Item") or {}
            if table.hash_key_attr not in key:
                continue
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr in key else None
            if table.range_key_attr and range_value is None:
                continue
            current = table.get_item(hash_value, range_value)
            backups.append((table, hash_value, range_value, copy.deepcopy(current)))
            shard = table.stream_shard
            if shard is not None and table.name not in shards:
                shards[table.name] = (shard, len(shard.items) + shard.starting_sequence_number)
        try:
            return original(self, transact_items)
        except Exception:
            for table, hash_value, range_value, old in reversed(backups):
                _restore(table, hash_value, range_value, old)
            for shard, mark in shards.values():
                added = len(shard.items) + shard.starting_sequence_number - mark
                if added > 0:
                    del shard.items[len(shard.items) - added :]
            raise

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _restore(table: Any, hash_value: Any, range_value: Any, old: Any) -> None:
    if range_value is not None:
        bucket = table.items[hash_value]
        if old is None:
            bucket.pop(range_value, None)
        else:
            bucket[range_value] = old
    elif old is None:
        table.items.pop(hash_value, None)
    else:
        table.items[hash_value] = old
