"""Downloading a marketplace's shipping document from the link it gave (Lazada's pdf_url lasts 10
minutes, TikTok Shop's doc_url 24 hours): fetched at once, whole, with a short timeout and a size cap.
A link that has run out (403, 404, 410) raises DocumentExpired, so the caller asks the channel for a
new one; an unreachable or failing host raises DependencyError."""

from __future__ import annotations

from typing import Any

import urllib3
from urllib3.util import Timeout

from oms.errors import DependencyError

MAX_BYTES = 20 * 1024 * 1024  # a batch of labels is a few hundred KB; anything this big is not a label
TIMEOUT = Timeout(connect=3.0, read=20.0)
EXPIRED = frozenset({401, 403, 404, 410})


class DocumentExpired(Exception):
    """The document link no longer works: ask the channel for a new one."""


def fetch_document(url: str, pool: Any = None) -> bytes:
    """The bytes behind a document link."""
    pool = pool or urllib3.PoolManager(timeout=TIMEOUT, retries=False)
    try:
        response = pool.request("GET", url, preload_content=False, timeout=TIMEOUT)
    except urllib3.exceptions.HTTPError as exc:
        raise DependencyError(f"document link unreachable: {type(exc).__name__}") from exc
    try:
        if response.status in EXPIRED:
            raise DocumentExpired(f"document link answered {response.status}")
        if response.status >= 300:
            raise DependencyError(f"document link answered {response.status}")
        data = response.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise DependencyError(f"document larger than {MAX_BYTES} bytes")
        return bytes(data)
    finally:
        response.release_conn()
