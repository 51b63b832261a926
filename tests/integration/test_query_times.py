"""Times in query strings are ISO 8601 with an offset, as in bodies: never an epoch number."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.support import FakeContext, http_event, load_handler


@pytest.mark.parametrize(
    ("function", "path"),
    [("functions/ingestion/app.py", "/orders"), ("functions/ingestion/app.py", "/orders/stats"),
     ("functions/returns/app.py", "/returns")],
)  # fmt: skip
def test_a_number_or_a_time_without_offset_is_refused(stack, function: str, path: str) -> None:
    app = load_handler(function)
    for bad in ("12", "2026-12-01T00:00:00"):
        event = http_event("GET", path, path, None, "oms_local_ops_key")
        event["queryStringParameters"] = {"created_from": bad}
        answer = app.lambda_handler(event, FakeContext())
        assert answer["statusCode"] == 422, (path, bad, answer["body"])
        assert "created_from" in json.loads(answer["body"])["message"]
    event = http_event("GET", path, path, None, "oms_local_ops_key")
    yesterday = (datetime.now(UTC) - timedelta(days=1)).astimezone(timezone(timedelta(hours=7)))
    event["queryStringParameters"] = {"created_from": yesterday.isoformat()}
    assert app.lambda_handler(event, FakeContext())["statusCode"] == 200
