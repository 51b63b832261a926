"""Helpers shared by the channel normalizers: pure, no I/O, no logging.

Every failure is a NormalizationError with a message that names the field
but never echoes customer data (the message may end up in logs).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from oms.errors import NormalizationError
from oms.models.order import OrderDraft, ServiceLevel

# WooCommerce's own Indonesian state codes (woocommerce/i18n/states.php, "ID"),
# plus the four Papua provinces created in 2022 that newer releases ship.
ID_PROVINCES = {
    "AC": "Daerah Istimewa Aceh",
    "SU": "Sumatera Utara",
    "SB": "Sumatera Barat",
    "RI": "Riau",
    "KR": "Kepulauan Riau",
    "JA": "Jambi",
    "SS": "Sumatera Selatan",
    "BB": "Bangka Belitung",
    "BE": "Bengkulu",
    "LA": "Lampung",
    "JK": "DKI Jakarta",
    "JB": "Jawa Barat",
    "BT": "Banten",
    "JT": "Jawa Tengah",
    "JI": "Jawa Timur",
    "YO": "Daerah Istimewa Yogyakarta",
    "BA": "Bali",
    "NB": "Nusa Tenggara Barat",
    "NT": "Nusa Tenggara Timur",
    "KB": "Kalimantan Barat",
    "KT": "Kalimantan Tengah",
    "KI": "Kalimantan Timur",
    "KS": "Kalimantan Selatan",
    "KU": "Kalimantan Utara",
    "SA": "Sulawesi Utara",
    "ST": "Sulawesi Tengah",
    "SG": "Sulawesi Tenggara",
    "SR": "Sulawesi Barat",
    "SN": "Sulawesi Selatan",
    "GO": "Gorontalo",
    "MA": "Maluku",
    "MU": "Maluku Utara",
    "PA": "Papua",
    "PB": "Papua Barat",
    "PD": "Papua Barat Daya",
    "PE": "Papua Pegunungan",
    "PS": "Papua Selatan",
    "PT": "Papua Tengah",
}

_FOUR_PLACES = Decimal("0.0001")


def require_dict(payload: object, channel: str) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise NormalizationError(f"{channel} payload must be a JSON object, got {type(payload).__name__}")
    return payload


def require_id(value: object, field: str) -> str:
    """Channel ids are int64 (or strings); bools and blanks are not ids."""
    if isinstance(value, bool) or value is None or (isinstance(value, str) and not value.strip()):
        raise NormalizationError(f"missing {field}")
    if not isinstance(value, int | str):
        raise NormalizationError(f"{field} must be an integer or a string")
    return str(value).strip()


def money(value: object, field: str, default: Decimal | None = None) -> Decimal:
    """Money from the channel's string (or JSON number) without passing through float arithmetic."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if default is None:
            raise NormalizationError(f"missing amount in {field}")
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise NormalizationError(f"{field} must be a number or a numeric string")
    try:
        # str() of a JSON float is its shortest repr, so 12.1 stays 12.1, not 12.0999...
        amount = Decimal(value.strip() if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise NormalizationError(f"{field} is not a number") from None
    if not amount.is_finite():
        raise NormalizationError(f"{field} is not a finite number")
    return amount


def fit_amount(amount: Decimal) -> Decimal:
    """Round a derived amount (e.g. subtotal / quantity) to the four places the model keeps."""
    if amount.as_tuple().exponent >= -4:  # type: ignore[operator]
        return amount
    return amount.quantize(_FOUR_PLACES)


def parse_datetime(value: object, field: str, *, assume_utc: bool = False) -> datetime:
    """ISO 8601; naive values get UTC only where the channel documents them as GMT."""
    if not isinstance(value, str) or not value.strip():
        raise NormalizationError(f"missing {field}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise NormalizationError(f"{field} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        if not assume_utc:
            raise NormalizationError(f"{field} has no time zone offset")
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def text(value: object) -> str | None:
    """A trimmed string, or None for null/blank (channels send "" for unset fields)."""
    if value is None:
        return None
    cleaned = str(value).strip()
    return cleaned or None


def join_name(*parts: object) -> str | None:
    return text(" ".join(part for part in (text(p) for p in parts) if part))


def normalize_phone(value: object, country: str | None = "ID") -> str | None:
    """E.164 for Indonesian numbers ("0812..." / "62812..." / "812..." -> "+62812...").

    Anything we cannot read confidently is returned trimmed rather than dropped:
    a courier can still call a number written oddly.
    """
    raw = text(value)
    if raw is None:
        return None
    compact = re.sub(r"[\s\-().]", "", raw)
    if not re.fullmatch(r"\+?\d{6,15}", compact):
        return raw[:40]
    if compact.startswith("+") or (country or "ID").upper() != "ID":
        return compact
    # Indonesian forms: 62..., 0... (trunk prefix), or a bare mobile 8...
    for prefix, replacement in (("62", "+62"), ("0", "+62"), ("8", "+628")):
        if compact.startswith(prefix):
            return replacement + compact[len(prefix) :]
    return compact


def province_name(code_or_name: object, country: str | None) -> str | None:
    """Indonesian WooCommerce state codes become names; anything else passes through."""
    value = text(code_or_name)
    if value is None or (country or "ID").upper() != "ID":
        return value
    return ID_PROVINCES.get(value.upper(), value)


# Courier service names that mean faster than regular (GoSend/GrabExpress Instant,
# "Same Day", "Next Day", JNE YES = Yakin Esok Sampai). Checked fastest first.
_SERVICE_PATTERNS = (
    (ServiceLevel.instant, re.compile(r"\binstan[t]?\b", re.IGNORECASE)),
    (ServiceLevel.same_day, re.compile(r"\bsame[\s\-]?day\b|\bsameday\b", re.IGNORECASE)),
    (ServiceLevel.next_day, re.compile(r"\bnext[\s\-]?day\b|\bnextday\b|\byes\b", re.IGNORECASE)),
)


def service_level_from(titles: Iterable[object]) -> ServiceLevel:
    """Regular unless a shipping title clearly names an express service (REG, OKE, ... stay regular)."""
    joined = " ".join(t for t in (text(title) for title in titles) if t)
    for level, pattern in _SERVICE_PATTERNS:
        if pattern.search(joined):
            return level
    return ServiceLevel.regular


_PICKUP = re.compile(r"pick[\s\-_]?up|ambil[\s\-_]di[\s\-_]toko", re.IGNORECASE)


def says_pickup(*values: object) -> bool:
    return any(_PICKUP.search(v) for v in (text(value) for value in values) if v)


def build_draft(data: dict[str, Any], channel: str) -> OrderDraft:
    """Validate into the canonical model; pydantic errors become one NormalizationError.

    Details carry field locations and error types only, never the input values (PII).
    """
    try:
        return OrderDraft.model_validate(data)
    except ValidationError as exc:
        problems = [
            {"loc": ".".join(str(part) for part in err["loc"]), "type": err["type"], "msg": err["msg"]}
            for err in exc.errors(include_input=False, include_url=False)
        ]
        where = ", ".join(p["loc"] for p in problems[:5])
        raise NormalizationError(
            f"{channel} order does not fit the canonical model: {where}", details=problems
        ) from None
