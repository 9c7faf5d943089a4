"""ListWatch (core/kube/watch.py) against the real API server: a watch from a
resourceVersion the server no longer keeps is answered 410 Expired, and the loop lists
again and goes on watching from the new list — what the facade's cache relies on after
a long disconnection."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cronwright.core.kube import Kube, ListWatch, load_credentials, refs
from tests.support.cluster import Cluster
from tests.support.kubectl import cronjobspec

pytestmark = pytest.mark.cluster


async def until(check: Any, what: str) -> None:
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not seen: {what}")


def test_an_expired_watch_lists_again_and_follows_on(cluster: Cluster, namespace: str) -> None:
    async def scenario() -> None:
        kube = Kube(load_credentials(str(cluster.kubeconfig)))
        listed: list[set[str]] = []
        added: list[str] = []
        jobs = refs.cronjobspec(namespace)

        def on_event(event: dict[str, Any]) -> None:
            if event["type"] == "ADDED":
                added.append(event["object"]["metadata"]["name"])

        follow = ListWatch(
            kube,
            jobs,
            lambda items: listed.append({i["metadata"]["name"] for i in items}),
            on_event,
            pause=0.1,
        )
        try:
            await kube.create(
                jobs, cronjobspec("before", {"cron": "0 3 * * *"}, {"url": "http://127.0.0.1:9/"})
            )
            follow.resource_version = "1"  # older than anything the server's watch cache keeps
            task = asyncio.create_task(follow.watch())
            await until(lambda: listed == [{"before"}], "a list after the expired watch")
            await kube.create(
                jobs, cronjobspec("after", {"cron": "0 4 * * *"}, {"url": "http://127.0.0.1:9/"})
            )
            await until(lambda: "after" in added, "a job made after the list, seen by the watch")
            assert "before" not in added, "the watch resumed from the list, not from the start"
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        finally:
            await kube.close()

    asyncio.run(scenario())
