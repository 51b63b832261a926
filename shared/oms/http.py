"""What every HTTP function shares: the resolver, errors as answers, the
raw body, API-key checks by route, and the edge every request passes first
(size, key, content type, UTF-8, nesting depth) so no input becomes a 5xx."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from pydantic import ValidationError

from oms import bodies
from oms.domain.apikeys import authenticate, authorize
from oms.errors import BadRequest, OmsError, PayloadTooLarge, UnsupportedMediaType
from oms.models.apikey import ApiKey, Role
from oms.observability import logger
from oms.ports import ApiKeyRepository

API_KEY_SCHEME = "apiKey"
SECURED = [{API_KEY_SCHEME: []}]

# Routes whose body is checked against a signature over its exact bytes: passed on untouched
# (their domain checks UTF-8 and depth after the signature). Every other route takes JSON only.
SIGNED_ROUTES = frozenset({"POST /webhooks/{channel}", "POST /webhooks/carriers/{carrier}"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

# On every answer: they carry orders, addresses and contacts (never cached), and are JSON, never sniffed.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> Response:
    body: dict[str, Any] = {"error": code, "message": message}
    if details is not None:
        body["details"] = details
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body), headers=headers
    )


def error_event(exc: OmsError) -> dict[str, Any]:
    """An error as an API Gateway answer, for checks made before routing."""
    return {
        "statusCode": exc.status_code,
        "headers": {"Content-Type": content_types.APPLICATION_JSON},
        "body": json.dumps({"error": exc.code, "message": exc.message}),
        "isBase64Encoded": False,
    }


def validation_failed(errors: Sequence[Mapping[str, Any]]) -> Response:
    """422 naming each field and its problem; never the input (it may be PII)."""
    problems = [
        {"where": ".".join(str(part) for part in error.get("loc", ())), "problem": error.get("msg")} for error in errors
    ]
    summary = "; ".join(f"{p['where']}: {p['problem']}" for p in problems[:5])
    return error_response(422, "validation_failed", summary or "request is invalid", problems)


def new_resolver(title: str) -> APIGatewayHttpResolver:
    # GuardedApp hands over bodies as checked UTF-8 text; this is their one parse (400 when malformed or too deep).
    app = APIGatewayHttpResolver(enable_validation=True, json_body_deserializer=bodies.loads)
    app.configure_openapi(
        title=title,
        version="1.0.0",
        description="Fulfillment OMS. Own channels, ops and cs authenticate with the x-api-key header.",
        # A plain mapping, not Powertools' APIKey model: importing its OpenAPI models costs a cold start
        # about 120 ms, and only the OpenAPI document (built off the request path) needs them.
        security_schemes={API_KEY_SCHEME: {"type": "apiKey", "name": "x-api-key", "in": "header"}},
    )

    @app.exception_handler(OmsError)
    def _oms_error(exc: OmsError) -> Response:
        if exc.status_code >= 500:
            logger.warning("request failed on a dependency", extra={"error": exc.code})
        retry_after = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(retry_after)} if retry_after else None
        return error_response(exc.status_code, exc.code, exc.message, exc.details, headers)

    @app.exception_handler(ValidationError)
    def _invalid_model(exc: ValidationError) -> Response:
        # A model built inside a route (not the request body itself) refused the input.
        return validation_failed(exc.errors(include_input=False, include_url=False))

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response:
        return validation_failed(exc.errors())

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported(exc: RequestUnsupportedContentType) -> Response:
        # GuardedApp answers these first; this keeps the answer's shape for a resolver called directly.
        return error_response(415, UnsupportedMediaType.code, "send the body as application/json")

    return app


def raw_body(event: Mapping[str, Any]) -> bytes:
    """The body exactly as sent: signatures are computed over these bytes."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except binascii.Error:
            raise BadRequest("body is marked base64 but is not valid base64") from None
    # surrogatepass: a str body holding a lone surrogate still has bytes (which fail the UTF-8 check)
    return body.encode("utf-8", "surrogatepass")


class RouteGuard:
    """Checks what every request needs before routing: body size and, for
    routes that want one, an API key with a role the route allows."""

    def __init__(self, roles_by_route: Mapping[str, frozenset[Role]], keys: ApiKeyRepository, max_body: int) -> None:
        self.roles_by_route = roles_by_route
        self.keys = keys
        self.max_body = max_body

    def check(self, event: Mapping[str, Any]) -> ApiKey | None:
        body = event.get("body") or ""
        size = len(body) * 3 // 4 if event.get("isBase64Encoded") else len(body.encode("utf-8", "surrogatepass"))
        if size > self.max_body:
            raise PayloadTooLarge(f"body is {size} bytes; the limit is {self.max_body}")
        allowed = self.roles_by_route.get(event.get("routeKey", ""))
        if allowed is None:
            return None  # public, or authenticated otherwise (signatures)
        headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
        key = authenticate(self.keys, headers.get("x-api-key"))
        authorize(key, allowed)
        return key


def _header(event: Mapping[str, Any], name: str) -> str | None:
    return next((value for key, value in (event.get("headers") or {}).items() if key.lower() == name), None)


def _is_json(content_type: str) -> bool:
    media_type, *params = (part.strip().lower() for part in content_type.split(";"))
    charsets = [value.strip('"') for name, _, value in (p.partition("=") for p in params) if name.strip() == "charset"]
    return media_type == "application/json" and all(charset in ("utf-8", "utf8") for charset in charsets)


def json_event(event: dict[str, Any]) -> dict[str, Any]:
    """The event a JSON route is resolved with: a body typed application/json (or untyped) and UTF-8,
    handed on as text. Powertools would raise on a multipart type without a boundary and on bytes
    that are not UTF-8 (500s); here they are 415 and 400. Depth and syntax are checked in the one parse."""
    body = raw_body(event)
    method = ((event.get("requestContext") or {}).get("http") or {}).get("method", "").upper()
    if not body and method not in BODY_METHODS:
        return event
    content_type = _header(event, "content-type")
    if content_type is not None and not _is_json(content_type):
        route = event.get("routeKey") or "this route"
        raise UnsupportedMediaType(f"{route} takes application/json (UTF-8); the body is {content_type[:100]}")
    headers = {key: value for key, value in (event.get("headers") or {}).items() if key.lower() != "content-type"}
    headers["content-type"] = "application/json"  # the one spelling Powertools recognises
    return {**event, "headers": headers, "body": bodies.text(body), "isBase64Encoded": False}


def with_security_headers(answer: dict[str, Any]) -> dict[str, Any]:
    headers = answer.get("headers") or {}
    present = {name.lower() for name in headers}
    answer["headers"] = {**headers, **{k: v for k, v in SECURITY_HEADERS.items() if k.lower() not in present}}
    return answer


class GuardedApp:
    """An HTTP function's core: the route guard before routing, the caller's key in the context.
    The guard is built on first use (the key store reads settings and clients)."""

    def __init__(self, app: APIGatewayHttpResolver, roles_by_route: Mapping[str, frozenset[Role]]) -> None:
        self.app = app
        self.roles_by_route = roles_by_route
        self._guard: RouteGuard | None = None

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        if self._guard is None:
            from oms.settings import get_settings
            from oms.wiring.core import api_keys

            self._guard = RouteGuard(self.roles_by_route, api_keys(), get_settings().max_body_bytes)
        try:
            key = self._guard.check(event)
            if event.get("routeKey") not in SIGNED_ROUTES:
                event = json_event(event)
        except OmsError as exc:
            return with_security_headers(error_event(exc))
        self.app.append_context(api_key=key)
        return with_security_headers(self.app.resolve(event, context))
