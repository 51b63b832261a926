"""Channel stock push: what each shop may sell, sent to its API when it changes.

Driven by the inventory stream: a batch of stock item changes names the SKUs
whose ATP moved; their positions are read once (consistently), each target's
figure is computed with its policy, and only figures that differ from what the
target was last told are sent, one call per target per batch. The stream's
batching window is the coalescing: a flash-sale SKU reserved 500 times in a
window is pushed once.

Targets: every shop is told its own figure. A channel's targets are its enabled
registered shops with stock push on, plus its channel-level shop (the one its
settings' credentials reach) when that shop is not registered; a web store is
one target. A shop's figure is its channel's policy with the nodes replaced by
the shop's node binding when it has one. Each target has a key: the channel's
name for the unregistered channel-level shop (the key push state had before
shops, so stored state stays valid), ``<channel>#<shop id>`` for a registered
shop (registering the channel-level shop gives it this key: its first figures
are sent again, which is harmless as they are absolute; a key that followed the
channel's settings could keep claiming a shop had been told what another was).

Order: two pushers can hold the same SKU at once (its nodes' items sit on
different stream shards). Each claims the SKU with the time it read the stock
(only a later read can claim over an earlier one, and only if the SKU's state
is still the one it read), sends, then records what it sent only if its claim
still stands. A record that fails means a later read claimed meanwhile and
may have been sent before ours landed, so ours is read and sent again: the
target always ends with the latest read (the resend goes out even if the
later push recorded the same figure: ours may have landed after it). A claim
lost to a later read whose scope covers ours is dropped (that push carries
newer figures); one lost to a narrower push (one target's retry) is read again.
Scopes: every target (ALL_CHANNELS), one channel's targets (``<channel>#*``:
push-all --channel) or one target (its key: the retry queue, push-all --shop).
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
from oms.domain.channel_sync import ShopNotConnected
from oms.domain.stock import InventoryService
from oms.errors import DependencyError
from oms.models.inventory import ChannelStockUpdate, PushMode, StockPolicy
from oms.models.order import Channel

ATTEMPTS = 3  # rounds of "read, claim, send, record" for SKUs a later push overtook
ALL_CHANNELS = "*"  # the scope of a claim made for every target (else one channel's, or one target's key)
EVERY_SHOP = "#*"  # "<channel>#*": the scope of a claim made for every target of one channel


def target_key(channel: Channel, shop_id: str | None = None) -> str:
    """A push target's key: the channel's name for its unregistered channel-level shop (None), else
    <channel>#<shop id>. Shop ids never hold '#' or '*' (ShopId), so keys and scopes cannot clash."""
    return channel.value if shop_id is None else f"{channel.value}#{shop_id}"


def channel_scope(channel: Channel) -> str:
    return f"{channel.value}{EVERY_SHOP}"


def channel_of(key: str) -> str:
    """The channel's name in a target key or a channel scope."""
    return key.split("#", 1)[0]


def covers(wider: str, scope: str) -> bool:
    """Whether a push of scope ``wider`` sends everything a push of ``scope`` would."""
    if wider in (ALL_CHANNELS, scope):
        return True
    return wider.endswith(EVERY_SHOP) and scope != ALL_CHANNELS and channel_of(scope) == channel_of(wider)


@dataclass(frozen=True)
class StockTarget:
    """One shop stock is pushed to."""

    channel: Channel
    shop_id: str | None = None  # None: the channel-level shop, reached with the channel's own settings
    nodes: tuple[str, ...] | None = None  # the shop's node binding; None: the channel policy's nodes
    off: str | None = None  # why nothing is pushed to it (disabled, its stock push off); None: pushed to

    @property
    def key(self) -> str:
        return target_key(self.channel, self.shop_id)

    def policy(self, channel_policy: StockPolicy) -> StockPolicy:
        """The channel's policy with this shop's nodes: cap, buffer, protected store stock and mode stay."""
        if self.nodes is None:
            return channel_policy
        return channel_policy.model_copy(update={"nodes": list(self.nodes)})


class ChannelClient(Protocol):
    """The channel-client port (stock part): one call per target with many SKUs."""

    def channels(self) -> list[Channel]:
        """Channels with an API configured."""
        ...

    def stock_targets(self, channel: Channel) -> list[StockTarget]:
        """The channel's shops, those not pushed to included (with why)."""
        ...

    def push_stock(
        self, channel: Channel, updates: list[ChannelStockUpdate], shop_id: str | None = None
    ) -> PushOutcome | None:
        """Send to one shop (None: the channel-level one); raise DependencyError when nothing could be sent
        (the batch is retried, then dead-lettered). A PushOutcome names the SKUs that did not land (None: all
        did)."""
        ...

    def finish_by(self, deadline: float) -> None:
        """Start no call after this time.monotonic() (the invocation's time is running out)."""
        ...


@dataclass
class PushOutcome:
    """What part of one target's call did not land."""

    failed: dict[str, str] = field(default_factory=dict)  # sku -> why; retried like a failed call
    skipped: dict[str, str] = field(default_factory=dict)  # sku -> why; not listed, or refused for good: not retried


@dataclass
class PushState:
    """What each target was last told about one SKU."""

    sku: str
    sent: dict[str, tuple[int, str]] = field(default_factory=dict)  # target key -> (atp, level)
    version: str | None = None  # opaque to the domain: the store's mark of this state


@dataclass(frozen=True)
class Claim:
    token: str | None  # set when the SKU is ours to push
    superseded: bool = False  # not ours because a later read holds it (else: its state moved; read again)


class PushStates(Protocol):
    def push_states(self, skus: list[str]) -> dict[str, PushState]: ...

    def claim_push(self, sku: str, as_of: datetime, seen: PushState | None, scope: str) -> Claim:
        """Claim the SKU for a push of stock read at as_of, if its state is still the one seen. A later
        claim supersedes ours only if its scope covers ours (``covers``)."""
        ...

    def record_push(self, sku: str, claim: str, sent: Mapping[str, ChannelStockUpdate], seen: PushState | None) -> bool:
        """Record what was sent (target key -> update) on top of what was seen; False if another push
        claimed the SKU since."""
        ...


@dataclass
class PushReport:
    skus: int = 0
    sent: dict[str, int] = field(default_factory=dict)  # target key -> updates sent
    overtaken: int = 0  # SKUs read and sent again because a later push claimed them between our send and record
    failed: dict[str, set[str]] = field(default_factory=dict)  # target key -> SKUs its API did not take
    errors: dict[str, str] = field(default_factory=dict)  # target key -> why
    skipped: dict[str, dict[str, str]] = field(default_factory=dict)  # target key -> SKU -> why not sent
    idle: dict[str, str] = field(default_factory=dict)  # target key -> why nothing was pushed to it


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

    def run(
        self, skus: Iterable[str], only: Channel | None = None, force: bool = False, target: str | None = None
    ) -> PushReport:
        """Push what changed for these SKUs to every target (or only one channel's targets, or only the target
        with that key; with force, every figure, changed or not). A target whose API fails does not hold the
        others up: its SKUs are in the report's ``failed``, as are SKUs still contested after every round. A
        target key no longer among its channel's targets (the shop was registered or removed since) stands
        for its channel's targets."""
        report = PushReport()
        if target is not None:
            channel = Channel(channel_of(target))
            if target not in {t.key for t in self._channel_targets(channel)}:
                only, target = channel, None
        scope = target or (channel_scope(only) if only else ALL_CHANNELS)
        pending = sorted(set(skus))
        report.skus = len(pending)
        resend: set[str] = {sku for sku in pending} if force else set()
        for _ in range(ATTEMPTS):
            if not pending:
                return report
            moved, overtaken = self._push_once(pending, only, target, scope, resend, report)
            report.overtaken += len(overtaken)
            resend |= overtaken  # ours may have landed after a later figure: send the current one whatever was recorded
            pending = sorted(moved | overtaken)
        for each, _ in self._targets(only, target, report):
            report.failed.setdefault(each.key, set()).update(pending)
            report.errors.setdefault(each.key, f"the stock of {len(pending)} SKU(s) kept moving under every push")
        return report

    def _channel_targets(self, channel: Channel) -> list[StockTarget]:
        return self.client.stock_targets(channel) if channel in self.client.channels() else []

    def _targets(
        self, only: Channel | None, target: str | None, report: PushReport
    ) -> list[tuple[StockTarget, StockPolicy]]:
        """The targets to push to, each with its policy; those left out on purpose go to report.idle."""
        reference = self.inventory.reference
        chosen: list[tuple[StockTarget, StockPolicy]] = []
        for channel in self.client.channels():
            if (only is not None and channel is not only) or (target is not None and channel_of(target) != channel):
                continue
            policy = reference.policy(channel)
            if policy.push is PushMode.off:
                continue
            for each in self.client.stock_targets(channel):
                if target is not None and each.key != target:
                    continue
                if each.off:
                    report.idle[each.key] = each.off
                else:
                    chosen.append((each, each.policy(policy)))
        return chosen

    def _send(
        self, target: StockTarget, updates: list[ChannelStockUpdate], report: PushReport
    ) -> list[ChannelStockUpdate]:
        """One target's call; the updates that landed (only those are recorded as told)."""
        key = target.key
        try:
            outcome = self.client.push_stock(target.channel, updates, target.shop_id) or PushOutcome()
        except (DependencyError, ShopNotConnected) as exc:  # its token gone, its API down: the others go on
            report.failed.setdefault(key, set()).update(update.sku for update in updates)
            report.errors[key] = str(exc)
            return []
        if outcome.failed:
            report.failed.setdefault(key, set()).update(outcome.failed)
            report.errors[key] = next(iter(outcome.failed.values()))
        if outcome.skipped:
            report.skipped.setdefault(key, {}).update(outcome.skipped)
        landed = [u for u in updates if u.sku not in outcome.failed and u.sku not in outcome.skipped]
        report.sent[key] = report.sent.get(key, 0) + len(landed)
        return landed

    def _push_once(
        self,
        skus: list[str],
        only: Channel | None,
        target: str | None,
        scope: str,
        resend: set[str],
        report: PushReport,
    ) -> tuple[set[str], set[str]]:
        """One round; returns the SKUs to read again: (their state moved before our claim, we were overtaken)."""
        targets = self._targets(only, target, report)
        if not targets:
            return set(), set()
        as_of = self.clock()  # taken before the read: a later claim always read later
        nodes = self.inventory.reference.nodes()
        stock = self.inventory.positions(skus, consistent=True)
        states = self.states.push_states(skus)
        due: dict[str, list[tuple[StockTarget, ChannelStockUpdate]]] = {}
        for each, policy in targets:
            for sku in skus:
                figure = availability(sku, each.channel, policy, nodes, stock, with_nodes=False)
                update = ChannelStockUpdate(
                    channel=each.channel, sku=sku, atp=figure.atp, level=figure.level, as_of=as_of
                )
                state = states.get(sku)
                told = None if sku in resend or state is None else state.sent.get(each.key)
                if is_due(told, update, policy.push):
                    due.setdefault(sku, []).append((each, update))
        claimed: dict[str, str] = {}
        moved: set[str] = set()
        for sku in sorted(due):
            claim = self.states.claim_push(sku, as_of, states.get(sku), scope)
            if claim.token is not None:
                claimed[sku] = claim.token
            elif not claim.superseded:
                moved.add(sku)
        by_target: dict[str, tuple[StockTarget, list[ChannelStockUpdate]]] = {}
        for sku in claimed:
            for each, update in due[sku]:
                by_target.setdefault(each.key, (each, []))[1].append(update)
        delivered: dict[str, dict[str, ChannelStockUpdate]] = {}
        for key, (each, updates) in by_target.items():
            for update in self._send(each, updates, report):
                delivered.setdefault(update.sku, {})[key] = update
        overtaken = {
            sku
            for sku, claim in claimed.items()
            if sku in delivered and not self.states.record_push(sku, claim, delivered[sku], states.get(sku))
        }
        return moved, overtaken
