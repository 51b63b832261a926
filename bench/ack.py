"""Webhook acknowledgement time in process: the API handler called directly
(no HTTP), verifying the signature and storing the raw body in DynamoDB
(moto in process), for distinct signed Shopify deliveries."""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import boto3
from moto import mock_aws

ROOT = Path(__file__).resolve().parent.parent
CALLS = 2000
WARMUP = 50


def run() -> dict[str, float]:
    from aws_lambda_powertools.utilities import parameters

    from bench.orders import OrderFactory
    from oms import container
    from oms.adapters.aws import reset_clients
    from oms_local import seed
    from oms_local.resources import create_all
    from oms_local.template import Template
    from tests.support import FakeContext, load_handler

    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "x",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    with mock_aws():
        template = Template(ROOT / "template.yaml", {"Stage": "bench"})
        create_all(template, lambda service: boto3.client(service, region_name="us-east-1"))
        env = template.functions()["IngestionApiFunction"].environment
        os.environ.update(env)
        container.reset()
        reset_clients()
        parameters.clear_caches()
        seed.configure(lambda s: boto3.client(s, region_name="us-east-1"), env["SECRETS_PATH"], env["API_KEYS_TABLE"])
        handler = load_handler("functions/ingestion/app.py").lambda_handler
        factory = OrderFactory(seed=7)
        events = [factory.webhook_event(n) for n in range(CALLS + WARMUP)]
        context = FakeContext()
        timings: list[float] = []
        statuses: list[int] = []
        # Logs are written as in Lambda (to a pipe there), here to /dev/null rather than a terminal.
        saved = os.dup(1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        try:
            for n, event in enumerate(events):
                started = time.perf_counter()
                response = handler(event, context)
                elapsed = (time.perf_counter() - started) * 1000
                statuses.append(response["statusCode"])
                if n >= WARMUP:
                    timings.append(elapsed)
        finally:
            os.dup2(saved, 1)
            os.close(devnull)
            os.close(saved)
        assert set(statuses) == {200}, set(statuses)
    timings.sort()
    p99 = timings[int(len(timings) * 0.99) - 1]
    print(f"  webhook ack in process: p50 {statistics.median(timings):.2f} ms, p99 {p99:.2f} ms over {CALLS}")
    return {"webhook_ack_p99_ms": round(p99, 2), "webhook_ack_p50_ms": round(statistics.median(timings), 2)}
