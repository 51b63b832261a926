"""The answers a route declares in the OpenAPI document: its success answer and the errors it can give, all
with the one error body that oms.http writes ({"error", "message", "details"?}).

    @app.get("/orders/<order_id>", security=SECURED, responses=answers(404))

declares 200 (the route's return annotation), 404, and what every route of its auth kind can answer:

- KEY (x-api-key): 400, 401 (no key, unknown or disabled), 403 (the key's roles, channels or nodes), 413, 415, 422
- SIGNED (webhooks: a signature over the raw body): 400, 401 (bad signature), 413, 422
- PUBLIC: 400, 413, 415, 422

The edge in oms.http gives these before routing: 413 (a body over the limit), 415 (a body not sent as
application/json; webhooks take any) and 400 (a body that is not UTF-8 or not JSON, or too deeply nested);
400 is also what a route answers when its parameters contradict each other. 422 comes from validation
(Powertools declares it on every route; here it gets our body instead of Powertools' HTTPValidationError).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Auth = Literal["key", "signed", "public"]
KEY: Auth = "key"
SIGNED: Auth = "signed"
PUBLIC: Auth = "public"

DESCRIPTIONS = {
    400: "Bad request: the body is not JSON, or the parameters contradict each other",
    401: "No API key, an unknown or disabled one, or (webhooks) a bad signature",
    403: "The key's roles, channels or nodes do not allow this",
    404: "Not found",
    409: "Conflict with the stored state",
    413: "The body is over the size limit",
    415: "The body is not sent as application/json",
    422: "Invalid input: each field named with its problem in details",
    429: "Too many requests",
}
BY_AUTH: dict[str, tuple[int, ...]] = {
    KEY: (400, 401, 403, 413, 415, 422),
    SIGNED: (400, 401, 413, 422),
    PUBLIC: (400, 413, 415, 422),
}


class Error(BaseModel):
    """Every error answer of the API."""

    model_config = ConfigDict(extra="forbid")

    error: str = Field(description="A stable code: bad_request, unauthorized, not_found, validation_failed, ...")
    message: str = Field(description="What is wrong, for a person")
    details: Any = Field(default=None, description="More, by error: the fields refused (422), the short SKUs, ...")


def error(status: int, description: str | None = None) -> dict[str, Any]:
    """One error answer with the shared body."""
    return {
        "description": description or DESCRIPTIONS.get(status, "Error"),
        "content": {"application/json": {"model": Error}},
    }


def answers(
    *errors: int,
    auth: Auth = KEY,
    ok: int | dict[int, dict[str, Any]] = 200,
    description: str = "Successful Response",
    **described: str,
) -> dict[int, dict[str, Any]]:
    """A route's `responses=`: its success answer(s), the errors given, and those of its auth kind.

    ok: the success status (its body is the route's return annotation), or whole answers by status.
    errors: the route's own statuses. described: a description by status, e.g. e409="older than the latest count".
    """
    declared: dict[int, dict[str, Any]] = {ok: {"description": description}} if isinstance(ok, int) else dict(ok)
    statuses = set(BY_AUTH[auth]) | set(errors)
    for status in sorted(statuses):
        declared[status] = error(status, described.get(f"e{status}"))
    return declared
