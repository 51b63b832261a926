"""What every marketplace client shares: one connection pool, short timeouts, retries with
exponential backoff and jitter on timeouts, 429 and 5xx (a Retry-After is honoured up to a cap),
a per-channel rate limit, and the invocation's deadline (no call starts that could not finish)."""

from __future__ import annotations

import json
import random
import threading
import time
from typing import Any
from urllib.parse import urlencode

import urllib3
from urllib3.util import Timeout

from oms.errors import DependencyError

TIMEOUT = Timeout(connect=2.0, read=8.0)
ATTEMPTS = 3
BACKOFF_S = 0.5  # then 1 s, 2 s ... with up to 50 % jitter
RETRY_AFTER_CAP_S = 5.0  # longer waits are the queue's job (the message comes back later)
RETRYABLE = frozenset({429, 500, 502, 503, 504})
MIN_CALL_S = 3.0  # no call starts with less time than this left


class Deadline:
    """The time by which this invocation's calls must be done (shared by every client of a function)."""

    def __init__(self) -> None:
        self.at: float | None = None

    def set_within(self, seconds: float | None) -> None:
        self.at = None if seconds is None else time.monotonic() + seconds

    def left(self) -> float:
        return float("inf") if self.at is None else self.at - time.monotonic()


class RateLimiter:
    """A token bucket per channel: the marketplaces throttle per app and shop (a 429 costs more)."""

    def __init__(self, per_second: float, burst: int) -> None:
        self.per_second = per_second
        self.burst = burst
        self.tokens = float(burst)
        self.at = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> float:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.per_second)
            self.at = now
            self.tokens -= 1
            delay = 0.0 if self.tokens >= 0 else -self.tokens / self.per_second
        if delay:
            time.sleep(delay)
        return delay


class ChannelHttp:
    def __init__(self, channel: str, base: str, limiter: RateLimiter, deadline: Deadline, pool: Any = None) -> None:
        self.channel = channel
        self.base = base.rstrip("/")
        self.limiter = limiter
        self.deadline = deadline
        self.pool = pool or urllib3.PoolManager(timeout=TIMEOUT, retries=False)
        self.calls = 0  # requests sent, retries included (benchmarks count them)

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        what: str = "API",
        attempts: int = ATTEMPTS,
    ) -> tuple[int, Any]:
        """(status, parsed JSON) of a call; retried on timeouts, 429 and 5xx, then DependencyError.
        attempts=1 for calls that must not be resent blindly (a token refresh rotates the refresh token)."""
        url = self.base + path + ("?" + urlencode(query) if query else "")
        last = ""
        for attempt in range(attempts):
            left = self.deadline.left()
            if left < MIN_CALL_S:
                raise DependencyError(f"{self.channel} {what}: no time left in this invocation ({last or 'no try'})")
            self.limiter.wait()
            self.calls += 1
            # A call never outlives the invocation: the read timeout shrinks near the deadline.
            timeout = Timeout(connect=TIMEOUT.connect_timeout, read=min(TIMEOUT.read_timeout, left - 1.0))
            try:
                response = self.pool.request(method, url, body=body, headers=headers or {}, timeout=timeout)
            except urllib3.exceptions.HTTPError as exc:
                last = type(exc).__name__
                wait = None
            else:
                if response.status not in RETRYABLE:
                    return response.status, _json(response.data)
                last = f"answered {response.status}"
                wait = _retry_after(response.headers.get("retry-after"))
            if attempt + 1 < attempts:
                time.sleep(wait if wait is not None else BACKOFF_S * 2**attempt * (1 + random.random() / 2))
        raise DependencyError(f"{self.channel} {what} {last} after {attempts} tries")


def _json(data: bytes) -> Any:
    try:
        return json.loads(data) if data else None
    except ValueError:
        return None


def _retry_after(value: str | None) -> float | None:
    try:
        return min(RETRY_AFTER_CAP_S, max(0.0, float(value))) if value else None
    except ValueError:
        return None  # an HTTP date: the backoff instead
