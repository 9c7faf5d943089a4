"""The facade cache's listing order, kept per namespace as objects come and go (no API
server needed: these are the cache's own bookkeeping, fed as the watch would feed it)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cronwright.api.store import Store, uid_of


def obj(
    name: str, namespace: str = "team-a", created: str = "2026-11-23T07:00:00Z", rv: int = 1
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{namespace}-{name}-{created}",  # a uid is created once
            "creationTimestamp": created,
            "resourceVersion": str(rv),
        },
        "spec": {},
    }


def added(store: Store, obj: dict[str, Any]) -> None:
    store.apply({"type": "ADDED", "object": obj})


def deleted(store: Store, obj: dict[str, Any]) -> None:
    store.apply({"type": "DELETED", "object": obj})


def names(store: Store, namespace: str = "team-a") -> list[str]:
    return [o["metadata"]["name"] for o in store.list(namespace)]


def test_newest_first_ties_broken_by_name_and_tenants_apart() -> None:
    store = Store(None)  # type: ignore[arg-type]  # no calls are made
    added(store, obj("b", created="2026-11-23T07:00:01Z"))
    added(store, obj("a", created="2026-11-23T07:00:01Z"))
    added(store, obj("old", created="2026-11-22T00:00:00Z"))
    added(store, obj("elsewhere", namespace="team-b"))
    assert names(store) == ["b", "a", "old"]
    assert names(store, "team-b") == ["elsewhere"]


def test_updates_keep_one_entry_and_deletes_remove_it() -> None:
    store = Store(None)  # type: ignore[arg-type]
    added(store, obj("a", rv=1))
    added(store, obj("a", rv=2))
    added(store, obj("b", rv=3))
    assert names(store) == ["b", "a"]
    deleted(store, obj("a", rv=4))
    assert names(store) == ["b"]
    added(store, obj("a", rv=5))  # a tombstoned uid never comes back
    assert names(store) == ["b"]


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 30), st.integers(0, 5)), max_size=60))
def test_the_order_is_the_order_of_a_full_sort(events: list[tuple[bool, int, int]]) -> None:
    """Whatever arrives and goes, the kept order equals sorting what is there."""
    store = Store(None)  # type: ignore[arg-type]
    seen: set[str] = set()
    for rv, (add, n, second) in enumerate(events, start=1):
        item = obj(f"job-{n}", created=f"2026-11-23T07:00:0{second}Z", rv=rv)
        (added if add else deleted)(store, item)
        seen.add(uid_of(item))
    present = [o for uid in seen if (o := store.get_by_uid("team-a", uid)) is not None]
    expected = sorted(
        present, key=lambda o: (o["metadata"]["creationTimestamp"], o["metadata"]["name"]), reverse=True
    )
    assert store.list("team-a") == expected
