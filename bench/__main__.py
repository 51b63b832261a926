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
    from bench import ack, cold_start, ingest

    results: dict[str, float] = {}
    for name, module in (("cold start", cold_start), ("webhook ack", ack), ("ingest", ingest)):
        started = time.perf_counter()
        print(f"{name}...")
        results.update(module.run())
        print(f"  ({time.perf_counter() - started:.0f} s)")
    path = ROOT / "bench" / "results.json"
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    width = max(map(len, results))
    for key, value in sorted(results.items()):
        print(f"{key:<{width}}  {value}")
    print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
