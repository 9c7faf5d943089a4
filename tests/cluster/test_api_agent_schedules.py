"""The agent-schedules API over real HTTP, against the real control plane and operator."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support.api_process import ApiProcess, envelope_error
from tests.support.cluster import Cluster
from tests.support.kubectl import apply, cronjobspec, get, wait_for
from tests.support.operator_process import OperatorProcess
from tests.support.receiver import Receiver
from tests.support.workflows import install_argo_crds, run_objects, set_workflow_phase

AGENT = "agent-7"
BASE = f"/api/agents/{AGENT}/schedules"
UTC_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

# The document's three create examples.
CRON = {
    "name": "Daily Report",
    "type": "cron",
    "cron_expression": "0 9 * * *",
    "callback_type": "workflow",
    "callback_id": "workflow-456",
    "status": "active",
}
DOCUMENT_ONCE_TIME = "2024-12-20T15:00:00Z"  # has passed: refused (docs/dialect-agent-schedules.md)
ONCE = {
    "name": "Send Reminder",
    "type": "once",
    "next_run": f"{datetime.now(UTC).year + 1}-12-20T15:00:00Z",  # the document's, a year ahead
    "callback_type": "workflow",
    "callback_id": "workflow-789",
}
DELAYED = {
    "name": "Follow-up",
    "type": "delayed",
    "delay_seconds": 3600,
    "callback_type": "workflow",
    "callback_id": "workflow-123",
}


def test_document_examples(cluster: Cluster, namespace: str, client: httpx.Client) -> None:
    made = {}
    for sent in (CRON, ONCE, DELAYED):
        response = client.post(BASE, json=sent)
        assert response.status_code == 201, response.text
        made[sent["type"]] = body = response.json()
        for field, value in sent.items():
            assert body[field] == value, field
        assert body["id"].startswith("schedule-") and UTC_TIME.match(body["created_at"])
        assert UTC_TIME.match(body["next_run"]) and body["last_run"] is None
    assert made["cron"]["next_run"][11:] == "09:00:00Z"
    assert made["once"]["next_run"] == ONCE["next_run"]

    # The resource the operator acts on: the agent as a label, the callback as a workflow template.
    resource = get(cluster, namespace, made["cron"]["id"])
    assert resource["metadata"]["labels"]["agent-schedules.cronwright.io/agent-id"] == AGENT
    assert resource["spec"]["schedule"] == {"cron": "0 9 * * *", "timeZone": "UTC"}
    assert resource["spec"]["workflow"]["templateRef"] == {"kind": "WorkflowTemplate", "name": "workflow-456"}
    assert get(cluster, namespace, made["once"]["id"])["spec"]["schedule"]["at"] == ONCE["next_run"]
    assert get(cluster, namespace, made["delayed"]["id"])["spec"]["schedule"]["delaySeconds"] == 3600

    listed = client.get(BASE).json()["schedules"]
    assert sorted(s["id"] for s in listed) == sorted(s["id"] for s in made.values())
    item = next(s for s in listed if s["type"] == "cron")
    for field in (
        "id",
        "name",
        "type",
        "cron_expression",
        "next_run",
        "callback_type",
        "callback_id",
        "status",
    ):
        assert item[field] == made["cron"][field], field
    assert [s["id"] for s in client.get(BASE, params={"type": "once"}).json()["schedules"]] == [
        made["once"]["id"]
    ]

    cron_id = made["cron"]["id"]
    detail = client.get(f"{BASE}/{cron_id}").json()
    assert detail["executions"] == [] and detail["callback_id"] == "workflow-456"

    updated = client.put(
        f"{BASE}/{cron_id}",
        json={"name": "Updated Schedule", "cron_expression": "0 10 * * *", "status": "paused"},
    )
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert (body["name"], body["cron_expression"], body["status"]) == (
        "Updated Schedule",
        "0 10 * * *",
        "paused",
    )
    assert body["next_run"] is None and body["callback_id"] == "workflow-456", "the rest is kept"
    assert get(cluster, namespace, cron_id)["spec"]["suspend"] is True
    assert [s["id"] for s in client.get(BASE, params={"status": "paused"}).json()["schedules"]] == [cron_id]
    assert len(client.get(BASE, params={"status": "active"}).json()["schedules"]) == 2

    resumed = client.put(f"{BASE}/{cron_id}", json={"status": "active"}).json()
    assert resumed["status"] == "active" and resumed["next_run"][11:] == "10:00:00Z"
    # The document's "pause" example, verbatim.
    assert client.put(f"{BASE}/{cron_id}", json={"status": "paused"}).json()["status"] == "paused"

    retyped = client.put(f"{BASE}/{cron_id}", json={"type": "delayed", "delay_seconds": 60}).json()
    assert (
        retyped["type"] == "delayed" and retyped["delay_seconds"] == 60 and retyped["cron_expression"] is None
    )
    assert get(cluster, namespace, cron_id)["spec"]["schedule"] == {"delaySeconds": 60, "timeZone": "UTC"}

    deleted = client.delete(f"{BASE}/{cron_id}")
    assert deleted.status_code == 200 and deleted.json() == {"id": cron_id, "deleted": True}
    envelope_error(client.get(f"{BASE}/{cron_id}"), 404, "not_found")
    envelope_error(client.put(f"{BASE}/{cron_id}", json={"status": "active"}), 404, "not_found")
    envelope_error(client.delete(f"{BASE}/{cron_id}"), 404, "not_found")


def test_webhook_runs_reach_the_target_and_show_as_executions(
    namespace: str, client: httpx.Client, receiver: Receiver, operator: OperatorProcess
) -> None:
    made = client.post(
        BASE,
        json={
            "name": "Every two seconds",
            "type": "cron",
            "cron_expression": "*/2 * * * * *",
            "callback_type": "webhook",
            "callback_id": receiver.url("/agent-hook"),
        },
    ).json()
    wait_for(lambda: len(receiver.at("/agent-hook")) >= 2, 30, "two webhook calls")
    call = receiver.at("/agent-hook")[0]
    assert call.method == "POST" and call.json() == {"agent_id": AGENT, "schedule_id": made["id"]}
    detail = wait_for(
        lambda: len((d := client.get(f"{BASE}/{made['id']}").json())["executions"]) >= 2 and d,
        15,
        "executions",
    )
    newest = detail["executions"][0]
    assert re.fullmatch(r"exec-[0-9a-f]{16}", newest["id"]) and newest["status"] == "success"
    assert UTC_TIME.match(newest["executed_at"]) and UTC_TIME.match(detail["last_run"])
    assert detail["status"] == "active"


def test_a_one_shot_runs_once_and_completes(
    namespace: str, client: httpx.Client, receiver: Receiver, operator: OperatorProcess
) -> None:
    soon = (datetime.now(UTC) + timedelta(seconds=4)).strftime("%Y-%m-%dT%H:%M:%SZ")
    made = client.post(
        BASE,
        json={
            "name": "Send Reminder",
            "type": "once",
            "next_run": soon,
            "callback_type": "webhook",
            "callback_id": receiver.url("/once"),
        },
    ).json()
    assert made["status"] == "active" and made["next_run"] == soon
    done = wait_for(
        lambda: (d := client.get(f"{BASE}/{made['id']}").json())["status"] == "completed" and d,
        40,
        "completed",
    )
    assert len(receiver.at("/once")) == 1
    assert [e["status"] for e in done["executions"]] == ["success"] and done["next_run"] == soon
    assert [s["id"] for s in client.get(BASE, params={"status": "completed"}).json()["schedules"]] == [
        made["id"]
    ]
    # Its time has passed, yet sending the schedule back unchanged (here to rename it) is fine.
    sent_back = {k: done[k] for k in ("name", "type", "next_run", "callback_type", "callback_id")}
    renamed = client.put(f"{BASE}/{made['id']}", json={**sent_back, "name": "Sent"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Sent" and renamed.json()["next_run"] == soon


def test_a_workflow_callback_runs_the_named_template_and_shows_its_result(
    cluster: Cluster, namespace: str, client: httpx.Client, operator: OperatorProcess
) -> None:
    """`callback_type: workflow` end to end: the operator creates an Argo Workflow from the
    template named by `callback_id` (stand-in CRD; no Argo controller, so the test plays it)."""
    install_argo_crds(cluster)
    soon = (datetime.now(UTC) + timedelta(seconds=4)).strftime("%Y-%m-%dT%H:%M:%SZ")
    made = client.post(BASE, json={**ONCE, "next_run": soon, "callback_id": "send-reminder"}).json()
    workflow = wait_for(
        lambda: (found := run_objects(cluster, namespace, "workflows.argoproj.io", made["id"])) and found[0],
        40,
        "the run's Workflow",
    )
    assert workflow["spec"]["workflowTemplateRef"] == {"name": "send-reminder"}
    set_workflow_phase(cluster, namespace, workflow["metadata"]["name"], "Succeeded")
    done = wait_for(
        lambda: (d := client.get(f"{BASE}/{made['id']}").json())["status"] == "completed" and d,
        40,
        "completed",
    )
    assert [e["status"] for e in done["executions"]] == ["success"]


def test_kubectl_jobs_of_an_agent_appear_and_others_do_not(
    cluster: Cluster, namespace: str, client: httpx.Client
) -> None:
    target = {"url": "http://127.0.0.1:9/x", "headers": {"X-Team": "a"}, "body": {"k": "v"}}
    labelled = cronjobspec("from-kubectl", {"cron": "*/5 * * * *"}, target)
    labelled["metadata"]["labels"] = {"agent-schedules.cronwright.io/agent-id": AGENT}
    other_agent = cronjobspec("other-agent", {"cron": "*/5 * * * *"}, {"url": "http://127.0.0.1:9/y"})
    other_agent["metadata"]["labels"] = {"agent-schedules.cronwright.io/agent-id": "agent-8"}
    interval = cronjobspec("interval", {"every": "30s"}, {"url": "http://127.0.0.1:9/z"})
    interval["metadata"]["labels"] = {"agent-schedules.cronwright.io/agent-id": AGENT}
    unlabelled = cronjobspec("unlabelled", {"cron": "*/5 * * * *"}, {"url": "http://127.0.0.1:9/w"})
    apply(cluster, namespace, labelled, other_agent, interval, unlabelled)
    listed = wait_for(lambda: client.get(BASE).json()["schedules"], 10, "the labelled job listed")
    assert [s["id"] for s in listed] == ["from-kubectl"]
    item = listed[0]
    assert (item["name"], item["type"], item["cron_expression"]) == ("from-kubectl", "cron", "*/5 * * * *")
    assert (item["callback_type"], item["callback_id"]) == ("webhook", "http://127.0.0.1:9/x")
    envelope_error(client.get(f"{BASE}/interval"), 404, "not_found")
    envelope_error(client.get("/api/agents/agent-8/schedules/from-kubectl"), 404, "not_found")
    renamed = client.put(f"{BASE}/from-kubectl", json={"name": "Renamed"}).json()
    assert renamed["name"] == "Renamed" and renamed["callback_id"] == "http://127.0.0.1:9/x"
    http = get(cluster, namespace, "from-kubectl")["spec"]["http"]
    assert (http["headers"], http["body"]) == ({"X-Team": "a"}, {"k": "v"}), (
        "a PUT leaving the callback alone keeps it"
    )


@pytest.mark.parametrize(
    ("sent", "field"),
    [
        ({**CRON, "cron_expression": None}, "cron_expression"),
        ({**CRON, "cron_expression": "at nine"}, "cron_expression"),
        ({**CRON, "type": "weekly"}, "type"),
        ({**ONCE, "next_run": "tomorrow"}, "next_run"),
        ({**ONCE, "next_run": None}, "next_run"),
        ({**ONCE, "next_run": DOCUMENT_ONCE_TIME}, "next_run"),
        ({**DELAYED, "delay_seconds": 0}, "delay_seconds"),
        ({**DELAYED, "delay_seconds": "soon"}, "delay_seconds"),
        ({**CRON, "delay_seconds": 60}, "delay_seconds"),
        ({**CRON, "callback_type": "email"}, "callback_type"),
        ({**CRON, "callback_id": "Workflow 456"}, "callback_id"),
        ({**CRON, "callback_type": "webhook", "callback_id": "ftp://127.0.0.1/x"}, "callback_id"),
        ({**CRON, "status": "completed"}, "status"),
        ({**CRON, "name": ""}, "name"),
        ({**CRON, "name": "   "}, "name"),
        ({**CRON, "callback_type": "webhook", "callback_id": "http://127.0.0.1:99999/x"}, "callback_id"),
        ({**CRON, "surprise": 1}, "surprise"),
    ],
)
def test_invalid_schedule_data_is_400_naming_the_field(client: httpx.Client, sent: dict, field: str) -> None:
    body = {k: v for k, v in sent.items() if v is not None}
    error = envelope_error(client.post(BASE, json=body), 400, "validation_error")
    assert field in error["details"], error


def test_invalid_updates_filters_and_agent_ids(client: httpx.Client) -> None:
    made = client.post(BASE, json=CRON).json()
    for change, field in [
        ({"cron_expression": "nope"}, "cron_expression"),
        ({"type": "once"}, "next_run"),
        ({"type": "once", "next_run": DOCUMENT_ONCE_TIME}, "next_run"),
        ({"status": "completed"}, "status"),
        ({"name": None}, "name"),
    ]:
        error = envelope_error(client.put(f"{BASE}/{made['id']}", json=change), 400, "validation_error")
        assert field in error["details"], error
    assert client.get(f"{BASE}/{made['id']}").json()["cron_expression"] == "0 9 * * *", "nothing changed"
    for params, field in [({"status": "gone"}, "status"), ({"type": "hourly"}, "type")]:
        assert field in envelope_error(client.get(BASE, params=params), 400, "validation_error")["details"]
    assert (
        "agent_id"
        in envelope_error(client.get("/api/agents/bad%20agent/schedules"), 400, "validation_error")["details"]
    )
    envelope_error(client.get(f"{BASE}/schedule-000000000000"), 404, "not_found")
    envelope_error(client.get(f"/api/agents/agent-8/schedules/{made['id']}"), 404, "not_found")


def test_auth_and_tenancy(api: ApiProcess, cluster: Cluster, namespace: str) -> None:
    other = f"{namespace}-b"
    cluster.kubectl_run("create", "namespace", other)
    with api.client(api.new_key(namespace)) as mine, api.client(api.new_key(other)) as theirs:
        made = mine.post(BASE, json=CRON).json()
        envelope_error(theirs.get(f"{BASE}/{made['id']}"), 404, "not_found")
        envelope_error(theirs.delete(f"{BASE}/{made['id']}"), 404, "not_found")
        assert theirs.get(BASE).json() == {"schedules": []}
    with api.client(None) as anonymous:
        envelope_error(anonymous.get(BASE), 401, "unauthorized")
    with api.client(api.new_key(namespace, ("read",))) as reader:
        assert reader.get(BASE).status_code == 200
        envelope_error(reader.post(BASE, json=CRON), 403, "forbidden")
        envelope_error(reader.put(f"{BASE}/{made['id']}", json={"status": "paused"}), 403, "forbidden")
