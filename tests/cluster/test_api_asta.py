"""The asta cron API over real HTTP, against the real control plane (and operator where a run
must happen). Channels are named in a settings file and point at a loopback receiver."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.api_process import ApiProcess
from tests.support.cluster import Cluster
from tests.support.kubectl import apply, cronjobspec, get, wait_for
from tests.support.operator_process import OperatorProcess
from tests.support.receiver import Receiver

BASE = "/api/cron"
UTC_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
DOCUMENTED = {
    "id": int,
    "user_id": str,
    "name": str,
    "cron_expr": str,
    "tz": str,
    "message": str,
    "enabled": bool,
    "channel": str,
    "channel_target": str,
    "payload_kind": str,
    "tlg_call": bool,
    "created_at": str,
}
EXAMPLE = {
    "name": "daily-standup",
    "cron_expr": "0 9 * * 1-5",
    "message": "Generate daily standup report",
    "tz": "America/New_York",
    "channel": "web",
    "payload_kind": "agentturn",
    "tlg_call": True,
}


@pytest.fixture(scope="module")
def inbox() -> Iterator[Receiver]:
    """The channels' receiver, shared by the module's facades."""
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def settings_file(inbox: Receiver, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("asta") / "settings.yaml"
    channels = {
        "web": {"url": inbox.url("/inbox")},
        "telegram": {"url": inbox.url("/telegram"), "headers": {"X-Channel": "telegram"}},
    }
    path.write_text(json.dumps({"channels": channels}))
    return path


def _facade(cluster: Cluster, settings_file: Path, log: Path) -> ApiProcess:
    return ApiProcess(cluster.kubeconfig, "cronwright-keys", log, extra=("--config", str(settings_file)))


@pytest.fixture(scope="module")
def facades(
    cluster: Cluster, settings_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[ApiProcess]]:
    """Two replicas of the facade over the same API server, as a Deployment with 2 replicas."""
    logs = tmp_path_factory.mktemp("asta-logs")
    started = [_facade(cluster, settings_file, logs / f"api-{i}.log").start() for i in range(2)]
    yield started
    for process in started:
        process.stop()


@pytest.fixture
def asta(facades: list[ApiProcess]) -> ApiProcess:
    return facades[0]


@pytest.fixture
def client(asta: ApiProcess, namespace: str) -> Iterator[httpx.Client]:
    with asta.client(asta.new_key(namespace)) as c:
        yield c


def _error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["ok"] is False and body["code"] == code, body
    assert isinstance(body["error"], str) and body["detail"] == body["error"]
    return body


def test_document_examples_round_trip(cluster: Cluster, namespace: str, client: httpx.Client) -> None:
    created = client.post(BASE, json=EXAMPLE)
    assert created.status_code == 200, created.text
    job = created.json()
    assert job == {"id": job["id"], "name": "daily-standup", "cron_expr": "0 9 * * 1-5"}
    assert isinstance(job["id"], int) and job["id"] >= 1

    listed = client.get(BASE).json()
    assert list(listed) == ["cron_jobs"] and len(listed["cron_jobs"]) == 1
    item = listed["cron_jobs"][0]
    for field, kind in DOCUMENTED.items():
        assert isinstance(item[field], kind), field
    assert {k: item[k] for k in EXAMPLE} == EXAMPLE
    assert item["id"] == job["id"] and item["user_id"] == namespace
    assert item["enabled"] is True and item["channel_target"] == ""
    assert UTC_STAMP.match(item["created_at"]) and UTC_STAMP.match(item["next_run_at"])
    assert item["last_run_at"] is None and item["last_run_status"] is None
    assert client.get(f"{BASE}/{job['id']}").json() == item

    updated = client.put(f"{BASE}/{job['id']}", json={"cron_expr": "0 10 * * 1-5", "enabled": True})
    assert updated.status_code == 200, updated.text
    assert updated.json() == {
        "ok": True,
        "id": job["id"],
        "name": "daily-standup",
        "cron_expr": "0 10 * * 1-5",
        "tz": "America/New_York",
    }
    after = client.get(BASE).json()["cron_jobs"][0]
    assert after["cron_expr"] == "0 10 * * 1-5" and after["message"] == EXAMPLE["message"]

    resource = get(cluster, namespace, f"asta-{job['id']}")
    assert resource["spec"]["schedule"] == {"cron": "0 10 * * 1-5", "timeZone": "America/New_York"}
    assert resource["spec"]["http"]["url"].endswith("/inbox")
    assert resource["metadata"]["labels"]["cronwright.io/dialect"] == "asta"

    deleted = client.delete(f"{BASE}/{job['id']}")
    assert deleted.status_code == 200 and deleted.json() == {"ok": True, "id": job["id"]}
    assert client.get(BASE).json() == {"cron_jobs": []}
    _error(client.get(f"{BASE}/{job['id']}"), 404, "not_found")
    _error(client.delete(f"{BASE}/{job['id']}"), 404, "not_found")
    assert cluster.kubectl_run("get", "cjs", "-n", namespace, "-o", "name").stdout.strip() == ""


def test_every_update_field_and_the_channel_change(
    cluster: Cluster, namespace: str, client: httpx.Client
) -> None:
    job = client.post(BASE, json={"name": "n1", "cron_expr": "*/15 * * * *", "message": "hi"}).json()
    item = client.get(f"{BASE}/{job['id']}").json()
    assert (item["tz"], item["channel"], item["payload_kind"], item["tlg_call"]) == (
        "UTC",
        "web",
        "agentturn",
        True,
    )
    change = {
        "name": "n2",
        "cron_expr": "30 14 * * *",
        "tz": "America/Los_Angeles",
        "message": "bye",
        "enabled": False,
        "payload_kind": "apicall",
        "tlg_call": False,
        "channel": "telegram",
        "channel_target": "-100123",
    }
    assert client.put(f"{BASE}/{job['id']}", json=change).json()["ok"] is True
    item = client.get(f"{BASE}/{job['id']}").json()
    assert {k: item[k] for k in change} == change
    assert item["next_run_at"] is None, "a disabled job has no next run"
    http = get(cluster, namespace, f"asta-{job['id']}")["spec"]["http"]
    assert http["url"].endswith("/telegram") and http["headers"] == {"X-Channel": "telegram"}
    assert http["body"]["message"] == "bye" and http["body"]["channel_target"] == "-100123"
    assert get(cluster, namespace, f"asta-{job['id']}")["spec"]["suspend"] is True

    # A client sending back the job as it read it (with the read-only fields) is understood.
    assert client.put(f"{BASE}/{job['id']}", json={**item, "enabled": True}).status_code == 200
    assert client.get(f"{BASE}/{job['id']}").json()["enabled"] is True


def test_a_run_reaches_the_channel_and_shows_in_the_list(
    namespace: str, client: httpx.Client, inbox: Receiver, start_operator
) -> None:
    operator: OperatorProcess = start_operator()
    sent = {
        "name": f"every-minute-{namespace}",
        "cron_expr": "* * * * *",
        "message": f"ping from {namespace}",
        "channel": "telegram",
        "channel_target": "chat-42",
        "tlg_call": False,
    }
    job = client.post(BASE, json=sent).json()

    def delivered() -> list:
        return [r for r in inbox.at("/telegram") if r.json().get("user_id") == namespace]

    arrived = wait_for(delivered, 90, "a run at the telegram channel")[0]
    assert arrived.method == "POST" and arrived.headers["x-channel"] == "telegram"
    assert arrived.json() == {
        "job_id": job["id"],
        "user_id": namespace,
        "name": sent["name"],
        "message": sent["message"],
        "channel": "telegram",
        "channel_target": "chat-42",
        "payload_kind": "agentturn",
        "tlg_call": False,
    }
    item = wait_for(
        lambda: (i := client.get(BASE).json()["cron_jobs"][0])["last_run_status"] == "success" and i,
        30,
        "the run's result in the list",
    )
    assert UTC_STAMP.match(item["last_run_at"])
    assert operator.popen.poll() is None


def test_concurrent_creates_on_two_replicas_get_distinct_ids(
    facades: list[ApiProcess], namespace: str
) -> None:
    key = facades[0].new_key(namespace, rate_per_second=1000.0, rate_burst=1000)
    clients = [f.client(key) for f in facades]
    try:

        def create(i: int) -> httpx.Response:
            body = {"name": f"job-{i}", "cron_expr": "0 9 * * *", "message": f"m{i}"}
            return clients[i % 2].post(BASE, json=body, timeout=60)

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(create, range(32)))
        refused = [a.text for a in answers if a.status_code != 200]
        assert not refused, refused
        ids = [a.json()["id"] for a in answers]
        assert len(set(ids)) == 32, sorted(ids)
        listed = wait_for(
            lambda: len(j := clients[1].get(BASE).json()["cron_jobs"]) == 32 and j, 10, "all 32 listed"
        )
        assert [j["id"] for j in listed] == sorted(ids), "listed by id, each exactly once"
        assert {j["name"]: j["id"] for j in listed} == {f"job-{i}": ids[i] for i in range(32)}
    finally:
        for c in clients:
            c.close()


def test_concurrent_creates_of_one_name_let_exactly_one_through(
    facades: list[ApiProcess], namespace: str
) -> None:
    key = facades[0].new_key(namespace, rate_per_second=1000.0, rate_burst=1000)
    clients = [f.client(key) for f in facades]
    try:
        body = {"name": "only-once", "cron_expr": "0 9 * * *", "message": "m"}
        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(lambda i: clients[i % 2].post(BASE, json=body, timeout=60), range(12)))
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [200] + [409] * 11, [a.text for a in answers]
        for refused in (a for a in answers if a.status_code == 409):
            assert "name" in _error(refused, 409, "name_taken")["fields"]
        wait_for(lambda: len(clients[1].get(BASE).json()["cron_jobs"]) == 1, 10, "the one job listed")
        assert len(clients[0].get(BASE).json()["cron_jobs"]) == 1
    finally:
        for c in clients:
            c.close()


def test_names_are_unique_per_tenant_and_freed_by_rename_and_delete(
    asta: ApiProcess, cluster: Cluster, namespace: str, client: httpx.Client
) -> None:
    first = client.post(BASE, json=EXAMPLE).json()
    body = _error(client.post(BASE, json=EXAMPLE), 409, "name_taken")
    assert "daily-standup" in body["error"]
    other = client.post(BASE, json={**EXAMPLE, "name": "weekly"}).json()
    assert other["id"] > first["id"]
    _error(client.put(f"{BASE}/{other['id']}", json={"name": "daily-standup"}), 409, "name_taken")
    assert client.put(f"{BASE}/{other['id']}", json={"name": "weekly"}).status_code == 200, "its own name"

    assert client.put(f"{BASE}/{first['id']}", json={"name": "renamed"}).status_code == 200
    again = client.post(BASE, json=EXAMPLE)
    assert again.status_code == 200, "a rename frees the old name"
    assert client.delete(f"{BASE}/{again.json()['id']}").status_code == 200
    third = client.post(BASE, json=EXAMPLE)
    assert third.status_code == 200, "a delete frees the name"
    assert third.json()["id"] > again.json()["id"], "ids are never reused"

    # Another tenant has its own names and its own ids.
    other_ns = f"{namespace}-b"
    cluster.kubectl_run("create", "namespace", other_ns)
    with asta.client(asta.new_key(other_ns)) as theirs:
        assert theirs.post(BASE, json=EXAMPLE).json()["id"] == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": None}, "name"),
        ({"cron_expr": None}, "cron_expr"),
        ({"message": None}, "message"),
        ({"message": ""}, "message"),
        ({"cron_expr": "0 9 * *"}, "cron_expr"),
        ({"cron_expr": "0 0 9 * * 1-5"}, "cron_expr"),
        ({"cron_expr": "0 25 * * *"}, "cron_expr"),
        ({"tz": "Mars/Olympus_Mons"}, "tz"),
        ({"tz": ""}, "tz"),
        ({"channel": "pigeon"}, "channel"),
        ({"tlg_call": "yes"}, "tlg_call"),
        ({"enabled": 1}, "enabled"),
        ({"name": 42}, "name"),
        ({"name": "  "}, "name"),
        ({"surprise": True}, "surprise"),
        ({"message": "x" * 20_000}, "message"),
    ],
)
def test_create_validation_names_the_field(client: httpx.Client, change: dict, field: str) -> None:
    body = {k: v for k, v in {**EXAMPLE, **change}.items() if v is not None}
    error = _error(client.post(BASE, json=body), 400, "validation_error")
    assert field in error["fields"] and field in error["error"], error


def test_update_and_path_errors(client: httpx.Client) -> None:
    job = client.post(BASE, json=EXAMPLE).json()
    for change, field in [
        ({"name": None}, "name"),
        ({"cron_expr": "@daily"}, "cron_expr"),
        ({"channel": "pigeon"}, "channel"),
        ({"tz": "Nowhere/Else"}, "tz"),
        ({"enabled": "true"}, "enabled"),
    ]:
        answer = client.put(f"{BASE}/{job['id']}", json=change)
        assert field in _error(answer, 400, "validation_error")["fields"]
    assert client.get(f"{BASE}/{job['id']}").json()["cron_expr"] == EXAMPLE["cron_expr"], "nothing changed"
    malformed = client.post(BASE, content=b"{nope", headers={"Content-Type": "application/json"})
    assert "body" in _error(malformed, 400, "validation_error")["fields"]
    assert "job_id" in _error(client.get(f"{BASE}/abc"), 400, "validation_error")["fields"]
    for missing in (0, -1, 999_999, 10**30):
        _error(client.put(f"{BASE}/{missing}", json={"enabled": False}), 404, "not_found")


def test_auth_tenancy_and_rate_limit(asta: ApiProcess, cluster: Cluster, namespace: str) -> None:
    other = f"{namespace}-b"
    cluster.kubectl_run("create", "namespace", other)
    with asta.client(asta.new_key(namespace)) as mine, asta.client(asta.new_key(other)) as theirs:
        job = mine.post(BASE, json=EXAMPLE).json()
        _error(theirs.get(f"{BASE}/{job['id']}"), 404, "not_found")
        _error(theirs.put(f"{BASE}/{job['id']}", json={"enabled": False}), 404, "not_found")
        _error(theirs.delete(f"{BASE}/{job['id']}"), 404, "not_found")
        assert theirs.get(BASE).json() == {"cron_jobs": []}
        assert mine.get(f"{BASE}/{job['id']}").json()["enabled"] is True
    with asta.client(None) as anonymous:
        _error(anonymous.get(BASE), 401, "unauthorized")
    with asta.client("not-a-key") as wrong:
        _error(wrong.post(BASE, json=EXAMPLE), 401, "unauthorized")
    with asta.client(asta.new_key(namespace, ("read",))) as reader:
        assert reader.get(BASE).status_code == 200
        _error(reader.post(BASE, json={**EXAMPLE, "name": "x"}), 403, "forbidden")
        _error(reader.delete(f"{BASE}/1"), 403, "forbidden")
    with asta.client(asta.new_key(namespace, ("*",))) as admin:
        assert admin.post(BASE, json={**EXAMPLE, "name": "by-admin"}).status_code == 200
    with asta.client(asta.new_key(namespace, rate_per_second=0.2, rate_burst=2)) as slow:
        assert [slow.get(BASE).status_code for _ in range(2)] == [200, 200]
        limited = slow.get(BASE)
        _error(limited, 429, "rate_limited")
        assert int(limited.headers["Retry-After"]) >= 1


def test_other_doors_show_what_asta_can_express(
    cluster: Cluster, namespace: str, asta: ApiProcess, client: httpx.Client
) -> None:
    made_here = client.post(BASE, json=EXAMPLE).json()
    # The same job through a1base: a custom schedule calling the channel.
    a1 = wait_for(lambda: client.get("/v1/cron-jobs").json()["data"], 10, "the job in a1base")
    assert a1[0]["custom_schedule"] == "0 9 * * 1-5" and a1[0]["endpoint_url"].endswith("/inbox")

    annotations = {
        "asta.cronwright.io/name": "from-kubectl",
        "asta.cronwright.io/message": "written by hand",
        "asta.cronwright.io/channel": "web",
    }
    by_hand = cronjobspec("asta-900", {"cron": "15 6 * * *"}, {"url": "http://127.0.0.1:9/hand"})
    by_hand["metadata"]["annotations"] = annotations
    apply(
        cluster,
        namespace,
        by_hand,
        cronjobspec("plain", {"cron": "0 9 * * 1-5"}, {"url": "http://127.0.0.1:9/plain"}),
        cronjobspec("asta-901", {"every": "30s"}, {"url": "http://127.0.0.1:9/every"}),
    )
    listed = wait_for(
        lambda: len(j := client.get(BASE).json()["cron_jobs"]) == 2 and j, 10, "the kubectl asta job"
    )
    assert [j["id"] for j in listed] == [made_here["id"], 900]
    hand = listed[1]
    assert (hand["name"], hand["message"], hand["tz"], hand["channel_target"]) == (
        "from-kubectl",
        "written by hand",
        "UTC",
        "",
    )
    _error(client.get(f"{BASE}/901"), 404, "not_found")
    _error(client.post(BASE, json={**EXAMPLE, "name": "from-kubectl"}), 409, "name_taken")
    # The counter knows nothing of 900; a new job still gets an id of its own.
    fresh = client.post(BASE, json={**EXAMPLE, "name": "after-kubectl"}).json()
    assert fresh["id"] not in (made_here["id"], 900, 901)
    assert get(cluster, namespace, f"asta-{fresh['id']}")["metadata"]["annotations"][
        "asta.cronwright.io/name"
    ] == ("after-kubectl")


def test_openapi_documents_the_dialect(asta: ApiProcess) -> None:
    spec = httpx.get(f"{asta.url}/openapi.json").json()
    assert {"/api/cron", "/api/cron/{job_id}"} <= set(spec["paths"])
    for method, operation in {**spec["paths"]["/api/cron"], **spec["paths"]["/api/cron/{job_id}"]}.items():
        assert "422" not in operation["responses"], method
        for status in ("400", "401", "403", "404", "409", "429"):
            schema = operation["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/AstaError"}, (method, status)
