"""A local API Gateway HTTP API: routes from `Type: HttpApi` events, payload format 2.0."""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote

from .template import ACCOUNT_ID, HttpRoute
from .workers import InvokeResult

log = logging.getLogger("oms_local.gateway")

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
API_ID = "local"
_TEXT_TYPES = ("json", "xml", "x-www-form-urlencoded", "javascript")

Invoker = Callable[[str, Any], InvokeResult]


class _CompiledRoute:
    def __init__(self, route: HttpRoute) -> None:
        self.route = route
        self.greedy = route.path.endswith("+}")
        segments = [s for s in route.path.strip("/").split("/") if s] if route.path != "$default" else []
        self.params = sum(1 for s in segments if s.startswith("{"))
        pattern = ""
        for seg in segments:
            m = re.fullmatch(r"\{([A-Za-z0-9_.-]+?)(\+?)\}", seg)
            if m and m.group(2):
                pattern += f"/(?P<{_group(m.group(1))}>.+)"
            elif m:
                pattern += f"/(?P<{_group(m.group(1))}>[^/]+)"
            else:
                pattern += "/" + re.escape(seg)
        self.regex = re.compile(f"^{pattern or '/'}$")
        self.names = {_group(n): n for n in re.findall(r"\{([A-Za-z0-9_.-]+?)\+?\}", route.path)}

    def priority(self) -> tuple[int, int, int, int]:
        # API Gateway: exact paths beat parameters, parameters beat greedy; a method beats ANY.
        return (int(self.greedy), self.params, -len(self.route.path), int(self.route.method == "ANY"))


def _group(name: str) -> str:
    return "p_" + re.sub(r"\W", "_", name)


class Router:
    def __init__(self, routes: list[HttpRoute]) -> None:
        self.routes = sorted((_CompiledRoute(r) for r in routes if r.path != "$default"), key=_CompiledRoute.priority)
        self.default = next((r for r in routes if r.path == "$default"), None)

    def match(self, method: str, raw_path: str) -> tuple[HttpRoute, dict[str, str]] | None:
        for compiled in self.routes:
            if compiled.route.method not in (method, "ANY"):
                continue
            m = compiled.regex.match(raw_path)
            if m:
                params = {compiled.names[k]: unquote(v) for k, v in m.groupdict().items()}
                return compiled.route, params
        if self.default is not None:
            return self.default, {}
        return None


def _is_text(content_type: str) -> bool:
    ct = content_type.lower()
    return ct.startswith("text/") or any(t in ct for t in _TEXT_TYPES)


def build_event(
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    route: HttpRoute,
    path_params: dict[str, str],
    source_ip: str,
    request_id: str,
    now: float | None = None,
) -> dict[str, Any]:
    """The API Gateway HTTP API payload format 2.0 event."""
    now = time.time() if now is None else now
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    query: dict[str, str] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    host = merged.get("host", "localhost")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": merged,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": route.route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_params:
        event["pathParameters"] = path_params
    if body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None and _is_text(merged.get("content-type", "")):
            event["body"] = text
        else:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
    return event


def map_response(payload: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """Lambda result -> (status, headers, body), including the 2.0 format's inference."""
    if not (isinstance(payload, dict) and "statusCode" in payload):
        # No statusCode: API Gateway assumes 200 and the JSON payload as the body.
        return 200, [("content-type", "application/json")], json.dumps(payload).encode()
    status = int(payload["statusCode"])
    headers: list[tuple[str, str]] = [(k, str(v)) for k, v in (payload.get("headers") or {}).items()]
    for k, values in (payload.get("multiValueHeaders") or {}).items():
        headers.extend((k, str(v)) for v in values)
    headers.extend(("set-cookie", c) for c in payload.get("cookies") or [])
    body = payload.get("body")
    if body is None:
        raw = b""
    elif payload.get("isBase64Encoded"):
        raw = base64.b64decode(body)
    else:
        raw = (body if isinstance(body, str) else json.dumps(body)).encode()
    return status, headers, raw


class _Handler(BaseHTTPRequestHandler):
    server: GatewayServer
    protocol_version = "HTTP/1.1"
    # Headers and body are separate small writes: without these, Nagle + delayed ACK add ~40 ms.
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.client_address[0], *args)

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes, request_id: str) -> None:
        self.send_response(status)
        names = {k.lower() for k, _ in headers}
        for k, v in headers:
            if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(k, v)
        if "content-type" not in names and body:
            self.send_header("content-type", "application/json")
        self.send_header("apigw-requestid", request_id)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _message(self, status: int, message: str, request_id: str) -> None:
        self._send(
            status,
            [("content-type", "application/json")],
            json.dumps({"message": message}, separators=(",", ":")).encode(),  # as API Gateway writes it
            request_id,
        )

    def _read_body(self) -> bytes | None:
        """Request body, or None when it exceeds the limit."""
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                total += size
                if total > MAX_BODY_BYTES:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY_BYTES:
            return None
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        request_id = base64.b64encode(secrets.token_bytes(10)).decode().rstrip("=") + "="
        raw_path, _, raw_query = self.path.partition("?")
        body = self._read_body()
        if body is None:
            self.close_connection = True  # the unread body makes the connection unusable
            self._message(413, "Request Entity Too Large", request_id)
            return
        match = self.server.router.match(self.command, raw_path)
        if match is None:
            self._message(404, "Not Found", request_id)
            return
        route, params = match
        headers = list(self.headers.items())
        if not any(k.lower() == "x-forwarded-for" for k, _ in headers):
            headers += [("x-forwarded-for", self.client_address[0])]
        headers += [
            ("x-forwarded-port", str(self.server.server_port)),
            ("x-forwarded-proto", "http"),
            ("x-amzn-trace-id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"),
        ]
        event = build_event(
            method=self.command,
            raw_path=raw_path,
            raw_query=raw_query,
            headers=headers,
            body=body,
            route=route,
            path_params=params,
            source_ip=self.client_address[0],
            request_id=request_id,
        )
        result = self.server.invoke(route.function_id, event)
        if not result.ok:
            err = result.error or {}
            log.error(
                "%s %s -> %s failed: %s: %s",
                self.command,
                raw_path,
                route.function_id,
                err.get("errorType"),
                err.get("errorMessage"),
            )
            self._message(500, "Internal Server Error", request_id)
            return
        try:
            status, out_headers, out_body = map_response(result.payload)
        except (TypeError, ValueError) as exc:
            log.error("%s returned a malformed response: %s", route.function_id, exc)
            self._message(500, "Internal Server Error", request_id)
            return
        self._send(status, out_headers, out_body, request_id)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, QUERY, PROPFIND, ...) is routed like the rest, as API Gateway
        # does: an ANY or $default route takes it, else JSON 404 {"message":"Not Found"}
        # (http.server would answer an HTML 501 page).
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)


class GatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, host: str, port: int, routes: list[HttpRoute], invoke: Invoker) -> None:
        self.router = Router(routes)
        self.invoke = invoke
        super().__init__((host, port), _Handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.server_address[0]}:{self.server_port}"

    def start(self) -> GatewayServer:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.2}, name="gateway", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting requests (in-flight ones finish in their own threads)."""
        self.shutdown()
        self.server_close()
