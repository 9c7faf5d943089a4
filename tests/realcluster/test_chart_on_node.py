"""cronwright as users run it: `helm install` of the chart with the image built from the
Dockerfile, on a real node — pods, Services, ServiceAccount tokens, the Job controller
and the garbage collector all real.

The first in-cluster run of the chart found a bug no other test could: every pod sent
`Bearer bearer <jwt>` and crash-looped on 401. These tests hold the whole path.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from cronwright.cli.dev_cluster import RELEASE, SYSTEM, api_key, forward_facade, install_chart
from cronwright.core.controlplane.images import Image
from cronwright.core.controlplane.node import Node
from cronwright.core.runs import parse_time
from tests.support import audit
from tests.support.kubectl import wait_for
from tests.support.real_cluster import apply, busybox_pod, receiver_in
from tests.support.receiver import Receiver

pytestmark = pytest.mark.real_cluster

OPERATOR = f"{RELEASE}-operator"
TENANT = "team-a"
APP = {"apiVersion": "cronwright.io/v1alpha1", "kind": "CronJobSpec"}


@dataclass
class Installed:
    node: Node
    facade_url: str
    key: str

    def facade(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.facade_url, headers={"Authorization": f"Bearer {self.key}"}, timeout=15
        )


@pytest.fixture(scope="module")
def installed(real_cluster: Node, cronwright_image: Image) -> Iterator[Installed]:
    """The chart installed as README says, with the locally built image (never pulled)
    and the admission webhook on; a tenant namespace and an API key for it."""
    install_chart(real_cluster, cronwright_image)
    real_cluster.kubectl("create", "namespace", TENANT)
    key = api_key(real_cluster, TENANT)
    relay = forward_facade(real_cluster)
    yield Installed(real_cluster, f"http://{relay.address}", key)
    relay.stop()
    real_cluster.helm("uninstall", RELEASE, "--namespace", SYSTEM, "--wait", check=False)


@pytest.fixture
def receiver(real_cluster: Node) -> Iterator[Receiver]:
    server = receiver_in(real_cluster)
    yield server
    server.stop()


def pods(node: Node, component: str) -> list[dict[str, Any]]:
    selector = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component={component}"
    return node.kubectl_json("get", "pods", "-n", SYSTEM, "-l", selector)["items"]


def ready(pod: dict[str, Any]) -> bool:
    conditions = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions", [])}
    return conditions.get("Ready") == "True" and not pod["metadata"].get("deletionTimestamp")


def cronjobspec(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {**APP, "metadata": {"name": name}, "spec": spec}


def job_target(command: str) -> dict[str, Any]:
    """A workflow target: per run the operator creates a batch/v1 Job running `command` once
    in the test busybox image."""
    manifest = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "spec": {"backoffLimit": 0, "template": {"spec": busybox_pod("x", command)["spec"]}},
    }
    return {"workflow": {"manifest": manifest}}


def run_jobs(node: Node, name: str, namespace: str = TENANT) -> list[dict[str, Any]]:
    """The Jobs the operator created for the runs of CronJobSpec `name`."""
    selector = f"cronwright.io/cronjobspec={name}"
    return node.kubectl_json("get", "jobs", "-n", namespace, "-l", selector)["items"]


def job_pods(node: Node, job: dict[str, Any]) -> list[dict[str, Any]]:
    """The pods the Job controller created for `job`."""
    selector = f"batch.kubernetes.io/controller-uid={job['metadata']['uid']}"
    return node.kubectl_json("get", "pods", "-n", job["metadata"]["namespace"], "-l", selector)["items"]


def history(node: Node, name: str, namespace: str = TENANT) -> list[dict[str, Any]]:
    status = node.kubectl_json("get", "cronjobspec", name, "-n", namespace).get("status") or {}
    return status.get("history") or []


def test_operator_and_facade_pods_are_ready_hardened_and_stable(installed: Installed) -> None:
    node = installed.node
    for component, replicas in (("operator", 2), ("api", 2)):
        running = pods(node, component)
        assert len(running) == replicas and all(ready(p) for p in running), component
        for pod in running:
            status = pod["status"]["containerStatuses"][0]
            assert status["ready"] and status["restartCount"] == 0, (component, status)
            container = pod["spec"]["containers"][0]
            assert container["readinessProbe"] and container["livenessProbe"], component
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            name = pod["metadata"]["name"]
            uid = node.kubectl("exec", "-n", SYSTEM, name, "--", "id", "-u").stdout.strip()
            assert uid == "10001", component
            write = node.kubectl("exec", "-n", SYSTEM, name, "--", "touch", "/written", check=False)
            assert write.returncode != 0 and "Read-only file system" in write.stderr, component


def test_a_job_made_through_the_facade_service_fires_and_shows_its_executions(
    installed: Installed, receiver: Receiver
) -> None:
    with installed.facade() as facade:
        created = facade.post(
            "/v1/cron-jobs",
            json={
                "endpoint_url": receiver.url("/facade"),
                "frequency": "custom",
                "custom_schedule": "*/2 * * * * *",
                "timezone": "UTC",
                "method": "POST",
                "body": {"hello": "cluster"},
            },
        )
        assert created.status_code == 201, created.text
        job = created.json()
        wait_for(lambda: receiver.at("/facade"), 60, "a run from the operator pod")
        assert receiver.at("/facade")[0].json() == {"hello": "cluster"}
        executions = wait_for(
            lambda: (r := facade.get(f"/v1/cron-jobs/{job['id']}/executions").json())["meta"]["total"] and r,
            30,
            "an execution",
        )
        assert executions["data"][0]["status"] == "success"
        assert executions["data"][0]["response_code"] == 200
        assert facade.delete(f"/v1/cron-jobs/{job['id']}").status_code == 200


def test_a_job_target_runs_to_complete_and_its_result_lands_in_history(installed: Installed) -> None:
    node = installed.node
    name = f"job-{uuid.uuid4().hex[:6]}"
    apply(node, TENANT, cronjobspec(name, {"schedule": {"every": "20s"}, **job_target("echo done")}))
    node.kubectl("annotate", "-n", TENANT, f"cronjobspec/{name}", f"cronwright.io/trigger={time.time()}")

    record = wait_for(
        lambda: next((h for h in history(node, name) if h.get("result") in ("Succeeded", "Failed")), None),
        120,
        "a finished run in status.history",
    )
    assert record["result"] == "Succeeded", record
    jobs = run_jobs(node, name)
    complete = [j for j in jobs if any(c["type"] == "Complete" for c in j["status"].get("conditions", []))]
    assert complete, "the Job controller ran the Job to Complete"
    owner = complete[0]["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"]) == ("CronJobSpec", name)
    node.kubectl("delete", "cronjobspec", name, "-n", TENANT)


def test_deleting_a_cronjobspec_collects_its_run_objects_and_header_secret(installed: Installed) -> None:
    """cronwright has no finalizer: what goes with a CronJobSpec is found by the real garbage
    collector (kube-controller-manager) through the owner references the product wrote —
    the operator on the Job of a workflow run, the facade on the Secret of credential headers
    (an http target's; a spec has one target, so two specs, deleted by one kubectl call)."""
    node = installed.node
    with installed.facade() as facade:
        created = facade.post(
            "/v1/cron-jobs",
            json={
                "endpoint_url": "http://127.0.0.1:9/never",
                "frequency": "daily",
                "time": "03:00",
                "timezone": "UTC",
                "method": "POST",
                "headers": {"Authorization": "Bearer s3cret"},
            },
        )
        assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    specs = node.kubectl_json("get", "cronjobspecs", "-n", TENANT)["items"]
    http_spec = next(s for s in specs if "crn_" + s["metadata"]["uid"].replace("-", "") == job_id)
    http_name = http_spec["metadata"]["name"]
    secret = node.kubectl_json("get", "secret", f"{http_name}-headers", "-n", TENANT)
    assert [o["uid"] for o in secret["metadata"]["ownerReferences"]] == [http_spec["metadata"]["uid"]]

    name = f"gc-{uuid.uuid4().hex[:6]}"
    apply(node, TENANT, cronjobspec(name, {"schedule": {"delaySeconds": 2}, **job_target("echo done")}))
    uid = node.kubectl_json("get", "cronjobspec", name, "-n", TENANT)["metadata"]["uid"]
    (job,) = wait_for(lambda: run_jobs(node, name), 60, "the Job the operator creates for the run")
    assert [(o["kind"], o["uid"]) for o in job["metadata"]["ownerReferences"]] == [("CronJobSpec", uid)]
    wait_for(lambda: job_pods(node, job), 60, "the run Job's pod")

    node.kubectl("delete", "cronjobspec", http_name, name, "-n", TENANT)

    def gone(kind: str, object_name: str) -> bool:
        return node.kubectl("get", kind, object_name, "-n", TENANT, check=False).returncode != 0

    wait_for(lambda: gone("secret", f"{http_name}-headers"), 60, "the header Secret collected")
    wait_for(lambda: gone("job", job["metadata"]["name"]), 60, "the run Job collected")
    wait_for(lambda: not job_pods(node, job), 60, "the run Job's pods collected")
    assert not run_jobs(node, name)


def test_deleting_a_cronproject_with_kubectl_deletes_its_jobs(installed: Installed) -> None:
    node = installed.node
    headers = {"X-API-Key": installed.key}
    with httpx.Client(base_url=installed.facade_url, headers=headers, timeout=15) as cronpulse:
        project = cronpulse.post("/api/v1/projects", json={"name": f"Billing {uuid.uuid4().hex[:4]}"})
        assert project.status_code in (200, 201), project.text
        job = cronpulse.post(
            "/api/v1/jobs",
            json={
                "name": "Invoice run",
                "projectId": project.json()["id"],
                "url": "http://127.0.0.1:9/invoices",
                "method": "POST",
                "schedule": "0 2 * * *",
            },
        )
        assert job.status_code in (200, 201), job.text
    projects = node.kubectl_json("get", "cronprojects", "-n", TENANT)["items"]
    project_name = next(p["metadata"]["name"] for p in projects)
    owned = [
        s["metadata"]["name"]
        for s in node.kubectl_json("get", "cronjobspecs", "-n", TENANT)["items"]
        if any(o["kind"] == "CronProject" for o in s["metadata"].get("ownerReferences", []))
    ]
    assert owned

    node.kubectl("delete", "cronproject", project_name, "-n", TENANT)

    for spec in owned:
        wait_for(
            lambda spec=spec: node.kubectl("get", "cronjobspec", spec, "-n", TENANT, check=False).returncode,
            60,
            f"{spec} collected with its project",
        )


def test_admission_webhook_through_its_service_refuses_a_bad_cron(installed: Installed) -> None:
    """`61` passes the CRD's pattern; only the operator's webhook knows it is no minute."""
    bad = cronjobspec(
        "bad-cron",
        {
            "schedule": {"cron": "61 * * * *", "timeZone": "Mars/Olympus"},
            "http": {"url": "http://127.0.0.1:9/"},
        },
    )
    result = installed.node.kubectl("apply", "-n", TENANT, "-f", "-", input=json.dumps(bad), check=False)
    assert result.returncode != 0
    assert "denied the request" in result.stderr
    assert "spec.schedule.cron" in result.stderr and "spec.schedule.timeZone" in result.stderr
    assert installed.node.kubectl("get", "cronjobspec", "bad-cron", "-n", TENANT, check=False).returncode != 0


def shard_holders(node: Node) -> dict[str, int]:
    """How many shard Leases each operator pod holds."""
    leases = node.kubectl_json("get", "leases", "-n", SYSTEM, "-l", "app.kubernetes.io/component=shard")
    return dict(Counter(lease["spec"].get("holderIdentity") or "" for lease in leases["items"]))


def test_two_replicas_divide_the_shards_and_a_rollout_loses_and_doubles_nothing(
    installed: Installed, receiver: Receiver
) -> None:
    node = installed.node
    names = [f"tick-{uuid.uuid4().hex[:6]}" for _ in range(8)]
    apply(
        node,
        TENANT,
        *[
            cronjobspec(
                name,
                {
                    "schedule": {"cron": "* * * * * *"},
                    "http": {"url": receiver.url(f"/{name}")},
                    "historyLimit": 100,
                },
            )
            for name in names
        ],
    )
    wait_for(lambda: all(len(receiver.at(f"/{n}")) >= 3 for n in names), 60, "runs every second")
    operators = sorted(p["metadata"]["name"] for p in pods(node, "operator") if ready(p))
    assert shard_holders(node) == dict.fromkeys(operators, 16), "two replicas, 16 shards each"

    victim = operators[0]
    node.kubectl("delete", "pod", victim, "-n", SYSTEM, "--wait=false")
    time.sleep(5)
    node.kubectl("rollout", "restart", f"deployment/{OPERATOR}", "-n", SYSTEM)
    node.kubectl("rollout", "status", f"deployment/{OPERATOR}", "-n", SYSTEM, "--timeout=180s", timeout=200)
    marks = {n: len(receiver.at(f"/{n}")) for n in names}
    wait_for(
        lambda: all(len(receiver.at(f"/{n}")) >= marks[n] + 5 for n in names), 60, "runs after the restart"
    )
    unknown = {n: recorded(node, n, "Unknown") for n in names}
    node.kubectl("delete", "cronjobspec", *names, "-n", TENANT)

    for name in names:
        scheduled = [r.scheduled for r in receiver.at(f"/{name}")]
        assert all(scheduled), "every call carries its scheduled time"
        repeated = sorted({t for t in scheduled if scheduled.count(t) > 1})
        assert not repeated, f"{name}: scheduled times received twice: {repeated}"
        seconds = sorted({epoch(t) for t in scheduled} | set(unknown[name]))
        gaps = [b - a for a, b in itertools.pairwise(seconds)]
        assert max(gaps) < 1.5, f"{name}: a scheduled time neither delivered nor recorded: {gaps}"
        assert unknown[name] == [], f"{name}: graceful stops hand over, leaving nothing Unknown"


def epoch(text: str) -> float:
    moment = parse_time(text)
    assert moment is not None, text
    return moment.timestamp()


def recorded(node: Node, name: str, result: str) -> list[float]:
    return sorted(epoch(h["scheduledTime"]) for h in history(node, name) if h["result"] == result)


def test_no_request_of_the_pods_was_refused_with_their_real_service_account_tokens(
    installed: Installed,
) -> None:
    """Last in this module: every test above drove the operator and the facade pods (runs,
    Job targets, garbage collection, a rollout, the webhook). tests/cluster/test_helm.py
    shows with SubjectAccessReviews that the chart grants nothing the code does not use;
    this shows the converse where it counts — the API server's audit log (conftest: kept
    from before the install, for the release namespace's ServiceAccounts and for requests
    no one could be authenticated for) holds their requests, made with the tokens the
    kubelet mounted, and not one answered 401 or 403."""
    node = installed.node
    user = {
        component: f"system:serviceaccount:{SYSTEM}:{pods(node, component)[0]['spec']['serviceAccountName']}"
        for component in ("operator", "api")
    }
    events = audit.events(node.audit_log)

    answered = set()
    for event in events:
        ref = event.get("objectRef", {})
        if 200 <= audit.code(event) < 300:
            answered.add(
                (event["user"].get("username"), event["verb"], ref.get("resource"), ref.get("subresource"))
            )
    expected = [
        (user["operator"], "watch", "cronjobspecs", None),  # kopf
        (user["operator"], "update", "leases", None),  # the shard Leases, renewed
        (user["operator"], "patch", "cronjobspecs", "status"),  # run results
        (user["operator"], "create", "jobs", None),  # a Job target's run
        (user["api"], "create", "cronjobspecs", None),  # the facade's jobs
        (user["api"], "create", "secrets", None),  # credential headers
        (user["api"], "create", "cronprojects", None),  # the cronpulse dialect's projects
    ]
    missing = [request for request in expected if request not in answered]
    assert not missing, f"the audit log has none of {missing} among {len(events)} events"

    refused = [event for event in events if audit.code(event) in (401, 403)]
    assert not refused, f"{len(refused)} requests refused:\n  " + "\n  ".join(
        audit.describe(event) for event in refused[:40]
    )
