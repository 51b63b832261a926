"""Status: node and carrier reports, order changes after capture, buyer
tracking, the watchers of promises and the poller of carriers without push."""

from __future__ import annotations

from datetime import UTC, datetime

from oms.adapters.attempts import DynamoAttempts
from oms.adapters.carrier_tracking import BiteshipTracking
from oms.domain.carrier_webhooks import CarrierWebhooks
from oms.domain.changes import OrderChanges
from oms.domain.polling import CarrierPoller
from oms.domain.status import StatusService
from oms.domain.tracking import TrackingService
from oms.domain.watchers import Watcher
from oms.settings import get_settings
from oms.wiring import built
from oms.wiring.core import orders, reference_data, secrets
from oms.wiring.sourcing import promiser, sourcing
from oms.wiring.stock import inventory


def _now() -> datetime:
    return datetime.now(UTC)


@built
def status() -> StatusService:
    return StatusService(orders(), inventory(), sourcing(), reference_data().nodes, _now, lambda: promiser()().holidays)


@built
def watcher() -> Watcher:
    return Watcher(orders(), _now)


@built
def carrier_poller() -> CarrierPoller:
    settings = get_settings()
    api_key = secrets().channel_secret("biteship", "api_key")
    carriers = {name.strip().lower() for name in settings.polled_carriers.split(",") if name.strip()}
    tracking = BiteshipTracking(settings.oms_biteship_api_base or "https://api.biteship.com", api_key)
    return CarrierPoller(orders(), tracking, status(), carriers, _now, settings.poll_every_minutes)


@built
def order_changes() -> OrderChanges:
    return OrderChanges(orders(), inventory(), sourcing(), _now)


@built
def carrier_webhooks() -> CarrierWebhooks:
    return CarrierWebhooks(secrets(), status(), get_settings().max_body_bytes)


@built
def tracking() -> TrackingService:
    return TrackingService(orders(), DynamoAttempts(get_settings().counters_table), reference_data().nodes)
