"""Fault injection on `make run`: SIGKILL of the whole stack, or of one worker, during orders.

Every order the API answered 2xx must be there afterwards (GET /orders/{id}): the embedded
AWS journals each change (fsynced) before it answers, and replays the journal at the next
start (oms_local.durable). The stack runs as a child process (oms_local.stack_process).
No fixed sleeps: every wait is for a condition, with a generous deadline.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from oms_local.stack_process import StackProcess, http, pos_order

POS_KEY = "oms_local_ops_key_pos"
OPS_KEY = "oms_local_ops_key"
ORDERS = 200
THREADS = 4
DEADLINE_S = 600.0  # a busy 2-core machine; a healthy run takes a fraction of it

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the stack's processes in /proc")


def _wait(probe, what: str, timeout: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Load:
    """ORDERS POS orders, THREADS at a time; remembers which were answered 2xx."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.prefix = prefix
        self.acked: dict[int, str] = {}  # n -> order id
        self.failed: dict[int, int] = {}  # n -> status (0: no answer)
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def post(self, n: int) -> None:
        if self.stop.is_set():
            return
        status, body = http("POST", f"{self.url}/orders", POS_KEY, pos_order(n, self.prefix))
        with self.lock:
            if 200 <= status < 300 and isinstance(body, dict):
                self.acked[n] = str(body["order_id"])
            else:
                self.failed[n] = status

    @property
    def answered(self) -> int:
        with self.lock:
            return len(self.acked) + len(self.failed)

    def run(self, during: threading.Thread) -> None:
        during.start()
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(self.post, range(ORDERS)))
        during.join(DEADLINE_S)


def _lost(url: str, acked: dict[int, str]) -> list[tuple[int, str, int]]:
    lost = []
    for n, order_id in sorted(acked.items()):
        status, _body = http("GET", f"{url}/orders/{order_id}", OPS_KEY)
        if status != 200:
            lost.append((n, order_id, status))
    return lost


@pytest.fixture
def stacks(tmp_path: Path):
    started: list[StackProcess] = []

    def start(data_dir: Path) -> StackProcess:
        stack = StackProcess(data_dir, log_path=tmp_path / "stack.log").start(timeout=DEADLINE_S)
        started.append(stack)
        return stack

    yield start
    for stack in started:
        if stack.proc is not None:
            stack.kill()


def test_sigkill_of_the_whole_stack_loses_no_accepted_order(stacks, tmp_path: Path) -> None:
    data_dir = tmp_path / "oms"
    stack = stacks(data_dir)
    load = Load(stack.url, "CRASH")
    killed: list[int] = []

    def killer() -> None:  # in the middle of the load: once half the orders were answered 2xx
        _wait(lambda: len(load.acked) >= ORDERS // 2 or load.answered >= ORDERS, "half the orders")
        killed.extend(stack.kill())
        load.stop.set()

    load.run(threading.Thread(target=killer, name="killer"))
    assert len(killed) >= 2  # the runtime, moto, the workers: all at once
    assert len(load.acked) >= ORDERS // 2

    stack = stacks(data_dir)  # same data dir: the snapshot, if any, and the journal after it
    assert any(line.startswith("journal ") for line in stack.lines), "".join(stack.lines)
    assert _lost(stack.url, load.acked) == []
    # The orders are stored as they were accepted: posting one again is a repeat (200), not a new one.
    n, order_id = next(iter(sorted(load.acked.items())))
    status, body = http("POST", f"{stack.url}/orders", POS_KEY, pos_order(n, "CRASH"))
    assert status == 200 and isinstance(body, dict) and body["order_id"] == order_id
    # The restarted stack takes the rest of the orders.
    for m in range(ORDERS):
        if m not in load.acked:
            status, body = http("POST", f"{stack.url}/orders", POS_KEY, pos_order(m, "CRASH"))
            assert status in (200, 201), (m, status, body)
    assert stack.stop(timeout=DEADLINE_S) == 0


def test_sigkill_of_a_worker_during_load_loses_nothing(stacks, tmp_path: Path) -> None:
    stack = stacks(tmp_path / "oms")
    load = Load(stack.url, "WORKER")
    killed: list[int] = []

    def killer() -> None:
        _wait(lambda: len(load.acked) >= ORDERS // 4 or load.answered >= ORDERS, "a quarter of the orders")
        for function_id in ("IngestionApiFunction", "EventPublisherFunction"):
            for pid in stack.worker_pids(function_id):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    load.run(threading.Thread(target=killer, name="killer"))
    assert killed, stack.processes()
    assert stack.proc is not None and stack.proc.poll() is None  # the runtime carried on
    # A request on the killed worker may have failed (5xx, never 2xx); every 2xx one is stored.
    assert all(status >= 500 or status == 0 for status in load.failed.values()), load.failed
    assert len(load.acked) + len(load.failed) == ORDERS
    assert _lost(stack.url, load.acked) == []
    # The orders that failed go through when sent again (the pool starts new workers).
    for n in sorted(load.failed):
        status, body = http("POST", f"{stack.url}/orders", POS_KEY, pos_order(n, "WORKER"))
        assert status in (200, 201), (n, status, body)
    assert stack.stop(timeout=DEADLINE_S) == 0
