"""The API's one OpenAPI document and its reference page, served by the ingestion function.

The document describes every HTTP function's routes. In AWS each function holds its own resolver only, so it
is merged at build time by scripts/openapi.py into openapi.json beside this module (the layer carries it); a
unit test fails when that file is stale. The reference page is Swagger UI from the assets Powertools ships
(already in the layer): nothing is loaded from the internet.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types

DOCUMENT = Path(__file__).with_name("openapi.json")


@cache
def openapi_json() -> str:
    return DOCUMENT.read_text(encoding="utf-8")


@cache
def docs_html() -> str:
    from aws_lambda_powertools import event_handler
    from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html

    assets = Path(event_handler.__file__).parent / "openapi" / "swagger_ui"
    return generate_swagger_html(
        openapi_json().replace("</", "<\\/"),  # inlined in a <script>: no early </script>
        (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        (assets / "swagger-ui.min.css").read_text(encoding="utf-8"),
        "",  # no base URL: the assets are inlined
        None,
        persist_authorization=False,  # an ops key never left in a shared browser's storage
    ).replace("<title>Swagger UI</title>", "<title>Fulfillment OMS API</title>")


def add_api_docs(app: APIGatewayHttpResolver, document: str = "/openapi.json", page: str = "/docs") -> None:
    """GET document: the OpenAPI JSON; GET page: Swagger UI over it. Both public and not in the document."""

    def openapi():  # unannotated on purpose: a return annotation would enter the schema
        return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=openapi_json())

    def docs():
        return Response(status_code=200, content_type="text/html; charset=utf-8", body=docs_html())

    app.get(document, summary="The API's OpenAPI document", include_in_schema=False, cache_control="max-age=300")(
        openapi
    )
    app.get(page, summary="The API reference (Swagger UI)", include_in_schema=False, compress=True,
            cache_control="max-age=300")(docs)  # fmt: skip
