"""How the OMS signs its calls to Lazada's Open Platform (pure; the client is
oms.adapters.marketplace_api.lazada)."""

from __future__ import annotations

import hashlib
import hmac


def sign(app_secret: str, path: str, params: dict[str, str]) -> str:
    """Upper-case hex HMAC-SHA256 over the path and every parameter but sign, sorted, as name + value."""
    message = path + "".join(f"{name}{params[name]}" for name in sorted(params) if name != "sign")
    return hmac.new(app_secret.encode(), message.encode(), hashlib.sha256).hexdigest().upper()
