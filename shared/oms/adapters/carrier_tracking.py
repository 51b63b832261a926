"""Tracking by waybill for carriers that do not push: Biteship's public tracking API
(GET <base>/v1/trackings/<waybill>/couriers/<courier>), its history's newest entry."""

from __future__ import annotations

import json
from datetime import datetime

import urllib3
from urllib3.util import Retry, Timeout

from oms.errors import DependencyError

_TIMEOUT = Timeout(connect=2.0, read=5.0)
_RETRY = Retry(total=2, backoff_factor=0.5, backoff_max=2, status_forcelist=(429, 500, 502, 503, 504),
               respect_retry_after_header=False, raise_on_status=False)  # fmt: skip


class BiteshipTracking:
    def __init__(self, base_url: str, api_key: str | None) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.http = urllib3.PoolManager(timeout=_TIMEOUT, retries=_RETRY)

    def latest(self, courier: str, waybill: str) -> tuple[str, datetime | None, str | None] | None:
        """(raw status, when, note) of the newest history entry; None when the carrier does not know it."""
        headers = {"authorization": self.api_key} if self.api_key else {}
        url = f"{self.base_url}/v1/trackings/{waybill}/couriers/{courier}"
        try:
            response = self.http.request("GET", url, headers=headers)
        except urllib3.exceptions.HTTPError as exc:
            raise DependencyError(f"tracking API unreachable: {type(exc).__name__}") from exc
        if response.status == 404:
            return None
        if response.status >= 300:
            raise DependencyError(f"tracking API answered {response.status}")
        try:
            body = json.loads(response.data)
            history = body.get("history") or []
        except (ValueError, AttributeError):
            raise DependencyError("tracking API answered something that is not its JSON") from None
        if not history:
            return None
        newest = sorted(history, key=lambda entry: entry.get("updated_at") or "")[-1]  # ties: the last listed
        at = None
        if newest.get("updated_at"):
            try:
                at = datetime.fromisoformat(newest["updated_at"])
            except ValueError:
                at = None
            if at is not None and at.tzinfo is None:
                at = None  # a time without its zone is no time: the report counts as untimed
        return str(newest.get("status") or body.get("status") or ""), at, newest.get("note")
