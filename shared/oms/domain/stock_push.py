"""Channel stock push: what each channel may sell, sent to its API when it changes.

Driven by the inventory stream: a batch of stock item changes names the SKUs
whose ATP moved; their positions are read once (consistently), each channel's
figure is computed with its policy, and only figures that differ from what the
channel was last told are sent, one call per channel per batch. The stream's
batching window is the coalescing: a flash-sale SKU reserved 500 times in a
window is pushed once.

Order: two pushers can hold the same SKU at once (its nodes' items sit on
different stream shards). Each claims the SKU with the time it read the stock
(only a later read can claim over an earlier one, and only if the SKU's state
is still the one it read), sends, then records what it sent only if its claim
still stands. A record that fails means a later read claimed meanwhile and
may have been sent before ours landed, so ours is read and sent again: the
channel always ends with the latest read (the resend goes out even if the
later push recorded the same figure: ours may have landed after it). A claim
lost to a later read for the same channels is dropped (that push carries newer
figures); one lost to a narrower push (one channel's retry) is read again.
Claims are ordered by the clocks of the machines that read (Lambda's are
synchronised by Amazon Time Sync); run `stock push-all` from a synchronised
machine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from oms.domain.availability import availability
from oms.domain.stock import InventoryService
from oms.errors import DependencyError
from oms.models.inventory import ChannelStockUpdate, PushMode, StockPolicy
from oms.models.order import Channel

ATTEMPTS = 3  # rounds of "read, claim, send, record" for SKUs a later push overtook
ALL_CHANNELS = "*"  # the scope of a claim made for every channel (else the one channel's name)


class ChannelClient(Protocol):
    """The channel-client port (stock part): one call per channel with many SKUs."""

    def channels(self) -> list[Channel]:
        """Channels with an API configured."""
        ...

    def push_stock(self, channel: Channel, updates: list[ChannelStockUpdate]) -> PushOutcome | None:
        """Send; raise DependencyError when nothing could be sent (the batch is retried, then dead-lettered).
        A PushOutcome names the SKUs that did not land (None: all did)."""
        ...

    def finish_by(self, deadline: float) -> None:
        """Start no call after this time.monotonic() (the invocation's time is running out)."""
        ...


@dataclass
class PushOutcome:
    """What part of one channel call did not land."""

    failed: dict[str, str] = field(default_factory=dict)  # sku -> why; retried like a failed call
    skipped: dict[str, str] = field(default_factory=dict)  # sku -> why; not listed, or refused for good: not retried


@dataclass
class PushState:
    """What each channel was last told about one SKU."""

    sku: str
    sent: dict[Channel, tuple[int, str]] = field(default_factory=dict)  # channel -> (atp, level)
    version: str | None = None  # opaque to the domain: the store's mark of this state


@dataclass(frozen=True)
class Claim:
    token: str | None  # set when the SKU is ours to push
    superseded: bool = False  # not ours because a later read holds it (else: its state moved; read again)


class PushStates(Protocol):
    def push_states(self, skus: list[str]) -> dict[str, PushState]: ...

    def claim_push(self, sku: str, as_of: datetime, seen: PushState | None, scope: str) -> Claim:
        """Claim the SKU for a push of stock read at as_of, if its state is still the one seen. A later
        claim supersedes ours only if its scope (ALL_CHANNELS or one channel) covers ours."""
        ...

    def record_push(self, sku: str, claim: str, sent: list[ChannelStockUpdate], seen: PushState | None) -> bool:
        """Record what was sent on top of what was seen; False if another push claimed the SKU since."""
        ...


@dataclass
class PushReport:
    skus: int = 0
    sent: dict[str, int] = field(default_factory=dict)  # channel -> updates sent
    overtaken: int = 0  # SKUs read and sent again because a later push claimed them between our send and record
    failed: dict[Channel, set[str]] = field(default_factory=dict)  # channel -> SKUs its API did not take
    errors: dict[Channel, str] = field(default_factory=dict)
    skipped: dict[Channel, dict[str, str]] = field(default_factory=dict)  # channel -> SKU -> why not sent


def changed_skus(records: Iterable[tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]]) -> set[str]:
    """SKUs whose stock items' ATP changed, from (old image, new image) pairs of the inventory stream."""
    skus: set[str] = set()
    for old, new in records:
        image = new or old
        if not image or "sku" not in image or not str(image.get("sk", "")).startswith("NODE#"):
            continue
        if int((old or {}).get("atp", 0)) != int((new or {}).get("atp", 0)) or not old or not new:
            skus.add(str(image["sku"]))
    return skus


def is_due(previous: tuple[int, str] | None, update: ChannelStockUpdate, mode: PushMode) -> bool:
    if mode is PushMode.off:
        return False
    if previous is None:
        return True
    if mode is PushMode.level:
        return previous[1] != update.level.value
    return previous != (update.atp, update.level.value)


class StockPush:
    def __init__(
        self,
        inventory: InventoryService,
        states: PushStates,
        client: ChannelClient,
        clock: Callable[[], datetime],
    ) -> None:
        self.inventory = inventory
        self.states = states
        self.client = client
        self.clock = clock

    def run(self, skus: Iterable[str], only: Channel | None = None, force: bool = False) -> PushReport:
        """Push what changed for these SKUs to every connected channel (or only one; with force,
        every figure, changed or not). A channel whose API fails does not hold the others up:
        its SKUs are in the report's ``failed``, as are SKUs still contested after every round."""
        report = PushReport()
        pending = sorted(set(skus))
        report.skus = len(pending)
        resend: set[str] = {sku for sku in pending} if force else set()
        for _ in range(ATTEMPTS):
            if not pending:
                return report
            moved, overtaken = self._push_once(pending, only, resend, report)
            report.overtaken += len(overtaken)
            resend |= overtaken  # ours may have landed after a later figure: send the current one whatever was recorded
            pending = sorted(moved | overtaken)
        for channel in self._policies(only):
            report.failed.setdefault(channel, set()).update(pending)
            report.errors.setdefault(channel, f"the stock of {len(pending)} SKU(s) kept moving under every push")
        return report

    def _policies(self, only: Channel | None) -> dict[Channel, StockPolicy]:
        reference = self.inventory.reference
        channels = [c for c in self.client.channels() if only is None or c is only]
        policies = {channel: reference.policy(channel) for channel in channels}
        return {channel: policy for channel, policy in policies.items() if policy.push is not PushMode.off}

    def _send(
        self, channel: Channel, updates: list[ChannelStockUpdate], report: PushReport
    ) -> list[ChannelStockUpdate]:
        """One channel's call; the updates that landed (only those are recorded as told)."""
        try:
            outcome = self.client.push_stock(channel, updates) or PushOutcome()
        except DependencyError as exc:
            report.failed.setdefault(channel, set()).update(update.sku for update in updates)
            report.errors[channel] = str(exc)
            return []
        if outcome.failed:
            report.failed.setdefault(channel, set()).update(outcome.failed)
            report.errors[channel] = next(iter(outcome.failed.values()))
        if outcome.skipped:
            report.skipped.setdefault(channel, {}).update(outcome.skipped)
        landed = [u for u in updates if u.sku not in outcome.failed and u.sku not in outcome.skipped]
        report.sent[channel.value] = report.sent.get(channel.value, 0) + len(landed)
        return landed

    def _push_once(
        self, skus: list[str], only: Channel | None, resend: set[str], report: PushReport
    ) -> tuple[set[str], set[str]]:
        """One round; returns the SKUs to read again: (their state moved before our claim, we were overtaken)."""
        policies = self._policies(only)
        if not policies:
            return set(), set()
        scope = only.value if only else ALL_CHANNELS
        as_of = self.clock()  # taken before the read: a later claim always read later
        nodes = self.inventory.reference.nodes()
        stock = self.inventory.positions(skus, consistent=True)
        states = self.states.push_states(skus)
        due: dict[str, list[ChannelStockUpdate]] = {}
        for channel, policy in policies.items():
            for sku in skus:
                figure = availability(sku, channel, policy, nodes, stock, with_nodes=False)
                update = ChannelStockUpdate(channel=channel, sku=sku, atp=figure.atp, level=figure.level, as_of=as_of)
                state = states.get(sku)
                told = None if sku in resend or state is None else state.sent.get(channel)
                if is_due(told, update, policy.push):
                    due.setdefault(sku, []).append(update)
        claimed: dict[str, str] = {}
        moved: set[str] = set()
        for sku in sorted(due):
            claim = self.states.claim_push(sku, as_of, states.get(sku), scope)
            if claim.token is not None:
                claimed[sku] = claim.token
            elif not claim.superseded:
                moved.add(sku)
        by_channel: dict[Channel, list[ChannelStockUpdate]] = {}
        for sku in claimed:
            for update in due[sku]:
                by_channel.setdefault(update.channel, []).append(update)
        delivered: dict[str, list[ChannelStockUpdate]] = {}
        for channel, updates in by_channel.items():
            for update in self._send(channel, updates, report):
                delivered.setdefault(update.sku, []).append(update)
        overtaken = {
            sku
            for sku, claim in claimed.items()
            if sku in delivered and not self.states.record_push(sku, claim, delivered[sku], states.get(sku))
        }
        return moved, overtaken
