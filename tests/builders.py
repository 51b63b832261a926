"""Test data builders: a valid canonical draft, changed only where a test says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from oms.models.order import OrderDraft

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def draft_values(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "channel": "pos",
        "channel_order_id": "POS-JKT01-000123",
        "channel_updated_at": T0,
        "placed_at": T0,
        "currency": "IDR",
        "customer": {"name": "Siti Rahayu", "email": "siti@example.co.id", "phone": "+6281234567890"},
        "shipping_address": {
            "name": "Siti Rahayu",
            "phone": "+6281234567890",
            "line1": "Jl. Kebon Jeruk Raya No. 27",
            "village": "Kebon Jeruk",
            "district": "Kebon Jeruk",
            "city": "Jakarta Barat",
            "province": "DKI Jakarta",
            "postal_code": "11530",
            "country": "ID",
        },
        "payment": {"status": "paid", "cod": False, "method": "qris"},
        "lines": [
            {"line_id": "1", "sku": "TSHIRT-BLK-M", "quantity": 2, "unit_price": "149000"},
            {"line_id": "2", "sku": "CAP-NAVY", "quantity": 1, "unit_price": "89000", "discount": "9000"},
        ],
        "totals": {"subtotal": "387000", "discount": "9000", "shipping": "0", "grand_total": "378000"},
    }
    values.update(overrides)
    return values


def a_draft(**overrides: Any) -> OrderDraft:
    return OrderDraft.model_validate(draft_values(**overrides))


def later(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


ZERO = Decimal(0)
