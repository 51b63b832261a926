"""How the OMS signs its calls to Shopee's Open Platform v2 (pure; the client is
oms.adapters.marketplace_api.shopee)."""

from __future__ import annotations

import hashlib
import hmac


def shop_sign(partner_key: str, partner_id: str, path: str, timestamp: int, access_token: str, shop_id: str) -> str:
    """A shop-level call: hex HMAC-SHA256 over partner_id + path + timestamp + access_token + shop_id."""
    base = f"{partner_id}{path}{timestamp}{access_token}{shop_id}"
    return hmac.new(partner_key.encode(), base.encode(), hashlib.sha256).hexdigest()


def partner_sign(partner_key: str, partner_id: str, path: str, timestamp: int) -> str:
    """A partner-level call (lost pushes, token refresh): over partner_id + path + timestamp."""
    return hmac.new(partner_key.encode(), f"{partner_id}{path}{timestamp}".encode(), hashlib.sha256).hexdigest()
