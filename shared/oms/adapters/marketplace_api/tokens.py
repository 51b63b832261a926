"""Shop access tokens: Shopee's last 4 hours, TikTok Shop's about a week, Lazada's days. Each is
renewed with its refresh token before it runs out, by the reconcile function's hourly job, and the
new pair is written back to SSM (the functions read it within their 5-minute parameter cache).
Tokopedia needs none of this: its client-credentials token is taken per function (tokopedia.py).
A refresh is tried once (a lost answer must not be followed by the old, rotated refresh token), and the
refresh token is read fresh from SSM, not from a function's cache.

  Shopee   POST <base>/api/v2/auth/access_token/get  (partner-signed: partner_id + path + timestamp)
  Lazada   GET  <auth base>/auth/token/refresh        (signed like every Lazada call, no access_token)
  TikTok   GET  <auth base>/api/v2/token/refresh       (app_key, app_secret, refresh_token)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from oms.adapters.marketplace_api import lazada
from oms.adapters.marketplace_api.http import ChannelHttp
from oms.errors import DependencyError
from oms.models.order import Channel
from oms.ports import SecretsProvider

SHOPEE_REFRESH_PATH = "/api/v2/auth/access_token/get"
LAZADA_REFRESH_PATH = "/auth/token/refresh"
TIKTOK_REFRESH_PATH = "/api/v2/token/refresh"
REFRESHED = (Channel.shopee, Channel.lazada, Channel.tiktok)


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_at: int  # Unix seconds


def refresh(
    channel: Channel, http: ChannelHttp, secrets: SecretsProvider, clock: Callable[[], float] = time.time
) -> TokenPair:
    """A new token pair from the stored refresh token."""

    def setting(name: str) -> str:
        value = secrets.channel_secret(channel.value, name)
        if not value:
            raise DependencyError(f"{channel.value} is not configured: {name}")
        return value

    now = int(clock())
    if channel is Channel.shopee:
        partner_id, key = setting("partner_id"), setting("partner_key")
        sign = hmac.new(key.encode(), f"{partner_id}{SHOPEE_REFRESH_PATH}{now}".encode(), hashlib.sha256).hexdigest()
        body = {
            "refresh_token": setting("refresh_token"),
            "partner_id": int(partner_id),
            "shop_id": int(setting("shop_id")),
        }
        status, answer = http.request(
            "POST", SHOPEE_REFRESH_PATH, query={"partner_id": partner_id, "timestamp": now, "sign": sign},
            body=json.dumps(body).encode(), headers={"content-type": "application/json"}, what="token refresh",
            attempts=1,
        )  # fmt: skip
        answer = answer if isinstance(answer, dict) else {}
        if status >= 300 or answer.get("error") or not answer.get("access_token"):
            raise DependencyError(f"shopee token refresh answered {status} {answer.get('error', '')}")
        return TokenPair(answer["access_token"], answer["refresh_token"], now + int(answer.get("expire_in") or 14400))
    if channel is Channel.lazada:
        params = {
            "app_key": setting("app_key"),
            "timestamp": str(now * 1000),
            "sign_method": "sha256",
            "refresh_token": setting("refresh_token"),
        }
        params["sign"] = lazada.sign(setting("app_secret"), LAZADA_REFRESH_PATH, params)
        status, answer = http.request("GET", LAZADA_REFRESH_PATH, query=params, what="token refresh", attempts=1)
        answer = answer if isinstance(answer, dict) else {}
        if status >= 300 or str(answer.get("code", "0")) != "0" or not answer.get("access_token"):
            raise DependencyError(f"lazada token refresh answered {status} {answer.get('code', '')}")
        return TokenPair(answer["access_token"], answer["refresh_token"], now + int(answer.get("expires_in") or 0))
    if channel is Channel.tiktok:
        params = {
            "app_key": setting("app_key"),
            "app_secret": setting("app_secret"),
            "refresh_token": setting("refresh_token"),
            "grant_type": "refresh_token",
        }
        status, answer = http.request("GET", TIKTOK_REFRESH_PATH, query=params, what="token refresh", attempts=1)
        answer = answer if isinstance(answer, dict) else {}
        data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
        if status >= 300 or answer.get("code") != 0 or not data.get("access_token"):
            raise DependencyError(f"tiktok token refresh answered {status} {answer.get('code', '')}")
        return TokenPair(data["access_token"], data["refresh_token"], int(data.get("access_token_expire_in") or 0))
    raise DependencyError(f"{channel.value} has no refreshable token")
