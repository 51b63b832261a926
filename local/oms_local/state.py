"""Persist DynamoDB items and SQS messages across restarts of the (in-memory) moto server."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger("oms_local.state")

ClientFactory = Callable[[str], Any]


def default_data_dir(repo_root: Path) -> Path:
    return Path(os.environ.get("OMS_DATA_DIR") or repo_root / ".oms")


# ---------------------------------------------------------------- DynamoDB JSON <-> file JSON


def encode_attr(value: dict[str, Any]) -> dict[str, Any]:
    """Typed DynamoDB JSON as botocore returns it (bytes for B/BS) -> JSON-safe (base64)."""
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64encode(inner).decode()}
    if kind == "BS":
        return {"BS": [base64.b64encode(b).decode() for b in inner]}
    if kind == "M":
        return {"M": {k: encode_attr(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [encode_attr(v) for v in inner]}
    return {kind: inner}


def decode_attr(value: dict[str, Any]) -> dict[str, Any]:
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64decode(inner)}
    if kind == "BS":
        return {"BS": [base64.b64decode(b) for b in inner]}
    if kind == "M":
        return {"M": {k: decode_attr(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [decode_attr(v) for v in inner]}
    return {kind: inner}


def encode_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: encode_attr(v) for k, v in item.items()}


def decode_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: decode_attr(v) for k, v in item.items()}


# ---------------------------------------------------------------- snapshot


def scan_table(ddb: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in ddb.get_paginator("scan").paginate(TableName=table):
        items.extend(encode_item(i) for i in page["Items"])
    return items


def peek_queue(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Read every visible message, then make them visible again.

    SQS has no non-destructive read: this raises ApproximateReceiveCount by one. Messages
    in flight (being processed, or waiting out a failed attempt's visibility) are missed.
    """
    messages: list[dict[str, Any]] = []
    handles: list[str] = []
    while True:
        resp = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=60,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        batch = resp.get("Messages", [])
        if not batch:
            break
        for m in batch:
            handles.append(m["ReceiptHandle"])
            attrs = {}
            for name, a in (m.get("MessageAttributes") or {}).items():
                attr = {"DataType": a["DataType"]}
                if "StringValue" in a:
                    attr["StringValue"] = a["StringValue"]
                if "BinaryValue" in a:
                    attr["BinaryValue"] = base64.b64encode(a["BinaryValue"]).decode()
                attrs[name] = attr
            messages.append(
                {
                    "Body": m["Body"],
                    "MessageAttributes": attrs,
                    "Attributes": m.get("Attributes", {}),
                }
            )
    for i in range(0, len(handles), 10):
        chunk = handles[i : i + 10]
        entries = [{"Id": str(n), "ReceiptHandle": h, "VisibilityTimeout": 0} for n, h in enumerate(chunk)]
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
    return messages


def _atomic_write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


class StateStore:
    """Snapshot files under <data_dir>/state: tables.json and queues.json."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / "state"
        self._last_digest: str | None = None

    @property
    def exists(self) -> bool:
        return (self.dir / "tables.json").exists() or (self.dir / "queues.json").exists()

    def dump(
        self,
        client: ClientFactory,
        tables: dict[str, str],
        queues: dict[str, str],
        queue_ids: Iterable[str] | None = None,
    ) -> bool:
        """Write the snapshot if it changed; ``queue_ids`` limits which queues are read.

        Keys are logical ids, so a snapshot taken with one Stage is loaded by name-independent id.
        Returns whether anything was written.
        """
        ddb, sqs = client("dynamodb"), client("sqs")
        table_data = {lid: scan_table(ddb, name) for lid, name in tables.items()}
        wanted = set(queues if queue_ids is None else queue_ids)
        queue_data = {lid: peek_queue(sqs, url) for lid, url in queues.items() if lid in wanted}
        if queue_ids is not None and (self.dir / "queues.json").exists():
            # Keep the last snapshot of the queues not read this time.
            previous = json.loads((self.dir / "queues.json").read_text(encoding="utf-8"))
            queue_data = {**{k: v for k, v in previous.items() if k in queues}, **queue_data}
        digest = hashlib.sha256(
            json.dumps([table_data, _without_counts(queue_data)], sort_keys=True).encode()
        ).hexdigest()
        if digest == self._last_digest:
            return False
        _atomic_write(self.dir / "tables.json", table_data)
        _atomic_write(self.dir / "queues.json", queue_data)
        self._last_digest = digest
        return True

    def load(self, client: ClientFactory, tables: dict[str, str], queues: dict[str, str]) -> dict[str, int]:
        """Put the snapshot back; returns counts per logical id."""
        counts: dict[str, int] = {}
        tables_file, queues_file = self.dir / "tables.json", self.dir / "queues.json"
        if tables_file.exists():
            ddb = client("dynamodb")
            for lid, items in json.loads(tables_file.read_text(encoding="utf-8")).items():
                if lid not in tables:
                    log.warning("snapshot has items for unknown table %s; skipped", lid)
                    continue
                _batch_write(ddb, tables[lid], [decode_item(i) for i in items])
                counts[lid] = len(items)
        if queues_file.exists():
            sqs = client("sqs")
            for lid, messages in json.loads(queues_file.read_text(encoding="utf-8")).items():
                if lid not in queues:
                    log.warning("snapshot has messages for unknown queue %s; skipped", lid)
                    continue
                for m in messages:
                    _send(sqs, queues[lid], m)
                counts[lid] = len(messages)
        return counts


def _without_counts(queue_data: dict[str, list[dict[str, Any]]]) -> Any:
    # Peeking bumps receive counts and timestamps; they must not make an idle state look changed.
    return {lid: [[m["Body"], m["MessageAttributes"]] for m in msgs] for lid, msgs in queue_data.items()}


def _batch_write(ddb: Any, table: str, items: list[dict[str, Any]]) -> None:
    for i in range(0, len(items), 25):
        request = {table: [{"PutRequest": {"Item": item}} for item in items[i : i + 25]]}
        while request:
            request = ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}


def _send(sqs: Any, url: str, message: dict[str, Any]) -> None:
    kwargs: dict[str, Any] = {"QueueUrl": url, "MessageBody": message["Body"]}
    attrs = {}
    for name, a in (message.get("MessageAttributes") or {}).items():
        attr = dict(a)
        if "BinaryValue" in attr:
            attr["BinaryValue"] = base64.b64decode(attr["BinaryValue"])
        attrs[name] = attr
    if attrs:
        kwargs["MessageAttributes"] = attrs
    system = message.get("Attributes") or {}
    if url.endswith(".fifo"):
        kwargs["MessageGroupId"] = system.get("MessageGroupId", "restored")
        kwargs["MessageDeduplicationId"] = (
            system.get("MessageDeduplicationId") or hashlib.sha256(message["Body"].encode()).hexdigest()
        )
    sqs.send_message(**kwargs)
