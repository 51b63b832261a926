"""Signed webhooks into the inbox."""

from __future__ import annotations

from datetime import timedelta

from oms.domain.webhooks import WebhookReceiver
from oms.settings import get_settings
from oms.wiring import built
from oms.wiring.core import inbox, secrets


@built
def webhook_receiver() -> WebhookReceiver:
    settings = get_settings()
    return WebhookReceiver(
        inbox(),
        secrets(),
        max_body_bytes=settings.max_body_bytes,
        max_age=timedelta(hours=settings.webhook_max_age_hours),
    )
