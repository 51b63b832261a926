"""Entry point of one function worker process (a local "Lambda execution environment").

Runs as ``python -I worker_main.py REQ_FD RESP_FD``: -I keeps this file's directory and
PYTHON* variables off sys.path, so only the function's CodeUri and layers are importable,
as in Lambda. Stdlib only for the same reason. The invoke protocol travels on the two
inherited pipe fds as length-prefixed JSON frames; fd 1 and 2 (the handler's print()
output, Powertools logs and EMF metrics) go to the function's log file.
"""

from __future__ import annotations

import importlib
import json
import os
import struct
import sys
import time
import traceback
from typing import Any


def read_frame(fd: int) -> Any:
    header = _read_exact(fd, 4)
    if header is None:
        return None
    (length,) = struct.unpack(">I", header)
    body = _read_exact(fd, length)
    return None if body is None else json.loads(body)


def write_frame(fd: int, message: Any) -> None:
    data = json.dumps(message).encode()
    os.write(fd, struct.pack(">I", len(data)))
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = os.read(fd, n - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


class LambdaContext:
    """The attributes of the Lambda Python context object that handlers and Powertools use."""

    def __init__(self, info: dict[str, Any], request_id: str, timeout_ms: int) -> None:
        self.function_name: str = info["function_name"]
        self.function_version: str = "$LATEST"
        self.invoked_function_arn: str = info["function_arn"]
        self.memory_limit_in_mb: int = int(info["memory_size"])
        self.aws_request_id: str = request_id
        self.log_group_name: str = info["log_group_name"]
        self.log_stream_name: str = info["log_stream_name"]
        self.identity = None
        self.client_context = None
        # On this process's monotonic clock: the wall clock may be shifted (OMS_FAKE_NOW), and two
        # processes' shifted clocks can differ by a few milliseconds.
        self._deadline = time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return {
        "errorType": error_type or type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": [line.rstrip("\n") for line in tb],
    }


def shift_clock() -> None:
    """A run at another instant (oms_local.clock) moves this worker's clock by the stack's offset."""
    offset = os.environ.get("OMS_CLOCK_OFFSET_S")
    if offset:
        import time_machine  # a development dependency, like the rest of the local stack

        time_machine.travel(time.time() + float(offset), tick=True).start()


def main() -> None:
    shift_clock()
    req_fd, resp_fd = int(sys.argv[1]), int(sys.argv[2])
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    info = read_frame(req_fd)
    # Lambda order: the function code first, then the layers (/opt/python).
    for path in reversed([info["code_uri"], *info["layer_paths"]]):
        sys.path.insert(0, path)
    os.chdir(info["code_uri"])

    started = time.perf_counter()
    module_name, _, func_name = info["handler"].rpartition(".")
    try:
        handler = getattr(importlib.import_module(module_name), func_name)
    except BaseException as exc:
        write_frame(resp_fd, {"type": "init", "error": _error(exc, "Runtime.ImportModuleError")})
        return
    write_frame(resp_fd, {"type": "init", "init_ms": (time.perf_counter() - started) * 1000})

    while True:
        request = read_frame(req_fd)
        if request is None:  # parent closed the pipe: shut down
            return
        context = LambdaContext(info, request["request_id"], request["timeout_ms"])
        try:
            result = handler(request["event"], context)
            try:
                response: dict[str, Any] = {"type": "result", "ok": True, "payload": result}
                write_frame(resp_fd, response)
                continue
            except (TypeError, ValueError) as exc:
                error = _error(exc, "Runtime.MarshalError")
        except Exception as exc:
            error = _error(exc)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        print(json.dumps(error), file=sys.stderr)  # Lambda logs unhandled errors too
        write_frame(resp_fd, {"type": "result", "ok": False, "error": error})


if __name__ == "__main__":
    main()
