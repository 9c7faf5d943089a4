"""The cronpulse API (projects, jobs, heartbeat) over real HTTP, against the real control
plane and operator."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support.api_process import ApiProcess
from tests.support.cluster import Cluster
from tests.support.kubectl import apply, cronjobspec, get, wait_for
from tests.support.operator_process import OperatorProcess
from tests.support.receiver import Receiver, Reply

PROJECTS = "/api/v1/projects"
JOBS = "/api/v1/jobs"
ID = re.compile(r"cl[0-9a-f]{24}")
UTC_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z")


def example_job(url: str, project_id: str) -> dict:
    """The document's create example, its target moved to a loopback receiver."""
    return {
        "name": "Health Check",
        "projectId": project_id,
        "url": url,
        "method": "GET",
        "schedule": "*/5 * * * *",
        "heartbeat": True,
        "heartbeatTolerance": 5,
        "timeout": 30,
        "expectedStatusCode": 200,
        "headers": {"Authorization": "Bearer token"},
    }


@pytest.fixture
def client(api: ApiProcess, namespace: str) -> Iterator[httpx.Client]:
    with api.client(api.new_key(namespace), header="x-api-key") as c:
        yield c


@pytest.fixture
def project(client: httpx.Client, receiver: Receiver) -> dict:
    created = client.post(PROJECTS, json={"name": "My Project", "url": receiver.url("/home")})
    assert created.status_code == 201, created.text
    return created.json()


def _error(response: httpx.Response, status: int, *words: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"] and isinstance(body["error"], str), body
    for word in words:
        assert word in body["error"], (word, body)
    return body["error"]


def test_document_examples_round_trip(
    api: ApiProcess, cluster: Cluster, namespace: str, client: httpx.Client, receiver: Receiver, project: dict
) -> None:
    assert ID.fullmatch(project["id"]) and project["name"] == "My Project"
    assert project["url"] == receiver.url("/home") and project["jobs"] == []

    sent = example_job(receiver.url("/health"), project["id"])
    created = client.post(JOBS, json=sent)
    assert created.status_code == 201, created.text
    job = created.json()
    assert ID.fullmatch(job["id"])
    for field, value in sent.items():
        assert job[field] == value, field
    assert job["body"] is None and job["lastStatus"] is None and job["lastActivityAt"] is None
    assert UTC_TIME.fullmatch(job["nextRunAt"]) and int(job["nextRunAt"][14:16]) % 5 == 0

    # The resource: owned by its project, credentials in a Secret owned by the job.
    obj = get(cluster, namespace, job["id"])
    owner = obj["metadata"]["ownerReferences"][0]
    cron_project = get(cluster, namespace, project["id"], kind="cronproject")
    assert (owner["kind"], owner["name"], owner["uid"]) == (
        "CronProject",
        project["id"],
        cron_project["metadata"]["uid"],
    )
    assert cron_project["spec"] == {"displayName": "My Project", "url": receiver.url("/home")}
    assert obj["spec"]["heartbeat"] == {"toleranceSeconds": 300}
    assert obj["spec"]["http"]["timeoutSeconds"] == 30 and obj["spec"]["http"]["expectedStatusCodes"] == [200]
    assert "token" not in json.dumps(obj)
    secret_ref = obj["spec"]["http"]["headersFrom"][0]["secretKeyRef"]["name"]
    assert (
        get(cluster, namespace, secret_ref, kind="secret")["metadata"]["ownerReferences"][0]["uid"]
        == (obj["metadata"]["uid"])
    )

    assert client.get(f"{JOBS}/{job['id']}").json() == job
    assert client.get(JOBS, params={"projectId": project["id"]}).json() == [job]
    assert client.get(JOBS, params={"projectId": "cl000000000000000000000000"}).json() == []
    listed = client.get(PROJECTS).json()
    assert listed == [{**project, "jobs": [{"id": job["id"], "name": "Health Check", "lastStatus": None}]}]
    assert client.get(f"{PROJECTS}/{project['id']}").json() == listed[0]

    # The document's update example: only what is sent changes.
    update = {
        "name": "Updated Job Name",
        "url": receiver.url("/new-endpoint"),
        "schedule": "0 * * * *",
        "heartbeat": False,
        "timeout": 60,
    }
    updated = client.put(f"{JOBS}/{job['id']}", json=update)
    assert updated.status_code == 200, updated.text
    expected = {**job, **update, "nextRunAt": updated.json()["nextRunAt"]}
    assert updated.json() == expected
    assert updated.json()["nextRunAt"][14:19] == "00:00"
    assert client.get(f"{JOBS}/{job['id']}").json() == expected
    obj = get(cluster, namespace, job["id"])
    assert "heartbeat" not in obj["spec"] and obj["spec"]["http"]["headersFrom"]  # headers untouched
    assert client.put(f"{JOBS}/{job['id']}", json={"body": {"a": [1, 2]}}).json()["body"] == {"a": [1, 2]}
    assert client.put(f"{JOBS}/{job['id']}", json={"body": {"b": 1}}).json()["body"] == {"b": 1}
    renamed = client.put(f"{PROJECTS}/{project['id']}", json={"name": "Renamed"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Renamed", renamed.text
    assert renamed.json()["url"] == project["url"]

    # The same job in another dialect that can express it (a1base: a custom cron job).
    with api.client(api.new_key(namespace)) as a1base:
        seen = a1base.get(f"/v1/cron-jobs/crn_{obj['metadata']['uid'].replace('-', '')}").json()
    assert (seen["frequency"], seen["custom_schedule"], seen["endpoint_url"]) == (
        "custom",
        "0 * * * *",
        receiver.url("/new-endpoint"),
    )

    deleted = client.delete(f"{JOBS}/{job['id']}")
    assert deleted.status_code == 200 and deleted.json() == {"id": job["id"], "deleted": True}
    _error(client.get(f"{JOBS}/{job['id']}"), 404, "not found")
    assert cluster.kubectl_run("get", "secret", secret_ref, "-n", namespace, check=False).returncode != 0


def test_deleting_a_project_deletes_its_jobs_and_their_secrets(
    cluster: Cluster, namespace: str, client: httpx.Client, receiver: Receiver, project: dict
) -> None:
    other = client.post(PROJECTS, json={"name": "Other"}).json()
    assert other["url"] is None
    ids = [
        client.post(JOBS, json=example_job(receiver.url(f"/{i}"), project["id"])).json()["id"]
        for i in range(2)
    ]
    kept = client.post(JOBS, json=example_job(receiver.url("/kept"), other["id"])).json()["id"]
    secrets = [
        get(cluster, namespace, i)["spec"]["http"]["headersFrom"][0]["secretKeyRef"]["name"] for i in ids
    ]

    deleted = client.delete(f"{PROJECTS}/{project['id']}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"id": project["id"], "deleted": True, "deletedJobs": 2}
    for name in [*ids, *secrets]:
        kind = "secret" if name in secrets else "cronjobspec"
        assert cluster.kubectl_run("get", kind, name, "-n", namespace, check=False).returncode != 0, name
    assert (
        cluster.kubectl_run("get", "cronproject", project["id"], "-n", namespace, check=False).returncode != 0
    )
    _error(client.get(f"{PROJECTS}/{project['id']}"), 404, "not found")
    assert [j["id"] for j in client.get(JOBS).json()] == [kept]
    assert [p["id"] for p in client.get(PROJECTS).json()] == [other["id"]]


def test_runs_reach_the_target_and_show_in_the_view(
    client: httpx.Client, receiver: Receiver, project: dict, operator: OperatorProcess
) -> None:
    receiver.script("/created", default=Reply(status=201))
    ok = client.post(
        JOBS, json={**example_job(receiver.url("/ok"), project["id"]), "schedule": "*/2 * * * * *"}
    ).json()
    wrong = client.post(
        JOBS,
        json={
            **example_job(receiver.url("/created"), project["id"]),
            "schedule": "*/2 * * * * *",
            "heartbeat": False,
        },
    ).json()
    wait_for(lambda: receiver.at("/ok") and receiver.at("/created"), 30, "both targets called")
    assert receiver.at("/ok")[0].method == "GET"
    assert receiver.at("/ok")[0].headers["authorization"] == "Bearer token"
    seen = wait_for(
        lambda: (j := client.get(f"{JOBS}/{ok['id']}").json())["lastStatus"] and j, 30, "a result"
    )
    assert seen["lastStatus"] == "success" and UTC_TIME.fullmatch(seen["lastActivityAt"])
    failed = wait_for(
        lambda: (j := client.get(f"{JOBS}/{wrong['id']}").json())["lastStatus"] and j, 30, "a result"
    )
    assert failed["lastStatus"] == "failed"  # 201 is not the expected 200
    statuses = {j["id"]: j["lastStatus"] for j in client.get(PROJECTS).json()[0]["jobs"]}
    assert statuses == {ok["id"]: "success", wrong["id"]: "failed"}


def test_heartbeat_goes_down_and_a_ping_clears_it(
    cluster: Cluster,
    namespace: str,
    client: httpx.Client,
    receiver: Receiver,
    project: dict,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    start_operator(extra=("--heartbeat-interval", "0.5"))
    receiver.script("/broken", default=Reply(status=500))
    # Due once, a few seconds from now (then next year): the run fails, nothing else is due.
    due = datetime.now(UTC) + timedelta(seconds=8)
    once = f"{due.second} {due.minute} {due.hour} {due.day} {due.month} *"
    job = client.post(
        JOBS,
        json={
            **example_job(receiver.url("/broken"), project["id"]),
            "schedule": once,
            "heartbeatTolerance": 0,
        },
    ).json()
    assert job["lastStatus"] is None
    wait_for(lambda: client.get(f"{JOBS}/{job['id']}").json()["lastStatus"] == "down", 30, "lastStatus down")
    assert receiver.at("/broken"), "the run happened and failed"
    listed = client.get(f"{PROJECTS}/{project['id']}").json()["jobs"]
    assert listed == [{"id": job["id"], "name": "Health Check", "lastStatus": "down"}]
    generation = get(cluster, namespace, job["id"])["metadata"]["generation"]

    pinged = client.post(f"{JOBS}/{job['id']}/ping")
    assert pinged.status_code == 200, pinged.text
    stamp = pinged.json()["lastActivityAt"]
    assert UTC_TIME.fullmatch(stamp)
    obj = get(cluster, namespace, job["id"])
    assert obj["metadata"]["annotations"]["cronwright.io/last-ping"] == stamp
    assert obj["metadata"]["generation"] == generation  # metadata only: no spec change, no drift
    cleared = wait_for(
        lambda: (j := client.get(f"{JOBS}/{job['id']}").json())["lastStatus"] == "success" and j,
        20,
        "the ping to clear Down",
    )
    assert cleared["lastActivityAt"] == stamp
    assert (get(cluster, namespace, job["id"])["status"]["heartbeat"]["state"]) == "Up"
    _error(client.post(f"{JOBS}/cl000000000000000000000000/ping"), 404, "not found")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"name": None}, ["name"]),
        ({"projectId": "missing"}, ["projectId"]),
        ({"url": "ftp://127.0.0.1/x"}, ["url"]),
        ({"method": "FETCH"}, ["method"]),
        ({"schedule": "61 * * * *"}, ["schedule"]),
        ({"heartbeatTolerance": -1}, ["heartbeatTolerance"]),
        ({"timeout": 0}, ["timeout"]),
        ({"expectedStatusCode": 99}, ["expectedStatusCode"]),
        ({"headers": {"Bad Name": "x"}}, ["headers"]),
        ({"headers": {"X-A": "1", "x-a": "2"}}, ["headers", "twice"]),
        ({"name": "  "}, ["name", "blank"]),
        ({"color": "blue"}, ["color", "Unknown field"]),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    client: httpx.Client, receiver: Receiver, project: dict, change: dict, words: list[str]
) -> None:
    body = {**example_job(receiver.url("/x"), project["id"]), **change}
    body = {k: v for k, v in body.items() if v is not None}
    _error(client.post(JOBS, json=body), 400, *words)


def test_missing_fields_malformed_json_and_bad_updates(
    client: httpx.Client, receiver: Receiver, project: dict
) -> None:
    message = _error(client.post(JOBS, json={}), 400)
    for field in ("name", "projectId", "url", "method", "schedule"):
        assert field in message
    _error(client.post(JOBS, content=b"{", headers={"Content-Type": "application/json"}), 400, "JSON")
    _error(client.post(PROJECTS, json={"name": "x", "url": "not a url"}), 400, "url")
    _error(client.post(PROJECTS, json={"name": ""}), 400, "name")
    job = client.post(JOBS, json=example_job(receiver.url("/x"), project["id"])).json()
    _error(client.put(f"{JOBS}/{job['id']}", json={"schedule": None}), 400, "schedule", "null")
    _error(client.put(f"{JOBS}/{job['id']}", json={"projectId": "nope"}), 400, "projectId")
    _error(client.put(f"{JOBS}/nope", json={"name": "x"}), 404, "not found")
    _error(client.put(f"{PROJECTS}/nope", json={"name": "x"}), 404, "not found")
    _error(client.delete(f"{PROJECTS}/Not_A_Name"), 404, "not found")


def test_permissions_tenancy_and_generic_scopes(
    api: ApiProcess, cluster: Cluster, namespace: str, receiver: Receiver
) -> None:
    def as_key(*scopes: str, ns: str = namespace) -> httpx.Client:
        return api.client(api.new_key(ns, scopes), header="x-api-key")

    with api.client(None) as anonymous:
        _error(anonymous.get(JOBS), 401, "API key")
    with api.client(api.new_key(namespace)) as bearer_only:  # the key in the wrong header
        _error(bearer_only.get(JOBS), 401)
    with api.client("cwk_000000000000_" + "A" * 43, header="x-api-key") as wrong:
        _error(wrong.get(PROJECTS), 401)

    with as_key("write:projects") as admin:
        project = admin.post(PROJECTS, json={"name": "P"}).json()
        _error(admin.get(PROJECTS), 403, "read:projects")
        _error(admin.post(JOBS, json=example_job(receiver.url("/x"), project["id"])), 403, "write:jobs")
    with as_key("write:jobs") as writer:
        job = writer.post(JOBS, json=example_job(receiver.url("/x"), project["id"]))
        assert job.status_code == 201, job.text
        _error(writer.get(JOBS), 403, "read:jobs")
        _error(writer.delete(f"{PROJECTS}/{project['id']}"), 403, "write:projects")
    with as_key("read:jobs") as reader:
        assert [j["id"] for j in reader.get(JOBS).json()] == [job.json()["id"]]
        _error(reader.get(PROJECTS), 403, "read:projects")
        _error(reader.post(f"{JOBS}/{job.json()['id']}/ping"), 403, "write:jobs")
    with as_key("read") as generic:
        assert generic.get(JOBS).status_code == 200 and generic.get(PROJECTS).status_code == 200
        _error(generic.post(PROJECTS, json={"name": "Q"}), 403, "write:projects")
    with as_key("*") as everything:
        assert everything.post(PROJECTS, json={"name": "Q"}).status_code == 201

    other = "t-other-" + namespace[2:]
    cluster.kubectl_run("create", "namespace", other)
    with as_key("*", ns=other) as stranger:
        _error(stranger.get(f"{JOBS}/{job.json()['id']}"), 404, "not found")
        _error(stranger.get(f"{PROJECTS}/{project['id']}"), 404, "not found")
        assert stranger.get(JOBS).json() == [] and stranger.get(PROJECTS).json() == []


def test_cli_makes_keys_with_cronpulse_permissions(api: ApiProcess, namespace: str) -> None:
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "cronwright.cli",
            "apikey",
            "create",
            f"--kubeconfig={api.kubeconfig}",
            f"--keys-namespace={api.keys_namespace}",
            f"--namespace={namespace}",
            "--scope=read:projects",
            "--scope=write:projects",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "read:projects,write:projects" in made.stderr
    with api.client(made.stdout.strip(), header="x-api-key") as client:
        assert client.post(PROJECTS, json={"name": "From the CLI"}).status_code == 201
        assert [p["name"] for p in client.get(PROJECTS).json()] == ["From the CLI"]
        _error(client.get(JOBS), 403, "read:jobs")


def test_kubectl_jobs_show_when_expressible(
    cluster: Cluster, namespace: str, client: httpx.Client, receiver: Receiver, project: dict
) -> None:
    cron_project = get(cluster, namespace, project["id"], kind="cronproject")
    owner = {
        "apiVersion": "cronwright.io/v1alpha1",
        "kind": "CronProject",
        "name": project["id"],
        "uid": cron_project["metadata"]["uid"],
    }
    owned = cronjobspec(
        "owned", {"cron": "0 9 * * *", "timeZone": "Europe/Paris"}, {"url": receiver.url("/k")}
    )
    owned["metadata"]["ownerReferences"] = [owner]
    daily = cronjobspec("daily", {"frequency": "daily", "time": "09:00"}, {"url": receiver.url("/d")})
    daily["metadata"]["ownerReferences"] = [owner]
    loose = cronjobspec("loose", {"cron": "* * * * *"}, {"url": receiver.url("/l")})
    apply(cluster, namespace, owned, daily, loose)

    listed = wait_for(lambda: client.get(JOBS).json(), 20, "the kubectl job")
    assert [j["id"] for j in listed] == ["owned"]
    job = listed[0]
    assert (job["name"], job["projectId"], job["method"], job["expectedStatusCode"]) == (
        "owned",
        project["id"],
        "POST",
        None,
    )
    assert job["nextRunAt"][11:16] in ("07:00", "08:00")  # 09:00 in Paris
    _error(client.get(f"{JOBS}/loose"), 404)
    _error(client.get(f"{JOBS}/daily"), 404)
    # An update keeps what the document cannot say (the time zone) and what it did not send.
    updated = client.put(f"{JOBS}/owned", json={"schedule": "0 10 * * *"}).json()
    assert updated["nextRunAt"][11:16] in ("08:00", "09:00")
    assert get(cluster, namespace, "owned")["spec"]["schedule"] == {
        "cron": "0 10 * * *",
        "timeZone": "Europe/Paris",
    }


def test_openapi_declares_the_cronpulse_errors(api: ApiProcess) -> None:
    spec = httpx.get(f"{api.url}/openapi.json").json()
    paths = [p for p in spec["paths"] if p.startswith(("/api/v1/projects", "/api/v1/jobs"))]
    assert len(paths) == 5
    for path in paths:
        for method, operation in spec["paths"][path].items():
            for code in ("400", "401", "403", "404"):
                schema = operation["responses"][code]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/CronpulseError"}, (method, path, code)
    assert spec["components"]["schemas"]["CronpulseError"]["properties"]["error"]["type"] == "string"
