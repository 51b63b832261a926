"""Shared test support: load handlers the way Lambda does (their context fake is tests.fakes.FakeContext),
sample events from events/, and stream records turned into Lambda events."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from tests.fakes import FakeContext  # noqa: F401 (moved to tests.fakes; many tests still import it from here)

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"

# How long a test waits for the local stack to reach a state before failing: a bound for a stuck
# stack on a busy 2-core machine, never a pause (the wait ends as soon as the condition holds).
CONDITION_DEADLINE_S = 180.0

T = TypeVar("T")


def wait_for(probe: Callable[[], T], timeout: float = CONDITION_DEADLINE_S, interval: float = 0.05) -> T:
    """Poll until probe() is truthy; no fixed sleeps in tests."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        time.sleep(interval)


def load_handler(relative_path: str) -> ModuleType:
    """Each function's module under a unique name: six app.py files must not collide."""
    path = ROOT / relative_path
    name = "handler_" + relative_path.replace("/", "_").removesuffix(".py") + "_" + uuid.uuid4().hex[:8]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


class StreamReader:
    """Reads a table's stream from where it last stopped and shapes Lambda events."""

    def __init__(self, client_factory: Any, stream_arn: str) -> None:
        self.streams = client_factory("dynamodbstreams")
        self.stream_arn = stream_arn
        shard = self.streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]
        self.iterator = self.streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]

    def next_event(self, limit: int = 100) -> dict[str, Any] | None:
        response = self.streams.get_records(ShardIterator=self.iterator, Limit=limit)
        self.iterator = response["NextShardIterator"]
        if not response["Records"]:
            return None
        from oms_local.pump import lambda_stream_record

        return {"Records": [lambda_stream_record(record, self.stream_arn) for record in response["Records"]]}


def admin(stack: Any, *args: str) -> str:
    """scripts/oms_admin.py against a LocalRuntime's embedded AWS (stage local), as an operator runs it."""
    import os
    import subprocess

    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": stack.moto_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    if getattr(stack, "channels", None) is not None:  # the stack's channel simulator, not make run's
        for channel in ("shopee", "lazada", "tiktok", "shopify", "woocommerce"):  # Tokopedia: TikTok Shop's API
            env[f"OMS_{channel.upper()}_API_BASE"] = stack.channels.base_url(channel)
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts/oms_admin.py"), "--stage", "local", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout


def http_event(method: str, path: str, route: str, body: Any, key: str) -> dict[str, Any]:
    """An HTTP API (payload 2.0) event for a handler called in process, with an x-api-key."""
    return {
        "routeKey": f"{method} {route}",
        "rawPath": path,
        "body": json.dumps(body),
        "headers": {"x-api-key": key, "content-type": "application/json"},
        "requestContext": {"http": {"method": method, "path": path}, "stage": "$default"},
        "isBase64Encoded": False,
    }
