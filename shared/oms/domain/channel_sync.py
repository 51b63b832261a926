"""Marketplace orders from the channels' own APIs.

The marketplaces push thin notices (an order id and a status). The normalizer
turns each stored push into FetchRequests (ChannelSync.request): a notice the
stored order already reflects is dropped; the rest go to the fetch queue.
The fetcher (ChannelSync.fetch) asks the channel's order API for the whole
order, normalizes it and captures it like any other order: the fetched
document is the channel's current truth, so pushes arriving out of order or
twice converge on one order in the right state.

The reconciliation pull (ChannelReconciler) lists the orders each channel
changed since a stored cursor and requests the ones the OMS has not seen at
that version, so a missed push is never a missed order.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from oms.channels.marketplace import ChannelNotice
from oms.channels.registry import SPECS, spec
from oms.domain.capture import CaptureResult, CaptureService, order_id_for
from oms.errors import DependencyError, NormalizationError, StaleWrite
from oms.models.inbox import InboxEntry
from oms.models.order import Channel, OrderDraft
from oms.ports import InboxRepository, OrderRepository
from oms.ports.cursors import Cursors

FETCH_TOPIC = "fetch_request"  # an inbox entry holding a FetchRequest the OMS made itself
# An API channel -> the storefronts it carries besides its own (TikTok Shop -> Tokopedia).
STOREFRONTS: dict[Channel, tuple[Channel, ...]] = {}
for _channel, _spec in SPECS.items():
    if _spec.transport is not None:
        STOREFRONTS[_spec.transport] = (*STOREFRONTS.get(_spec.transport, ()), _channel)


@dataclass(frozen=True)
class FetchRequest:
    """Fetch this order from its channel's API, because of `reason` (a push kind, or reconcile)."""

    channel: Channel
    channel_order_id: str
    reason: str
    shop_id: str | None = None
    updated_at: datetime | None = None  # what the channel said the change's time was
    inbox_key: str | None = None  # the push that asked, quarantined if the channel never knows the order

    @property
    def order_key(self) -> tuple[str, str | None, str]:
        return (self.channel.value, self.shop_id, self.channel_order_id)

    def to_message(self) -> str:
        return json.dumps(
            {
                "channel": self.channel.value,
                "channel_order_id": self.channel_order_id,
                "reason": self.reason,
                "shop_id": self.shop_id,
                "updated_at": self.updated_at.isoformat() if self.updated_at else None,
                "inbox_key": self.inbox_key,
            }
        )

    @classmethod
    def from_message(cls, body: str) -> FetchRequest:
        doc = json.loads(body)
        updated = doc.get("updated_at")
        return cls(
            channel=Channel(doc["channel"]),
            channel_order_id=str(doc["channel_order_id"]),
            reason=str(doc.get("reason") or "push"),
            shop_id=doc.get("shop_id"),
            updated_at=datetime.fromisoformat(updated) if updated else None,
            inbox_key=doc.get("inbox_key"),
        )

    @classmethod
    def from_notice(cls, notice: ChannelNotice, inbox_key: str | None) -> FetchRequest:
        return cls(
            channel=notice.channel,
            channel_order_id=notice.channel_order_id,
            reason=notice.kind,
            shop_id=notice.shop_id,
            updated_at=notice.updated_at,
            inbox_key=inbox_key,
        )


class ShopNotConnected(Exception):
    """A push from a shop whose API credentials the OMS does not hold: kept (quarantined), not retried."""


@dataclass(frozen=True)
class UpdatedOrder:
    channel_order_id: str
    updated_at: datetime | None = None  # None: the list does not say (then the status is compared)
    shop_id: str | None = None
    status: str | None = None  # the channel's raw status, where the list gives it


@dataclass
class UpdatedPage:
    orders: list[UpdatedOrder]
    next_cursor: str | None = None  # None: the last page


class ChannelOrderApi(ABC):
    """The channel-client port for orders (oms.adapters.marketplace_api implements it per channel)."""

    @abstractmethod
    def get_orders(self, channel: Channel, shop_id: str | None, channel_order_ids: list[str]) -> dict[str, dict]:
        """The channel's order documents by id, as its normalizer reads them. An id missing from the
        answer is unknown to the channel. Raises DependencyError when the API cannot answer now."""

    @abstractmethod
    def updated_orders(
        self, channel: Channel, since: datetime, until: datetime, cursor: str | None, shop_id: str | None = None
    ) -> UpdatedPage:
        """One page of the orders one shop of the channel changed in [since, until) (None: its default shop)."""

    def reconciled_shops(self, channel: Channel) -> list[str | None]:
        """The shops whose orders a reconciliation pass lists, each with its own cursor (None: the channel's
        default shop, its channel-level credentials)."""
        return [None]

    def lost_pushes(self, channel: Channel) -> tuple[list[bytes], str | None]:
        """Pushes the channel could not deliver and keeps for a while (Shopee: 3 days), as webhook bodies,
        and the mark to confirm them by. Most channels have none."""
        return [], None

    def confirm_lost_pushes(self, channel: Channel, mark: str) -> None:
        """Tell the channel the pushes up to mark are safely stored."""
        return None

    def creation_window(self, channel: Channel) -> timedelta | None:
        """For a channel whose order list filters on when orders were placed (not changed): how far back
        every pass looks, comparing each order's status. None: the list filters on changes."""
        return None


class FetchQueue(ABC):
    @abstractmethod
    def send(self, requests: list[FetchRequest]) -> None: ...


def normalizer_for(channel: Channel) -> Callable[[dict], OrderDraft]:
    """The channel's normalizer for the documents its API answers (imported on first use)."""
    return spec(channel).fetched_normalizer()


@dataclass
class FetchOutcome:
    captured: dict[tuple[str, str | None, str], CaptureResult] = field(default_factory=dict)
    unknown: list[FetchRequest] = field(default_factory=list)  # the channel's API does not know them
    bad: dict[tuple[str, str | None, str], str] = field(default_factory=dict)  # could not be normalized: why
    failed: dict[tuple[str, str | None, str], str] = field(default_factory=dict)  # the API could not answer now
    # Captured, but older than the push that asked: the channel's API lags its pushes; fetched again later.
    lagging: set[tuple[str, str | None, str]] = field(default_factory=set)


class ChannelSync:
    def __init__(
        self,
        orders: OrderRepository,
        queue: FetchQueue,
        api: ChannelOrderApi,
        capture: CaptureService,
        inbox: InboxRepository,
        now: Callable[[], datetime],
        normalizer: Callable[[Channel], Callable[[dict], OrderDraft]] | None = None,
    ) -> None:
        self.normalizer = normalizer or normalizer_for
        self.orders = orders
        self.queue = queue
        self.api = api
        self.capture = capture
        self.inbox = inbox
        self.now = now

    def known_at(
        self, channel: Channel, channel_order_id: str, updated_at: datetime | None, status: str | None = None
    ) -> bool:
        """The stored order already reflects a change made at updated_at (or, where the channel gives
        no time, shows that raw status)."""
        if updated_at is None and status is None:
            return False
        order = self.orders.get(order_id_for(channel, channel_order_id))
        if order is None:
            # A push names the shop's API (TikTok Shop), the stored order its storefront (Tokopedia).
            carried = [c for c in STOREFRONTS.get(channel, ()) if c is not channel]
            order = next(filter(None, (self.orders.get(order_id_for(c, channel_order_id)) for c in carried)), None)
        if order is None:
            return False
        if updated_at is None:
            return order.channel_status == status
        # The same second may hold two changes (channels stamp whole seconds): then only the same status is known.
        same = order.channel_updated_at == updated_at and (status is None or order.channel_status == status)
        return order.channel_updated_at > updated_at or same

    def request(self, notices: Iterable[ChannelNotice], inbox_key: str | None) -> list[FetchRequest]:
        """Queue a fetch for every notice the stored order does not already reflect; returns those queued."""
        wanted: dict[tuple, FetchRequest] = {}
        for notice in notices:
            request = FetchRequest.from_notice(notice, inbox_key)
            known = self.known_at(notice.channel, notice.channel_order_id, notice.updated_at, notice.status)
            if request.order_key in wanted or known:
                continue
            wanted[request.order_key] = request
        if wanted:
            self.queue.send(list(wanted.values()))
        return list(wanted.values())

    def fetch(self, requests: list[FetchRequest]) -> FetchOutcome:
        """Fetch, normalize and capture; one API call per channel and shop where the API takes many ids."""
        outcome = FetchOutcome()
        groups: dict[tuple[Channel, str | None], dict[str, FetchRequest]] = {}
        for request in requests:
            groups.setdefault((request.channel, request.shop_id), {}).setdefault(request.channel_order_id, request)
        for (channel, shop_id), by_id in groups.items():
            try:
                documents = self.api.get_orders(channel, shop_id, list(by_id))
            except DependencyError as exc:  # one channel's trouble does not hold up the others' orders
                outcome.failed.update({request.order_key: exc.message for request in by_id.values()})
                continue
            except ShopNotConnected as exc:
                outcome.bad.update({request.order_key: str(exc) for request in by_id.values()})
                continue
            normalize = self.normalizer(channel)
            for order_id, request in by_id.items():
                document = documents.get(order_id)
                if document is None:
                    outcome.unknown.append(request)
                    continue
                try:
                    draft = normalize(document)
                    if request.shop_id and not draft.shop_id:  # the push named the shop; the document may not
                        draft = draft.model_copy(update={"shop_id": request.shop_id})
                except NormalizationError as exc:
                    outcome.bad[request.order_key] = exc.message
                    continue
                except (TypeError, ValueError, KeyError, AttributeError, ArithmeticError) as exc:
                    outcome.bad[request.order_key] = f"unexpected {channel.value} order shape ({type(exc).__name__})"
                    continue
                try:
                    outcome.captured[request.order_key] = self.capture.capture(draft, self.now())
                except (DependencyError, StaleWrite) as exc:  # this order retries; the batch's others do not
                    outcome.failed[request.order_key] = f"capture: {exc}"[:300]
                    continue
                if request.updated_at is not None and draft.channel_updated_at < request.updated_at:
                    outcome.lagging.add(request.order_key)
        return outcome

    def give_up(self, request: FetchRequest, reason: str) -> None:
        """Quarantine the push that asked, or (for the reconciliation pull's own requests) the request
        itself as an inbox entry: either way listed with its reason and replayable once the cause is fixed."""
        now = self.now()
        if request.inbox_key:
            self.inbox.quarantine(request.inbox_key, reason, now)
            return
        entry = InboxEntry(
            channel=request.channel,
            dedupe_key=f"fetch:{request.channel_order_id}:{now.isoformat()}",
            topic=FETCH_TOPIC,
            received_at=now,
            content_type="application/json",
            body=request.to_message().encode(),
        )
        self.inbox.put_quarantined(entry, reason, now)


class ChannelReconciler:
    """Lists what each channel changed since the stored cursor and fetches what the OMS lacks."""

    OVERLAP = timedelta(minutes=5)  # each window starts a little before the last one ended
    SETTLE = timedelta(minutes=1)  # changes this recent may still be landing in the channel's index
    FIRST_LOOK_BACK = timedelta(days=3)  # Shopee keeps lost pushes 3 days; look as far back the first time
    MAX_WINDOW = timedelta(days=15)  # Shopee's longest time range per list call

    def __init__(
        self,
        api: ChannelOrderApi,
        sync: ChannelSync,
        cursors: Cursors,  # where each channel's reconciliation stopped
        now: Callable[[], datetime],
        max_pages: int = 50,
    ) -> None:
        self.api = api
        self.sync = sync
        self.cursors = cursors
        self.now = now
        self.max_pages = max_pages

    def run(self, channel: Channel) -> dict[str, int]:
        """One pass over every shop of the channel, each from its own cursor: how many orders were listed,
        how many queued, whether every shop's window was finished (a window with more pages than one pass
        takes resumes from its page), and how many shops failed. One shop's outage does not stop the others;
        raises DependencyError after the pass when every shop failed."""
        totals = {"listed": 0, "requested": 0, "complete": 1, "recovered": self._recover_lost_pushes(channel),
                  "shops": 0, "failed": 0}  # fmt: skip
        shops = self.api.reconciled_shops(channel)
        errors: list[str] = []
        for shop_id in shops:
            totals["shops"] += 1
            try:
                listed, requested, complete = self._run_shop(channel, shop_id)
            except DependencyError as exc:
                totals["failed"] += 1
                totals["complete"] = 0
                errors.append(f"{shop_id or 'default shop'}: {exc.message}")
                continue
            totals["listed"] += listed
            totals["requested"] += requested
            totals["complete"] = min(totals["complete"], complete)
        if errors and len(errors) == len(shops):
            raise DependencyError(f"{channel.value} reconciliation: {'; '.join(errors)}"[:500])
        return totals

    @staticmethod
    def cursor_name(channel: Channel, shop_id: str | None) -> str:
        """The default shop keeps the channel's own cursor; every other shop has one of its own."""
        return f"reconcile:{channel.value}" + (f":{shop_id}" if shop_id else "")

    def _run_shop(self, channel: Channel, shop_id: str | None) -> tuple[int, int, int]:
        name = self.cursor_name(channel, shop_id)
        stored = self.cursors.get(name)
        since, until, page = self._window(channel, stored)
        listed, requested = 0, 0
        for _ in range(self.max_pages):
            try:
                result = self.api.updated_orders(channel, since, until, page, shop_id)
            except DependencyError:
                self._count_failure(name, stored, page)
                raise
            missing = []
            for item in result.orders:
                listed += 1
                if not self.sync.known_at(channel, item.channel_order_id, item.updated_at, item.status):
                    missing.append(FetchRequest(channel, item.channel_order_id, "reconcile", item.shop_id or shop_id,
                                                item.updated_at))  # fmt: skip
            if missing:
                self.sync.queue.send(missing)
                requested += len(missing)
            page = result.next_cursor
            if page is None:
                break
        else:
            state = {"since": since.isoformat(), "until": until.isoformat(), "page": page}
            self.cursors.put(name, json.dumps(state))
            return listed, requested, 0
        self.cursors.put(name, json.dumps({"next": (until - self.OVERLAP).astimezone(UTC).isoformat()}))
        return listed, requested, 1

    def _recover_lost_pushes(self, channel: Channel) -> int:
        """Store the channel's undelivered pushes in the inbox (the normal path takes them from there),
        then confirm them: a crash in between only stores them again, as duplicates."""
        from oms.domain.webhooks import inbox_entry

        stored = 0
        for _ in range(self.max_pages):
            bodies, mark = self.api.lost_pushes(channel)
            for body in bodies:
                stored += self.sync.inbox.put_new(inbox_entry(channel, body, {}, self.now()))
            if mark is None:
                break
            self.api.confirm_lost_pushes(channel, mark)
            if not bodies:
                break
        return stored

    def _count_failure(self, name: str, stored: str | None, page: str | None) -> None:
        """A stored page the channel keeps refusing (an expired page token) is given up after three passes:
        the window is read again from its start (known orders are skipped)."""
        state = json.loads(stored) if stored and stored.startswith("{") else None
        if not state or not state.get("page") or page != state["page"]:
            return
        fails = int(state.get("fails", 0)) + 1
        if fails >= 3:
            self.cursors.put(name, json.dumps({"next": state["since"]}))
        else:
            self.cursors.put(name, json.dumps({**state, "fails": fails}))

    def _window(self, channel: Channel, stored: str | None) -> tuple[datetime, datetime, str | None]:
        """(since, until, page to resume from)."""
        state = json.loads(stored) if stored and stored.startswith("{") else {"next": stored} if stored else {}
        if state.get("page"):
            return datetime.fromisoformat(state["since"]), datetime.fromisoformat(state["until"]), state["page"]
        until = self.now() - self.SETTLE
        look_back = self.api.creation_window(channel)
        if look_back is not None:  # the list says when orders were placed: look at every recent one again
            return until - look_back, until, None
        since = datetime.fromisoformat(state["next"]) if state.get("next") else until - self.FIRST_LOOK_BACK
        # After a long outage the missed time is walked window by window (the channels cap one list call).
        return since, min(until, since + self.MAX_WINDOW), None
