"""Tokopedia (Fulfillment Service API, fs_id): OAuth client credentials, a bearer token per call.

The token comes from POST <auth base>/token?grant_type=client_credentials with HTTP Basic
client_id:client_secret (accounts.tokopedia.com in production; OMS_TOKOPEDIA_AUTH_BASE, default the
API base) and is kept until shortly before it expires. The body's header.error_code is empty on success.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from oms.adapters.marketplace_api.http import ChannelHttp
from oms.domain.channel_sync import UpdatedOrder, UpdatedPage
from oms.domain.stock_push import PushOutcome
from oms.errors import DependencyError
from oms.ports import SecretsProvider

PAGE = 100
EARLY_S = 300  # renew a token this long before it expires


class TokopediaApi:
    def __init__(
        self,
        http: ChannelHttp,
        auth: ChannelHttp,
        secrets: SecretsProvider,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.http = http
        self.auth = auth
        self.secrets = secrets
        self.clock = clock
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()

    def setting(self, name: str) -> str:
        value = self.secrets.channel_secret("tokopedia", name)
        if not value:
            raise DependencyError(f"tokopedia is not configured: {name}")
        return value

    def token(self) -> str:
        with self._lock:
            if self._token and self._token[1] > self.clock():
                return self._token[0]
            basic = base64.b64encode(f"{self.setting('client_id')}:{self.setting('client_secret')}".encode()).decode()
            status, answer = self.auth.request(
                "POST",
                "/token",
                query={"grant_type": "client_credentials"},
                headers={"authorization": f"Basic {basic}", "content-length": "0"},
                what="token",
            )
            if status >= 300 or not isinstance(answer, dict) or not answer.get("access_token"):
                raise DependencyError(f"tokopedia token endpoint answered {status}")
            expires = float(answer.get("expires_in") or 3600)
            self._token = (str(answer["access_token"]), self.clock() + max(60.0, expires - EARLY_S))
            return self._token[0]

    def call(self, path: str, params: dict[str, str]) -> tuple[int, dict]:
        return self.send("GET", path, params)

    def send(self, method: str, path: str, params: dict[str, str], body: bytes | None = None) -> tuple[int, dict]:
        headers = {"authorization": f"Bearer {self.token()}"}
        if body is not None:
            headers["content-type"] = "application/json"
        status, answer = self.http.request(method, path, query=params, body=body, headers=headers, what=path)
        if status == 401:
            self._token = None  # revoked early: the next try gets a new one
        answer = answer if isinstance(answer, dict) else {}
        if status >= 500 or status == 401:
            raise DependencyError(f"tokopedia {path} answered {status}")
        return status, answer

    def get_orders(self, shop_id: str | None, ids: list[str]) -> dict[str, dict]:
        fs_id = self.setting("fs_id")
        found: dict[str, dict] = {}
        for order_id in ids:
            status, answer = self.call(f"/v2/fs/{fs_id}/order", {"order_id": order_id})
            error = str((answer.get("header") or {}).get("error_code") or "")
            data = answer.get("data")
            if status == 404 or (status < 300 and not data):
                continue  # unknown to Tokopedia
            if status >= 300 or error:
                raise DependencyError(f"tokopedia get single order answered {status} {error}")
            found[order_id] = data
        return found

    # Get All Orders filters on when orders were placed, not changed: every reconciliation pass looks at
    # the orders placed this far back and compares each one's status with the OMS's.
    # Three days: the longest range Get All Orders is understood to take in one call (unconfirmed).
    CREATION_WINDOW = timedelta(days=3)

    def updated_orders(self, since: datetime, until: datetime, cursor: str | None) -> UpdatedPage:
        """Orders placed in [since, until) with their current status (compared, as no change time is given)."""
        page = int(cursor or 1)
        params = {
            "fs_id": self.setting("fs_id"),
            "from_date": str(int(since.timestamp())),
            "to_date": str(int(until.timestamp())),
            "page": str(page),
            "per_page": str(PAGE),
        }
        shop = self.secrets.channel_secret("tokopedia", "shop_id")
        if shop:
            params["shop_id"] = shop
        status, answer = self.call("/v2/order/list", params)
        if status >= 300:
            raise DependencyError(f"tokopedia get all orders answered {status}")
        rows = [row for row in answer.get("data") or [] if isinstance(row, dict) and row.get("order_id")]
        orders = [
            UpdatedOrder(str(row["order_id"]), status=str(row["order_status"]) if "order_status" in row else None)
            for row in rows
        ]
        return UpdatedPage(orders, str(page + 1) if len(rows) == PAGE else None)


# --- outbound: shipments, cancellations, stock ------------------------------------------------------

STOCK_PER_CALL = 50
REJECT_OUT_OF_STOCK = 1  # Tokopedia's reject (nack) reason: products out of stock


class TokopediaOutbound:
    """What the OMS tells Tokopedia: the shipping confirmation (status 500 with the airway bill), a
    rejection (nack) when the OMS cancels, and stock by SKU."""

    def __init__(self, api: TokopediaApi) -> None:
        self.api = api

    def _post(self, path: str, body: object, params: dict[str, str] | None = None) -> dict:
        status, answer = self.api.send("POST", path, params or {}, json.dumps(body).encode())
        header = answer.get("header") or {}
        error = str(header.get("error_code") or "")
        if status >= 300 or error:
            reason = str(header.get("reason") or "")
            raise DependencyError(f"tokopedia {path} answered {status} {error} {reason}"[:300])
        return answer

    def _status(self, order_id: str) -> int:
        found = self.api.get_orders(None, [order_id]).get(order_id)
        if found is None:
            raise DependencyError(f"tokopedia does not know order {order_id}")
        return int(found.get("order_status") or 0)

    def ship(self, order_id: str, lines: list[dict], carrier: str, tracking_number: str) -> None:
        """Accepted first if it is still new (220), then confirmed shipped (500) with the airway bill;
        decided from Tokopedia's status now, so a replay sends nothing."""
        fs_id = self.api.setting("fs_id")
        status = self._status(order_id)
        if status >= 500 or status <= 15:  # shipped already, or cancelled
            return
        if status < 400:
            self._post(f"/v1/order/{order_id}/fs/{fs_id}/ack", {})
        body = {"order_status": 500, "shipping_ref_num": tracking_number}
        self._post(f"/v1/order/{order_id}/fs/{fs_id}/status", body)

    def cancel(self, order_id: str, by: str | None = None) -> None:
        fs_id = self.api.setting("fs_id")
        if self._status(order_id) <= 15:  # cancelled already
            return
        body = {"reason_code": REJECT_OUT_OF_STOCK, "reason": "Out of stock at every store and warehouse"}
        self._post(f"/v1/order/{order_id}/fs/{fs_id}/nack", body)

    def push_stock(self, figures: dict[str, int]) -> PushOutcome:
        """Stock by SKU, 50 a call; the rows Tokopedia refuses (failed_rows_data) are skipped with the reason."""
        outcome = PushOutcome()
        fs_id = self.api.setting("fs_id")
        params = {"shop_id": self.api.setting("shop_id")}
        skus = sorted(figures)
        for start in range(0, len(skus), STOCK_PER_CALL):
            chunk = skus[start : start + STOCK_PER_CALL]
            rows = [{"sku": sku, "new_stock": figures[sku]} for sku in chunk]
            try:
                answer = self._post(f"/inventory/v1/fs/{fs_id}/stock/update", rows, params)
            except DependencyError as exc:
                outcome.failed.update({sku: exc.message for sku in chunk})
                continue
            for refused in (
                (answer.get("data") or {}).get("failed_rows_data") or [] if isinstance(answer.get("data"), dict) else []
            ):
                if isinstance(refused, dict) and refused.get("sku") in figures:
                    outcome.skipped[refused["sku"]] = f"refused by tokopedia: {refused.get('message', '')}"
        return outcome


# --- what MarketplaceApi finds by the channel's package name (no refresh: client credentials) -------


def connect(http: ChannelHttp, auth: ChannelHttp, secrets: SecretsProvider) -> TokopediaApi:
    return TokopediaApi(http, auth, secrets)


def outbound(api: TokopediaApi) -> TokopediaOutbound:
    return TokopediaOutbound(api)
