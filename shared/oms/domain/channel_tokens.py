"""Keeping the marketplaces' shop access tokens alive: renewed with the refresh token before they run
out (Shopee's last 4 hours), the new pair stored where every function reads its credentials."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Protocol

from oms.channels.registry import REFRESHED
from oms.errors import DependencyError
from oms.models.order import Channel


class TokenStore(ABC):
    @abstractmethod
    def channel_secret(self, channel: str, name: str) -> str | None: ...

    @abstractmethod
    def put(self, channel: str, name: str, value: str) -> None: ...


class _Pair(Protocol):
    access_token: str
    refresh_token: str
    expires_at: int


class TokenApi(Protocol):
    def refresh_token(self, channel: Channel, secrets: TokenStore) -> _Pair: ...


class TokenKeeper:
    RENEW_BEFORE = timedelta(hours=2)  # the hourly job renews a token in its last two hours

    def __init__(self, api: TokenApi, store: TokenStore, now: Callable[[], datetime]) -> None:
        self.api = api
        self.store = store
        self.now = now

    def run(self, channels: Iterable[Channel], shops: Iterable[tuple[Channel, str, TokenStore]] = ()) -> dict[str, str]:
        """What happened per channel's default shop and per registered shop (<channel>:<shop id>, through
        its own view of the secrets): renewed, fresh, not set up, or why it failed (the others go on)."""
        results = {channel.value: self._renew(channel, self.store) for channel in channels if channel in REFRESHED}
        for channel, shop_id, store in shops:
            if channel in REFRESHED:
                results[f"{channel.value}:{shop_id}"] = self._renew(channel, store)
        return results

    def _renew(self, channel: Channel, store: TokenStore) -> str:
        now = self.now()
        expires = store.channel_secret(channel.value, "access_token_expires_at")
        if expires and datetime.fromtimestamp(int(expires), now.tzinfo) - now > self.RENEW_BEFORE:
            return "fresh"
        if not store.channel_secret(channel.value, "refresh_token"):
            return "no refresh_token set: renew the shop's authorization by hand"
        try:
            pair = self.api.refresh_token(channel, store)
        except DependencyError as exc:
            return f"failed: {exc.message}"
        try:
            # The refresh token first: a crash between the writes leaves a pair that still renews.
            store.put(channel.value, "refresh_token", pair.refresh_token)
            store.put(channel.value, "access_token", pair.access_token)
            store.put(channel.value, "access_token_expires_at", str(pair.expires_at))
        except Exception as exc:  # the other shops still renew; this one is reported and alarmed
            return f"failed: renewed but not stored ({type(exc).__name__}); authorize again"
        return "renewed"
