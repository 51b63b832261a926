"""Refunds through the payment provider (own channels paid online), in the shape of Xendit's refund
API: POST <base>/refunds against the payment (`payment_request_id`, the order's `payment.reference`)
with an Idempotency-key, answered SUCCEEDED, FAILED or PENDING.

The key is <rma_id>-<attempt>, so a retried call (a lost answer, a redelivered message) asks about
the same refund instead of paying twice; a retry ops ask for after a failure is a new attempt.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from decimal import Decimal

import urllib3
from urllib3.util import Retry, Timeout

from oms.errors import DependencyError
from oms.ports.returns import GatewayAnswer, RefundGateway, RefundPending

_TIMEOUT = Timeout(connect=2.0, read=8.0)
_RETRY = Retry(total=2, backoff_factor=0.5, backoff_max=2, status_forcelist=(429, 500, 502, 503, 504),
               allowed_methods=None, respect_retry_after_header=False, raise_on_status=False)  # fmt: skip


class HttpRefundGateway(RefundGateway):
    def __init__(self, base_url: str, secret_key: Callable[[], str | None]) -> None:
        self.base_url = base_url.rstrip("/")
        self.secret_key = secret_key  # read per call (cached by the parameters utility): a rotated key is taken up
        self.http = urllib3.PoolManager(timeout=_TIMEOUT, retries=_RETRY)

    def refund(
        self, *, rma_id: str, attempt: int, amount: Decimal, currency: str, payment_reference: str, order_id: str,
        order_number: str, channel_order_id: str,
    ) -> GatewayAnswer:  # fmt: skip
        key = f"{rma_id}-{attempt}"
        secret = self.secret_key()
        if not secret:
            raise DependencyError("payments/secret_key is not set: refunds wait until it is")
        token = base64.b64encode(f"{secret}:".encode()).decode()
        headers = {"content-type": "application/json", "idempotency-key": key, "authorization": f"Basic {token}"}
        body = {
            "payment_request_id": payment_reference,
            "reference_id": key,
            "amount": int(amount) if amount == amount.to_integral_value() else str(amount),
            "currency": currency,
            "reason": "REQUESTED_BY_CUSTOMER",
            "metadata": {
                "order_id": order_id,
                "order_number": order_number,
                "channel_order_id": channel_order_id,
                "rma_id": rma_id,
            },
        }
        try:
            response = self.http.request("POST", f"{self.base_url}/refunds", body=json.dumps(body), headers=headers)
        except urllib3.exceptions.HTTPError as exc:
            raise DependencyError(f"payments API unreachable: {type(exc).__name__}") from exc
        try:
            answer = json.loads(response.data or b"{}")
        except ValueError:
            answer = {}
        if response.status >= 500 or response.status in (401, 403, 404, 429):
            # An outage, throttling, or our configuration (key, URL): retried, then parked and alarmed.
            raise DependencyError(f"payments API answered {response.status}")
        if response.status == 409:  # the key is still being processed (or was, with this body): ask again later
            raise RefundPending(f"refund {key}: the provider is still processing it")
        if response.status >= 400:  # refused for good (an invalid amount, a payment that cannot be refunded)
            code = answer.get("error_code") or f"HTTP {response.status}"
            return GatewayAnswer(False, None, f"{code}: {answer.get('message') or 'refused'}"[:300])
        status = str(answer.get("status") or "").upper()
        if status == "SUCCEEDED":
            return GatewayAnswer(True, answer.get("id"))
        if status in ("PENDING", "REQUESTED", "ACCEPTED", ""):
            raise RefundPending(f"refund {key} is {status or 'not settled'} at the provider")
        # FAILED, CANCELLED or anything else that is not money on its way: declined, with what the provider said.
        return GatewayAnswer(False, answer.get("id"), str(answer.get("failure_code") or status)[:300])
