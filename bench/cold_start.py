"""Import time of each function's handler in a fresh interpreter, beside the
floor: importing only boto3, pydantic and the Powertools modules the
functions use, among them what Tracer loads when created (aws_xray_sdk) and
what the HTTP resolver's validation loads (openapi params). The median of
several fresh processes each; the difference is the project's own code."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 7

FLOOR = """
import boto3, pydantic
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi import params
from aws_lambda_powertools.utilities import parameters
import aws_xray_sdk.core
from aws_lambda_powertools.utilities.batch import BatchProcessor
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
"""


def _timed_import(code: str, path: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Milliseconds to import, and how many of the project's own (`oms`) modules came with it."""
    program = (
        "import sys, time\n"
        f"sys.path[:0] = {path!r}\n"
        "started = time.perf_counter()\n"
        f"{code}\n"
        "elapsed = (time.perf_counter() - started) * 1000\n"
        "print(elapsed, sum(1 for m in sys.modules if m == 'oms' or m.startswith('oms.')))\n"
    )
    result = subprocess.run([sys.executable, "-I", "-c", program], env=env, capture_output=True, text=True, check=True)
    elapsed, modules = result.stdout.strip().splitlines()[-1].split()
    return float(elapsed), int(modules)


def largest_module() -> tuple[str, int]:
    """The longest Python module of the layer and the functions, in lines."""
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for folder in ("shared/oms", "functions")
        for path in (ROOT / folder).rglob("*.py")
    }
    name = max(sizes, key=sizes.__getitem__)
    return name, sizes[name]


def run() -> dict[str, float]:
    sys.path[:0] = [str(ROOT / "local")]
    from oms_local.template import Template

    functions = Template(ROOT / "template.yaml").functions()
    base_env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
    }
    # Side by side: each round times the floor and then every function, so a busy moment
    # of the machine weighs on both sides of the ratio alike.
    floors: list[float] = []
    times: dict[str, list[float]] = {name: [] for name in functions}
    modules: dict[str, int] = {}
    for _ in range(RUNS):
        floors.append(_timed_import(FLOOR, [], base_env)[0])
        for name, spec in functions.items():
            module = spec.handler.rpartition(".")[0]
            path = [str(spec.code_uri), str(ROOT / "shared")]
            elapsed, modules[name] = _timed_import(f"import {module}", path, {**base_env, **spec.environment})
            times[name].append(elapsed)
    floor = statistics.median(floors)
    per_function = {name: statistics.median(runs) for name, runs in times.items()}
    worst = max(per_function, key=per_function.__getitem__)
    most = max(modules, key=modules.__getitem__)
    biggest, lines = largest_module()
    print(f"  cold start: floor {floor:.0f} ms; " + ", ".join(f"{k} {v:.0f} ms" for k, v in per_function.items()))
    print("  oms modules at start: " + ", ".join(f"{k} {v}" for k, v in modules.items()))
    print(f"  slowest {worst} ({per_function[worst] / floor:.2f}x the floor); most modules {most}; "
          f"largest module {biggest} ({lines} lines)")  # fmt: skip
    return {
        "cold_start_ms_max": round(per_function[worst], 1),
        "cold_start_floor_ms": round(floor, 1),
        "cold_start_ratio": round(per_function[worst] / floor, 2),
        "modules_imported_max": modules[most],
        "largest_module_lines": lines,
    }
