"""`make bench`: every benchmark, printed and written to bench/results.json
(one flat JSON object of metric name to number)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "shared"), str(ROOT / "local"), str(ROOT)]


def main() -> None:
    """`python -m bench [name ...]`: the named benchmarks only, their figures merged into the file."""
    from bench import (
        ack,
        channels,
        cold_start,
        crash,
        fuzz,
        ingest,
        promising,
        returns,
        shipping,
        sourcing,
        stats,
        status,
        stock,
    )

    suites = {
        "cold_start": cold_start,
        "ack": ack,
        "ingest": ingest,
        "stock": stock,
        "sourcing": sourcing,
        "promising": promising,
        "status": status,
        "channels": channels,
        "returns": returns,
        "shipping": shipping,
        "crash": crash,
        "stats": stats,
        "fuzz": fuzz,
    }
    chosen = sys.argv[1:] or list(suites)
    unknown = set(chosen) - set(suites)
    if unknown:
        sys.exit(f"unknown benchmark(s) {sorted(unknown)}; choose from {sorted(suites)}")
    path = ROOT / "bench" / "results.json"
    results: dict[str, float] = json.loads(path.read_text()) if sys.argv[1:] and path.exists() else {}
    for name, module in ((name, suites[name]) for name in chosen):
        started = time.perf_counter()
        print(f"{name}...")
        results.update(module.run())
        print(f"  ({time.perf_counter() - started:.0f} s)")
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    width = max(map(len, results))
    for key, value in sorted(results.items()):
        print(f"{key:<{width}}  {value}")
    print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
