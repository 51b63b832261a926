"""Order tracking for buyers: the order number and the email or phone on the order.

The same answer (not found) for an unknown number and a wrong contact, so numbers cannot be probed.
The rule: throttle the guesser, per client and per number, with backoff; never the right contact.
A client is its source address (an IPv6 /64), named in the counters table by an HMAC under a secret
key (SSM tracking/hash_key, oms.adapters.attempts), so the table holds no reversible addresses.
Three counters, each forgotten 24 h after its last wrong answer:

- (client, number), PAIR_BACKOFF: a client gets 10 wrong answers on one number free, then waits
  after each further one, 1 min doubling up to 1 h (429 with Retry-After), on that number only. Many
  subscribers share one IPv4 behind a mobile carrier's CGNAT: one of them guessing at a number does
  not stop the others tracking theirs.
- client, CLIENT_BUDGET: wrong answers across all numbers, 100 free, then the same waits for
  everything from the client (enumeration of sequential numbers; a neighbour behind the same CGNAT
  waits too only once someone there has given 100 wrong answers in a day).
- number: wrong answers from everyone (an unknown number alike). From NUMBER_FREE_FAILURES on it
  refuses no one: a client's wrong answer on it uses up the rest of that client's free answers on it
  at once, so each of many addresses gets one guess at it before its waits begin. A client that has
  not answered wrong on it is answered as ever. (Read, then added to, without compare-and-set: it
  only decides how much a wrong answer weighs; a burst racing ahead of it is slowed from its next
  wrong answer on.)

A waiting client is refused before its contact is looked at, the right contact included: otherwise
the wait would not stop guessing (200 against 429 would tell the guesser). So the real buyer waits
on their own number only after eleven wrong answers on it from their address, or once their address
has given 100 in a day across numbers (which a neighbour behind the same CGNAT enumerating numbers
can cause: the price of stopping enumeration per address).

Counted before answered (the race of parallel requests): the waits are read first (one consistent
read per key); a right contact is then answered and never counted; a wrong contact is counted with a
compare-and-set (the read state, one conditional UpdateItem that succeeds only if the item is still
as read, else read again and decide again) that refuses when the key is waiting, and only then
answered. Every request is so ordered among the others on its keys: a right contact is answered only
if its keys were not waiting when read, and no wrong answer is answered 404 once a wait has begun,
however many arrive at once: what a sequential guesser gets, free+1 answers per wait.
(A reservation counted for every request and released for the right contact would order them the
same way, at two more writes for every buyer.) A compare-and-set lost CAS_TRIES times in a row means
a flood on the key: 429 for a second.

API Gateway throttles the route only as a whole, as a ceiling on cost; per-client limits are these.
Nothing personal is returned.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from oms.domain.lifecycle import ENDED
from oms.errors import NotFound, TooManyRequests
from oms.models.order import Order
from oms.models.tracking import TrackedEvent, TrackedParcel, TrackedReturn, Tracking
from oms.ports import OrderRepository


@dataclass(frozen=True)
class Failures:
    """Wrong answers counted under one key, when the last one came (None: none counted), and the
    item's version as read (0: no item), which a compare-and-set writes against."""

    count: int = 0
    last_at: datetime | None = None
    version: int = 0


@dataclass(frozen=True)
class Backoff:
    free: int  # wrong answers without a wait
    base: timedelta  # the wait after the first one past free, doubled with each one after
    cap: timedelta
    forget_after: timedelta  # failures are forgotten this long after the last one

    def retry_at(self, failures: Failures) -> datetime | None:
        if failures.last_at is None or failures.count <= self.free:
            return None
        exponent = min(failures.count - self.free - 1, 20)
        return failures.last_at + min(self.cap, self.base * 2**exponent)


DAY = timedelta(hours=24)
PAIR_BACKOFF = Backoff(free=10, base=timedelta(minutes=1), cap=timedelta(hours=1), forget_after=DAY)
CLIENT_BUDGET = Backoff(free=100, base=timedelta(minutes=1), cap=timedelta(hours=1), forget_after=DAY)
NUMBER_FREE_FAILURES = 10
NUMBER_FORGET_AFTER = DAY
CAS_TRIES = 5
NOT_FOUND = "no order with this number and contact"


class AttemptCounter(Protocol):
    def hash_key(self) -> bytes:
        """The secret the client keys are an HMAC under."""
        ...

    def failures(self, key: str, now: datetime) -> Failures: ...

    def put(self, key: str, seen: Failures, new: Failures, forget_after: timedelta, now: datetime) -> bool:
        """Write new if the item is still as seen (its version); False, and nothing written, if not."""
        ...

    def count_failure(self, key: str, now: datetime, weight: int, forget_after: timedelta) -> Failures:
        """Add weight unconditionally (the number's counter)."""
        ...


def client_key(source_ip: str | None, secret: bytes) -> str:
    """The counter of a client: its IPv4 address, or its IPv6 /64 (one subscriber's usual share), as an
    HMAC-SHA256 under secret (2^32 addresses are too few for a plain hash to hide them); 'unknown' when
    the gateway gave none."""
    try:
        address = ipaddress.ip_address((source_ip or "").strip())
    except ValueError:
        return "track#client#unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        else:
            address = ipaddress.ip_network(f"{address}/64", strict=False).network_address
    return "track#client#" + hmac.new(secret, str(address).encode(), hashlib.sha256).hexdigest()[:32]


def pair_key(client: str, order_number: str) -> str:
    """The counter of one client's wrong answers on one number."""
    return "track#pair#" + client.removeprefix("track#client#") + "#" + order_number


def number_key(order_number: str) -> str:
    return "track#number#" + order_number


class _Waiting(Exception):
    def __init__(self, until: datetime) -> None:
        self.until = until


def _wait(until: datetime, now: datetime, message: str) -> TooManyRequests:
    seconds = max(1, math.ceil((until - now).total_seconds()))
    return TooManyRequests(
        f"{message}; try again in {seconds} s", retry_after=seconds, details={"retry_after_seconds": seconds}
    )


def _waiting_until(now: datetime, *waits: datetime | None) -> datetime | None:
    later = [wait for wait in waits if wait is not None and wait > now]
    return max(later) if later else None


def normalized_contact(value: str) -> str:
    """An email lower-cased; a phone as its digits in the +62 form (0812..., 812..., +62 812...)."""
    value = value.strip()
    if "@" in value:
        return value.lower()
    digits = re.sub(r"\D", "", value)
    if digits.startswith("00"):  # 0062 812...: the international prefix dialled
        digits = digits[2:]
    if digits.startswith("620"):  # +62 (0)812...: the trunk zero written after the country code
        digits = "62" + digits[3:]
    elif digits.startswith("0"):
        digits = "62" + digits[1:]
    elif digits.startswith("8"):
        digits = "62" + digits
    return digits


def _contacts(order: Order) -> list[str]:
    values = [order.customer.email, order.customer.phone]
    if order.shipping_address is not None:
        values.append(order.shipping_address.phone)
    return [normalized_contact(v) for v in values if v]


class TrackingService:
    def __init__(self, orders: OrderRepository, attempts: AttemptCounter, nodes: Callable[[], dict[str, Any]]) -> None:
        self.orders = orders
        self.attempts = attempts
        self.nodes = nodes
        self._secret: bytes | None = None

    def secret(self) -> bytes:
        if self._secret is None:
            self._secret = self.attempts.hash_key()
        return self._secret

    def track(self, order_number: str, contact: str | None, now: datetime, source_ip: str | None = None) -> Tracking:
        number = order_number.strip().upper()
        client = client_key(source_ip, self.secret())
        pair = pair_key(client, number)
        mine, here = self.attempts.failures(client, now), self.attempts.failures(pair, now)
        waiting = _waiting_until(now, CLIENT_BUDGET.retry_at(mine), PAIR_BACKOFF.retry_at(here))
        if waiting is not None:  # not evaluated, not counted: the right contact too
            raise _wait(waiting, now, "too many wrong answers from this address")
        order = self.orders.by_number(number)
        given = normalized_contact(contact or "")
        if order is not None and given and any(hmac.compare_digest(given, c) for c in _contacts(order)):
            return self._view(order)  # the right contact: never counted, never refused for others' failures
        # A watched number: the client's free answers on it are used up at its first wrong answer there.
        watched = self.attempts.failures(number_key(number), now).count >= NUMBER_FREE_FAILURES

        def on_number(seen: Failures) -> int:
            return max(1, PAIR_BACKOFF.free + 1 - seen.count) if watched else 1

        try:
            here = self._count(pair, here, now, PAIR_BACKOFF, on_number)
            self.attempts.count_failure(number_key(number), now, 1, NUMBER_FORGET_AFTER)
            mine = self._count(client, mine, now, CLIENT_BUDGET, lambda seen: 1)
        except _Waiting as refused:  # a wait began between the read and the count (parallel requests)
            raise _wait(refused.until, now, "too many wrong answers from this address") from None
        waiting = _waiting_until(now, CLIENT_BUDGET.retry_at(mine), PAIR_BACKOFF.retry_at(here))
        if waiting is not None:
            raise _wait(waiting, now, f"{NOT_FOUND}, and too many wrong answers from this address")
        raise NotFound(NOT_FOUND)

    def _count(
        self, key: str, seen: Failures, now: datetime, backoff: Backoff, weight: Callable[[Failures], int]
    ) -> Failures:
        """Count a wrong answer under key by compare-and-set, unless the key is waiting (_Waiting)."""
        for _ in range(CAS_TRIES):
            waiting = _waiting_until(now, backoff.retry_at(seen))
            if waiting is not None:
                raise _Waiting(waiting)
            new = Failures(seen.count + weight(seen), now)
            if self.attempts.put(key, seen, new, backoff.forget_after, now):
                return new
            seen = self.attempts.failures(key, now)  # someone else counted first: decide again
        raise _Waiting(now + timedelta(seconds=1))

    def _view(self, order: Order) -> Tracking:
        nodes = self.nodes()
        parcels = []
        for parcel in order.fulfillments:
            if parcel.status in ENDED:
                continue  # a rejected node's part went elsewhere: the buyer sees where it is now
            promise, first = parcel.promise, parcel.promise_original
            shipment = parcel.shipment
            store = nodes.get(parcel.node_id) if parcel.delivery_method.value in ("pickup", "curbside") else None
            parcels.append(
                TrackedParcel(
                    status=parcel.status,
                    carrier=shipment.carrier if shipment else (promise.carrier if promise else None),
                    service=shipment.service if shipment else (promise.service if promise else None),
                    tracking_number=shipment.tracking_number if shipment else None,
                    items=sum(line.quantity for line in parcel.lines),
                    pickup_store=store.name if store else None,
                    promised_latest=first.deliver_latest if first else None,
                    estimated_earliest=promise.deliver_earliest if promise else None,
                    estimated_latest=promise.deliver_latest if promise else None,
                    deliver_by=promise.deliver_by if promise else None,
                    ready_at=promise.ready_at if promise else None,
                    updated_at=parcel.status_at,
                )
            )
        events = [
            TrackedEvent(at=entry.at, what=entry.public)
            for entry in self.orders.timeline(order.order_id)
            if entry.public
        ]
        return Tracking(
            order_number=order.order_number,
            status=order.status,
            placed_on=order.placed_at.date(),
            parcels=parcels,
            timeline=events,
            returns=[
                TrackedReturn(
                    rma_id=rma.rma_id,
                    status=rma.status,
                    items=sum(line.quantity for line in rma.lines),
                    refund_status=rma.refund.status,
                    exchange=rma.exchange_order_id is not None,
                )
                for rma in order.returns
                if rma.forwarded_from is None  # transfers between nodes are the retailer's business
            ],
        )
