"""How the OMS signs its calls to the TikTok Shop Open API (pure; the client is
oms.adapters.marketplace_api.tiktok)."""

from __future__ import annotations

import hashlib
import hmac


def sign(app_secret: str, path: str, query: dict[str, str], body: bytes = b"") -> str:
    """Hex HMAC-SHA256 over secret + path + the query (but sign and access_token, sorted, as name +
    value) + the JSON body + secret."""
    pairs = "".join(f"{name}{query[name]}" for name in sorted(query) if name not in ("sign", "access_token"))
    message = app_secret.encode() + path.encode() + pairs.encode() + body + app_secret.encode()
    return hmac.new(app_secret.encode(), message, hashlib.sha256).hexdigest()
