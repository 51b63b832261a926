"""Carrier tracking pushes: who may send them, and what they say in our terms.

* Biteship (the aggregator most Indonesian shops use): a flat JSON body (`event` "order.status",
  `courier_waybill_id`, `courier_company`, `status`, ...). It authenticates with a header the
  merchant names and fills in its dashboard (compared in constant time); saving the webhook URL
  sends an empty body that must get a 200.
* Any other carrier we connect signs the Standard Webhooks way (`webhook-id`, `webhook-timestamp`,
  `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, five minutes' tolerance)
  and sends our own small body (GenericCarrierPush).

The raw status is always kept; a status we do not map moves nothing and says so.
"""

from __future__ import annotations

import binascii
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

from pydantic import Field, ValidationError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from oms import bodies
from oms.domain.status import CarrierReport
from oms.errors import BadRequest, DependencyError, InvalidSignature, NotFound, PayloadTooLarge
from oms.models.order import FulfillmentStatus, IsoTime, Model, Moment
from oms.models.status import FulfillmentOutcome

S = FulfillmentStatus
CARRIER_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{1,39}")

# Biteship's order statuses (its docs; camelCase in some versions). Before pickup nothing moves.
BITESHIP_STATUSES: dict[str, FulfillmentStatus | None] = {
    "confirmed": None,
    "scheduled": None,
    "allocated": None,
    "picking_up": None,
    "picked": S.in_transit,  # the courier has it
    "in_transit": S.in_transit,
    "dropping_off": S.out_for_delivery,
    "on_hold": S.failed_attempt,  # held: an attempt or the route failed, another follows
    "delivered": S.delivered,
    "return_in_transit": S.returned_to_sender,  # it will not be delivered
    "returned": S.returned_to_sender,
    # The courier never took it (cancelled, rejected, none found, disposed): ops look at the parcel.
    "cancelled": None,
    "rejected": None,
    "courier_not_found": None,
    "disposed": None,
}


def snake(value: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in value).lstrip("_")


class BiteshipPush(Model):
    model_config = {"extra": "ignore", "str_strip_whitespace": True}

    event: str
    order_id: str | None = None
    courier_tracking_id: str | None = None
    courier_waybill_id: str | None = Field(default=None, max_length=64)
    courier_company: str | None = Field(default=None, max_length=40)
    courier_type: str | None = Field(default=None, max_length=40)
    status: str | None = Field(default=None, max_length=60)
    updated_at: IsoTime | None = None
    note: str | None = Field(default=None, max_length=500)


def verify_biteship(headers: dict[str, str], header_name: str, secret: str) -> None:
    presented = headers.get(header_name.lower())
    if not presented:
        raise InvalidSignature(f"missing {header_name} header")
    if not hmac.compare_digest(presented.encode(), secret.encode()):
        raise InvalidSignature(f"{header_name} does not match")


def parse_biteship(body: bytes, now: datetime) -> CarrierReport | None:
    """The report in a Biteship push; None for events that carry no parcel status."""
    try:
        push = BiteshipPush.model_validate_json(body)
    except ValidationError as exc:
        raise BadRequest(f"not a Biteship push: {exc.errors()[0]['msg']}") from None
    if push.event != "order.status":
        return None  # order.price, order.waybill_id (a courier hand-over): no parcel status
    if not push.courier_waybill_id or not push.status:
        raise BadRequest("a Biteship order.status push needs courier_waybill_id and status")
    raw = snake(push.status)
    timed = push.updated_at is not None and push.updated_at.tzinfo is not None
    at = push.updated_at if timed else now
    return CarrierReport(
        carrier=(push.courier_company or "").lower() or "biteship",
        tracking_number=push.courier_waybill_id,
        status=BITESHIP_STATUSES.get(raw),
        raw_status=raw,
        at=at,
        note=push.note,
        timed=timed,
    )


class GenericCarrierPush(Model):
    """What a carrier we connect directly sends (signed with Standard Webhooks)."""

    tracking_number: str = Field(min_length=4, max_length=64, pattern=r"^[A-Za-z0-9-]+$")
    status: Literal["in_transit", "out_for_delivery", "failed_attempt", "delivered", "returned_to_sender"]
    occurred_at: Moment
    raw_status: str | None = Field(default=None, max_length=60, description="The carrier's own status code")
    note: str | None = Field(default=None, max_length=500, description="Where, or why it failed (no PII)")


def verify_standard(body: bytes, headers: dict[str, str], secret: str) -> None:
    try:
        Webhook(secret).verify(body, headers, json_parse=False)
    except UnicodeDecodeError:
        raise InvalidSignature("webhook-signature: the body is not UTF-8 text, so it cannot be signed") from None
    except (WebhookVerificationError, ValueError, binascii.Error) as exc:
        raise InvalidSignature(f"webhook-signature: {exc}") from None


def parse_generic(carrier: str, body: bytes) -> CarrierReport:
    try:
        push = GenericCarrierPush.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise BadRequest(f"{where}: {first['msg']}") from None
    return CarrierReport(
        carrier=carrier,
        tracking_number=push.tracking_number,
        status=S(push.status),
        raw_status=push.raw_status or push.status,
        at=push.occurred_at.astimezone(UTC),
        note=push.note,
    )


_EMPTY_PROBE = re.compile(rb"\s*(?:\{\s*\}|\[\s*\])?\s*")


def is_empty_probe(body: bytes) -> bool:
    """Biteship's install check (it carries no header): an empty body, {} or []. Matched, not parsed:
    nothing an unauthenticated sender posts is parsed before the header is checked."""
    return _EMPTY_PROBE.fullmatch(body) is not None


class Secrets(Protocol):
    def channel_secret(self, channel: str, name: str) -> str | None: ...


class Reports(Protocol):
    def carrier_report(self, report: CarrierReport) -> FulfillmentOutcome: ...


@dataclass(frozen=True)
class CarrierAnswer:
    kind: Literal["probe", "ignored", "applied"]
    outcome: FulfillmentOutcome | None = None
    detail: str | None = None


class CarrierWebhooks:
    """Verify, parse and apply one carrier push. Applying is the storing: the parcel's status and its
    report history are written before the answer, so a 2xx means it is kept."""

    def __init__(self, secrets: Secrets, reports: Reports, max_body_bytes: int) -> None:
        self.secrets = secrets
        self.reports = reports
        self.max_body_bytes = max_body_bytes

    def receive(self, carrier: str, headers: dict[str, str], body: bytes, now: datetime) -> CarrierAnswer:
        if not CARRIER_NAME.fullmatch(carrier):
            raise NotFound(f"no carrier '{carrier}'")
        if len(body) > self.max_body_bytes:
            raise PayloadTooLarge(f"body is {len(body)} bytes; the limit is {self.max_body_bytes}")
        headers = {name.lower(): value for name, value in headers.items()}
        if carrier == "biteship":
            if is_empty_probe(body):
                return CarrierAnswer("probe", detail="webhook installed")
            name = self.secrets.channel_secret("biteship", "header_name")
            secret = self.secrets.channel_secret("biteship", "header_secret")
            if not name or not secret:
                raise DependencyError("no biteship webhook header is configured")
            verify_biteship(headers, name, secret)
            bodies.check(body)  # 400 for bytes that are not UTF-8 or nest too deep, before the parse
            report = parse_biteship(body, now)
            if report is None:
                return CarrierAnswer("ignored", detail="no parcel status in this event")
        else:
            secret = self.secrets.channel_secret(f"carrier-{carrier}", "secret") or self.secrets.channel_secret(
                "carriers", "secret"
            )
            if not secret:
                raise DependencyError(f"no webhook secret is configured for {carrier}")
            verify_standard(body, headers, secret)
            bodies.check(body)
            report = parse_generic(carrier, body)
        return CarrierAnswer("applied", self.reports.carrier_report(report))
