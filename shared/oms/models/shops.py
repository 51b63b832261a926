"""A seller's shops on the marketplaces: several per marketplace (brands, regions, an official store
beside a regular one), each with its own credentials, token pair and rate limit.

What the OMS keeps about a shop is data (the catalog table, SHOP#<channel>#<shop id>); its tokens are
secrets (SSM, <channels path>/<channel>/shops/<shop id>/...), renewed per shop. A marketplace's pushes
name their shop, and the OMS calls the marketplace back with that shop's credentials.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field, field_validator

from oms.models.common import Channel, Model, Moment, NodeId, NotBool

# The names of a shop's own secrets (the rest of a channel's secrets are the app's: partner key, app secret).
SHOP_SECRETS = frozenset({"access_token", "refresh_token", "access_token_expires_at", "refresh_token_expires_at"})
ShopId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-.]+$")]


class ShopState(StrEnum):
    connected = "connected"
    expiring = "expiring"  # its access token runs out within a day and has not been renewed
    disconnected = "disconnected"  # its access token ran out (or none is set): its calls fail until authorized


class ShopSettings(Model):
    """What ops may change about a shop."""

    name: str = Field(min_length=1, max_length=200, description="As the team calls it: 'Batik Nusantara Official'")
    enabled: bool = Field(default=True, description="Disabled: its pushes are kept but nothing is called")
    nodes: list[NodeId] | None = Field(
        default=None, description="The nodes this shop sells from; null: its channel's stock policy's nodes"
    )
    stock_push: bool = Field(default=True, description="Tell this shop its stock figures")
    rate_per_s: Annotated[int, NotBool] | None = Field(
        default=None, ge=1, le=1000, description="Calls a second to this shop's API; null: the channel's default"
    )


class Shop(ShopSettings):
    channel: Channel
    shop_id: ShopId = Field(description="The marketplace's own id: Shopee shop_id, TikTok Shop shop id, Lazada seller")
    shop_cipher: str | None = Field(
        default=None, max_length=200, description="TikTok Shop: the cipher its API calls carry"
    )
    created_at: datetime
    updated_at: datetime
    version: int = Field(default=1, ge=1)

    @field_validator("channel")
    @classmethod
    def _a_marketplace(cls, value: Channel) -> Channel:
        return _shop_channel(value)


MARKETPLACE_CHANNELS = frozenset({Channel.shopee, Channel.lazada, Channel.tiktok})


def _shop_channel(value: Channel) -> Channel:
    if value is Channel.tokopedia:
        raise ValueError(
            "Tokopedia storefronts run on the TikTok Shop API: connect the shop as channel 'tiktok' "
            "(its Tokopedia orders keep the channel 'tokopedia')"
        )
    if value not in MARKETPLACE_CHANNELS:
        raise ValueError("shops are a marketplace's: shopee, lazada or tiktok")
    return value


class ShopCredentials(Model):
    """The shop's authorization, as the marketplace gave it when the seller authorized the app."""

    access_token: str = Field(min_length=4, max_length=2000)
    refresh_token: str | None = Field(default=None, min_length=4, max_length=2000)
    access_token_expires_at: Moment | None = Field(default=None, description="When the access token runs out")
    refresh_token_expires_at: Moment | None = Field(default=None, description="When the refresh token runs out")


class ShopCreate(ShopSettings):
    """POST /shops: connect a shop (no deploy): its id, its credentials, its settings."""

    channel: Channel
    shop_id: ShopId
    shop_cipher: str | None = Field(default=None, max_length=200)
    credentials: ShopCredentials

    @field_validator("channel")
    @classmethod
    def _a_marketplace(cls, value: Channel) -> Channel:
        return _shop_channel(value)


class ShopUpdate(ShopSettings):
    """PATCH /shops/{channel}/{shop_id}: its settings, with the version read; new credentials optionally."""

    version: int = Field(ge=1)
    credentials: ShopCredentials | None = None


class ShopView(Shop):
    """A shop with its connection as the team needs to see it (never the tokens)."""

    state: ShopState
    access_token_expires_at: datetime | None = None
    refresh_token_expires_at: datetime | None = None
    reason: str | None = Field(default=None, description="Why it is expiring or disconnected")


class ShopList(Model):
    items: list[ShopView]
