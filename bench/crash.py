"""A hard crash of `make run` (SIGKILL of the whole stack) during orders, and the cost of surviving it.

crash_lost_orders             ORDERS POS orders posted THREADS at a time to `make run` (a child process, its own
                              data dir); the whole stack (runtime, moto, every worker) SIGKILLed once KILL_AFTER
                              were answered 2xx; restarted on the same data dir: orders answered 2xx that GET
                              /orders/{id} does not find. 0 is the goal
crash_orders_acked            of those ORDERS, how many were answered 2xx before the kill
crash_restart_s               from the restart to ready (snapshot loaded, journal replayed), seconds
crash_journal_replayed        journal entries replayed at that restart
journal_fsync_ms_per_write    mean fsync time per journalled request (a change is on disk before moto answers)
journal_bytes_per_order       journal bytes written per order accepted (items, stream records, messages)
snapshot_items                items stored when the snapshot figures below were taken (SNAPSHOT_ITEMS)
snapshot_fork_ms              how long moto stops serving to fork a snapshot at that size (the child writes it)
snapshot_write_s              the child's time to write that snapshot to disk
snapshot_getitem_max_ms       the slowest of the GetItems made while that snapshot was being written
snapshot_open_s               a start on that snapshot (load it, replay the journal), seconds
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ORDERS = 200
THREADS = 4
KILL_AFTER = 100
SNAPSHOT_ITEMS = 100_000
POS_KEY = "oms_local_ops_key_pos"
OPS_KEY = "oms_local_ops_key"


def crash_during_orders(
    data_dir: Path, orders: int = ORDERS, threads: int = THREADS, kill_after: int = KILL_AFTER, prefix: str = "CRASH"
) -> dict[str, Any]:
    """Post orders, SIGKILL the whole stack once ``kill_after`` were answered 2xx, restart, look them all up."""
    from oms_local.stack_process import StackProcess, http, pos_order

    stack = StackProcess(data_dir).start()
    acked: dict[int, str] = {}  # n -> order id, answered 2xx
    answered = 0
    lock = __import__("threading").Lock()
    killed = __import__("threading").Event()

    def post(n: int) -> None:
        nonlocal answered
        if killed.is_set():
            return
        status, body = http("POST", f"{stack.url}/orders", POS_KEY, pos_order(n, prefix))
        with lock:
            if 200 <= status < 300 and isinstance(body, dict):
                acked[n] = body["order_id"]
            answered += 1

    def killer() -> None:
        while len(acked) < kill_after and answered < orders:
            time.sleep(0.01)
        stack.kill()
        killed.set()

    with ThreadPoolExecutor(threads + 1) as pool:
        kill = pool.submit(killer)
        list(pool.map(post, range(orders)))
        kill.result()
    started = time.monotonic()
    stack = StackProcess(data_dir).start()
    restart_s = time.monotonic() - started
    try:
        lost = []
        for n, order_id in sorted(acked.items()):
            status, body = http("GET", f"{stack.url}/orders/{order_id}", OPS_KEY)
            if status != 200:
                lost.append((n, order_id, status, body))
        replayed = _replayed(stack.lines)
    finally:
        stack.stop()
    return {"acked": acked, "lost": lost, "restart_s": restart_s, "replayed": replayed}


def _replayed(lines: list[str]) -> int:
    for line in lines:
        if line.startswith("journal "):
            for part in line.split():
                if part.startswith("replayed="):
                    return int(part.split("=", 1)[1])
    return 0


def _journal_cost(data_dir: Path, orders: int = 50) -> tuple[float, float]:
    """(fsync ms per journalled write, journal bytes per order) over ``orders`` orders."""
    from oms_local import LocalRuntime
    from oms_local.stack_process import http, pos_order

    with LocalRuntime(port=0, moto_port=0, data_dir=data_dir, seed=True, snapshot_interval_s=0) as rt:
        before = rt.state.status()["journal"]
        for n in range(orders):
            status, _ = http("POST", f"{rt.url}/orders", POS_KEY, pos_order(n, "JOURNAL"))
            assert status == 201, status
        rt.drain()
        after = rt.state.status()["journal"]
    entries = max(1, after["entries"] - before["entries"])
    return (after["fsync_ms"] - before["fsync_ms"]) / entries, (after["bytes"] - before["bytes"]) / orders


def _snapshot_cost(data_dir: Path, items: int = SNAPSHOT_ITEMS) -> dict[str, float]:
    from oms_local import LocalRuntime

    figures: dict[str, float] = {"snapshot_items": items}
    with LocalRuntime(port=0, moto_port=0, data_dir=data_dir, seed=False, snapshot_interval_s=0) as rt:
        ddb = rt.client("dynamodb")
        table = rt.table_name("CatalogTable")  # no stream: nothing runs on these items
        for start in range(0, items, 25):
            batch = [
                {"PutRequest": {"Item": {"pk": {"S": f"BENCH#{i:07d}"}, "name": {"S": "x" * 200}, "n": {"N": str(i)}}}}
                for i in range(start, min(items, start + 25))
            ]
            ddb.batch_write_item(RequestItems={table: batch})
        result = rt.state.snapshot(wait=False)
        figures["snapshot_fork_ms"] = float(result["fork_ms"])
        latencies = []
        while rt.state.status()["snapshot_running"]:
            t = time.perf_counter()
            ddb.get_item(TableName=table, Key={"pk": {"S": "BENCH#0000001"}})
            latencies.append((time.perf_counter() - t) * 1000)
        figures["snapshot_write_s"] = round(rt.state.status()["last_snapshot"]["ms"] / 1000, 2)
        figures["snapshot_getitem_max_ms"] = round(max(latencies), 1) if latencies else 0.0
        figures["snapshot_getitem_median_ms"] = round(statistics.median(latencies), 1) if latencies else 0.0
        rt.stop(save=False)  # a crash, as far as the snapshot goes: the next start loads it
    started = time.monotonic()
    with LocalRuntime(port=0, moto_port=0, data_dir=data_dir, seed=False, snapshot_interval_s=0) as rt:
        figures["snapshot_open_s"] = round(time.monotonic() - started, 1)
        assert rt.restored.get("CatalogTable") == items, rt.restored
        rt.stop(save=False)
    return figures


def run() -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="oms-bench-crash-"))
    try:
        crash = crash_during_orders(root / "crash")
        fsync_ms, bytes_per_order = _journal_cost(root / "journal")
        figures = {
            "crash_lost_orders": len(crash["lost"]),
            "crash_orders_acked": len(crash["acked"]),
            "crash_restart_s": round(crash["restart_s"], 1),
            "crash_journal_replayed": crash["replayed"],
            "journal_fsync_ms_per_write": round(fsync_ms, 3),
            "journal_bytes_per_order": round(bytes_per_order),
        }
        figures.update(_snapshot_cost(root / "snapshot"))
        return figures
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    import sys

    ROOT = Path(__file__).resolve().parent.parent
    sys.path[:0] = [str(ROOT / "shared"), str(ROOT / "local"), str(ROOT)]
    print(run())
