"""The channel simulator's documents, one module per marketplace, in each channel's documented format.
Each module is named like the channel's package (oms.channels.<name>) and its API client
(oms.adapters.marketplace_api.<name>), and shares no code with either.

Each module turns a SimOrder into what that channel's API answers and what its
webhooks push, so the OMS is tested against the vendors' shapes, not ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SimLine:
    sku: str
    quantity: int
    unit_price: int  # IDR, whole rupiah
    name: str = "Produk"
    discount: int = 0  # total seller discount on the line, IDR


@dataclass
class SimOrder:
    """One marketplace order as the simulator keeps it (values in the channel's terms)."""

    channel: str  # the storefront: shopee, lazada, tiktok, tokopedia (a TikTok Shop API order, see tiktok.py)
    order_id: str  # the channel's order id (Shopee order_sn, Lazada/TikTok numeric strings; Tokopedia's: TikTok's)
    shop_id: str
    status: str  # the channel's raw status value (Lazada: every item's status)
    created: int  # Unix seconds
    updated: int  # Unix seconds
    lines: list[SimLine]
    shipping_fee: int = 0
    cod: bool = False
    buyer_name: str = "Budi Santoso"
    buyer_phone: str = "081234567890"
    buyer_email: str = "budi@example.com"
    line1: str = "Jl. Sudirman No. 1"
    village: str = "Karet Tengsin"
    district: str = "Tanah Abang"
    city: str = "Jakarta Pusat"
    province: str = "DKI Jakarta"
    postal_code: str = "10220"
    carrier: str = "J&T Express"
    tracking_number: str | None = None
    cancel_reason: str | None = None
    ship_by: int | None = None  # Unix seconds
    extra: dict = field(default_factory=dict)
