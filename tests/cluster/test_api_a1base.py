"""The a1base Cron Jobs API over real HTTP, against the real control plane and operator."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest

from tests.support.api_process import ApiProcess, envelope_error
from tests.support.cluster import Cluster
from tests.support.kubectl import apply, cronjobspec, get, merge_patch, wait_for
from tests.support.operator_process import OperatorProcess
from tests.support.receiver import Receiver

BASE = "/v1/cron-jobs"
OFFSET_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


def example_create(url: str) -> dict:
    """The document's create example, its target moved to a loopback receiver."""
    return {
        "endpoint_url": url,
        "frequency": "daily",
        "time": "09:00",
        "timezone": "America/New_York",
        "method": "POST",
        "headers": {"Authorization": "Bearer token123", "Content-Type": "application/json"},
        "body": {"action": "daily_update", "params": {"user_id": "all"}},
    }


def test_document_examples_round_trip(
    cluster: Cluster, namespace: str, client: httpx.Client, receiver: Receiver
) -> None:
    sent = example_create(receiver.url("/webhook"))
    created = client.post(BASE, json=sent)
    assert created.status_code == 201, created.text
    job = created.json()
    assert re.fullmatch(r"crn_[0-9a-f]{32}", job["id"])
    for field in ("endpoint_url", "frequency", "time", "timezone", "method", "headers", "body"):
        assert job[field] == sent[field], field
    assert job["status"] == "active"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", job["created_at"])
    assert OFFSET_TIME.match(job["next_execution"]) and job["next_execution"][11:19] == "09:00:00"
    assert job["next_execution"][-6:] in ("-04:00", "-05:00")

    # Credentials are not kept in clear in the resource, and their Secret belongs to it.
    name = next(
        o
        for o in json.loads(cluster.kubectl_run("get", "cjs", "-n", namespace, "-o", "json").stdout)["items"]
    )
    spec_http = name["spec"]["http"]
    assert "Authorization" not in (spec_http.get("headers") or {})
    assert spec_http["headersFrom"][0]["name"] == "Authorization"
    secret = get(cluster, namespace, spec_http["headersFrom"][0]["secretKeyRef"]["name"], kind="secret")
    assert secret["metadata"]["ownerReferences"][0]["uid"] == name["metadata"]["uid"]
    assert "token123" not in json.dumps(name)

    fetched = client.get(f"{BASE}/{job['id']}").json()
    assert fetched["headers"] == sent["headers"] and fetched["body"] == sent["body"]
    assert fetched["last_execution"] is None

    listed = client.get(BASE).json()
    assert listed["meta"] == {"total": 1, "limit": 20, "offset": 0}
    item = listed["data"][0]
    assert item["id"] == job["id"] and "headers" not in item and "body" not in item

    patched = client.patch(
        f"{BASE}/{job['id']}",
        json={
            "time": "10:30",
            "headers": {"Authorization": "Bearer new_token456", "Content-Type": "application/json"},
        },
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["time"] == "10:30" and body["next_execution"][11:19] == "10:30:00"
    assert body["headers"]["Authorization"] == "Bearer new_token456"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["updated_at"])
    assert body["body"] == sent["body"], "a partial update keeps the other fields"

    paused = client.post(f"{BASE}/{job['id']}/pause").json()
    assert paused == {"id": job["id"], "status": "paused", "next_execution": None}
    assert client.get(BASE, params={"status": "paused"}).json()["meta"]["total"] == 1
    assert client.get(BASE, params={"status": "active"}).json()["meta"]["total"] == 0
    resumed = client.post(f"{BASE}/{job['id']}/resume").json()
    assert resumed["status"] == "active" and resumed["next_execution"][11:19] == "10:30:00"

    executions = client.get(f"{BASE}/{job['id']}/executions").json()
    assert executions == {"data": [], "meta": {"total": 0, "limit": 20, "offset": 0}}

    deleted = client.delete(f"{BASE}/{job['id']}")
    assert deleted.json() == {"id": job["id"], "deleted": True}
    envelope_error(client.get(f"{BASE}/{job['id']}"), 404, "not_found")
    gone = cluster.kubectl_run("get", "cjs", "-n", namespace, "-o", "name").stdout
    assert gone.strip() == ""
    secrets = cluster.kubectl_run("get", "secrets", "-n", namespace, "-o", "name").stdout
    assert "headers" not in secrets


def test_runs_show_up_as_executions(
    namespace: str, client: httpx.Client, receiver: Receiver, operator: OperatorProcess
) -> None:
    job = client.post(
        BASE,
        json={
            "endpoint_url": receiver.url("/tick"),
            "frequency": "custom",
            "custom_schedule": "*/2 * * * * *",
            "timezone": "Asia/Kolkata",
            "method": "PUT",
            "body": {"hello": "world"},
        },
    ).json()
    wait_for(lambda: len(receiver.at("/tick")) >= 2, 20, "runs")
    assert receiver.at("/tick")[0].method == "PUT" and receiver.at("/tick")[0].json() == {"hello": "world"}
    detail = wait_for(
        lambda: (d := client.get(f"{BASE}/{job['id']}").json())["last_execution"] and d, 10, "result"
    )
    last = detail["last_execution"]
    assert last["status"] == "success" and last["response_code"] == 200
    assert isinstance(last["response_time_ms"], int) and last["timestamp"].endswith("+05:30")
    # results are recorded shortly after each call; wait for two of them
    runs = wait_for(
        lambda: (r := client.get(f"{BASE}/{job['id']}/executions").json())["meta"]["total"] >= 2 and r,
        10,
        "two executions",
    )
    first = runs["data"][0]
    assert re.fullmatch(r"exe_[0-9a-f]{16}", first["id"]) and first["cron_job_id"] == job["id"]
    assert first["response_body"] == {"ok": True}
    assert (
        client.get(f"{BASE}/{job['id']}/executions", params={"status": "failed"}).json()["meta"]["total"] == 0
    )

    assert client.post(f"{BASE}/{job['id']}/pause").json()["next_execution"] is None
    time.sleep(2.5)  # what was claimed before the pause lands
    count = len(receiver.at("/tick"))
    time.sleep(3)
    assert len(receiver.at("/tick")) == count, "no call while paused"
    client.post(f"{BASE}/{job['id']}/resume")
    wait_for(lambda: len(receiver.at("/tick")) > count, 10, "calls after resume")


def test_kubectl_jobs_appear_and_inexpressible_ones_do_not(
    cluster: Cluster, namespace: str, client: httpx.Client
) -> None:
    apply(
        cluster,
        namespace,
        cronjobspec(
            "from-kubectl",
            {"cron": "0 9 * * 1-5", "timeZone": "Europe/London"},
            {"url": "http://127.0.0.1:9/x"},
        ),
        cronjobspec("interval", {"every": "30s"}, {"url": "http://127.0.0.1:9/y"}),
    )
    listed = wait_for(
        lambda: (r := client.get(BASE).json())["meta"]["total"] == 1 and r, 10, "the cron job listed"
    )
    item = listed["data"][0]
    assert item["frequency"] == "custom" and item["custom_schedule"] == "0 9 * * 1-5"
    assert item["timezone"] == "Europe/London" and item["method"] == "POST"
    interval_uid = get(cluster, namespace, "interval")["metadata"]["uid"].replace("-", "")
    envelope_error(client.get(f"{BASE}/crn_{interval_uid}"), 404, "not_found")


def test_patch_changes_only_what_a1base_expresses(
    cluster: Cluster, namespace: str, client: httpx.Client
) -> None:
    """Settings made with kubectl that this API cannot show survive a PATCH; a new body
    replaces the old one rather than merging into it."""
    job = client.post(BASE, json=example_create("http://127.0.0.1:9/x")).json()
    name = next(
        o["metadata"]["name"]
        for o in json.loads(cluster.kubectl_run("get", "cjs", "-n", namespace, "-o", "json").stdout)["items"]
    )
    merge_patch(
        cluster,
        namespace,
        name,
        {"spec": {"concurrencyPolicy": "Forbid", "retry": {"limit": 2}, "http": {"timeoutSeconds": 7}}},
    )
    patched = client.patch(f"{BASE}/{job['id']}", json={"time": "10:30", "body": {"action": "other"}})
    assert patched.status_code == 200, patched.text
    spec = get(cluster, namespace, name)["spec"]
    assert spec["concurrencyPolicy"] == "Forbid" and spec["retry"]["limit"] == 2
    assert spec["http"]["timeoutSeconds"] == 7
    assert spec["http"]["body"] == {"action": "other"}
    assert spec["schedule"]["time"] == "10:30"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"endpoint_url": "ftp://127.0.0.1/x"}, "endpoint_url"),
        ({"time": "25:00"}, "time"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"frequency": "weekly"}, "day_of_week"),
        ({"frequency": "monthly"}, "day_of_month"),
        ({"frequency": "monthly", "day_of_month": 32}, "day_of_month"),
        ({"frequency": "weekly", "day_of_week": 7}, "day_of_week"),
        ({"frequency": "custom"}, "custom_schedule"),
        ({"frequency": "custom", "custom_schedule": "not a cron"}, "custom_schedule"),
        ({"frequency": "hourly"}, "frequency"),
        ({"method": "FETCH"}, "method"),
        ({"headers": ["Authorization"]}, "headers"),
        ({"headers": {"X": 1}}, "headers.X"),
        ({"body": "text"}, "body"),
        ({"surprise": True}, "surprise"),
        ({"endpoint_url": None}, "endpoint_url"),
        ({"endpoint_url": "http://127.0.0.1:9/\u0000"}, "endpoint_url"),
        ({"body": {"blob": "x" * 70_000}}, "body"),
        ({"headers": {"X-Big": "y" * 10_000}}, "headers"),
        ({"headers": {"Bad Name": "x"}}, "headers"),
        ({"headers": {"X-Accent": "café"}}, "headers"),
        ({"endpoint_url": "http://:80/x"}, "endpoint_url"),
    ],
)
def test_validation_errors_name_the_field(client: httpx.Client, change: dict, field: str) -> None:
    body = {**example_create("http://127.0.0.1:9/hook"), **change}
    body = {k: v for k, v in body.items() if not (v is None and k != "endpoint_url")}
    error = envelope_error(client.post(BASE, json=body), 400, "validation_error")
    assert field in error["details"], error
    assert all(isinstance(m, str) for messages in error["details"].values() for m in messages)


def test_malformed_json_and_bad_queries_are_400(client: httpx.Client) -> None:
    error = envelope_error(
        client.post(BASE, content=b"{not json", headers={"Content-Type": "application/json"}),
        400,
        "validation_error",
    )
    assert "body" in error["details"]
    for params, field in [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"offset": -1}, "offset"),
        ({"limit": "many"}, "limit"),
        ({"status": "gone"}, "status"),
    ]:
        assert field in envelope_error(client.get(BASE, params=params), 400, "validation_error")["details"]


def test_pagination_edges(client: httpx.Client) -> None:
    ids = [client.post(BASE, json=example_create(f"http://127.0.0.1:9/{i}")).json()["id"] for i in range(5)]
    page = client.get(BASE, params={"limit": 2, "offset": 0}).json()
    assert page["meta"] == {"total": 5, "limit": 2, "offset": 0} and len(page["data"]) == 2
    seen = [
        j["id"]
        for off in (0, 2, 4)
        for j in client.get(BASE, params={"limit": 2, "offset": off}).json()["data"]
    ]
    assert sorted(seen) == sorted(ids), "pages cover every job exactly once"
    beyond = client.get(BASE, params={"offset": 10}).json()
    assert beyond == {"data": [], "meta": {"total": 5, "limit": 20, "offset": 10}}
    assert len(client.get(BASE, params={"limit": 100}).json()["data"]) == 5


def test_auth_tenancy_and_rate_limit(api: ApiProcess, cluster: Cluster, namespace: str) -> None:
    other = f"{namespace}-b"
    cluster.kubectl_run("create", "namespace", other)
    mine, theirs = api.new_key(namespace), api.new_key(other)
    with api.client(mine) as a, api.client(theirs) as b:
        job = a.post(BASE, json=example_create("http://127.0.0.1:9/hook")).json()
        envelope_error(b.get(f"{BASE}/{job['id']}"), 404, "not_found")
        envelope_error(b.delete(f"{BASE}/{job['id']}"), 404, "not_found")
        assert b.get(BASE).json()["meta"]["total"] == 0
        assert a.get(f"{BASE}/{job['id']}").status_code == 200, "the other tenant changed nothing"

    with api.client(None) as anonymous:
        envelope_error(anonymous.get(BASE), 401, "unauthorized")
    with api.client(mine[:-4] + "AAAA") as wrong:
        envelope_error(wrong.get(BASE), 401, "unauthorized")
    with api.client(api.new_key(namespace, ("read",))) as reader:
        assert reader.get(BASE).status_code == 200
        envelope_error(reader.post(BASE, json=example_create("http://127.0.0.1:9/hook")), 403, "forbidden")
    with api.client(api.new_key(namespace, rate_per_second=0.2, rate_burst=2)) as slow:
        assert [slow.get(BASE).status_code for _ in range(2)] == [200, 200]
        limited = slow.get(BASE)
        envelope_error(limited, 429, "rate_limited")
        assert int(limited.headers["Retry-After"]) >= 1


def test_openapi_and_health(api: ApiProcess) -> None:
    with httpx.Client(base_url=api.url) as anonymous:
        spec = anonymous.get("/openapi.json").json()
        assert {
            "/v1/cron-jobs",
            "/v1/cron-jobs/{cron_job_id}",
            "/v1/cron-jobs/{cron_job_id}/executions",
        } <= set(spec["paths"])
        assert anonymous.get("/docs").status_code == 200
        assert anonymous.get("/healthz").json() == {"ok": True}
