"""What every HTTP function shares: the resolver, errors as answers, the
raw body, and API-key checks by route."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn
from pydantic import ValidationError

from oms.domain.apikeys import authenticate, authorize
from oms.errors import OmsError, PayloadTooLarge
from oms.models.apikey import ApiKey, Role
from oms.observability import logger
from oms.ports import ApiKeyRepository

API_KEY_SCHEME = "apiKey"
SECURED = [{API_KEY_SCHEME: []}]


def error_response(status: int, code: str, message: str, details: Any = None) -> Response:
    body: dict[str, Any] = {"error": code, "message": message}
    if details is not None:
        body["details"] = details
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


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
    app = APIGatewayHttpResolver(enable_validation=True)
    app.configure_openapi(
        title=title,
        version="1.0.0",
        description="Fulfillment OMS. Own channels, ops and cs authenticate with the x-api-key header.",
        security_schemes={API_KEY_SCHEME: APIKey(name="x-api-key", in_=APIKeyIn.header)},
    )

    @app.exception_handler(OmsError)
    def _oms_error(exc: OmsError) -> Response:
        if exc.status_code >= 500:
            logger.warning("request failed on a dependency", extra={"error": exc.code})
        return error_response(exc.status_code, exc.code, exc.message, exc.details)

    @app.exception_handler(ValidationError)
    def _invalid_model(exc: ValidationError) -> Response:
        # A model built inside a route (not the request body itself) refused the input.
        return validation_failed(exc.errors(include_input=False, include_url=False))

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response:
        return validation_failed(exc.errors())

    return app


def raw_body(event: Mapping[str, Any]) -> bytes:
    """The body exactly as sent: signatures are computed over these bytes."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body)
    return body.encode("utf-8")


class RouteGuard:
    """Checks what every request needs before routing: body size and, for
    routes that want one, an API key with a role the route allows."""

    def __init__(self, roles_by_route: Mapping[str, frozenset[Role]], keys: ApiKeyRepository, max_body: int) -> None:
        self.roles_by_route = roles_by_route
        self.keys = keys
        self.max_body = max_body

    def check(self, event: Mapping[str, Any]) -> ApiKey | None:
        body = event.get("body") or ""
        size = len(body) * 3 // 4 if event.get("isBase64Encoded") else len(body.encode("utf-8"))
        if size > self.max_body:
            raise PayloadTooLarge(f"body is {size} bytes; the limit is {self.max_body}")
        allowed = self.roles_by_route.get(event.get("routeKey", ""))
        if allowed is None:
            return None  # public, or authenticated otherwise (signatures)
        headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
        key = authenticate(self.keys, headers.get("x-api-key"))
        authorize(key, allowed)
        return key


def add_openapi_route(app: APIGatewayHttpResolver, path: str) -> None:
    """Serve the resolver's own OpenAPI document at path (public, not in the schema)."""

    def openapi():  # unannotated on purpose: a Response annotation would enter the schema it serves
        return Response(
            status_code=200, content_type=content_types.APPLICATION_JSON, body=app.get_openapi_json_schema()
        )

    app.get(path, summary="This API's OpenAPI document", include_in_schema=False)(openapi)


class GuardedApp:
    """An HTTP function's core: the route guard before routing, the caller's key in the context.
    The guard is built on first use (the key store reads settings and clients)."""

    def __init__(self, app: APIGatewayHttpResolver, roles_by_route: Mapping[str, frozenset[Role]]) -> None:
        self.app = app
        self.roles_by_route = roles_by_route
        self._guard: RouteGuard | None = None

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        if self._guard is None:
            from oms import container
            from oms.settings import get_settings

            self._guard = RouteGuard(self.roles_by_route, container.api_keys(), get_settings().max_body_bytes)
        try:
            key = self._guard.check(event)
        except OmsError as exc:
            return error_event(exc)
        self.app.append_context(api_key=key)
        return self.app.resolve(event, context)
