"""API keys: only their SHA-256 is stored, with the roles they carry."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from oms.models.common import Channel


class Role(StrEnum):
    channel = "channel"  # own sales channels posting orders (web, pos, callcenter, social)
    node = "node"  # DC WMS and store apps
    ops = "ops"  # operations staff: everything
    cs = "cs"  # customer service: orders, changes, returns


class ApiKey(BaseModel):
    key_hash: str = Field(description="SHA-256 hex of the key")
    key_id: str = Field(description="Short public id for logs and audit")
    name: str
    roles: list[Role]
    # A channel key may be limited to the channels it speaks for.
    channels: list[Channel] | None = None
    # A node key (a store app, a DC's WMS) may be limited to the nodes it speaks for.
    nodes: list[str] | None = None
    created_at: datetime
    disabled: bool = False
