"""Long-lived function worker processes, one pool per function (like warm Lambda containers).

Each worker is a separate interpreter with its own os.environ and module cache, so
functions that share module names (six app.py files) cannot collide.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import select
import struct
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .template import REGION, FunctionSpec
from .worker_main import write_frame

WORKER_MAIN = Path(__file__).resolve().parent / "worker_main.py"
INIT_TIMEOUT_S = 30.0  # Lambda allows 10 s of init; first imports locally compile .pyc files


@dataclass
class InvokeResult:
    ok: bool
    payload: Any = None
    error: dict[str, Any] | None = None
    duration_ms: float = 0.0
    cold_start: bool = False
    request_id: str = ""


class FunctionError(RuntimeError):
    """An invocation ended with a function error (unhandled exception, timeout, crash)."""

    def __init__(self, function_id: str, error: dict[str, Any]) -> None:
        self.function_id = function_id
        self.error_type: str = error.get("errorType", "Unknown")
        self.error_message: str = error.get("errorMessage", "")
        self.stack_trace: list[str] = error.get("stackTrace", [])
        super().__init__(f"{function_id}: {self.error_type}: {self.error_message}")


def _worker_env(spec: FunctionSpec, moto_url: str) -> dict[str, str]:
    # Start from the host environment minus anything AWS, so real credentials never leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    env.update(spec.environment)
    env.update(
        {
            "AWS_ENDPOINT_URL": moto_url,
            # Tags this function's requests for the meter in the moto process (oms_local.meter).
            "AWS_SDK_UA_APP_ID": spec.logical_id,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group_name,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "LAMBDA_TASK_ROOT": str(spec.code_uri),
            "_HANDLER": spec.handler,
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon locally
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


class Worker:
    """One worker process. Not thread-safe by itself: the pool hands it to one caller at a time."""

    def __init__(self, spec: FunctionSpec, moto_url: str, log_path: Path, index: int) -> None:
        self.spec = spec
        self.moto_url = moto_url
        self.log_path = log_path
        self.index = index
        self.init_ms: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._req_w = -1
        self._resp_r = -1

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _start(self) -> dict[str, Any] | None:
        """Start the process and import the handler; returns an init error, if any."""
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", str(WORKER_MAIN), str(req_r), str(resp_w)],
                pass_fds=(req_r, resp_w),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=_worker_env(self.spec, self.moto_url),
                cwd=str(self.spec.code_uri) if self.spec.code_uri.is_dir() else None,
                start_new_session=True,  # Ctrl-C goes to the runtime, which stops workers itself
            )
        os.close(req_r)
        os.close(resp_w)
        self._req_w, self._resp_r = req_w, resp_r
        stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        write_frame(
            req_w,
            {
                "code_uri": str(self.spec.code_uri),
                "layer_paths": [str(p) for p in self.spec.layer_paths],
                "handler": self.spec.handler,
                "function_name": self.spec.function_name,
                "function_arn": self.spec.arn,
                "memory_size": self.spec.memory_size,
                "log_group_name": self.spec.log_group_name,
                "log_stream_name": stream,
            },
        )
        message = self._read(time.monotonic() + INIT_TIMEOUT_S)
        if message is None:
            self.kill()
            return {"errorType": "Runtime.InitError", "errorMessage": "worker failed to initialise"}
        if "error" in message:
            self.kill()
            return message["error"]
        self.init_ms = float(message["init_ms"])
        return None

    def _read(self, deadline: float) -> dict[str, Any] | None:
        header = self._read_exact(4, deadline)
        if header is None:
            return None
        (length,) = struct.unpack(">I", header)
        body = self._read_exact(length, deadline)
        return None if body is None else json.loads(body)

    def _read_exact(self, n: int, deadline: float) -> bytes | None:
        buf = bytearray()
        while len(buf) < n:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0 or not select.select([self._resp_r], [], [], remaining)[0]:
                    return None
                chunk = os.read(self._resp_r, n - len(buf))
            except (OSError, ValueError):  # the runtime stopped the worker mid-invoke: it exited
                return None
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)

    def invoke(self, event: Any) -> InvokeResult:
        cold = not self.alive
        if cold:
            error = self._start()
            if error is not None:
                return InvokeResult(ok=False, error=error, cold_start=True)
        request_id = str(uuid.uuid4())
        started = time.monotonic()
        deadline = started + self.spec.timeout
        try:
            write_frame(
                self._req_w,
                {
                    "request_id": request_id,
                    "event": event,
                    "timeout_ms": int(self.spec.timeout * 1000),
                },
            )
        except (BrokenPipeError, OSError):
            self.kill()
            return InvokeResult(
                ok=False,
                error={"errorType": "Runtime.ExitError", "errorMessage": "worker exited"},
                request_id=request_id,
            )
        message = self._read(deadline)
        duration = (time.monotonic() - started) * 1000
        if message is None:
            timed_out = time.monotonic() >= deadline
            self.kill()  # a timed-out or crashed environment is discarded, as in Lambda
            error = (
                {
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": f"Task timed out after {self.spec.timeout:.2f} seconds",
                }
                if timed_out
                else {"errorType": "Runtime.ExitError", "errorMessage": "worker process exited during invoke"}
            )
            return InvokeResult(False, error=error, duration_ms=duration, cold_start=cold, request_id=request_id)
        return InvokeResult(
            ok=bool(message["ok"]),
            payload=message.get("payload"),
            error=message.get("error"),
            duration_ms=duration,
            cold_start=cold,
            request_id=request_id,
        )

    def kill(self) -> None:
        proc, self._proc = self._proc, None
        for fd in (self._req_w, self._resp_r):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._req_w = self._resp_r = -1
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def stop(self, timeout: float = 2.0) -> None:
        """Close the request pipe so the worker exits by itself; kill it if it does not."""
        proc = self._proc
        if proc is not None and self._req_w >= 0:
            os.close(self._req_w)
            self._req_w = -1
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)
        self.kill()


@dataclass
class FunctionStats:
    invocations: int = 0
    errors: int = 0
    cold_starts: list[float] = field(default_factory=list)  # init (import) time, ms
    duration_ms: float = 0.0  # summed invoke time (what Lambda bills), for the benchmarks


class FunctionPool:
    """Up to ``size`` workers for one function; each invoke borrows one idle worker."""

    def __init__(self, spec: FunctionSpec, moto_url: str, log_dir: Path, size: int = 1) -> None:
        self.spec = spec
        self.stats = FunctionStats()
        self._idle: queue.LifoQueue[Worker] = queue.LifoQueue()  # LIFO: reuse the warm one first
        self._all = [Worker(spec, moto_url, log_dir / f"{spec.logical_id}.log", i) for i in range(size)]
        for w in reversed(self._all):
            self._idle.put(w)
        self._lock = threading.Lock()
        self.in_flight = 0

    def invoke(self, event: Any) -> InvokeResult:
        worker = self._idle.get()
        with self._lock:
            self.in_flight += 1
        try:
            result = worker.invoke(event)
        finally:
            with self._lock:
                self.in_flight -= 1
            self._idle.put(worker)
        with self._lock:
            self.stats.invocations += 1
            self.stats.duration_ms += result.duration_ms
            if not result.ok:
                self.stats.errors += 1
            if result.cold_start and worker.init_ms is not None:
                self.stats.cold_starts.append(worker.init_ms)
        return result

    def stop(self) -> None:
        for w in self._all:
            w.stop()


class WorkerManager:
    """All function pools. Workers start lazily on the first invoke."""

    def __init__(
        self,
        functions: dict[str, FunctionSpec],
        moto_url: str,
        log_dir: Path,
        pool_sizes: dict[str, int] | None = None,
    ) -> None:
        pool_sizes = pool_sizes or {}
        self.pools = {
            lid: FunctionPool(spec, moto_url, log_dir, pool_sizes.get(lid, 2 if spec.http_routes else 1))
            for lid, spec in functions.items()
        }

    def invoke(self, function_id: str, event: Any) -> InvokeResult:
        pool = self.pools.get(function_id)
        if pool is None:
            raise KeyError(f"unknown function {function_id!r}")
        return pool.invoke(event)

    @property
    def in_flight(self) -> int:
        return sum(p.in_flight for p in self.pools.values())

    def cold_starts(self) -> dict[str, list[float]]:
        return {lid: list(p.stats.cold_starts) for lid, p in self.pools.items() if p.stats.cold_starts}

    def stop(self) -> None:
        for pool in self.pools.values():
            pool.stop()
