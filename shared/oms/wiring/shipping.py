"""Shipping: the marketplaces' couriers, the retailer's own courier (Biteship), labels and print jobs."""

from __future__ import annotations

from datetime import UTC, datetime

from oms.adapters.shipping import DynamoShippingStore, S3Documents, SqsShippingCommands
from oms.domain.channel_sync import ShopNotConnected
from oms.domain.shipping import ShippingService, Timing
from oms.errors import DependencyError
from oms.models.common import Channel
from oms.ports.logistics import CourierBooking, MarketplaceLogistics, Printer
from oms.settings import get_settings
from oms.wiring import built
from oms.wiring.core import orders, reference_data, secrets
from oms.wiring.outbound import channel_client


def _now() -> datetime:
    return datetime.now(UTC)


def _marketplace(channel: Channel, shop_id: str | None) -> MarketplaceLogistics:
    try:
        return channel_client().marketplaces.logistics(channel, shop_id)
    except ShopNotConnected as exc:  # its steps fail and wait (retried, then the DLQ) until it is connected
        raise DependencyError(str(exc)) from None


@built
def courier_booking() -> CourierBooking:
    from oms.adapters.courier_booking import BiteshipBooking  # only the functions that book pay for it

    base = get_settings().oms_biteship_api_base or "https://api.biteship.com"
    return BiteshipBooking(base, secrets().channel_secret("biteship", "api_key"))


@built
def printer() -> Printer:
    from oms.printing import PdfPrinter

    return PdfPrinter()


def _hand_over(parcel_id: str, carrier: str, resi: str, by: str) -> None:
    """The marketplace's courier has it: the node's "shipped" report, made for it (the stock leaves)."""
    from oms.models.status import Shipped
    from oms.wiring.status import status  # only the worker that hands over pays for sourcing's wiring

    status().node_event(parcel_id, Shipped(type="shipped", carrier=carrier, tracking_number=resi), None, by)


@built
def shipping() -> ShippingService:
    settings = get_settings()
    timing = Timing(resi_poll_seconds=settings.resi_poll_seconds, resi_max_asks=settings.resi_max_asks)
    return ShippingService(
        orders(), _marketplace, courier_booking, printer, S3Documents(settings.labels_bucket),
        DynamoShippingStore(settings.shipping_table), SqsShippingCommands(settings.shipping_queue_url),
        lambda: reference_data().nodes(), _now, timing, _hand_over,
    )  # fmt: skip
