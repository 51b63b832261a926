"""Shipping HTTP API: arrange the marketplaces' couriers and book the retailer's own, in bulk (a list
of parcel ids in, one outcome per parcel out); the shipping lists and their counts; a parcel's label;
print jobs (one PDF: labels, pick list, packing lists). Thin: parse, call oms.domain.shipping, map."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms.domain.apikeys import actor, nodes_acted_for
from oms.errors import BadRequest, Conflict, Forbidden
from oms.http import SECURED, GuardedApp, new_resolver
from oms.models.apikey import ApiKey, Role
from oms.models.common import Channel
from oms.models.order import fulfillment_order_id
from oms.models.shipping import (
    PARCEL_ID,
    ArrangeBody,
    BookBody,
    BulkAnswer,
    OptionsView,
    ParcelPage,
    ParcelRow,
    PrintBody,
    PrintJob,
    RateView,
    ShippingState,
)
from oms.observability import logger, metrics, tracer
from oms.openapi_errors import answers
from oms.wiring.core import orders
from oms.wiring.shipping import shipping

app = new_resolver("Fulfillment OMS: shipping")

STAFF = frozenset({Role.ops, Role.node})
ROLES_BY_ROUTE = {
    "POST /shipping/arrange": STAFF,
    "POST /shipping/bookings": STAFF,
    "GET /shipping/options": STAFF,
    "GET /shipping/rates": STAFF,
    "GET /shipping/parcels": frozenset({Role.ops, Role.cs, Role.node}),
    "GET /shipping/counts": frozenset({Role.ops, Role.cs, Role.node}),
    "GET /shipping/parcels/{parcel_id}/label": STAFF,
    "POST /shipping/print-jobs": STAFF,
    "GET /shipping/print-jobs/{job_id}": STAFF,
}
BULK = {
    202: {"description": "at least one parcel accepted: each parcel's outcome (accepted, refused with the reason)"},
}
PDF = {"schema": {"type": "string", "format": "binary"}}
ALL_REFUSED = "every parcel refused (already arranged, cancelled, past its ship-by, on hold ...): `details` lists "
"each parcel's outcome and reason"


def _now() -> datetime:
    return datetime.now(UTC)


def _own_parcels(key: ApiKey, parcel_ids: list[str]) -> None:
    """A node key acts for its own nodes' parcels only."""
    allowed = nodes_acted_for(key)
    if allowed is None:
        return
    for order_id in dict.fromkeys(fulfillment_order_id(i) for i in parcel_ids):
        order = orders().get(order_id)
        for parcel in order.fulfillments if order else []:
            if parcel.fulfillment_id in parcel_ids and parcel.node_id not in allowed:
                raise Forbidden(f"this key may not act for node {parcel.node_id} (parcel {parcel.fulfillment_id})")


def _bulk(answer: BulkAnswer, what: str) -> Response[BulkAnswer]:
    metrics.add_metric(name=f"Shipping{what}Accepted", unit=MetricUnit.Count, value=answer.accepted)
    metrics.add_metric(name=f"Shipping{what}Refused", unit=MetricUnit.Count, value=answer.refused)
    if not answer.accepted:
        reasons = "; ".join(f"{p.parcel_id}: {p.reason}" for p in answer.parcels[:5])
        raise Conflict(f"no parcel accepted ({reasons})", details=answer.model_dump(mode="json")["parcels"])
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=answer)


@app.post(
    "/shipping/arrange",
    summary="Arrange the marketplace's courier for parcels: pickup (a slot) or drop-off (Atur Pengiriman)",
    description="Each parcel is checked now: a parcel already arranged, cancelled, on hold, past its ship-by, "
    "collected in store, or of an own channel (book it instead) is refused with the reason. The accepted ones are "
    "`arranging` and are arranged in the batches each marketplace allows (Shopee 50, Lazada 20, TikTok Shop a "
    "batch): follow them in GET /shipping/parcels (waiting_for_resi, label_ready, or arrange_failed with the "
    "marketplace's reason). A parcel whose arrangement failed may be arranged again.",
    security=SECURED,
    responses=answers(403, 409, ok=BULK, e409=ALL_REFUSED),
)
def arrange(body: ArrangeBody) -> Response[BulkAnswer]:
    key: ApiKey = app.context["api_key"]
    _own_parcels(key, body.parcel_ids)
    answer = shipping().arrange(body.parcel_ids, body.handover, body.slot_id, actor(key))
    logger.info("arrange asked", extra={"accepted": answer.accepted, "refused": answer.refused})
    return _bulk(answer, "Arrange")


@app.post(
    "/shipping/bookings",
    summary="Book the retailer's own courier for own-channel parcels (web, POS, social, call center)",
    description="Through the courier aggregator (Biteship): the courier and service asked, else the promised one, "
    "else the cheapest that takes the parcel (cash on delivery when the order is COD). The courier's waybill becomes "
    "the parcel's resi and the OMS draws its label (10 x 15 cm / A6, Code 128).",
    security=SECURED,
    responses=answers(403, 409, ok=BULK, e409=ALL_REFUSED),
)
def book(body: BookBody) -> Response[BulkAnswer]:
    key: ApiKey = app.context["api_key"]
    _own_parcels(key, body.parcel_ids)
    return _bulk(shipping().book(body.parcel_ids, body.courier, body.service, actor(key)), "Book")


@app.get(
    "/shipping/options",
    summary="Pickup slots and drop-off for marketplace parcels, as each marketplace offers them now",
    security=SECURED,
    responses=answers(),
)
def options(
    parcel_ids: Annotated[str, Query(min_length=3, max_length=2000, description="Comma-separated, at most 50")],
) -> list[OptionsView]:
    ids = [i.strip() for i in parcel_ids.split(",") if i.strip()]
    if not 1 <= len(ids) <= 50:
        raise BadRequest("parcel_ids: give 1 to 50 parcel ids, comma-separated")
    if bad := [i for i in ids if not PARCEL_ID.fullmatch(i)]:
        raise BadRequest(f"parcel_ids: not parcel ids (<order id>-F<n>): {', '.join(bad[:5])}")
    return shipping().options(ids)


@app.get(
    "/shipping/rates",
    summary="What the retailer's couriers charge for an own-channel parcel (cheapest first)",
    security=SECURED,
    responses=answers(404, 409),
)
def rates(parcel_id: Annotated[str, Query(min_length=3, max_length=80, pattern=PARCEL_ID.pattern)]) -> list[RateView]:
    return shipping().rates(parcel_id)


@app.get(
    "/shipping/parcels",
    summary="Parcels in one shipping state, soonest ship-by first (to arrange, arranging, arrange failed, ...)",
    description="The lists follow the orders within seconds (they are fed by the orders' events).",
    security=SECURED,
    responses=answers(),
)
def parcels(
    state: Annotated[ShippingState, Query()],
    channel: Annotated[Channel | None, Query()] = None,
    node_id: Annotated[str | None, Query(max_length=40)] = None,
    shop_id: Annotated[str | None, Query(max_length=64, description="One marketplace shop's parcels")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> ParcelPage:
    key: ApiKey = app.context["api_key"]
    allowed = nodes_acted_for(key)
    if allowed is not None:
        if node_id is None and len(allowed) == 1:
            node_id = next(iter(allowed))
        if node_id not in allowed:
            raise Forbidden("a node key lists its own node's parcels: give node_id")
    rows, next_cursor = shipping().store.parcels(state.value, limit, cursor, channel.value if channel else None,
                                                 node_id, shop_id)  # fmt: skip
    return ParcelPage(items=[ParcelRow.model_validate(row) for row in rows], next_cursor=next_cursor)


@app.get(
    "/shipping/counts",
    summary="How many parcels are in each shipping state (the to-do counters)",
    security=SECURED,
    responses=answers(),
)
def counts() -> dict[str, int]:
    return shipping().store.counts()


@app.get(
    "/shipping/parcels/<parcel_id>/label",
    summary="One parcel's label as a PDF (the marketplace's, or the OMS's own for own-courier parcels)",
    security=SECURED,
    responses=answers(404, ok={200: {"description": "the label", "content": {"application/pdf": PDF}}}),
)
def label(parcel_id: Annotated[str, Path(min_length=3, max_length=80, pattern=PARCEL_ID.pattern)]):  # a file: no model
    key: ApiKey = app.context["api_key"]
    _own_parcels(key, [parcel_id])
    return Response(status_code=200, content_type="application/pdf", body=shipping().label(parcel_id))


@app.post(
    "/shipping/print-jobs",
    summary="Print parcels' labels in one PDF (A6, or A4 four to a page) with a pick list and packing lists",
    description="Marks the printed parcels `printed`. Parcels unknown, without a label yet, or printed before "
    "(unless `reprint`) are listed with the reason and the rest print. The answer links the PDF for 15 minutes; "
    "GET /shipping/print-jobs/{job_id} gives a fresh link.",
    security=SECURED,
    responses=answers(403, 409, ok={201: {"description": "the print job, with its PDF's link"}}),
)
def create_print_job(body: PrintBody) -> Response[PrintJob]:
    key: ApiKey = app.context["api_key"]
    _own_parcels(key, body.parcel_ids)
    job_id = f"PJ-{_now().strftime('%Y%m%d')}-{secrets.token_hex(4).upper()}"
    job = shipping().print_job(body.parcel_ids, body.layout, body.reprint, actor(key), job_id)
    metrics.add_metric(name="LabelsPrinted", unit=MetricUnit.Count, value=job.printed)
    logger.info("print job", extra={"job_id": job.job_id, "printed": job.printed, "failed": job.failed,
                                    "pages": job.pages, "bytes": job.bytes})  # fmt: skip
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=job)


@app.get(
    "/shipping/print-jobs/<job_id>",
    summary="A print job: what printed and what did not (why), and a fresh link to its PDF",
    security=SECURED,
    responses=answers(404),
)
def get_print_job(job_id: Annotated[str, Path(min_length=3, max_length=40)]) -> PrintJob:
    return shipping().get_print_job(job_id)


serve = GuardedApp(app, ROLES_BY_ROUTE)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(event, context)
