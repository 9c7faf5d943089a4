"""The conditional update's decisions (kube/update.py), against an in-memory object that
answers like the API server: a merge patch applies only at the resourceVersion it names.

The real wiring (status subresource, the facade's cache) is covered by the cluster tests;
here each decision — write, skip, re-read on Conflict, give up, wait out Unavailable — is
pinned down one by one."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from cronwright.core.kube import Conflict, Forbidden, NotFound, Retry, Unavailable, Updated, update
from cronwright.operator.planning import apply_merge_patch

NO_WAIT = Retry(attempts=3, first=0.0)


class Server:
    """One object; `failures` are raised by the next writes, in order; `meddle` is another
    writer's change landing just before each of our writes (as often as it says)."""

    def __init__(self, count: int = 0) -> None:
        self.obj: dict[str, Any] | None = {"metadata": {"resourceVersion": "1"}, "spec": {"count": count}}
        self.failures: list[Exception] = []
        self.meddle = 0
        self.reads = 0
        self.writes: list[dict[str, Any]] = []

    def _change(self, patch: dict[str, Any]) -> dict[str, Any]:
        assert self.obj is not None
        self.obj = apply_merge_patch(self.obj, patch)
        self.obj["metadata"]["resourceVersion"] = str(int(self.obj["metadata"]["resourceVersion"]) + 1)
        return copy.deepcopy(self.obj)

    async def read(self) -> dict[str, Any] | None:
        self.reads += 1
        if self.obj is None:
            raise NotFound(404, {"reason": "NotFound"})
        return copy.deepcopy(self.obj)

    async def write(self, patch: dict[str, Any]) -> dict[str, Any]:
        self.writes.append(patch)
        if self.failures:
            raise self.failures.pop(0)
        if self.meddle:
            self.meddle -= 1
            self._change({"spec": {"other": self.meddle}})
        if self.obj is None:
            raise NotFound(404, {"reason": "NotFound"})
        if patch["metadata"]["resourceVersion"] != self.obj["metadata"]["resourceVersion"]:
            raise Conflict(409, {"reason": "Conflict"})
        return self._change({k: v for k, v in patch.items() if k != "metadata"})


def increment(obj: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"count": obj["spec"]["count"] + 1}}


def run(server: Server, compute: Any = increment, **kw: Any) -> Updated | None:
    return asyncio.run(update(compute, server.write, server.read, **kw))


def test_writes_the_patch_conditional_on_the_version_it_was_computed_from() -> None:
    server = Server(count=4)
    done = run(server)
    assert done is not None and done.written
    assert done.obj["spec"]["count"] == 5
    assert server.writes == [{"spec": {"count": 5}, "metadata": {"resourceVersion": "1"}}]


def test_nothing_to_change_writes_nothing_and_returns_the_copy_it_looked_at() -> None:
    server = Server()
    done = run(server, compute=lambda obj: None)
    assert done == Updated(server.obj, written=False)  # type: ignore[arg-type]
    assert server.writes == []


def test_a_conflict_recomputes_from_a_fresh_read_so_no_change_is_lost() -> None:
    server = Server(count=1)
    server.meddle = 1
    conflicts: list[None] = []
    done = run(server, on_conflict=lambda: conflicts.append(None))
    assert done is not None and done.obj["spec"] == {"count": 2, "other": 0}
    assert len(conflicts) == 1
    assert [w["metadata"]["resourceVersion"] for w in server.writes] == ["1", "2"]


def test_a_cached_copy_saves_the_first_read() -> None:
    server = Server(count=1)
    cached = copy.deepcopy(server.obj)
    done = run(server, cached=lambda: cached)
    assert done is not None and done.written
    assert server.reads == 0


def test_a_stale_cached_copy_costs_one_conflict_and_one_read() -> None:
    server = Server(count=1)
    stale = {"metadata": {"resourceVersion": "0"}, "spec": {"count": 0}}
    done = run(server, cached=lambda: stale)
    assert done is not None and done.obj["spec"]["count"] == 2
    assert server.reads == 1


def test_conflicts_without_end_give_up_as_conflict_naming_the_object() -> None:
    server = Server()
    server.meddle = 100
    with pytest.raises(Conflict, match="the job kept changing"):
        run(server, attempts=4, what="the job")
    assert len(server.writes) == 4


@pytest.mark.parametrize(
    "setup",
    [
        pytest.param(lambda s: setattr(s, "obj", None), id="gone before the first read"),
        pytest.param(lambda s: s.failures.append(NotFound(404, {})), id="gone at the write"),
    ],
)
def test_a_deleted_object_is_none(setup: Any) -> None:
    server = Server()
    setup(server)
    assert run(server) is None


def test_a_cache_that_no_longer_holds_the_object_is_none() -> None:
    assert run(Server(), cached=lambda: None) is None


def test_unavailable_is_raised_at_once_without_a_retry_policy() -> None:
    server = Server()
    server.failures.append(Unavailable(503, {}))
    with pytest.raises(Unavailable):
        run(server)
    assert len(server.writes) == 1


def test_unavailable_is_waited_out_with_a_retry_policy_from_the_cached_copy() -> None:
    server = Server(count=1)
    server.failures += [Unavailable(503, {}), Unavailable(0, {})]
    done = run(server, cached=lambda: copy.deepcopy(server.obj), retry=NO_WAIT)
    assert done is not None and done.obj["spec"]["count"] == 2
    assert server.reads == 0, "after Unavailable the cached copy is still the newest known"


def test_unavailable_to_the_last_attempt_raises_it() -> None:
    server = Server()
    server.failures += [Unavailable(503, {}) for _ in range(5)]
    with pytest.raises(Unavailable):
        run(server, retry=NO_WAIT, attempts=5)
    assert len(server.writes) == NO_WAIT.attempts


def test_other_refusals_are_raised() -> None:
    server = Server()
    server.failures.append(Forbidden(403, {}))
    with pytest.raises(Forbidden):
        run(server, retry=NO_WAIT)
