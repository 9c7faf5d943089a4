"""The cron-registry API over real HTTP, against the real control plane and operator.

The facade runs with a settings file whose handlers point at a loopback receiver, so runs
started by the schedule or by a trigger really reach it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.api_process import ApiProcess, envelope_error
from tests.support.cluster import Cluster
from tests.support.kubectl import apply, cronjobspec, get, merge_patch, status, wait_for
from tests.support.operator_process import OperatorProcess
from tests.support.receiver import Receiver, Reply

BASE = "/api/v1/cron/jobs"
UTC_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
SLOW_SECONDS = 6
# The document's register example.
EXAMPLE = {
    "name": "Daily Reminder Check",
    "schedule": "0 8 * * *",
    "handler": "reminder_scheduler",
    "enabled": True,
}


@pytest.fixture(scope="module")
def handler_receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    server.script("/slow", default=Reply(delay=SLOW_SECONDS))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def registry_api(
    cluster: Cluster, handler_receiver: Receiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiProcess]:
    folder = tmp_path_factory.mktemp("registry")
    settings = {
        "handlers": {
            "reminder_scheduler": {"http": {"url": handler_receiver.url("/remind"), "method": "POST"}},
            "slow_task": {"http": {"url": handler_receiver.url("/slow"), "timeoutSeconds": 60}},
            "nightly_report": {"workflow": {"templateRef": {"name": "nightly-report"}}},
        }
    }
    path: Path = folder / "settings.yaml"
    path.write_text(yaml.safe_dump(settings))
    process = ApiProcess(
        cluster.kubeconfig, "cronwright-keys", folder / "api.log", extra=("--config", str(path))
    )
    yield process.start()
    process.stop()


@pytest.fixture
def client(registry_api: ApiProcess, namespace: str) -> Iterator[httpx.Client]:
    with registry_api.client(registry_api.new_key(namespace)) as c:
        yield c


def test_document_examples(cluster: Cluster, namespace: str, client: httpx.Client) -> None:
    created = client.post(BASE, json=EXAMPLE)
    assert created.status_code == 201, created.text
    job = created.json()
    assert re.fullmatch(r"job_daily_reminder_check_[0-9a-f]{6}", job["job_id"])
    assert (job["name"], job["schedule"], job["status"]) == ("Daily Reminder Check", "0 8 * * *", "active")
    assert UTC_TIME.match(job["created_at"])

    # The handler is expanded into the resource; its name is kept beside it.
    resource = get(cluster, namespace, job["job_id"].replace("_", "-"))
    assert resource["spec"]["http"]["url"].endswith("/remind")
    assert resource["metadata"]["annotations"]["cron-registry.cronwright.io/handler"] == "reminder_scheduler"
    assert resource["spec"]["schedule"] == {"cron": "0 8 * * *", "timeZone": "UTC"}

    listed = client.get(BASE).json()
    assert listed["pagination"] == {"page": 1, "limit": 20, "total": 1}
    item = listed["data"][0]
    assert {k: item[k] for k in ("job_id", "name", "schedule", "status")} == {
        k: job[k] for k in ("job_id", "name", "schedule", "status")
    }
    assert item["last_triggered_at"] is None and item["next_trigger_at"][11:] == "08:00:00Z"

    detail = client.get(f"{BASE}/{job['job_id']}").json()
    assert detail["lock_acquired"] is False and detail["last_run_duration_ms"] is None
    assert detail["next_trigger_at"][11:] == "08:00:00Z" and detail["handler"] == "reminder_scheduler"

    updated = client.put(f"{BASE}/{job['job_id']}", json={"schedule": "0 7 * * *", "enabled": True})
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert (body["job_id"], body["schedule"], body["status"]) == (job["job_id"], "0 7 * * *", "active")
    assert UTC_TIME.match(body["updated_at"])
    assert client.get(f"{BASE}/{job['job_id']}").json()["next_trigger_at"][11:] == "07:00:00Z"

    disabled = client.put(f"{BASE}/{job['job_id']}", json={"enabled": False}).json()
    assert disabled["status"] == "disabled" and disabled["schedule"] == "0 7 * * *"
    assert get(cluster, namespace, resource["metadata"]["name"])["spec"]["suspend"] is True
    assert client.get(f"{BASE}/{job['job_id']}").json()["next_trigger_at"] is None

    retargeted = client.put(f"{BASE}/{job['job_id']}", json={"handler": "nightly_report"}).json()
    assert retargeted["handler"] == "nightly_report"
    spec = get(cluster, namespace, resource["metadata"]["name"])["spec"]
    assert "http" not in spec and spec["workflow"]["templateRef"]["name"] == "nightly-report"

    deleted = client.delete(f"{BASE}/{job['job_id']}")
    assert deleted.json() == {"deleted": True, "job_id": job["job_id"]}
    envelope_error(client.get(f"{BASE}/{job['job_id']}"), 404, "not_found")
    envelope_error(client.post(f"{BASE}/{job['job_id']}/trigger"), 404, "not_found")
    assert client.get(BASE).json()["pagination"]["total"] == 0


def test_scheduled_runs_reach_the_handler_and_show_in_the_view(
    cluster: Cluster,
    namespace: str,
    client: httpx.Client,
    handler_receiver: Receiver,
    operator: OperatorProcess,
) -> None:
    before = len(handler_receiver.at("/remind"))
    job = client.post(BASE, json={**EXAMPLE, "schedule": "*/2 * * * * *"}).json()
    name = job["job_id"].replace("_", "-")
    wait_for(lambda: len(handler_receiver.at("/remind")) >= before + 2, 30, "scheduled calls")
    detail = wait_for(
        lambda: (d := client.get(f"{BASE}/{job['job_id']}").json())["last_triggered_at"] and d, 15, "a result"
    )
    assert UTC_TIME.match(detail["last_triggered_at"]) and isinstance(detail["last_run_duration_ms"], int)
    assert detail["status"] == "active" and UTC_TIME.match(detail["next_trigger_at"])

    # Disabled, it runs only when triggered.
    assert client.put(f"{BASE}/{job['job_id']}", json={"enabled": False}).json()["status"] == "disabled"
    time.sleep(3)  # what was claimed before disabling lands
    idle = len(handler_receiver.at("/remind"))
    triggered = client.post(f"{BASE}/{job['job_id']}/trigger").json()
    assert triggered["lock_acquired"] is True
    wait_for(lambda: len(handler_receiver.at("/remind")) == idle + 1, 20, "the triggered call")
    run_id = triggered["run_id"].removeprefix("run_")
    last = wait_for(
        lambda: (r := status(cluster, namespace, name).get("lastRun") or {}).get("id") == run_id and r,
        15,
        "result",
    )
    assert last["trigger"] == "manual" and last["result"] == "Succeeded"
    time.sleep(3)
    assert len(handler_receiver.at("/remind")) == idle + 1, "no scheduled call while disabled"


def test_trigger_runs_now_and_forbid_refuses_a_second_run_in_flight(
    cluster: Cluster,
    namespace: str,
    client: httpx.Client,
    handler_receiver: Receiver,
    operator: OperatorProcess,
) -> None:
    job = client.post(BASE, json={"name": "Slow", "schedule": "0 0 1 1 *", "handler": "slow_task"}).json()
    name = job["job_id"].replace("_", "-")
    merge_patch(cluster, namespace, name, {"spec": {"concurrencyPolicy": "Forbid"}})
    wait_for(
        lambda: get(cluster, namespace, name)["spec"]["concurrencyPolicy"] == "Forbid", 10, "Forbid applied"
    )
    wait_for(lambda: client.get(f"{BASE}/{job['job_id']}").json()["job_id"], 10, "the job readable")
    before = len(handler_receiver.at("/slow"))

    first = client.post(f"{BASE}/{job['job_id']}/trigger")
    assert first.status_code == 200, first.text
    run = first.json()
    assert (
        run["job_id"] == job["job_id"]
        and run["lock_acquired"] is True
        and UTC_TIME.match(run["triggered_at"])
    )
    assert re.fullmatch(r"run_[0-9a-f]{16}", run["run_id"])

    wait_for(lambda: len(handler_receiver.at("/slow")) > before, 20, "the triggered call in flight")
    assert client.get(f"{BASE}/{job['job_id']}").json()["lock_acquired"] is True
    second = client.post(f"{BASE}/{job['job_id']}/trigger").json()
    assert second["lock_acquired"] is False and second["run_id"] is None

    done = wait_for(
        lambda: (
            status(cluster, namespace, name).get("lastRun", {}).get("result") == "Succeeded"
            and status(cluster, namespace, name)
        ),
        SLOW_SECONDS + 20,
        "the triggered run's result",
    )
    assert done["lastRun"]["id"] == run["run_id"].removeprefix("run_")
    assert [h["id"] for h in done["history"]] == [done["lastRun"]["id"]], "no second run was started"
    assert len(handler_receiver.at("/slow")) == before + 1
    detail = client.get(f"{BASE}/{job['job_id']}").json()
    assert detail["lock_acquired"] is False and detail["last_run_duration_ms"] >= SLOW_SECONDS * 1000 - 500

    again = client.post(f"{BASE}/{job['job_id']}/trigger").json()
    assert again["lock_acquired"] is True and again["run_id"] != run["run_id"]
    wait_for(lambda: len(handler_receiver.at("/slow")) == before + 2, 20, "the next triggered call")


def test_kubectl_jobs_appear_and_inexpressible_ones_do_not(
    cluster: Cluster, namespace: str, client: httpx.Client
) -> None:
    apply(
        cluster,
        namespace,
        cronjobspec("from-kubectl", {"cron": "*/5 * * * *"}, {"url": "http://127.0.0.1:9/x"}),
        cronjobspec(
            "new-york", {"cron": "0 9 * * *", "timeZone": "America/New_York"}, {"url": "http://127.0.0.1:9/y"}
        ),
        cronjobspec("interval", {"every": "30s"}, {"url": "http://127.0.0.1:9/z"}),
    )
    listed = wait_for(lambda: (r := client.get(BASE).json())["data"] and r, 10, "the kubectl job listed")
    assert listed["pagination"]["total"] == 1
    item = listed["data"][0]
    assert item == {**item, "job_id": "from_kubectl", "name": "from-kubectl", "schedule": "*/5 * * * *"}
    assert item["handler"] is None
    envelope_error(client.get(f"{BASE}/interval"), 404, "not_found")
    envelope_error(client.get(f"{BASE}/new_york"), 404, "not_found")
    envelope_error(client.get(f"{BASE}/from-kubectl"), 404, "not_found")
    kept = client.put(f"{BASE}/from_kubectl", json={"schedule": "*/10 * * * *"})
    assert kept.status_code == 200, kept.text
    spec = get(cluster, namespace, "from-kubectl")["spec"]
    assert spec["http"]["url"] == "http://127.0.0.1:9/x" and spec["schedule"]["cron"] == "*/10 * * * *"


def test_pagination(client: httpx.Client) -> None:
    ids = [client.post(BASE, json={**EXAMPLE, "name": f"Job {i}"}).json()["job_id"] for i in range(5)]
    page = client.get(BASE, params={"page": 1, "limit": 2}).json()
    assert page["pagination"] == {"page": 1, "limit": 2, "total": 5} and len(page["data"]) == 2
    seen = [
        j["job_id"]
        for p in (1, 2, 3)
        for j in client.get(BASE, params={"page": p, "limit": 2}).json()["data"]
    ]
    assert sorted(seen) == sorted(ids), "pages cover every job exactly once"
    assert client.get(BASE, params={"page": 9}).json() == {
        "data": [],
        "pagination": {"page": 9, "limit": 20, "total": 5},
    }


@pytest.mark.parametrize(
    ("sent", "field"),
    [
        ({**EXAMPLE, "handler": "no_such_handler"}, "handler"),
        ({**EXAMPLE, "schedule": "every morning"}, "schedule"),
        ({**EXAMPLE, "schedule": ""}, "schedule"),
        ({**EXAMPLE, "enabled": "sometimes"}, "enabled"),
        ({**EXAMPLE, "name": ""}, "name"),
        ({**EXAMPLE, "name": "line\nbreak"}, "name"),
        ({k: v for k, v in EXAMPLE.items() if k != "handler"}, "handler"),
        ({**EXAMPLE, "surprise": 1}, "surprise"),
    ],
)
def test_invalid_requests_are_400_naming_the_field(client: httpx.Client, sent: dict, field: str) -> None:
    error = envelope_error(client.post(BASE, json=sent), 400, "validation_error")
    assert field in error["details"], error


def test_invalid_updates_and_queries(client: httpx.Client) -> None:
    job = client.post(BASE, json=EXAMPLE).json()
    for change, field in [
        ({"handler": "no_such_handler"}, "handler"),
        ({"schedule": "61 * * * *"}, "schedule"),
        ({"enabled": None}, "enabled"),
    ]:
        error = envelope_error(client.put(f"{BASE}/{job['job_id']}", json=change), 400, "validation_error")
        assert field in error["details"], error
    assert client.get(f"{BASE}/{job['job_id']}").json()["schedule"] == "0 8 * * *", "nothing changed"
    for params, field in [({"page": 0}, "page"), ({"limit": 101}, "limit"), ({"limit": "all"}, "limit")]:
        assert field in envelope_error(client.get(BASE, params=params), 400, "validation_error")["details"]
    error = envelope_error(
        client.post(BASE, content=b"{not json", headers={"Content-Type": "application/json"}),
        400,
        "validation_error",
    )
    assert "body" in error["details"]


def test_auth_and_tenancy(registry_api: ApiProcess, cluster: Cluster, namespace: str) -> None:
    other = f"{namespace}-b"
    cluster.kubectl_run("create", "namespace", other)
    with registry_api.client(registry_api.new_key(namespace)) as mine:
        job = mine.post(BASE, json=EXAMPLE).json()
    with registry_api.client(registry_api.new_key(other)) as theirs:
        envelope_error(theirs.get(f"{BASE}/{job['job_id']}"), 404, "not_found")
        envelope_error(theirs.post(f"{BASE}/{job['job_id']}/trigger"), 404, "not_found")
        assert theirs.get(BASE).json()["pagination"]["total"] == 0
    with registry_api.client(None) as anonymous:
        envelope_error(anonymous.get(BASE), 401, "unauthorized")
    with registry_api.client(registry_api.new_key(namespace, ("read",))) as reader:
        assert reader.get(f"{BASE}/{job['job_id']}").status_code == 200
        envelope_error(reader.post(f"{BASE}/{job['job_id']}/trigger"), 403, "forbidden")
        envelope_error(reader.delete(f"{BASE}/{job['job_id']}"), 403, "forbidden")


def test_jobs_of_other_dialects_show_up_when_expressible(client: httpx.Client) -> None:
    """One resource, several views: what a1base or agent-schedules made is a registry job too."""
    a1base = client.post(
        "/v1/cron-jobs",
        json={
            "endpoint_url": "http://127.0.0.1:9/a",
            "frequency": "custom",
            "custom_schedule": "0 6 * * *",
            "method": "POST",
        },
    )
    assert a1base.status_code == 201, a1base.text
    daily = client.post(
        "/v1/cron-jobs",
        json={"endpoint_url": "http://127.0.0.1:9/b", "frequency": "daily", "time": "06:00", "method": "GET"},
    )
    assert daily.status_code == 201, daily.text
    agent = client.post(
        "/api/agents/agent-1/schedules",
        json={"name": "Sync", "type": "cron", "cron_expression": "0 * * * *", "callback_id": "sync-workflow"},
    )
    assert agent.status_code == 201, agent.text
    registered = client.post(BASE, json=EXAMPLE).json()

    listed = {j["job_id"]: j for j in client.get(BASE).json()["data"]}
    assert len(listed) == 3, "the daily preset has no cron string: left out"
    assert listed[agent.json()["id"].replace("-", "_")]["schedule"] == "0 * * * *"
    assert any(j["schedule"] == "0 6 * * *" and j["handler"] is None for j in listed.values())
    assert listed[registered["job_id"]]["handler"] == "reminder_scheduler"
    in_a1base = client.get("/v1/cron-jobs").json()["data"]
    assert any(j["custom_schedule"] == "0 8 * * *" for j in in_a1base), (
        "a registry job is an a1base custom job"
    )
