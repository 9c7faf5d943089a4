"""The facade's cache keeps following the API server whatever the objects hold.

A job whose body held U+0085 (NEXT LINE), which the API server writes unescaped, once cut
a watch event in two where the facade split the stream into lines: the watch then failed
on that event and resumed from before it, forever, and the facade never saw another
change — runs, pauses, new jobs made with kubectl — until it restarted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.api_process import ApiProcess
from tests.support.cluster import Cluster
from tests.support.kubectl import apply, cronjobspec, get, wait_for

pytestmark = pytest.mark.cluster

BASE = "/v1/cron-jobs"


def test_a_value_with_a_unicode_line_separator_does_not_stall_the_watch(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    with ApiProcess(cluster.kubeconfig, "cronwright-keys", tmp_path / "api.log") as api:
        key = api.new_key(namespace)
        body = {"note": "line one\x85line two\u2028line three"}
        http = {"url": "http://127.0.0.1:9/odd", "method": "POST", "body": body}
        apply(cluster, namespace, cronjobspec("odd", {"cron": "0 3 * * *"}, http))
        with api.client(key) as client:

            def names() -> set[str]:
                return {job["name"] for job in client.get("/ui/api/jobs").json()["jobs"]}

            wait_for(lambda: "odd" in names(), 20, "the job with the odd body in the facade")
            apply(
                cluster,
                namespace,
                cronjobspec("after", {"cron": "0 4 * * *"}, {"url": "http://127.0.0.1:9/"}),
            )
            wait_for(lambda: "after" in names(), 20, "a job made after it, seen through the watch")
            uid = get(cluster, namespace, "odd")["metadata"]["uid"]
            assert client.get(f"{BASE}/crn_{uid.replace('-', '')}").json()["body"] == body
