"""The vocabulary every model module shares: the base model, the channels, the strict field types
(money, numbers, times), the SKU and node id rules and the island groups.

It imports no other model module, so order, returns, inventory, sourcing and promising all build on
it without an import cycle; the domain's tables (oms.domain.geo) build on REGIONS from here too.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field


class Channel(StrEnum):
    shopify = "shopify"
    woocommerce = "woocommerce"
    shopee = "shopee"
    tokopedia = "tokopedia"
    lazada = "lazada"
    tiktok = "tiktok"
    web = "web"
    pos = "pos"
    callcenter = "callcenter"
    social = "social"


# The island groups couriers price by (oms.domain.geo maps provinces to them).
REGIONS = ("java", "sumatra", "bali_nt", "kalimantan", "sulawesi", "papua_maluku")

# One rule for SKUs and node ids wherever a caller names them (stock, sourcing, returns). Stock keys
# are SKU#<sku>[#B<n>] / NODE#<node>: the patterns keep '#' (and spaces) out of them.
Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-/]*$")]
NodeId = Annotated[str, Field(min_length=2, max_length=40, pattern=r"^[A-Z0-9][A-Z0-9\-]*$")]
# A SKU as an order line carries it: whatever the channel sent (up to 100 characters). Returns name
# order lines' SKUs (a policy's non-returnable list, an exchange, an unexpected item in the box), so
# they take what an order line takes; stored RMAs and policies keep loading.
LineSku = Annotated[str, Field(min_length=1, max_length=100)]


def _non_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _in_range(value: object) -> object:
    # A huge exponent overflows pydantic's digit count (decimal.Overflow: a 500) and a tiny one slips past
    # decimal_places; no store keeps either (DynamoDB numbers run from 1E-130 to 1E+125).
    if isinstance(value, str | float | Decimal):
        try:
            number = Decimal(value.strip() if isinstance(value, str) else value)
        except ArithmeticError:  # not a number at all: pydantic says so
            return value
        if number.is_finite() and number and abs(number.adjusted()) > 100:
            raise ValueError("is out of range")
    return value


InRange = BeforeValidator(_in_range)  # Annotated[Decimal, InRange]: what a caller sends as a decimal
Amount = Annotated[Decimal, InRange, AfterValidator(_non_negative), Field(max_digits=18, decimal_places=4)]

# Strict types for what callers send. pydantic's lax mode reads true as 1, and a number (or a string
# of digits) as seconds since 1970; an API number is never a boolean and an API time is ISO 8601 text.
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _not_bool(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("must be a number, not true or false")
    return value


def _iso_text(value: object) -> object:
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_DATE.match(value.strip())):
        return value
    raise ValueError("must be an ISO 8601 date and time, e.g. 2026-12-07T09:30:00+07:00")


def _with_offset(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must carry a time zone offset")
    try:
        in_utc = value.astimezone(UTC)  # year 1 at +07:00 has no UTC: an OverflowError anywhere later
    except OverflowError:
        raise ValueError("is out of range") from None
    if not 1970 <= in_utc.year < 9999:  # a range a day either side of it still has a UTC date
        raise ValueError("is out of range (1970 to 9998)")
    return value


NotBool = BeforeValidator(_not_bool)  # Annotated[int, NotBool]: a number field that refuses true and false
IsoTime = Annotated[datetime, BeforeValidator(_iso_text)]  # ISO 8601 text (or a datetime), never a number
Moment = Annotated[IsoTime, AfterValidator(_with_offset)]  # likewise, with a time zone offset


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
