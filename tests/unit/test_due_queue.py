"""The due queue on a fake clock: time order, ties in arrival order, nothing early, and a
waiting loop woken by a push."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from cronwright.operator.due_queue import Due, DueQueue

T = datetime(2026, 12, 1, tzinfo=UTC)


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def item(when: float, name: str = "a", action: str = "fire") -> Due:
    return Due(when, ("ns", name), 0, action, T)


def test_nothing_leaves_before_its_time() -> None:
    clock = Clock()
    queue = DueQueue(clock)
    queue.push(item(1000.5))
    assert queue.pop_due() is None
    assert queue.delay() == 0.5
    clock.now = 1000.5
    assert queue.pop_due() == item(1000.5)
    assert queue.pop_due() is None and queue.delay() is None


@given(st.lists(st.tuples(st.integers(0, 5), st.text(min_size=1, max_size=3)), max_size=30))
def test_items_leave_in_time_order_and_ties_in_arrival_order(pushed: list[tuple[int, str]]) -> None:
    queue = DueQueue(Clock(10.0))
    for when, name in pushed:
        queue.push(item(when, name))
    popped = []
    while (next_item := queue.pop_due()) is not None:
        popped.append((int(next_item.when), next_item.key[1]))
    assert popped == sorted(pushed, key=lambda p: p[0])  # sorted() is stable: ties keep arrival order


def test_a_push_wakes_a_waiting_loop() -> None:
    async def scenario() -> None:
        queue = DueQueue(Clock())
        waiter = asyncio.create_task(queue.wait(3600.0))
        await asyncio.sleep(0)
        assert not waiter.done()
        queue.push(item(1000.0))
        await asyncio.wait_for(waiter, 10.0)  # TimeoutError: it slept on

    asyncio.run(scenario())


def test_an_overdue_item_does_not_wait() -> None:
    async def scenario() -> None:
        queue = DueQueue(Clock())
        queue.push(item(900.0))
        await asyncio.wait_for(queue.wait(3600.0), 10.0)  # TimeoutError: it slept on

    asyncio.run(scenario())
