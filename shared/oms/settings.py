"""Configuration, read once from the environment into a validated model."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field


class Settings(BaseModel):
    stage: str = "dev"
    inbox_table: str = "oms-inbox-dev"
    orders_table: str = "oms-orders-dev"
    catalog_table: str = "oms-catalog-dev"
    api_keys_table: str = "oms-api-keys-dev"
    counters_table: str = "oms-counters-dev"
    inventory_table: str = "oms-inventory-dev"
    reservations_table: str = "oms-reservations-dev"
    stock_ledger_table: str = "oms-stock-ledger-dev"
    sourcing_table: str = "oms-sourcing-dev"
    returns_table: str = "oms-returns-dev"
    snapshot_queue_url: str = ""
    channel_fetch_queue_url: str = ""
    stock_push_retry_queue_url: str = ""
    returns_queue_url: str = ""
    shipping_table: str = "oms-shipping-dev"
    shipping_queue_url: str = ""
    labels_bucket: str = "oms-labels-dev"
    # The listing map (oms.domain.listings) and its refresh queue; empty: no map (live lookups only).
    listings_table: str = ""
    listings_refresh_queue_url: str = ""
    # Marketplace resi not there yet: asked again this often (Shopee says every 5 minutes), this many times.
    resi_poll_seconds: int = Field(default=300, ge=1, le=900)
    resi_max_asks: int = Field(default=24, ge=1)
    event_bus_name: str = "oms-dev"
    secrets_path: str = Field(default="/oms/dev/channels", description="SSM path holding channel secrets")
    max_body_bytes: int = Field(default=512 * 1024, gt=0)
    # Inbox items outlive every channel's retry window and a long weekend of incidents.
    inbox_retention_days: int = 90
    # Shopify retries 8 times over 4 hours; a delivery triggered 72 hours ago is a replay.
    webhook_max_age_hours: int = 72
    order_number_prefix: str = "OMS"
    order_number_block: int = Field(default=20, gt=0)
    # How often a warm Lambda reloads what lanes learned from deliveries (two weeks of day histograms).
    learning_refresh_seconds: int = Field(default=600, ge=0)
    # Carriers without push, tracked by polling Biteship's public tracking API every poll_every_minutes.
    oms_biteship_api_base: str = ""
    polled_carriers: str = "anteraja,pos"
    poll_every_minutes: int = Field(default=60, ge=5)
    # Refunds of own channels' online payments (Xendit-style refund API); the key in SSM payments/secret_key.
    oms_payments_api_base: str = ""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values = {name: env[name.upper()] for name in cls.model_fields if name.upper() in env}
        return cls.model_validate(values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
