"""Shop access tokens: Shopee's last 4 hours, TikTok Shop's about a week, Lazada's days. Each is
renewed with its refresh token before it runs out, by the reconcile function's hourly job, and the
new pair is written back to SSM (the functions read it within their 5-minute parameter cache).
Tokopedia needs none of this: its client-credentials token is taken per function (tokopedia.py).
A refresh is tried once (a lost answer must not be followed by the old, rotated refresh token), and the
refresh token is read fresh from SSM, not from a function's cache.

Each channel's own call is ``refresh_token`` in its client module (shopee.py, lazada.py, tiktok.py);
which channels have one is the registry's ``refreshed_token``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module

from oms.adapters.marketplace_api.http import ChannelHttp
from oms.channels.registry import spec
from oms.errors import DependencyError
from oms.models.order import Channel
from oms.ports import SecretsProvider


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
    channel_spec = spec(channel)
    if not channel_spec.refreshed_token:
        raise DependencyError(f"{channel.value} has no refreshable token")
    client = import_module(f"oms.adapters.marketplace_api.{channel_spec.package}")
    return client.refresh_token(http, setting, now)
