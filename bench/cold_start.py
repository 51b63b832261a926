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


def _timed_import(code: str, path: list[str], env: dict[str, str]) -> float:
    program = (
        "import sys, time\n"
        f"sys.path[:0] = {path!r}\n"
        "started = time.perf_counter()\n"
        f"{code}\n"
        "print((time.perf_counter() - started) * 1000)\n"
    )
    result = subprocess.run([sys.executable, "-I", "-c", program], env=env, capture_output=True, text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1])


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
    floor = statistics.median(_timed_import(FLOOR, [], base_env) for _ in range(RUNS))
    per_function: dict[str, float] = {}
    for name, spec in functions.items():
        module = spec.handler.rpartition(".")[0]
        path = [str(spec.code_uri), str(ROOT / "shared")]
        env = {**base_env, **spec.environment}
        per_function[name] = statistics.median(_timed_import(f"import {module}", path, env) for _ in range(RUNS))
    worst = max(per_function, key=per_function.__getitem__)
    print(f"  cold start: floor {floor:.0f} ms; " + ", ".join(f"{k} {v:.0f} ms" for k, v in per_function.items()))
    return {
        "cold_start_ms_max": round(per_function[worst], 1),
        "cold_start_floor_ms": round(floor, 1),
    }
