"""Shard ownership and the firing window as pure decisions: tables and properties."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cronwright.operator.sharding import (
    ShardView,
    fair_shares,
    handover_watermark,
    is_free,
    may_fire,
    plan_moves,
    shard_of,
)

T = datetime(2026, 12, 1, 12, tzinfo=UTC)
DURATION = 15.0


def test_shard_of_is_the_first_eight_bytes_of_sha256_modulo_the_shard_count() -> None:
    # The mapping is part of the contract: changing it would move every resource. 13 is
    # `printf %s <uid> | sha256sum`, first 16 hex digits (0xdff46f2f02fe88ad), mod 32.
    assert shard_of("7d8f3c2a-0000-4000-8000-000000000000", 32) == 13


@settings(deadline=None)  # up to 10,240 hashes: a busy machine took longer than the default 200 ms
@given(st.integers(1, 256))
def test_shards_spread_uids_over_every_shard(shards: int) -> None:
    seen = {shard_of(str(uuid.UUID(int=i)), shards) for i in range(shards * 40)}
    assert seen <= set(range(shards))
    assert len(seen) >= shards * 0.9  # 40 uids per shard: an empty shard would be a bad hash


@given(st.lists(st.text(min_size=1, max_size=5), max_size=10), st.integers(0, 200))
def test_fair_shares_add_up_and_differ_by_at_most_one(instances: list[str], shards: int) -> None:
    shares = fair_shares(instances, shards)
    assert set(shares) == set(instances)
    if shares:
        assert sum(shares.values()) == shards
        assert max(shares.values()) - min(shares.values()) <= 1
    assert fair_shares(list(reversed(instances)), shards) == shares  # every instance agrees


@pytest.mark.parametrize(
    ("holder", "seen_for", "free"),
    [
        (None, 0.0, True),  # released
        ("b", 14.9, False),  # renewal not yet overdue on our clock
        ("b", 15.0, True),  # a whole lease duration without a renewal
    ],
)
def test_is_free(holder: str | None, seen_for: float, free: bool) -> None:
    assert is_free(ShardView(holder, unchanged_since=100.0, duration=DURATION), 100.0 + seen_for) is free


def test_a_new_instance_takes_only_free_shards_and_the_excess_holder_hands_over() -> None:
    leases = {s: ShardView("a", 100.0, DURATION) for s in range(4)}
    assert plan_moves("b", ["a", "b"], leases, 101.0).acquire == ()  # all held and live
    assert plan_moves("a", ["a", "b"], leases, 101.0).release == (2, 3)
    leases = {**leases, 2: ShardView(None, 101.0, DURATION), 3: ShardView(None, 101.0, DURATION)}
    assert plan_moves("b", ["a", "b"], leases, 101.0).acquire == (2, 3)


def test_a_dead_holders_shards_are_taken_after_one_lease_duration() -> None:
    leases = {s: ShardView("gone", 100.0, DURATION) for s in range(3)}
    assert plan_moves("a", ["a"], leases, 114.0).acquire == ()
    assert plan_moves("a", ["a"], leases, 115.0).acquire == (0, 1, 2)


@settings(max_examples=60)
@given(
    st.integers(1, 64),
    st.lists(st.sampled_from("abcdef"), min_size=1, max_size=6, unique=True),
    st.randoms(use_true_random=False),
)
def test_instances_converge_to_fair_shares_without_ever_sharing_a_shard(
    shards: int, instances: list[str], rnd
) -> None:
    """Instances plan in random order and apply their own moves (a take is a conditional
    write: it succeeds only if the shard is still free); after a few rounds every instance
    holds its fair share, and at no point do two hold one shard."""
    leases = {s: ShardView(None, 0.0, DURATION) for s in range(shards)}
    now = 0.0
    for _ in range(4 * len(instances) + 4):
        now += 1.0
        for me in rnd.sample(instances, len(instances)):
            moves = plan_moves(me, instances, leases, now)
            for s in moves.release:
                leases[s] = ShardView(None, now, DURATION)
            for s in moves.acquire:
                if is_free(leases[s], now):
                    leases[s] = ShardView(me, now, DURATION)
        # renewals: each holder renews what it holds
        leases = {s: ShardView(v.holder, now, DURATION) if v.holder else v for s, v in leases.items()}
    held: dict[str, int] = {}
    for view in leases.values():
        assert view.holder is not None
        held[view.holder] = held.get(view.holder, 0) + 1
    assert held == {k: v for k, v in fair_shares(instances, shards).items() if v}


@pytest.mark.parametrize(
    ("scheduled", "watermark", "now", "fires"),
    [
        (T, T, 10.0, True),  # at the watermark
        (T + timedelta(seconds=1), T, 10.0, False),  # above it: wait for the next write
        (T, None, 10.0, False),  # no watermark written yet
        (T, T, 20.0, False),  # renewal overdue: stop before the Lease can be taken
    ],
)
def test_may_fire(scheduled: datetime, watermark: datetime | None, now: float, fires: bool) -> None:
    assert may_fire(scheduled, watermark, now, stop_at=20.0) is fires


@pytest.mark.parametrize(
    ("last_fired", "started_after", "left"),
    [
        (T + timedelta(seconds=5), T, T + timedelta(seconds=5)),
        (None, T, T),  # fired nothing: the next holder owes nothing as unknown
        (None, None, None),
    ],
)
def test_handover_watermark(last_fired: datetime | None, started_after: datetime | None, left) -> None:
    assert handover_watermark(last_fired, started_after) == left
