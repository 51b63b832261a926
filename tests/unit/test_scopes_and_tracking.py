"""Hardening (issue 17): a node key reaches only its nodes (oms.domain.apikeys.require_nodes), and buyer
tracking throttles the guesser, never the right contact (oms.domain.tracking). Time is passed in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from oms.domain.apikeys import new_key, require_nodes
from oms.domain.tracking import (
    CAS_TRIES,
    CLIENT_BUDGET,
    NUMBER_FREE_FAILURES,
    PAIR_BACKOFF,
    Backoff,
    Failures,
    TrackingService,
    client_key,
    number_key,
    pair_key,
)
from oms.errors import Forbidden, NotFound, TooManyRequests
from oms.models.apikey import Role
from oms.models.order import Order
from oms.models.timeline import TimelineEntry
from tests.builders import T0, draft_values

# ---------------------------------------------------------------- scopes


def _key(roles: list[Role], nodes: list[str] | None = None):
    return new_key("test", roles, T0, nodes=nodes)[1]


def test_a_node_key_limited_to_its_nodes_is_refused_others_by_name() -> None:
    store = _key([Role.node], nodes=["ST-BDG-PVJ"])
    require_nodes(store, "ST-BDG-PVJ")
    with pytest.raises(Forbidden) as refused:
        require_nodes(store, "ST-BDG-PVJ", "DC-SBY", what="move stock of")
    assert refused.value.message == "this key may not move stock of node DC-SBY: it acts for ST-BDG-PVJ only"
    assert refused.value.details == {"node_id": "DC-SBY", "key_nodes": ["ST-BDG-PVJ"]}


@pytest.mark.parametrize(
    "roles, nodes",
    [([Role.ops], None), ([Role.cs], None), ([Role.node], None), ([Role.node, Role.ops], ["ST-BDG-PVJ"])],
)
def test_staff_and_unlimited_node_keys_act_for_any_node(roles: list[Role], nodes: list[str] | None) -> None:
    require_nodes(_key(roles, nodes), "DC-SBY", "DC-JKT")


# ---------------------------------------------------------------- tracking

NUMBER, OTHER = "OMS-0000001", "OMS-0000002"
BUYER = "0812-3456-7890"  # the phone on every order, written the buyer's way
WRONG = "0811111111"
ATTACKER, BUYER_IP = "203.0.113.9", "198.51.100.7"
SECRET = b"test hash key"


class MemoryAttempts:
    """The attempts adapter's behaviour in memory: counts forgotten forget_after the last one, and a
    version per item that put() compares and sets. before_put: other requests, each run at the start of
    the next put(), so they read before the one putting writes (parallel requests, interleaved)."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[int, datetime, datetime, int]] = {}  # count, last_at, purge_at, version
        self.before_put: list[Callable[[], None]] = []
        self.conflicts = 0

    def hash_key(self) -> bytes:
        return SECRET

    def failures(self, key: str, now: datetime) -> Failures:
        item = self.items.get(key)
        if item is None:
            return Failures()
        if item[2] <= now:
            return Failures(version=item[3])
        return Failures(item[0], item[1], item[3])

    def put(self, key: str, seen: Failures, new: Failures, forget_after: timedelta, now: datetime) -> bool:
        if self.before_put:
            self.before_put.pop(0)()
        item = self.items.get(key)
        if (item[3] if item else 0) != seen.version:
            self.conflicts += 1
            return False
        last = new.last_at or now
        self.items[key] = (new.count, last, last + forget_after, seen.version + 1)
        return True

    def count_failure(self, key: str, now: datetime, weight: int, forget_after: timedelta) -> Failures:
        seen = self.failures(key, now)
        self.items[key] = (seen.count + weight, now, now + forget_after, seen.version)
        return Failures(seen.count + weight, now)

    def count(self, key: str) -> int:
        return self.items[key][0] if key in self.items else 0


class Orders:
    def __init__(self, *orders: Order) -> None:
        self.orders = {order.order_number: order for order in orders}

    def by_number(self, order_number: str) -> Order | None:
        return self.orders.get(order_number)

    def timeline(self, order_id: str) -> list[TimelineEntry]:
        return []


def an_order(number: str = NUMBER) -> Order:
    return Order.model_validate(
        {
            **draft_values(),
            "order_id": f"id-{number}",
            "order_number": number,
            "status": "received",
            "priority": 1,
            "created_at": T0,
            "updated_at": T0,
            "version": 1,
            "content_hash": "x",
        }
    )


@pytest.fixture
def attempts() -> MemoryAttempts:
    return MemoryAttempts()


@pytest.fixture
def tracking(attempts: MemoryAttempts) -> TrackingService:
    numbers = [f"OMS-{n:07d}" for n in range(1, 40)]
    return TrackingService(Orders(*(an_order(n) for n in numbers)), attempts, dict)


def _wrong(tracking: TrackingService, times: int, at: datetime, ip: str = ATTACKER, number: str = NUMBER) -> None:
    for _ in range(times):
        with pytest.raises(NotFound):
            tracking.track(number, WRONG, at, ip)


def _status(tracking: TrackingService, number: str, contact: str, at: datetime, ip: str) -> int:
    try:
        tracking.track(number, contact, at, ip)
    except NotFound:
        return 404
    except TooManyRequests:
        return 429
    return 200


def _pair(ip: str, number: str = NUMBER) -> str:
    return pair_key(client_key(ip, SECRET), number)


def test_the_right_contact_is_answered_and_never_counted(tracking: TrackingService, attempts) -> None:
    for _ in range(50):
        assert tracking.track(NUMBER.lower(), BUYER, T0, BUYER_IP).order_number == NUMBER
    assert attempts.items == {}


def test_an_unknown_number_and_a_wrong_contact_get_the_same_answer(tracking: TrackingService) -> None:
    with pytest.raises(NotFound) as unknown:
        tracking.track("OMS-9999999", BUYER, T0, BUYER_IP)
    with pytest.raises(NotFound) as wrong:
        tracking.track(NUMBER, WRONG, T0, BUYER_IP)
    assert unknown.value.message == wrong.value.message == "no order with this number and contact"


def test_a_guesser_waits_on_its_number_exponentially_after_its_free_wrong_answers(
    tracking: TrackingService, attempts
) -> None:
    _wrong(tracking, PAIR_BACKOFF.free, T0)
    with pytest.raises(TooManyRequests) as first:
        tracking.track(NUMBER, WRONG, T0, ATTACKER)  # the 11th wrong answer: counted, then a minute's wait
    assert (first.value.status_code, first.value.retry_after) == (429, 60)
    assert "no order with this number and contact" in first.value.message
    with pytest.raises(TooManyRequests) as waiting:
        tracking.track(NUMBER, WRONG, T0 + timedelta(seconds=59), ATTACKER)  # not evaluated, not counted
    assert waiting.value.retry_after == 1 and "too many wrong answers from this address" in waiting.value.message
    assert attempts.count(_pair(ATTACKER)) == 11
    waits = []
    at = T0 + timedelta(seconds=60)
    for _ in range(8):
        with pytest.raises(TooManyRequests) as refused:
            tracking.track(NUMBER, WRONG, at, ATTACKER)
        waits.append(refused.value.retry_after)
        at += timedelta(seconds=refused.value.retry_after)
    assert waits == [120, 240, 480, 960, 1920, 3600, 3600, 3600]  # doubling, capped at an hour
    assert tracking.track(NUMBER, BUYER, T0, BUYER_IP).order_number == NUMBER  # another address: answered


def test_a_cgnat_neighbour_tracking_another_number_is_answered(tracking: TrackingService) -> None:
    """Many subscribers behind one carrier address: one guessing at a number waits on that number only."""
    _wrong(tracking, PAIR_BACKOFF.free, T0)
    with pytest.raises(TooManyRequests):
        tracking.track(NUMBER, WRONG, T0, ATTACKER)
    assert tracking.track(OTHER, BUYER, T0 + timedelta(seconds=1), ATTACKER).order_number == OTHER
    _wrong(tracking, 1, T0 + timedelta(seconds=2), number=OTHER)  # a typo there: a plain not found


def test_the_right_contact_from_a_client_waiting_on_the_number_is_refused_others_answered(
    tracking: TrackingService,
) -> None:
    """Otherwise the wait would not stop guessing (200 against 429). A buyer who mistyped eleven times waits."""
    _wrong(tracking, PAIR_BACKOFF.free, T0, ip=BUYER_IP)
    with pytest.raises(TooManyRequests):
        tracking.track(NUMBER, WRONG, T0, BUYER_IP)
    with pytest.raises(TooManyRequests) as refused:
        tracking.track(NUMBER, BUYER, T0 + timedelta(seconds=30), BUYER_IP)
    assert refused.value.retry_after == 30
    assert tracking.track(NUMBER, BUYER, T0 + timedelta(seconds=30), "198.51.100.8").order_number == NUMBER
    assert tracking.track(NUMBER, BUYER, T0 + timedelta(seconds=60), BUYER_IP).order_number == NUMBER


def test_a_number_attacked_from_many_addresses_slows_each_guesser_at_once_never_the_buyer(
    tracking: TrackingService,
) -> None:
    for n in range(NUMBER_FREE_FAILURES):  # ten addresses, one wrong answer each: the number is now watched
        _wrong(tracking, 1, T0, ip=f"10.0.0.{n}")
    with pytest.raises(TooManyRequests) as fresh:  # a new address's first wrong answer on it: a wait at once
        tracking.track(NUMBER, WRONG, T0, "10.0.1.1")
    assert fresh.value.retry_after == 60
    with pytest.raises(TooManyRequests):  # on that number, nothing more from it for a minute
        tracking.track(NUMBER, BUYER, T0 + timedelta(seconds=10), "10.0.1.1")
    assert tracking.track(OTHER, BUYER, T0 + timedelta(seconds=10), "10.0.1.1").order_number == OTHER
    with pytest.raises(TooManyRequests) as again:  # its next wrong answer: two minutes, and doubling
        tracking.track(NUMBER, WRONG, T0 + timedelta(seconds=60), "10.0.1.1")
    assert again.value.retry_after == 120
    for n in range(200):  # and so on for every address
        assert _status(tracking, NUMBER, WRONG, T0, f"10.2.{n // 250}.{n % 250}") == 429
    _wrong(tracking, 1, T0, ip="10.0.1.2", number=OTHER)  # other numbers are not watched
    assert tracking.track(NUMBER, BUYER, T0, BUYER_IP).order_number == NUMBER  # the buyer, from anywhere
    assert tracking.track(NUMBER, BUYER, T0, "10.0.0.1").order_number == NUMBER  # a guesser that has not waited


def test_a_client_enumerating_numbers_waits_past_its_budget(tracking: TrackingService, attempts) -> None:
    unknown = [f"OMS-{n:07d}" for n in range(1000, 1000 + CLIENT_BUDGET.free + 2)]
    for number in unknown[: CLIENT_BUDGET.free]:  # one wrong answer on each of 100 numbers: no pair waits
        _wrong(tracking, 1, T0, number=number)
    with pytest.raises(TooManyRequests) as first:
        tracking.track(unknown[-2], WRONG, T0, ATTACKER)  # the 101st: counted, then the client waits
    assert first.value.retry_after == 60
    assert attempts.count(client_key(ATTACKER, SECRET)) == CLIENT_BUDGET.free + 1
    with pytest.raises(TooManyRequests) as refused:  # everything from it, the right contact too
        tracking.track(OTHER, BUYER, T0 + timedelta(seconds=20), ATTACKER)
    assert refused.value.retry_after == 40
    assert tracking.track(OTHER, BUYER, T0 + timedelta(seconds=20), BUYER_IP).order_number == OTHER
    with pytest.raises(TooManyRequests) as again:
        tracking.track(unknown[-1], WRONG, T0 + timedelta(seconds=60), ATTACKER)
    assert again.value.retry_after == 120


def test_wrong_answers_are_forgotten_a_day_after_the_last(tracking: TrackingService) -> None:
    _wrong(tracking, PAIR_BACKOFF.free, T0)
    with pytest.raises(TooManyRequests):
        tracking.track(NUMBER, WRONG, T0, ATTACKER)
    later = T0 + PAIR_BACKOFF.forget_after
    _wrong(tracking, PAIR_BACKOFF.free, later)  # a fresh allowance
    with pytest.raises(TooManyRequests) as refused:
        tracking.track(NUMBER, WRONG, later, ATTACKER)
    assert refused.value.retry_after == 60


def test_parallel_wrong_answers_are_counted_before_any_is_answered(tracking: TrackingService, attempts) -> None:
    """Twenty requests at once from one address: all read the counters before any counts (the race the
    old check-then-count lost: twenty answers). Each wrong answer is counted by compare-and-set before
    it is answered, so ten are answered and the rest wait, as one at a time."""
    answers: list[int] = []

    def request(contact: str = WRONG) -> Callable[[], None]:
        return lambda: answers.append(_status(tracking, NUMBER, contact, T0, ATTACKER))

    attempts.before_put = [request() for _ in range(18)] + [request(BUYER)]
    request()()
    assert answers[0] == 200  # the right contact, read before any wrong answer was counted: answered
    assert sorted(answers[1:]) == [404] * PAIR_BACKOFF.free + [429] * 9
    assert attempts.count(_pair(ATTACKER)) == PAIR_BACKOFF.free + 1 and attempts.conflicts > 0
    assert _status(tracking, NUMBER, BUYER, T0, ATTACKER) == 429  # and now it waits, the right contact too


def test_parallel_wrong_answers_on_many_numbers_all_count_on_the_budget(tracking: TrackingService, attempts) -> None:
    answers: list[int] = []

    def request(number: str) -> Callable[[], None]:
        return lambda: answers.append(_status(tracking, number, WRONG, T0, ATTACKER))

    attempts.before_put = [request(f"OMS-{n:07d}") for n in range(2, 21)]
    request(NUMBER)()
    assert answers == [404] * 20 and attempts.count(client_key(ATTACKER, SECRET)) == 20


def test_a_key_fought_over_past_its_tries_is_a_second_s_wait(tracking: TrackingService, attempts) -> None:
    def someone_else_counts() -> None:
        key = _pair(ATTACKER)
        count, last, purge, version = attempts.items.get(key, (0, T0, T0 + timedelta(days=1), 0))
        attempts.items[key] = (count, last, purge, version + 1)

    attempts.before_put = [someone_else_counts] * CAS_TRIES
    with pytest.raises(TooManyRequests) as busy:
        tracking.track(NUMBER, WRONG, T0, ATTACKER)
    assert busy.value.retry_after == 1


def test_clients_are_keyed_addresses_and_ipv6_subscribers_their_64() -> None:
    assert client_key("203.0.113.9", SECRET) == client_key(" 203.0.113.9 ", SECRET)
    assert client_key("203.0.113.9", SECRET) != client_key("203.0.113.10", SECRET)
    assert client_key("2001:db8:1:2::1", SECRET) == client_key("2001:db8:1:2:ffff::9", SECRET)
    assert client_key("2001:db8:1:2::1", SECRET) != client_key("2001:db8:1:3::1", SECRET)
    assert client_key("::ffff:203.0.113.9", SECRET) == client_key("203.0.113.9", SECRET)
    assert client_key(None, SECRET) == client_key("not an address", SECRET) == "track#client#unknown"
    assert "203.0.113.9" not in client_key("203.0.113.9", SECRET)  # the table holds no addresses
    assert client_key("203.0.113.9", SECRET) != client_key("203.0.113.9", b"another deployment")  # an HMAC
    assert number_key(NUMBER) == "track#number#OMS-0000001"
    assert pair_key(client_key(None, SECRET), NUMBER) == "track#pair#unknown#OMS-0000001"


def test_backoff_waits() -> None:
    backoff = Backoff(free=2, base=timedelta(seconds=10), cap=timedelta(seconds=35), forget_after=timedelta(hours=1))
    assert backoff.retry_at(Failures()) is None
    assert backoff.retry_at(Failures(2, T0)) is None
    assert [backoff.retry_at(Failures(n, T0)) - T0 for n in (3, 4, 5, 500)] == [
        timedelta(seconds=10),
        timedelta(seconds=20),
        timedelta(seconds=35),
        timedelta(seconds=35),
    ]
