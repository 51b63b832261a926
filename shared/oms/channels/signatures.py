"""How channels sign their webhooks, always over the raw body bytes (each channel's webhook.py
names its scheme; facts from CHANNELS.md). Every compare is constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass


def hmac_sha256(key: str, message: bytes) -> bytes:
    return hmac.new(key.encode(), message, hashlib.sha256).digest()


@dataclass(frozen=True)
class SignatureScheme:
    header: str  # lower-case, as API Gateway HTTP API hands headers over
    secret_name: str  # the SSM parameter under the channel's path
    message: Callable[[bytes, dict[str, str]], bytes]  # what is signed, from the raw body
    encode: Callable[[bytes], str]
    context: tuple[str, ...] = ()  # settings (under the channel's path) the message needs beside the body

    def expected(self, secret: str, body: bytes, context: dict[str, str]) -> str:
        return self.encode(hmac_sha256(secret, self.message(body, context)))

    def verify(self, secret: str, body: bytes, presented: str | None, context: dict[str, str]) -> bool:
        if not presented:
            return False
        expected = self.expected(secret, body, context)
        presented = presented.strip()
        if self.encode is hex_digest:  # hex is case-insensitive; base64 is not
            expected, presented = expected.lower(), presented.lower()
        return hmac.compare_digest(expected.encode(), presented.encode())


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def hex_digest(digest: bytes) -> str:
    return digest.hex()


def body_only(body: bytes, _context: dict[str, str]) -> bytes:
    return body


def app_key_then_body(body: bytes, context: dict[str, str]) -> bytes:
    """Lazada and TikTok Shop sign the app key followed by the body."""
    return context["app_key"].encode() + body
