"""`make run` as a child process, for the crash tests and benchmarks: start it, find its URLs
and processes, SIGKILL all of it at once (a hard crash), start it again on the same data dir.

The runtime, moto and every function worker each have their own session (so that a Ctrl-C
reaches the runtime only), so "the whole stack" is the runtime's process group plus every
process descended from it; ``kill()`` signals them all in one pass.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def descendants(pid: int) -> list[int]:
    tree, found, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class StackProcess:
    """``PYTHONPATH=shared:local:. python -m oms_local run`` with free ports and the given data dir."""

    def __init__(self, data_dir: Path, env: Mapping[str, str] | None = None, log_path: Path | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.extra_env = dict(env or {})
        self.log_path = log_path or self.data_dir.parent / f"{self.data_dir.name}-stack.log"
        self.proc: subprocess.Popen[str] | None = None
        self.urls: dict[str, str] = {}
        self.lines: list[str] = []
        self.ready = threading.Event()

    def start(self, timeout: float = 300.0) -> StackProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            {
                "PYTHONPATH": os.pathsep.join([str(REPO / "shared"), str(REPO / "local"), str(REPO)]),
                "PORT": "0",
                "OMS_MOTO_PORT": "0",
                "OMS_CHANNELS_PORT": "0",
                "OMS_DATA_DIR": str(self.data_dir),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        self.ready.clear()
        self.lines = []
        self.urls = {}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "oms_local", "run"],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: killed as one
        )
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        deadline = time.monotonic() + timeout
        while not self.ready.wait(0.2):
            if self.proc.poll() is not None:
                raise RuntimeError(f"the stack exited ({self.proc.returncode}):\n" + "".join(self.lines[-40:]))
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError("the stack did not get ready:\n" + "".join(self.lines[-40:]))
        return self

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        with open(self.log_path, "a", encoding="utf-8") as log:
            for line in proc.stdout:
                log.write(line)
                log.flush()
                self.lines.append(line)
                m = re.match(r"^(API|moto|channels)\s+(http://\S+)", line)
                if m:
                    self.urls[m.group(1)] = m.group(2)
                if line.startswith("ready;"):
                    self.ready.set()

    @property
    def url(self) -> str:
        return self.urls["API"]

    @property
    def moto_url(self) -> str:
        return self.urls["moto"]

    def processes(self) -> dict[int, str]:
        """pid -> command line of the runtime and everything it started."""
        if self.proc is None:
            return {}
        pids = [self.proc.pid, *descendants(self.proc.pid)]
        return {pid: _cmdline(pid) for pid in pids}

    def worker_pids(self, function_id: str | None = None) -> list[int]:
        """Function worker processes (their log file names the function)."""
        found = []
        for pid, cmd in self.processes().items():
            if "worker_main.py" not in cmd:
                continue
            if function_id is None or _worker_function(pid) == function_id:
                found.append(pid)
        return found

    def kill(self) -> list[int]:
        """SIGKILL the whole stack at once: the runtime's group, moto, every worker. Returns the pids."""
        if self.proc is None:
            return []
        pids = list(self.processes())
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait()
        deadline = time.monotonic() + 60
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.proc = None
        return pids

    def stop(self, timeout: float = 120.0) -> int | None:
        """SIGTERM, as a Ctrl-C would: drain and snapshot; SIGKILL what is left after the timeout."""
        if self.proc is None:
            return None
        pids = list(self.processes())
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            code = None
        for pid in pids:
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.proc = None
        return code


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _worker_function(pid: int) -> str | None:
    """The function a worker runs: its stdout is logs/<FunctionId>.log."""
    try:
        target = os.readlink(f"/proc/{pid}/fd/1")
    except OSError:
        return None
    name = Path(target).name
    return name[: -len(".log")] if name.endswith(".log") else None


# ---------------------------------------------------------------- orders over HTTP (the crash scenario)

POS_EVENT = REPO / "events" / "http" / "post_orders_pos.json"


def pos_order(n: int, prefix: str = "CRASH") -> dict[str, object]:
    """The demo POS order (events/http/post_orders_pos.json), with its own channel_order_id."""
    import json

    body = json.loads(json.loads(POS_EVENT.read_text(encoding="utf-8"))["body"])
    body["channel_order_id"] = f"{prefix}-{n:05d}"
    return body


def http(method: str, url: str, key: str, body: object = None, timeout: float = 120.0) -> tuple[int, object]:
    """(status, JSON body); status 0 when the connection failed (the stack is down)."""
    import json
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    headers = {"x-api-key": key, "content-type": "application/json"}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw or b"null")
        except ValueError:
            return error.code, raw.decode(errors="replace")
    except (OSError, ValueError) as error:  # refused, reset, timed out, torn response
        return 0, str(error)
