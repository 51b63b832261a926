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

    def run(self, channels: Iterable[Channel]) -> dict[str, str]:
        """What happened per channel: renewed, fresh, not set up, or why it failed (the others go on)."""
        results: dict[str, str] = {}
        now = self.now()
        for channel in (c for c in channels if c in REFRESHED):
            expires = self.store.channel_secret(channel.value, "access_token_expires_at")
            if expires and datetime.fromtimestamp(int(expires), now.tzinfo) - now > self.RENEW_BEFORE:
                results[channel.value] = "fresh"
                continue
            if not self.store.channel_secret(channel.value, "refresh_token"):
                results[channel.value] = "no refresh_token set: renew the shop's authorization by hand"
                continue
            try:
                pair = self.api.refresh_token(channel, self.store)
            except DependencyError as exc:
                results[channel.value] = f"failed: {exc.message}"
                continue
            try:
                # The refresh token first: a crash between the writes leaves a pair that still renews.
                self.store.put(channel.value, "refresh_token", pair.refresh_token)
                self.store.put(channel.value, "access_token", pair.access_token)
                self.store.put(channel.value, "access_token_expires_at", str(pair.expires_at))
            except Exception as exc:  # the other channels still renew; this one is reported and alarmed
                results[channel.value] = f"failed: renewed but not stored ({type(exc).__name__}); authorize again"
                continue
            results[channel.value] = "renewed"
        return results
