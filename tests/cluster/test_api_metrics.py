"""The facade's /metrics after real requests, read with Prometheus' own parser
(docs/dialects.md, "Metrics")."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.api_process import ApiProcess
from tests.support.cluster import Cluster
from tests.support.kubectl import apply, cronjobspec, wait_for

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(api: ApiProcess) -> Samples:
    response = httpx.get(f"{api.url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def requests(status: int, dialect: str, route: str, method: str = "GET") -> Mapping[str, str]:
    return {"dialect": dialect, "route": route, "method": method, "status": str(status)}


def test_requests_are_counted_by_dialect_route_template_and_status(api: ApiProcess, namespace: str) -> None:
    before = scrape(api)
    with api.client(api.new_key(namespace)) as a1base:
        for _ in range(3):
            assert a1base.get("/v1/cron-jobs").status_code == 200
        assert a1base.get(f"/v1/cron-jobs/crn_{'0' * 32}").status_code == 404
        assert a1base.get(f"/v1/cron-jobs/crn_{'1' * 32}/").status_code == 404  # same template
        assert a1base.request("BREW", "/v1/cron-jobs").status_code == 405
        assert a1base.get("/nowhere/at/all").status_code == 404
    with api.client(api.new_key(namespace), header="x-api-key") as cronpulse:
        assert cronpulse.post("/api/v1/projects", json={"name": "p"}).status_code == 201
    with api.client(api.new_key(namespace, rate_per_second=0.01, rate_burst=1)) as slow:
        assert [slow.get("/api/cron").status_code for _ in range(3)] == [200, 429, 429]
    after = scrape(api)

    total = "cronwright_api_requests_total"
    expected = [
        (requests(200, "a1base", "/v1/cron-jobs"), 3),
        (requests(404, "a1base", "/v1/cron-jobs/{cron_job_id}"), 2),
        (requests(405, "a1base", "/v1/cron-jobs", "other"), 1),
        (requests(404, "none", "unmatched"), 1),
        (requests(201, "cronpulse", "/api/v1/projects", "POST"), 1),
        (requests(200, "asta", "/api/cron"), 1),
        (requests(429, "asta", "/api/cron"), 2),
    ]
    for labels, count in expected:
        assert grew(before, after, total, **labels) == count, labels
    assert grew(before, after, "cronwright_api_rate_limited_total", dialect="asta") == 2
    assert grew(before, after, "cronwright_api_rate_limited_total", dialect="a1base") == 0

    # The latency histogram counts the same requests, per route and method.
    histogram = "cronwright_api_request_duration_seconds"
    route = {"dialect": "a1base", "route": "/v1/cron-jobs/{cron_job_id}", "method": "GET"}
    assert grew(before, after, f"{histogram}_count", **route) == 2
    assert grew(before, after, f"{histogram}_bucket", **route, le="+Inf") == 2
    assert grew(before, after, f"{histogram}_sum", **route) > 0
    routes = {dict(labels).get("route") for name, labels in after if name == total}
    assert not any("crn_" in str(r) for r in routes), "raw paths never become labels"


def test_cache_size_and_watch_lag_follow_the_watch(api: ApiProcess, cluster: Cluster, namespace: str) -> None:
    before = scrape(api)
    changed = time.monotonic()
    apply(
        cluster,
        namespace,
        cronjobspec("watched-1", {"cron": "0 9 * * *"}, {"url": "http://127.0.0.1:9/a"}),
        cronjobspec("watched-2", {"cron": "0 9 * * *"}, {"url": "http://127.0.0.1:9/b"}),
    )
    with api.client(api.new_key(namespace)) as client:
        # kubectl-made jobs reach the facade's cache through its watch only
        wait_for(lambda: client.get("/v1/cron-jobs").json()["meta"]["total"] == 2, 10, "both jobs listed")
    after = scrape(api)
    scraped = time.monotonic()

    everywhere = json.loads(cluster.kubectl_run("get", "cronjobspecs", "-A", "-o", "json").stdout)["items"]
    assert value(after, "cronwright_api_cached_jobs") == len(everywhere)
    assert grew(before, after, "cronwright_api_watch_events_total", type="ADDED") == 2
    lag = value(after, "cronwright_api_watch_lag_seconds")
    assert 0 <= lag <= scraped - changed, "the last thing the watch heard came after the change"
    assert value(after, "cronwright_api_key_cache_entries") >= 1
