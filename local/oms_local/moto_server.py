"""moto in server mode, in its own process, single-threaded, on loopback.

Single-threaded on purpose: moto's backends are plain Python objects without locks, so
concurrent requests (e.g. two conditional UpdateItems on one item) can lose writes.
Serialising every request in one thread gives DynamoDB-like atomicity per request.
"""

from __future__ import annotations

import argparse
import logging
import os
import select
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

# DynamoDB Streams shard iterators are never expired by moto; AWS expires them after 15 min.
# The pump polls often, so bound the table to keep the server's memory flat.
_MAX_SHARD_ITERATORS = 5000
# A 100,000-row stock count writes 100,000 records in a few minutes, and its consumers (the
# ledger, the channel push) may lag minutes behind: keep enough that none is lost.
_STREAM_RECORDS_KEPT = 200_000


def _patch_moto() -> None:
    from moto.dynamodbstreams import models as streams

    original = streams.ShardIterator.get

    def get(self: streams.ShardIterator, limit: int = 1000) -> dict[str, object]:
        result = original(self, limit)
        table = self.streams_backend.shard_iterators
        while len(table) > _MAX_SHARD_ITERATORS:
            del table[next(iter(table))]  # dicts keep insertion order: drop the oldest
        return result

    streams.ShardIterator.get = get  # type: ignore[method-assign]

    # moto keeps every stream record for ever (AWS keeps 24 hours), so a long `make run`
    # grows without bound and slows down. Keep the newest records only (a tenth more
    # before trimming, so trimming is rare); a reader that falls further behind is told.
    from moto.dynamodb.models.table import StreamShard

    original_add = StreamShard.add

    def add(self: StreamShard, old: object, new: object) -> None:
        original_add(self, old, new)
        if len(self.items) > _STREAM_RECORDS_KEPT + _STREAM_RECORDS_KEPT // 10:
            dropped = len(self.items) - _STREAM_RECORDS_KEPT
            del self.items[:dropped]
            self.starting_sequence_number += dropped  # sequence numbers stay what they were

    StreamShard.add = add  # type: ignore[method-assign]

    original_shard_get = StreamShard.get

    def shard_get(self: StreamShard, start: int, quantity: int) -> list[dict[str, object]]:
        # An iterator older than what is kept reads from the oldest record kept (AWS would answer
        # TrimmedDataAccessException): say so, records were lost to that reader.
        if start < self.starting_sequence_number:
            logging.getLogger("oms_local.moto").warning(
                "stream of %s: %d record(s) trimmed before they were read",
                getattr(self, "table_name", "?"),
                self.starting_sequence_number - start,
            )
        return original_shard_get(self, max(start, self.starting_sequence_number), quantity)

    StreamShard.get = shard_get  # type: ignore[method-assign]

    # moto's shape-driven response serializer walks every attribute of every record:
    # about 2 ms a record, which made GetRecords the embedded AWS's busiest work. The
    # records are already in the wire format (DynamoDB JSON), so answer with them as JSON.
    import base64
    import datetime
    import json

    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    def wire(value: object) -> object:
        if isinstance(value, bytes):
            return base64.b64encode(value).decode()  # B and BS travel as base64 text
        if isinstance(value, datetime.datetime):
            return value.timestamp()  # epoch seconds, as the service sends it
        raise TypeError(type(value).__name__)

    def get_records(self: DynamoDBStreamsHandler) -> str:
        limit = self._get_param("Limit") or 1000
        return json.dumps(self.backend.get_records(self._get_param("ShardIterator"), limit), default=wire)

    DynamoDBStreamsHandler.get_records = get_records  # type: ignore[method-assign]

    # Every PutEvents compiles the same JSONPath expressions again (a yacc parser each,
    # for every event and target, and archives are targets with a transformer): most of
    # PutEvents' time. The compiled expressions are pure, so compile each once.
    import functools

    import jsonpath_ng.ext

    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=256)(jsonpath_ng.ext.parse)

    from .moto_txn import patch_transactions

    patch_transactions()


def _exit_with_parent() -> None:
    """Our own session ignores the terminal's Ctrl-C, so exit if the runtime dies without stopping us."""
    import threading

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def serve(host: str, port: int, ready_fd: int) -> None:
    """Child-process entry point: bind, report the bound port on ready_fd, serve forever."""
    import logging

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no per-request access log
    _patch_moto()
    _exit_with_parent()
    from oms_local import durable
    from oms_local.meter import RequestMeter

    # The journal is inside the meter: the meter's lock is never held when a snapshot forks.
    app = RequestMeter(durable.install(DomainDispatcherApplication(create_backend_app)))
    server = make_server(host, port, app, threaded=False)
    os.write(ready_fd, f"{server.server_port}\n".encode())
    os.close(ready_fd)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(SystemExit(0)))
    try:
        server.serve_forever(poll_interval=0.2)
    except (SystemExit, KeyboardInterrupt):
        pass
    finally:
        server.server_close()


class MotoServer:
    """Start/stop the moto child process. ``port=0`` lets the OS pick a free port."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", log_path: Path | None = None) -> None:
        self.host = host
        self.requested_port = port
        self.port = 0
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> MotoServer:
        read_fd, write_fd = os.pipe()
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parent.parent), *sys.path])
        try:
            self._proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "oms_local.moto_server",
                    "--host",
                    self.host,
                    "--port",
                    str(self.requested_port),
                    "--ready-fd",
                    str(write_fd),
                ],
                pass_fds=(write_fd,),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,  # a Ctrl-C in the terminal goes to us; we stop moto last
            )
        finally:
            os.close(write_fd)
            if log is not subprocess.DEVNULL:
                log.close()  # type: ignore[union-attr]
        try:
            self.port = int(self._read_line(read_fd, timeout))
        finally:
            os.close(read_fd)
        self._wait_until_answering(timeout)
        return self

    def _read_line(self, fd: int, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        data = b""
        while not data.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                self.stop()
                raise RuntimeError("moto server did not start in time")
            chunk = os.read(fd, 64)
            if not chunk:
                raise RuntimeError(f"moto server exited during start (see {self.log_path})")
            data += chunk
        return data.decode().strip()

    def _wait_until_answering(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2):  # noqa: S310
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self, timeout: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """SIGKILL (a crash: nothing is flushed or saved)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="single-threaded moto server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-fd", type=int, required=True)
    args = parser.parse_args(argv)
    serve(args.host, args.port, args.ready_fd)


if __name__ == "__main__":
    main()
