"""Persist DynamoDB items and SQS messages across restarts (and crashes) of the in-memory moto server."""

from __future__ import annotations

import base64
import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable
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


# ---------------------------------------------------------------- the durable embedded AWS


class StateStore:
    """The state under <data_dir>/state, kept by the moto process itself (oms_local.durable).

    moto journals every change before answering (``journal-<n>.jsonl``, fsynced) and writes
    snapshots from a forked child (``snapshot.json``); this is the runtime's side of it.
    """

    def __init__(self, data_dir: Path, fsync: bool = True) -> None:
        self.dir = data_dir / "state"
        self.fsync = fsync
        self.moto_url = ""

    @property
    def exists(self) -> bool:
        return any(
            [
                (self.dir / "snapshot.json").exists(),
                (self.dir / "tables.json").exists(),
                (self.dir / "queues.json").exists(),
                any(self.dir.glob("journal-*.jsonl")) if self.dir.exists() else False,
            ]
        )

    def _call(self, action: str, body: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310 - moto on loopback
            f"{self.moto_url}/_oms/state/{action}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"state {action}: {exc.code} {exc.read()[:500]!r}") from exc

    def open(self, moto_url: str, tables: dict[str, str], queues: dict[str, str]) -> dict[str, Any]:
        """Load the snapshot and replay the journal into moto, then journal from here on.

        ``tables``: logical id -> table name; ``queues``: logical id -> queue URL. Returns
        ``existed`` (was there state), ``restored`` (items/messages per logical id),
        ``checkpoints`` (stream consumer -> last sequence number it finished), ``replayed``.
        """
        self.moto_url = moto_url
        body = {
            "dir": str(self.dir),
            "fsync": self.fsync,
            "tables": tables,
            "queues": {lid: url.rstrip("/").rsplit("/", 1)[-1] for lid, url in queues.items()},
        }
        return self._call("open", body, timeout=1800.0)

    def checkpoint(self, consumer: str, table_name: str, position: int | str) -> int:
        """A stream consumer finished the record ``position`` (or registers at LATEST / TRIM_HORIZON)."""
        return int(self._call("checkpoint", {"consumer": consumer, "table": table_name, "position": position})["seq"])

    def snapshot(self, wait: bool = False) -> dict[str, Any]:
        """Fork a snapshot in moto; with ``wait``, until it is on disk (``ok``)."""
        return self._call("snapshot", {"wait": wait}, timeout=1800.0)

    def status(self) -> dict[str, Any]:
        return self._call("status", {})
