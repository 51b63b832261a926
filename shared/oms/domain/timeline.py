"""What an order's change means for its timeline, from the stored before and after (the orders
stream), so an entry is never lost between a write and its record, whichever function wrote.
Entries name who changed the order (`Order.changed_by`) and say what happened without PII; the
buyer reads the public wording on the tracking API."""

from __future__ import annotations

from typing import NamedTuple

from oms.domain.events import delivery_place
from oms.domain.lifecycle import FINAL, LIVE
from oms.models.order import Fulfillment, FulfillmentStatus, Order, OrderStatus
from oms.models.returns import RefundStatus, Rma, RmaStatus
from oms.models.timeline import TimelineEntry

S = FulfillmentStatus
# What the buyer reads when a parcel reaches a status.
PUBLIC_PARCEL = {
    S.accepted: "Your order is being prepared",
    S.packed: "Packed and waiting for the courier",
    S.shipped: "Handed to {carrier}, tracking number {tracking}",
    S.in_transit: "On its way",
    S.out_for_delivery: "Out for delivery",
    S.failed_attempt: "Delivery attempt failed; the courier will try again",
    S.delivered: "Delivered",
    S.returned_to_sender: "Could not be delivered; returning to the seller",
    S.ready_for_pickup: "Ready for pickup at the store",
    S.picked_up: "Picked up",
    S.cancelled: "Part of the order was cancelled",
}


class _Entry(NamedTuple):
    kind: str
    what: str
    public: str | None = None
    fulfillment_id: str | None = None


def entries_for_change(old: Order | None, new: Order) -> list[TimelineEntry]:
    if old is not None and new.version <= old.version:
        return []
    by = new.changed_by or (f"channel:{new.channel.value}" if old is None else "system")
    out: list[_Entry] = []
    if old is None:
        out.append(_Entry("received", f"order {new.order_number} received from {new.channel.value}", "Order received"))
        if new.status is OrderStatus.cancelled:
            out.append(_Entry("status", "status cancelled", "Order cancelled"))
    else:
        out += _order_changes(old, new)
        out += _parcel_changes(old, new)
        if new.returns != old.returns:
            out += _return_changes(old, new)
    for hold in new.holds:
        if old is None or hold.code not in {h.code for h in old.holds}:
            out.append(_Entry("hold", f"held: {hold.code.value} ({hold.message})"))
    return [
        TimelineEntry(
            order_id=new.order_id,
            version=new.version,
            seq=n,
            at=new.updated_at,
            kind=entry.kind,
            what=entry.what,
            by=by,
            public=entry.public,
            fulfillment_id=entry.fulfillment_id,
        )
        for n, entry in enumerate(out)
    ]


def _order_changes(old: Order, new: Order) -> list[_Entry]:
    out = []
    if new.status is not old.status:
        what = f"status {old.status.value} -> {new.status.value}"
        public = {OrderStatus.cancelled: "Order cancelled"}
        if len([f for f in new.fulfillments if f.status in LIVE]) > 1:  # one parcel says it itself
            public[OrderStatus.delivered] = "Everything delivered"
        if new.status is OrderStatus.cancelled and new.cancel_reason:
            what += f": {new.cancel_reason}"
        out.append(_Entry("status", what, public.get(new.status)))
    cleared = {h.code for h in old.holds} - {h.code for h in new.holds}
    out += [_Entry("hold", f"hold cleared: {code.value}") for code in sorted(cleared)]
    if delivery_place(old) != delivery_place(new):
        out.append(_Entry("address", "delivery address changed", "Delivery address updated"))
    elif old.shipping_address != new.shipping_address:
        out.append(_Entry("address", "delivery address details changed (same area)"))
    if new.content_hash != old.content_hash:
        out.append(_Entry("channel", f"updated by {new.channel.value} (status {new.channel_status or 'not given'})"))
    had = {(f.code, f.fulfillment_id) for f in old.flags}
    has = {(f.code, f.fulfillment_id) for f in new.flags}
    for flag in new.flags:
        if (flag.code, flag.fulfillment_id) not in had:
            out.append(_Entry("flag", f"flagged {flag.code.value}: {flag.message}", None, flag.fulfillment_id))
    for flag in old.flags:
        if (flag.code, flag.fulfillment_id) not in has:
            out.append(_Entry("flag", f"flag cleared: {flag.code.value}", None, flag.fulfillment_id))
    new_waits = {u.line_id for u in new.unfilled} - {u.line_id for u in old.unfilled}
    for line in (u for u in new.unfilled if u.line_id in new_waits):
        what = f"line {line.line_id} ({line.sku} x{line.quantity}) {line.action.value}: {line.reason}"
        out.append(_Entry("unfilled", what))
    return out


def _parcel_changes(old: Order, new: Order) -> list[_Entry]:
    out = []
    before = {f.fulfillment_id: f for f in old.fulfillments}
    for parcel in new.fulfillments:
        was = before.get(parcel.fulfillment_id)
        fid = parcel.fulfillment_id
        if was is None:
            promise = parcel.promise
            by = (promise.deliver_latest or promise.deliver_by or promise.ready_at) if promise else None
            when = f"; promised by {by}" if by else ""
            out.append(_Entry("allocated", f"{fid} to {parcel.node_id} ({_lines(parcel)}){when}", None, fid))
            continue
        if parcel.status is not was.status:
            out.append(_Entry("parcel", _parcel_what(parcel, was), _parcel_public(parcel), fid))
        elif parcel.scans != was.scans:
            late = [scan for scan in parcel.scans if scan not in was.scans]
            out += [_Entry("parcel", f"{fid}: {s.status.value} reported late by {s.by}", None, fid) for s in late]
        if parcel.promise != was.promise and parcel.promise is not None and parcel.status not in FINAL:
            latest = parcel.promise.deliver_latest or parcel.promise.deliver_by or parcel.promise.ready_at
            why = f" ({parcel.reason})" if parcel.reason else ""
            out.append(_Entry("promise", f"{fid}: now expected by {latest}{why}", f"Now expected by {latest}", fid))
    return out


def _parcel_what(parcel: Fulfillment, was: Fulfillment) -> str:
    text = f"{parcel.fulfillment_id}: {was.status.value} -> {parcel.status.value}"
    if parcel.status is S.shipped and parcel.shipment:
        shipment = parcel.shipment
        text += f" with {shipment.carrier} {shipment.service or ''} {shipment.tracking_number}"
    if parcel.reason and parcel.status in (S.rejected, S.cancelled):
        text += f": {parcel.reason}"
    scan = parcel.scans[-1] if parcel.scans else None
    if scan is not None and scan.status is parcel.status and scan.note:
        text += f" ({scan.note})"
    return " ".join(text.split())


def _parcel_public(parcel: Fulfillment) -> str | None:
    template = PUBLIC_PARCEL.get(parcel.status)
    if template is None:
        return None
    shipment = parcel.shipment
    carrier = shipment.carrier.upper() if shipment else "the courier"
    return template.format(carrier=carrier, tracking=shipment.tracking_number if shipment else "")


def _lines(parcel: Fulfillment) -> str:
    return ", ".join(f"{line.sku} x{line.quantity}" for line in parcel.lines)


def _return_changes(old: Order, new: Order) -> list[_Entry]:
    out = []
    before = {rma.rma_id: rma for rma in old.returns}
    for rma in new.returns:
        was = before.get(rma.rma_id)
        out += _rma_changes(was, rma, new.currency)
    return out


def _rma_changes(was: Rma | None, rma: Rma, currency: str) -> list[_Entry]:
    out = []
    rid, place = rma.rma_id, rma.destination.node_id or f"supplier {rma.destination.supplier}"
    if was is None:
        units = ", ".join(f"{line.sku} x{line.quantity} ({line.reason.value})" for line in rma.lines)
        if rma.forwarded_from:
            out.append(_Entry("return", f"{rid}: {units} forwarded from {rma.forwarded_from} to {place}"))
        else:
            what = f"{rid} authorized: {units}, {rma.method.value} to {place} ({rma.destination.why})"
            out.append(_Entry("return", what, f"Return {rid} accepted"))
    if rma.received_at is not None and (was is None or was.received_at is None):
        got, announced = rma.received_units, sum(line.quantity for line in rma.lines)
        what = f"{rid} received at {place}: {got} of {announced} unit(s)"
        if rma.unexpected:
            what += f"; {sum(item.quantity for item in rma.unexpected)} unexpected item(s) set aside"
        public = None if rma.forwarded_from else f"Return {rid} received"
        out.append(_Entry("return", what, public))
    for line in rma.lines:
        had = len(next((w.inspections for w in (was.lines if was else []) if w.line_id == line.line_id), []))
        for entry in line.inspections[had:]:
            what = f"{rid}: {line.sku} x{entry.quantity} {entry.condition.value} -> {entry.disposition.value}"
            if entry.forwarded_to:
                what += f" ({entry.forwarded_to})"
            elif entry.supplier:
                what += f" ({entry.supplier})"
            out.append(_Entry("return", what))
    out += _refund_changes(was, rma, currency)
    if rma.status is RmaStatus.closed and (was is None or was.status is not RmaStatus.closed):
        out.append(_Entry("return", f"{rid} closed"))
    if rma.status is RmaStatus.cancelled and (was is None or was.status is not RmaStatus.cancelled):
        out.append(_Entry("return", f"{rid} cancelled: {rma.cancel_reason or 'no reason given'}", "Return cancelled"))
    return out


def _refund_changes(was: Rma | None, rma: Rma, currency: str) -> list[_Entry]:
    out = []
    rid, refund = rma.rma_id, rma.refund
    if rma.exchange_order_id and (was is None or was.exchange_order_id is None):
        units = ", ".join(f"{x.sku} x{x.quantity}" for x in rma.exchange_lines)
        what = f"{rid}: exchange order {rma.exchange_order_id} ({units})"
        out.append(_Entry("return", what, "A replacement is being prepared"))
    had = was.refund if was else None
    if had is not None and refund.status is had.status and refund.attempt == had.attempt:
        return out
    if refund.status is RefundStatus.requested:
        parts = ", ".join(f"{part.label} {part.amount}" for part in refund.parts)
        what = f"{rid}: refund of {currency} {refund.amount} requested ({refund.method.value}; {parts})"
        out.append(_Entry("refund", what, "Refund requested"))
    elif refund.status is RefundStatus.completed:
        ref = f" ({refund.reference})" if refund.reference else ""
        out.append(_Entry("refund", f"{rid}: refund of {currency} {refund.amount} completed{ref}", "Refund completed"))
    elif refund.status is RefundStatus.failed:
        out.append(_Entry("refund", f"{rid}: refund failed: {refund.failure or 'no reason given'}"))
    return out
