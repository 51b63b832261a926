"""The gateway: payload format 2.0 events, raw bytes, routing, errors."""

from __future__ import annotations

import hashlib
import json
import os

import requests
from local_helpers import FIXTURES

from oms_local import LocalRuntime


def test_http_event_and_raw_bytes_round_trip(rt: LocalRuntime) -> None:
    raw = os.urandom(4096) + b"\xff\xfe not utf-8"
    resp = requests.post(
        f"{rt.url}/echo/al%20ice?a=1&a=2&b=x%20y",
        data=raw,
        headers={"Content-Type": "application/octet-stream", "X-Multi": "one", "Cookie": "c1=v1; c2=v2"},
        timeout=30,
    )
    assert resp.status_code == 201, resp.text
    assert resp.headers["x-fixture"] == "yes" and "apigw-requestid" in resp.headers
    payload = resp.json()
    assert payload["sha256"] == hashlib.sha256(raw).hexdigest()
    event = payload["event"]
    assert event["version"] == "2.0" and event["isBase64Encoded"] is True
    assert event["routeKey"] == "POST /echo/{name}"
    assert event["rawPath"] == "/echo/al%20ice"
    assert event["rawQueryString"] == "a=1&a=2&b=x%20y"
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x y"}
    assert event["pathParameters"] == {"name": "al ice"}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert event["headers"]["x-multi"] == "one" and "cookie" not in event["headers"]
    assert event["headers"]["content-type"] == "application/octet-stream"
    ctx = event["requestContext"]
    assert ctx["http"]["method"] == "POST" and ctx["http"]["path"] == "/echo/al%20ice"
    assert ctx["stage"] == "$default" and ctx["routeKey"] == "POST /echo/{name}"
    assert ctx["accountId"] == "123456789012" and ctx["http"]["sourceIp"] == "127.0.0.1"
    assert isinstance(ctx["timeEpoch"], int) and ctx["requestId"]
    # Lambda-like context and environment, layer importable.
    assert payload["module"] == "fixture_lib" and payload["greeting"] == "overridden-by-function"
    assert payload["function_name"] == "oms-local-HttpFunction" and payload["memory"] == 256
    assert 0 < payload["remaining_ms"] <= 5000 and payload["endpoint"] == rt.moto_url
    # The handler printed to stdout: it went to the log file, not into the protocol.
    log_text = (rt.data_dir / "logs" / "HttpFunction.log").read_text()
    assert '"message": "handled"' in log_text


def test_text_body_is_passed_as_text(rt: LocalRuntime) -> None:
    body = json.dumps({"café": "ünïcode"}, ensure_ascii=False).encode()
    resp = requests.post(
        f"{rt.url}/echo/bob", data=body, headers={"Content-Type": "application/json; charset=utf-8"}, timeout=30
    )
    payload = resp.json()
    assert payload["event"]["isBase64Encoded"] is False
    assert payload["event"]["body"] == body.decode()
    assert payload["sha256"] == hashlib.sha256(body).hexdigest()
    assert "queryStringParameters" not in payload["event"]


def test_routing_404_500_413_and_inference(rt: LocalRuntime) -> None:
    item = requests.get(f"{rt.url}/items/42", timeout=30).json()["event"]
    assert item["pathParameters"] == {"item_id": "42"}
    greedy = requests.delete(f"{rt.url}/files/a/b/c.txt", timeout=30).json()["event"]
    assert greedy["routeKey"] == "ANY /files/{proxy+}" and greedy["pathParameters"] == {"proxy": "a/b/c.txt"}
    not_found = requests.get(f"{rt.url}/nope", timeout=30)
    assert not_found.status_code == 404 and not_found.json() == {"message": "Not Found"}
    wrong_method = requests.get(f"{rt.url}/echo/bob", timeout=30)
    assert wrong_method.status_code == 404
    boom = requests.get(f"{rt.url}/boom", timeout=30)
    assert boom.status_code == 500 and boom.json() == {"message": "Internal Server Error"}
    plain = requests.get(f"{rt.url}/plain", timeout=30)
    assert plain.status_code == 200 and plain.json() == {"just": "a dict"}
    assert plain.headers["content-type"] == "application/json"
    too_big = requests.post(f"{rt.url}/echo/big", data=b"x" * (10 * 1024 * 1024 + 1), timeout=30)
    assert too_big.status_code == 413
    # The worker is still alive after the error: same pool, warm.
    assert requests.get(f"{rt.url}/items/1", timeout=30).status_code == 201


def test_unknown_methods_are_routed_like_api_gateway(rt: LocalRuntime) -> None:
    """TRACE, QUERY and other methods: JSON 404 when no route takes them (not http.server's HTML 501)."""
    for method in ("TRACE", "QUERY", "PROPFIND", "BREW"):
        for path in ("/nope", "/echo/bob", "/plain"):  # no such path; a path with other methods
            resp = requests.request(method, f"{rt.url}{path}", timeout=30)
            assert resp.status_code == 404, (method, path, resp.status_code, resp.text)
            assert resp.content == b'{"message":"Not Found"}'  # API Gateway's bytes
            assert resp.headers["content-type"] == "application/json" and "apigw-requestid" in resp.headers
    # An ANY route takes every method, the unusual ones too.
    resp = requests.request("QUERY", f"{rt.url}/files/a.txt", data=b"q", timeout=30)
    assert resp.status_code == 201, resp.text
    event = resp.json()["event"]
    assert event["requestContext"]["http"]["method"] == "QUERY" and event["routeKey"] == "ANY /files/{proxy+}"
    # The connection stays usable after a 404 (keep-alive).
    with requests.Session() as session:
        assert session.request("TRACE", f"{rt.url}/plain", timeout=30).status_code == 404
        assert session.get(f"{rt.url}/plain", timeout=30).status_code == 200


def test_invoke_timeout_error_and_cold_start(rt: LocalRuntime) -> None:
    import pytest

    from oms_local import FunctionError

    assert rt.invoke("SlowFunction", {"x": 1})["echo"] == {"x": 1}
    assert rt.cold_starts["SlowFunction"] > 0
    with pytest.raises(FunctionError) as info:
        rt.invoke("SlowFunction", {"raise": "missing"})
    assert info.value.error_type == "KeyError"
    assert any("slow_handler" in line for line in info.value.stack_trace)
    with pytest.raises(FunctionError) as timeout:
        rt.invoke("SlowFunction", {"sleep": 3})
    assert timeout.value.error_type == "Sandbox.Timedout"
    assert rt.invoke("SlowFunction", {"x": 2})["echo"] == {"x": 2}  # a fresh worker replaced it
    assert (FIXTURES / "template.yaml").exists()
