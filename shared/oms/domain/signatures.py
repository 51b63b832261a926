"""Channel signature schemes, always over the raw body bytes.

Facts from ../shared/CHANNELS.md; each compare is constant-time.
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
        if self.encode is _hex:  # hex is case-insensitive; base64 is not
            expected, presented = expected.lower(), presented.lower()
        return hmac.compare_digest(expected.encode(), presented.encode())


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _hex(digest: bytes) -> str:
    return digest.hex()


def _body(body: bytes, _context: dict[str, str]) -> bytes:
    return body


SCHEMES: dict[str, SignatureScheme] = {
    "shopify": SignatureScheme("x-shopify-hmac-sha256", "secret", _body, _b64),
    "woocommerce": SignatureScheme("x-wc-webhook-signature", "secret", _body, _b64),
    "tokopedia": SignatureScheme("authorization-hmac", "secret", _body, _hex),
    # Shopee signs the callback URL exactly as registered, then "|", then the body.
    "shopee": SignatureScheme(
        "authorization",
        "partner_key",
        lambda body, ctx: ctx["callback_url"].encode() + b"|" + body,
        _hex,
        ("callback_url",),
    ),
    "lazada": SignatureScheme(
        "authorization", "app_secret", lambda body, ctx: ctx["app_key"].encode() + body, _hex, ("app_key",)
    ),
    "tiktok": SignatureScheme(
        "authorization", "app_secret", lambda body, ctx: ctx["app_key"].encode() + body, _hex, ("app_key",)
    ),
}
