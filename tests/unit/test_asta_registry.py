"""The asta id/name registry's decisions: ids never repeat, names are held until released or stale."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cronwright.api.dialects import asta_registry as registry
from cronwright.api.dialects.asta_registry import Registry, Reservation
from cronwright.core.kube import AlreadyExists, ApiError, NotFound


def test_ids_count_up_from_one_and_the_encoding_round_trips() -> None:
    first = registry.with_reservation(Registry(), "a", None, floor=1, now=100.0)
    second = registry.with_reservation(first, "b", None, floor=1, now=101.0)
    assert (first.names["a"].job_id, second.names["b"].job_id, second.next_id) == (1, 2, 3)
    configmap = {"metadata": {"resourceVersion": "9"}, "data": registry.encode(second)}
    assert registry.decode(configmap) == Registry(3, second.names, "9")


def test_the_floor_skips_ids_of_jobs_that_exist_without_the_counter_knowing() -> None:
    reset = registry.with_reservation(Registry(), "a", None, floor=41, now=0.0)
    assert reset.names["a"].job_id == 41 and reset.next_id == 42


def test_a_rename_keeps_the_id_and_moves_the_counter_past_it() -> None:
    renamed = registry.with_reservation(Registry(next_id=3), "new", 9, floor=1, now=0.0)
    assert renamed.names["new"] == Reservation(9, 0.0) and renamed.next_id == 10


def test_a_name_blocks_others_but_not_its_own_holder() -> None:
    held = Registry(2, {"a": Reservation(1, 100.0)})
    assert registry.holder_to_check(held, "a", {1}) is None
    assert registry.holder_to_check(held, "b", set()) is None
    assert registry.holder_to_check(held, "a", {2}) == Reservation(1, 100.0)


def test_a_reservation_is_stale_only_when_its_job_is_gone_and_the_grace_period_is_over() -> None:
    held = Reservation(1, 100.0)
    late = 100.0 + registry.GRACE_SECONDS
    assert registry.is_stale(held, holder_alive=False, now=late)
    assert not registry.is_stale(held, holder_alive=False, now=late - 1), "a create may be in flight"
    assert not registry.is_stale(held, holder_alive=True, now=late + 10_000)


def test_release_only_frees_a_name_its_holder_still_has() -> None:
    held = Registry(3, {"a": Reservation(1, 0.0), "b": Reservation(2, 0.0)})
    assert registry.without_reservation(held, "a", 2) is None
    assert registry.without_reservation(held, "zzz", 1) is None
    freed = registry.without_reservation(held, "a", 1)
    assert freed is not None and set(freed.names) == {"b"} and freed.next_id == 3


def test_an_unreadable_registry_starts_afresh() -> None:
    broken = {"metadata": {"resourceVersion": "5"}, "data": {"names": "{not json", "next-id": "x"}}
    assert registry.decode(broken) == Registry(1, {}, "5")
    assert registry.decode(None) == Registry()


@given(st.lists(st.sampled_from(["new", "rename", "release"]), max_size=60), st.integers(1, 50))
def test_allocated_ids_never_repeat(steps: list[str], floor: int) -> None:
    state, handed_out = Registry(), []
    for counter, step in enumerate(steps):
        if step == "new" or not state.names:
            state = registry.with_reservation(state, f"n{counter}", None, floor, float(counter))
            handed_out.append(state.names[f"n{counter}"].job_id)
        elif step == "rename":
            name, held = next(iter(state.names.items()))
            state = registry.with_reservation(state, f"n{counter}", held.job_id, floor, float(counter))
            state = registry.without_reservation(state, name, held.job_id) or state
        else:
            name, held = next(iter(state.names.items()))
            state = registry.without_reservation(state, name, held.job_id) or state
    assert len(handed_out) == len(set(handed_out)) and all(i >= floor for i in handed_out)
    assert all(r.job_id < state.next_id for r in state.names.values())


def _not_found(kind: str, name: str) -> NotFound:
    """The API server's 404: `kind` is "namespaces" when the namespace itself is missing."""
    message = f'{kind} "{name}" not found'
    details = {"name": name, "kind": kind}
    return NotFound(404, {"reason": "NotFound", "code": 404, "message": message, "details": details})


class RegistryServer:
    """The registry ConfigMap's API server: the creates fail with `refusals`, in turn."""

    def __init__(self, *refusals: ApiError) -> None:
        self.refusals = list(refusals)
        self.creates = 0

    async def get(self, ref: Any) -> dict[str, Any]:
        raise _not_found("configmaps", registry.REGISTRY_NAME)

    async def create(self, ref: Any, body: dict[str, Any]) -> dict[str, Any]:
        self.creates += 1
        if self.refusals:
            raise self.refusals.pop(0)
        return body

    async def replace(self, ref: Any, body: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("nothing to replace: the registry was never created")


async def _nobody_alive(job_id: int, name: str) -> bool:
    return False


def _reserve(server: RegistryServer, monkeypatch: pytest.MonkeyPatch) -> int:
    async def no_pause(attempt: int) -> None:
        return None

    monkeypatch.setattr(registry, "_pause", no_pause)
    return asyncio.run(registry.Registries(server).reserve("team-a", "daily", _nobody_alive))  # type: ignore[arg-type]


def test_a_lost_race_is_tried_again(monkeypatch: pytest.MonkeyPatch) -> None:
    server = RegistryServer(AlreadyExists(409, {"reason": "AlreadyExists"}), _not_found("configmaps", "x"))
    assert _reserve(server, monkeypatch) == 1 and server.creates == 3


def test_a_missing_namespace_is_raised_at_once_not_retried_as_a_lost_race(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = RegistryServer(*[_not_found("namespaces", "team-a")] * registry.WRITE_ATTEMPTS)
    with pytest.raises(NotFound) as raised:
        _reserve(server, monkeypatch)
    assert raised.value.body["details"]["kind"] == "namespaces" and server.creates == 1
