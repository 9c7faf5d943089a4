"""A claim by a live instance is never taken over, whatever copy of the status was cached.

The scheduler judges a rival's claim with the rival's Lease. Before this test, the Lease
was read only when the cached status already showed the rival's claim; when the claim
arrived with the fresh copy read after a Conflict, the rival was judged dead and its run
fired twice (seen across a rollout restart in the real-cluster suite). Here the scheduler
is given a copy older than the rival's claim, deterministically.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from cronwright.core.kube import Kube, load_credentials, refs
from cronwright.core.runs import rfc3339
from cronwright.operator import http_executor
from cronwright.operator.book import Entry
from cronwright.operator.events import EventRecorder
from cronwright.operator.leases import InstanceLease
from cronwright.operator.metrics import Metrics
from cronwright.operator.planning import ClaimVerdict
from cronwright.operator.scheduler import Parts, Scheduler, Settings
from tests.support.cluster import Cluster
from tests.support.kubectl import apply, cronjobspec, get, status


def test_a_live_rivals_claim_seen_only_in_the_fresh_copy_is_left_to_it(
    cluster: Cluster, namespace: str
) -> None:
    apply(cluster, namespace, cronjobspec("rivalled", {"every": "1h"}, {"url": "http://127.0.0.1:9/x"}))
    stale = get(cluster, namespace, "rivalled")  # no claim in it
    due = (datetime.now(UTC) + timedelta(seconds=30)).replace(microsecond=0)
    claim = {"scheduledTime": rfc3339(due), "runId": "rival-run", "holder": "op-rival"}

    async def scenario() -> str:
        kube = Kube(load_credentials(str(cluster.kubeconfig)))
        rival = InstanceLease(kube, namespace, "op-rival")
        await rival.acquire()
        await kube.merge_patch(refs.cronjobspec(namespace, "rivalled").status, {"status": {"claim": claim}})
        metrics = Metrics()
        http = http_executor.make_client(max_connections=1)
        lease = InstanceLease(kube, namespace, "op-me")
        settings = Settings(instance="op-me")
        events = EventRecorder(kube, metrics, "op-me")
        scheduler = Scheduler(Parts.on_kube(kube, http, lease, events, metrics, settings), settings)
        try:
            return await scheduler.claim(Entry.of(stale), due)
        finally:
            await rival.release()
            await http.aclose()
            await kube.close()

    assert asyncio.run(scenario()) == ClaimVerdict.TAKEN
    assert status(cluster, namespace, "rivalled")["claim"]["holder"] == "op-rival"
