"""The embedded AWS made crash-safe: a write-ahead journal and fork snapshots, inside the moto process.

moto keeps everything in memory. This module (WSGI middleware around moto, plus hooks on
moto's models) makes what it holds survive a SIGKILL of the whole stack:

* **Journal.** Every request that changes something (a DynamoDB item, an SQS message, a
  DynamoDB stream record) appends one JSON line to ``state/journal-<segment>.jsonl`` -- the
  changed items' full images after the request, the messages added or removed, the stream
  records created -- and fsyncs it *before* the response goes back. moto serves one
  request at a time, so the journal's order is the order the changes happened. A function
  that was answered "done" by the embedded AWS therefore has its write on disk, and so has
  an order the API answered 2xx.
* **Snapshots.** ``POST /_oms/state/snapshot`` starts a new journal segment and forks: the
  child writes a consistent point-in-time image of every table, queue, stream tail and
  stream consumer position (``state/snapshot.json``), fsyncs it, and deletes the journal
  segments it covers; the parent goes on serving (copy-on-write), so a snapshot of 100,000
  items does not stall the functions.
* **Replay.** ``POST /_oms/state/open`` (the runtime calls it after creating the resources,
  before anything else runs) loads the snapshot, then applies the journal segments after it
  in order, then journals again. Applying a line sets items to the images it holds, moves
  or removes messages by id and appends the stream records it holds with their sequence
  numbers: idempotent and ordered, so a crash during replay or a replay of the same
  segment twice gives the same state. A torn last line (the crash happened mid-write; its
  request was never answered) is ignored.
* **Streams and queues after a restart.** The stream consumers (the runtime's pump) post
  their position after each batch (``POST /_oms/state/checkpoint``, journalled). Stream
  records newer than the oldest consumer position are kept in the snapshot and journal, so
  after a restart each consumer resumes after the last batch it finished: records it had
  not finished are delivered again (at least once, as Lambda does), records it had finished
  are not, and restored items do not make new stream records. SQS messages come back with
  their ids, visible (in-flight ones too: their consumer never deleted them, so they are
  delivered again, as after a visibility timeout).

Not persisted: SSM parameters and API keys (set at every start), EventBridge rules and
targets (created at every start), the EventBridge archive, FIFO de-duplication windows,
receive counts.
"""

from __future__ import annotations

import base64
import datetime
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger("oms_local.durable")

ACCOUNT = "123456789012"
REGION = "us-east-1"
SNAPSHOT = "snapshot.json"
PREFIX = "/_oms/state/"


# ---------------------------------------------------------------- JSON with bytes and datetimes


def _default(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"__b64__": base64.b64encode(value).decode()}
    if isinstance(value, datetime.datetime):
        return {"__dt__": value.timestamp()}
    if isinstance(value, set):
        return sorted(value)
    raise TypeError(type(value).__name__)


def _hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        if "__b64__" in obj:
            return base64.b64decode(obj["__b64__"])
        if "__dt__" in obj:
            return datetime.datetime.fromtimestamp(obj["__dt__"], datetime.UTC)
    return obj


def dumps(value: Any) -> str:
    return json.dumps(value, default=_default, separators=(",", ":"))


def loads(text: str | bytes) -> Any:
    return json.loads(text, object_hook=_hook)


# ---------------------------------------------------------------- moto access


def _ddb() -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[ACCOUNT][REGION]


def _sqs() -> Any:
    from moto.sqs.models import sqs_backends

    return sqs_backends[ACCOUNT][REGION]


def _key_json(table: Any, hash_key: Any, range_key: Any) -> dict[str, Any]:
    key = {table.hash_key_attr: hash_key.to_json()}
    if table.range_key_attr is not None and range_key is not None:
        key[table.range_key_attr] = range_key.to_json()
    return key


def _message_json(m: Any) -> dict[str, Any]:
    return {
        "id": m.id,
        "body": m.body,
        "attrs": m.message_attributes,
        "sys": m.system_attributes,
        "group": m.group_id,
        "dedup": m.deduplication_id,
        "seqn": m.sequence_number,
        "sent": m.sent_timestamp,
        "delayed_until": m.delayed_until,
    }


def _message_from(data: dict[str, Any]) -> Any:
    from moto.sqs.models import Message

    m = Message(data["id"], data["body"], data.get("sys") or {})
    m.message_attributes = data.get("attrs") or {}
    m.group_id = data.get("group")
    m.deduplication_id = data.get("dedup")
    m.sequence_number = data.get("seqn")
    m.sent_timestamp = data.get("sent") or int(time.time() * 1000)
    m.delayed_until = float(data.get("delayed_until") or 0.0)
    return m


class _Record:
    """A stream record put back from disk: what moto's StreamShard.get needs (to_json)."""

    __slots__ = ("record",)

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record

    def to_json(self) -> dict[str, Any]:
        return self.record


# ---------------------------------------------------------------- the journal


class Durability:
    """Journal + snapshots + replay. One instance in the moto process (see ``install``)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.dir: Path | None = None
        self.enabled = False
        self.fsync = True
        self.fd = -1
        self.segment = 0
        self.lsn = 0
        self.names: dict[str, dict[str, str]] = {"tables": {}, "queues": {}}
        self.checkpoints: dict[str, dict[str, Any]] = {}  # consumer -> {"table": name, "seq": n}
        self.registered: set[str] = set()
        self.child: int | None = None
        self.child_started = 0.0
        self.last_snapshot: dict[str, Any] = {}
        self.stats = {"entries": 0, "bytes": 0, "fsync_ms": 0.0}
        self.changes = 0  # journalled changes (and checkpoints) so far; a snapshot marks where it was
        self.changes_snapshotted = 0
        # What the request being served changed (filled by the model hooks).
        self._items: dict[tuple[int, Any, Any], tuple[Any, Any, Any]] = {}
        self._records: list[tuple[Any, Any]] = []
        self._sqs: list[list[Any]] = []

    # ------------------------------------------------------------ hooks (called by moto's models)

    def item_changed(self, table: Any, hash_key: Any, range_key: Any) -> None:
        if self.enabled:
            self._items[(id(table), hash_key, range_key)] = (table, hash_key, range_key)

    def record_added(self, shard: Any) -> None:
        if self.enabled and shard.items:
            self._records.append((shard, shard.items[-1]))

    def message_added(self, queue: Any, message: Any) -> None:
        if self.enabled:
            self._sqs.append(["add", queue.name, _message_json(message)])

    def message_deleted(self, queue: Any, message_id: str) -> None:
        if self.enabled:
            self._sqs.append(["del", queue.name, message_id])

    def queue_purged(self, queue_name: str) -> None:
        if self.enabled:
            self._sqs.append(["purge", queue_name])

    # ------------------------------------------------------------ WSGI

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or ""
        if path.startswith(PREFIX):
            return self._control(path[len(PREFIX) :], environ, start_response)
        self._items.clear()
        self._records.clear()
        self._sqs.clear()
        result = self.app(environ, start_response)
        if self.enabled and (self._items or self._records or self._sqs):
            self._flush()
        return result

    def _flush(self) -> None:
        entry: dict[str, Any] = {"n": self.lsn + 1}
        if self._items:
            changes = []
            for table, hash_key, range_key in self._items.values():
                item = table.get_item(hash_key, range_key)
                image = item.to_json()["Attributes"] if item is not None else None
                changes.append([table.name, _key_json(table, hash_key, range_key), image])
            entry["d"] = changes
        if self._records:
            records = []
            for shard, record in self._records:
                seq = int(record.record["dynamodb"]["SequenceNumber"])
                index = seq - shard.starting_sequence_number
                if 0 <= index < len(shard.items) and shard.items[index] is record:  # not taken back
                    records.append([shard.table.name, seq, record.record])
            if records:
                entry["s"] = records
        if self._sqs:
            entry["q"] = list(self._sqs)
        self._items.clear()
        self._records.clear()
        self._sqs.clear()
        if len(entry) > 1:
            self._append(entry, sync=True)

    def _append(self, entry: dict[str, Any], sync: bool) -> None:
        self.lsn = entry.get("n", self.lsn)
        data = (dumps(entry) + "\n").encode()
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        self.stats["entries"] += 1
        if "names" not in entry:
            self.changes += 1
        self.stats["bytes"] += len(data)
        if sync and self.fsync:
            started = time.perf_counter()
            os.fsync(self.fd)
            self.stats["fsync_ms"] += (time.perf_counter() - started) * 1000

    # ------------------------------------------------------------ control endpoints

    def _control(self, action: str, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
        try:
            if action == "open":
                payload = self.open(body)
            elif action == "checkpoint":
                payload = self.checkpoint(body["consumer"], body["table"], body["position"])
            elif action == "snapshot":
                payload = self.snapshot(wait=bool(body.get("wait")))
            elif action == "status":
                payload = self.status()
            else:
                start_response("404 Not Found", [("Content-Type", "application/json")])
                return [b'{"message":"Not Found"}']
        except Exception as exc:  # the runtime logs it
            log.exception("durable %s failed", action)
            start_response("500 Internal Server Error", [("Content-Type", "application/json")])
            return [json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode()]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(payload).encode()]

    def status(self) -> dict[str, Any]:
        self._reap(block=False)
        return {
            "enabled": self.enabled,
            "segment": self.segment,
            "lsn": self.lsn,
            "snapshot_running": self.child is not None,
            "last_snapshot": self.last_snapshot,
            "journal": dict(self.stats),
            "checkpoints": self.checkpoints,
        }

    # ------------------------------------------------------------ stream consumers

    def checkpoint(self, consumer: str, table_name: str, position: Any) -> dict[str, Any]:
        """A consumer's last finished record; "LATEST"/"TRIM_HORIZON" registers it at that position."""
        shard = _ddb().get_table(table_name).stream_shard
        if position == "LATEST":
            seq = shard.starting_sequence_number + len(shard.items) - 1
        elif position == "TRIM_HORIZON":
            seq = shard.starting_sequence_number - 1
        else:
            seq = int(position)
        self.registered.add(consumer)
        self.checkpoints[consumer] = {"table": table_name, "seq": seq}
        if self.enabled:
            self._append({"c": [consumer, table_name, seq]}, sync=False)
        return {"seq": seq}

    # ------------------------------------------------------------ open: snapshot + journal replay

    def open(self, body: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        self.dir = Path(body["dir"])
        self.dir.mkdir(parents=True, exist_ok=True)
        self.fsync = bool(body.get("fsync", True))
        self.names = {"tables": dict(body.get("tables") or {}), "queues": dict(body.get("queues") or {})}
        _settle_messages()
        existed = self._load_snapshot()
        segments = self._segments()
        replayed = 0
        for number in segments:
            if number > self.segment:
                replayed += self._replay(self.dir / f"journal-{number:08d}.jsonl", last=number == segments[-1])
        if replayed or (existed and not (self.dir / SNAPSHOT).exists()):
            self.changes += 1  # the next periodic snapshot folds the replayed journal (or old format) in
        existed = existed or bool(segments)
        _settle_messages()
        self.segment = max([self.segment, *segments]) + 1
        self._open_segment()
        self.enabled = True
        restored: dict[str, int] = {}
        ddb, sqs = _ddb(), _sqs()
        for lid, name in self.names["tables"].items():
            table = ddb.tables.get(name)
            if table is not None:
                count = sum(len(v) for v in table.items.values()) if table.range_key_attr else len(table.items)
                if count:
                    restored[lid] = count
        for lid, name in self.names["queues"].items():
            queue = sqs.queues.get(name)
            if queue is not None and queue._messages:
                restored[lid] = len(queue._messages)
        return {
            "existed": existed,
            "restored": restored,
            "replayed": replayed,
            "checkpoints": {c: v["seq"] for c, v in self.checkpoints.items()},
            "ms": round((time.perf_counter() - started) * 1000, 1),
        }

    def _segments(self) -> list[int]:
        assert self.dir is not None
        numbers = []
        for path in self.dir.glob("journal-*.jsonl"):
            try:
                numbers.append(int(path.stem.split("-", 1)[1]))
            except ValueError:
                continue
        return sorted(numbers)

    def _open_segment(self) -> None:
        assert self.dir is not None
        if self.fd >= 0:
            os.close(self.fd)
        path = self.dir / f"journal-{self.segment:08d}.jsonl"
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._append({"names": self.names}, sync=True)
        _fsync_dir(self.dir)

    def _renames(self, old: dict[str, dict[str, str]] | None) -> dict[str, str]:
        """Old resource name -> current one, by logical id (a snapshot taken with another Stage)."""
        renames: dict[str, str] = {}
        for kind in ("tables", "queues"):
            for lid, name in (old or {}).get(kind, {}).items():
                current = self.names[kind].get(lid)
                if current and current != name:
                    renames[name] = current
        return renames

    def _load_snapshot(self) -> bool:
        assert self.dir is not None
        path = self.dir / SNAPSHOT
        if path.exists():
            data = loads(path.read_bytes())
            self.segment = int(data["segment"])
            self.lsn = int(data.get("lsn", 0))
            renames = self._renames(data.get("names"))
            for name, items in data.get("tables", {}).items():
                for image in items:
                    _put_image(renames.get(name, name), image)
            for name, messages in data.get("queues", {}).items():
                for message in messages:
                    _add_message(renames.get(name, name), message)
            for name, stream in data.get("streams", {}).items():
                _set_stream(renames.get(name, name), stream["start"], stream["records"])
            for consumer, ck in data.get("checkpoints", {}).items():
                self.checkpoints[consumer] = {"table": renames.get(ck["table"], ck["table"]), "seq": ck["seq"]}
            return True
        return self._load_old_format()

    def _load_old_format(self) -> bool:
        """tables.json / queues.json, keyed by logical id, from before the journal."""
        assert self.dir is not None
        tables_file, queues_file = self.dir / "tables.json", self.dir / "queues.json"
        found = False
        if tables_file.exists():
            found = True
            for lid, items in json.loads(tables_file.read_text(encoding="utf-8")).items():
                name = self.names["tables"].get(lid)
                if name is None:
                    log.warning("snapshot has items for unknown table %s; skipped", lid)
                    continue
                for image in items:
                    _put_image(name, image)
        if queues_file.exists():
            found = True
            for lid, messages in json.loads(queues_file.read_text(encoding="utf-8")).items():
                name = self.names["queues"].get(lid)
                if name is None:
                    log.warning("snapshot has messages for unknown queue %s; skipped", lid)
                    continue
                for m in messages:
                    system = m.get("Attributes") or {}
                    _add_message(
                        name,
                        {
                            "id": system.get("MessageId") or os.urandom(16).hex(),
                            "body": m["Body"],
                            "attrs": m.get("MessageAttributes") or {},
                            "group": system.get("MessageGroupId"),
                            "dedup": system.get("MessageDeduplicationId"),
                        },
                    )
        return found

    def _replay(self, path: Path, last: bool) -> int:
        applied = 0
        renames: dict[str, str] = {}
        with open(path, "rb") as fh:
            lines = fh.read().split(b"\n")
        for number, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                entry = loads(line)
            except ValueError:
                if last and number >= len(lines) - 2:
                    log.warning("%s: torn last line ignored (its request was never answered)", path.name)
                    break
                raise
            if "names" in entry:
                renames = self._renames(entry["names"])
                continue
            self._apply(entry, renames)
            applied += 1
        return applied

    def _apply(self, entry: dict[str, Any], renames: dict[str, str]) -> None:
        self.lsn = max(self.lsn, int(entry.get("n", 0)))
        for old_name, key, image in entry.get("d", ()):
            name = renames.get(old_name, old_name)
            if image is None:
                _delete_key(name, key)
            else:
                _put_image(name, image)
        for name, seq, record in entry.get("s", ()):
            _append_record(renames.get(name, name), int(seq), record)
        for op in entry.get("q", ()):
            kind, name = op[0], renames.get(op[1], op[1])
            if kind == "add":
                _add_message(name, op[2])
            elif kind == "del":
                _delete_message(name, op[2])
            elif kind == "purge":
                for message_id, (queue, _message) in list(_WHERE.items()):
                    if queue.name == name:
                        _delete_message(name, message_id)
        if "c" in entry:
            consumer, table, seq = entry["c"]
            self.checkpoints[consumer] = {"table": renames.get(table, table), "seq": int(seq)}

    # ------------------------------------------------------------ snapshots

    def _reap(self, block: bool) -> None:
        if self.child is None:
            return
        pid, status = os.waitpid(self.child, 0 if block else os.WNOHANG)
        if pid == 0:
            return
        code = os.waitstatus_to_exitcode(status)
        self.last_snapshot = {
            "ok": code == 0,
            "exit": code,
            "segment": self.segment - 1,
            "ms": round((time.monotonic() - self.child_started) * 1000, 1),
        }
        if code != 0:
            log.error("snapshot child exited with %s; the journal since the last snapshot is kept", code)
            self.changes_snapshotted = -1  # try again at the next one
        self.child = None

    def snapshot(self, wait: bool) -> dict[str, Any]:
        """Start a new journal segment and fork a child that writes the state up to the old one."""
        if not self.enabled:
            return {"started": False, "reason": "not open"}
        self._reap(block=wait)
        if self.child is not None:
            return {"started": False, "reason": "a snapshot is being written"}
        if not wait and self.changes == self.changes_snapshotted:
            return {"started": False, "reason": "nothing changed since the last snapshot"}
        self.changes_snapshotted = self.changes
        covered = self.segment
        self.segment += 1
        self._open_segment()
        data = self._snapshot_data(covered)
        started = time.monotonic()
        fork_started = time.perf_counter()
        pid = os.fork()
        if pid == 0:  # the child: write and leave, never back into the server
            code = 1
            try:
                _write_snapshot(self.dir, data, covered)  # type: ignore[arg-type]
                code = 0
            except BaseException:
                log.exception("snapshot failed")
            finally:
                os._exit(code)
        fork_ms = (time.perf_counter() - fork_started) * 1000
        self.child, self.child_started = pid, started
        result: dict[str, Any] = {"started": True, "fork_ms": round(fork_ms, 2), "segment": covered}
        if wait:
            self._reap(block=True)
            result.update(self.last_snapshot)
        return result

    def _snapshot_data(self, covered: int) -> dict[str, Any]:
        """What the child serialises (references only: taken in the parent, at fork time, in O(tables))."""
        tables = _ddb().tables
        by_table: dict[str, int] = {}
        for consumer in self.registered:
            ck = self.checkpoints.get(consumer)
            if ck is not None:
                by_table[ck["table"]] = min(by_table.get(ck["table"], ck["seq"]), ck["seq"])
        return {
            "segment": covered,
            "lsn": self.lsn,
            "names": self.names,
            "tables": tables,
            "queues": _sqs().queues,
            "stream_from": by_table,
            "checkpoints": {c: v for c, v in self.checkpoints.items() if c in self.registered},
        }


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_snapshot(directory: Path, data: dict[str, Any], covered: int) -> None:
    """In the forked child: the state as of the fork, then the journal segments it covers go."""
    out: dict[str, Any] = {
        "version": 2,
        "segment": covered,
        "lsn": data["lsn"],
        "names": data["names"],
        "tables": {},
        "queues": {},
        "streams": {},
        "checkpoints": data["checkpoints"],
    }
    for name, table in data["tables"].items():
        out["tables"][name] = [item.to_json()["Attributes"] for item in table.all_items()]
        shard = table.stream_shard
        if shard is not None:
            start = shard.starting_sequence_number
            keep_from = data["stream_from"].get(name)
            next_seq = start + len(shard.items)
            first = next_seq if keep_from is None else max(start, keep_from + 1)
            out["streams"][name] = {
                "start": first,
                "records": [r.to_json() for r in shard.items[first - start :]],
            }
    for name, queue in data["queues"].items():
        if queue._messages:
            out["queues"][name] = [_message_json(m) for m in queue._messages]
    tmp = directory / f".{SNAPSHOT}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(out, fh, default=_default, separators=(",", ":"))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, directory / SNAPSHOT)
    _fsync_dir(directory)
    for path in directory.glob("journal-*.jsonl"):
        try:
            number = int(path.stem.split("-", 1)[1])
        except ValueError:
            continue
        if number <= covered:
            path.unlink()
    for old in ("tables.json", "queues.json"):  # the format before the journal, now superseded
        (directory / old).unlink(missing_ok=True)


# ---------------------------------------------------------------- applying state to moto directly


def _table(name: str) -> Any:
    table = _ddb().tables.get(name)
    if table is None:
        log.warning("state for unknown table %s; skipped", name)
    return table


def _key_types(table: Any, image: dict[str, Any]) -> tuple[Any, Any]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    hash_key = DynamoType(image[table.hash_key_attr])
    range_key = DynamoType(image[table.range_key_attr]) if table.range_key_attr else None
    return hash_key, range_key


def _put_image(name: str, image: dict[str, Any]) -> None:
    from moto.dynamodb.models.dynamo_type import Item

    table = _table(name)
    if table is None:
        return
    hash_key, range_key = _key_types(table, image)
    item = Item(hash_key, range_key, image)
    if range_key is not None:
        table.items[hash_key][range_key] = item
    else:
        table.items[hash_key] = item


def _delete_key(name: str, key: dict[str, Any]) -> None:
    table = _table(name)
    if table is None:
        return
    hash_key, range_key = _key_types(table, key)
    if range_key is not None:
        bucket = table.items.get(hash_key)
        if bucket is not None:
            bucket.pop(range_key, None)
            if not bucket:
                table.items.pop(hash_key, None)
    else:
        table.items.pop(hash_key, None)


def _set_stream(name: str, start: int, records: list[dict[str, Any]]) -> None:
    table = _table(name)
    if table is None or table.stream_shard is None:
        return
    shard = table.stream_shard
    shard.starting_sequence_number = int(start)
    shard.items = [_Record(r) for r in records]


def _append_record(name: str, seq: int, record: dict[str, Any]) -> None:
    table = _table(name)
    if table is None or table.stream_shard is None:
        return
    shard = table.stream_shard
    expected = shard.starting_sequence_number + len(shard.items)
    if seq < expected:
        return  # already there (a segment replayed twice)
    if seq > expected:  # a gap (records trimmed, or a snapshot without a stream tail): start here
        shard.items = []
        shard.starting_sequence_number = seq
    shard.items.append(_Record(record))


def _queue(name: str) -> Any:
    sqs = _sqs()
    queue = sqs.queues.get(name)
    if queue is None:  # e.g. the runtime's hidden EventBridge rule queues, created later
        queue = sqs.create_queue(name)
    return queue


# While loading and replaying: message id -> (queue, the message), and the messages to drop
# from each queue (removed in one pass at the end: a delete is O(1), not a scan of the queue).
_WHERE: dict[str, tuple[Any, Any]] = {}
_DROP: dict[int, tuple[Any, set[int]]] = {}


def _add_message(name: str, data: dict[str, Any]) -> None:
    if data["id"] in _WHERE:  # a DLQ move is an add to the DLQ; a segment replayed twice re-adds
        _delete_message(name, data["id"])
    queue, message = _queue(name), _message_from(data)
    queue._messages.append(message)
    _WHERE[data["id"]] = (queue, message)


def _delete_message(_name: str, message_id: str) -> None:
    found = _WHERE.pop(message_id, None)
    if found is not None:
        queue, message = found
        _DROP.setdefault(id(queue), (queue, set()))[1].add(id(message))


def _settle_messages() -> None:
    for queue, dropped in _DROP.values():
        queue._messages = [m for m in queue._messages if id(m) not in dropped]
    _DROP.clear()
    _WHERE.clear()


# ---------------------------------------------------------------- hooks on moto's models


def install(app: Callable[..., Iterable[bytes]]) -> Durability:
    """Wrap the moto WSGI app and hook the models; call once, in the moto process, after other patches."""
    durable = Durability(app)

    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import StreamShard, Table
    from moto.sqs.models import Queue, SQSBackend

    put_item, delete_item = Table.put_item, Table.delete_item

    def table_put_item(self: Table, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        item = put_item(self, item_attrs, *args, **kwargs)
        durable.item_changed(self, item.hash_key, item.range_key)
        return item

    def table_delete_item(self: Table, hash_key: Any, range_key: Any) -> Any:
        item = delete_item(self, hash_key, range_key)
        if item is not None:
            durable.item_changed(self, hash_key, range_key)
        return item

    Table.put_item = table_put_item  # type: ignore[method-assign]
    Table.delete_item = table_delete_item  # type: ignore[method-assign]

    update_item = DynamoDBBackend.update_item

    def backend_update_item(self: DynamoDBBackend, table_name: str, key: dict[str, Any], *args: Any, **kw: Any) -> Any:
        try:
            return update_item(self, table_name, key, *args, **kw)
        finally:  # mark even on a late failure: moto may have changed the item in place already
            try:
                table = self.get_table(table_name)
                hash_key = DynamoType(key[table.hash_key_attr])
                range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
                durable.item_changed(table, hash_key, range_key)
            except Exception:  # noqa: S110 - an invalid key changed nothing
                pass

    DynamoDBBackend.update_item = backend_update_item  # type: ignore[method-assign]

    add = StreamShard.add

    def shard_add(self: StreamShard, old: Any, new: Any) -> None:
        add(self, old, new)
        durable.record_added(self)

    StreamShard.add = shard_add  # type: ignore[method-assign]

    add_message, queue_delete = Queue.add_message, Queue.delete_message

    def queue_add_message(self: Queue, message: Any) -> None:
        add_message(self, message)
        if self._messages and self._messages[-1] is message:  # not dropped as a FIFO duplicate
            durable.message_added(self, message)

    def queue_delete_message(self: Queue, receipt_handle: str) -> None:
        ids = [m.id for m in self._messages if m.had_receipt_handle(receipt_handle)]
        queue_delete(self, receipt_handle)
        for message_id in ids:
            durable.message_deleted(self, message_id)

    Queue.add_message = queue_add_message  # type: ignore[method-assign]
    Queue.delete_message = queue_delete_message  # type: ignore[method-assign]

    purge = SQSBackend.purge_queue

    def purge_queue(self: SQSBackend, queue_name: str) -> None:
        purge(self, queue_name)
        durable.queue_purged(queue_name)

    SQSBackend.purge_queue = purge_queue  # type: ignore[method-assign]
    return durable
