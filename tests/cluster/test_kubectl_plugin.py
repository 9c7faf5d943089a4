"""`kubectl cronwright` through the real kubectl binary (plugin discovery on PATH), against
the real control plane: every verb, table, JSON and YAML output, kubectl's namespace,
context and kubeconfig flags, RBAC, and kubectl's shell completion of the plugin."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from cronwright.core.models import Schedule
from cronwright.core.schedule import next_fire_after
from tests.support.cluster import Cluster
from tests.support.helm import service_account_kubeconfig
from tests.support.kubectl import apply, cronjobspec, get, wait_for
from tests.support.operator_process import OperatorProcess
from tests.support.plugin import LOCAL_ZONE, KubectlPlugin
from tests.support.receiver import Receiver

URL = "http://127.0.0.1:9/never-called"


def _record(n: int, result: str, code: int | None, trigger: str = "schedule") -> dict[str, Any]:
    day = f"2026-01-{10 + n:02d}"
    return {
        "id": f"run{n:04d}",
        "scheduledTime": f"{day}T07:30:00Z",
        "startTime": f"{day}T07:30:00.004000Z",
        "finishTime": f"{day}T07:30:01.254000Z",
        "durationMs": 1250,
        "result": result,
        "trigger": trigger,
        "attempts": 1 if result != "Failed" else 3,
        **({"responseCode": code} if code is not None else {}),
    }


#: Newest first, as the operator keeps it: 3 succeeded, 1 failed, 1 skipped (not counted).
HISTORY = [
    _record(5, "Failed", 503),
    _record(4, "Skipped", None),
    _record(3, "Succeeded", 200, trigger="manual"),
    _record(2, "Succeeded", 200),
    _record(1, "Succeeded", 204),
]


@pytest.fixture
def plugin(cluster: Cluster, tmp_path: Path) -> KubectlPlugin:
    return KubectlPlugin(cluster, tmp_path)


@pytest.fixture
def jobs(cluster: Cluster, namespace: str) -> str:
    apply(
        cluster,
        namespace,
        cronjobspec("nightly", {"cron": "30 1,2 * * *", "timeZone": "America/New_York"}, {"url": URL}),
        cronjobspec(
            "weekly",
            {"frequency": "weekly", "dayOfWeek": 1, "time": "09:30", "timeZone": "Europe/Berlin"},
            {"url": URL},
            suspend=True,
        ),
        cronjobspec("often", {"every": "90s"}, {"url": URL}),
    )
    status = {"status": {"phase": "Active", "history": HISTORY, "lastRun": HISTORY[0]}}
    cluster.kubectl_run(
        "patch",
        "cronjobspec",
        "nightly",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(status),
    )
    return namespace


def test_kubectl_discovers_the_plugin(plugin: KubectlPlugin) -> None:
    listed = plugin.run("plugin", "list", check=False)
    assert "kubectl-cronwright" in listed.stdout, listed.stdout + listed.stderr
    assert "list" in plugin.cronwright("--help").stdout


def test_list_table(plugin: KubectlPlugin, jobs: str) -> None:
    rows = {row["NAME"]: row for row in plugin.table("list", "-n", jobs)}
    assert list(rows) == ["nightly", "often", "weekly"]
    nightly = rows["nightly"]
    assert nightly["SCHEDULE"] == "At 01:30 and 02:30"
    assert nightly["ZONE"] == "America/New_York"
    assert nightly["LAST RESULT"] == "Failed"
    assert nightly["SUCCESS"] == "75%", "3 of 4 attempted runs; the skipped one is not counted"
    assert nightly["NEXT (LOCAL)"].endswith(" JST")
    assert nightly["NEXT (JOB TIME)"].endswith((" EST", " EDT"))
    assert rows["weekly"]["SCHEDULE"] == "At 09:30, only on Monday"
    assert rows["weekly"]["NEXT (LOCAL)"] == "paused" and rows["weekly"]["NEXT (JOB TIME)"] == "paused"
    assert rows["often"]["SCHEDULE"] == "Every 1 minute 30 seconds, counted from creation"
    assert rows["often"]["LAST RESULT"] == "-" and rows["often"]["SUCCESS"] == "-"


def test_shared_flags_before_the_verb(plugin: KubectlPlugin, jobs: str) -> None:
    """kubectl users put -n (and -o, --context, -A) anywhere: before the verb works too."""
    assert [row["NAME"] for row in plugin.table("-n", jobs, "list")] == ["nightly", "often", "weekly"]
    runs = json.loads(plugin.cronwright("-n", jobs, "-o", "json", "history", "nightly").stdout)["runs"]
    assert [run["id"] for run in runs] == [record["id"] for record in HISTORY]
    assert {(r["NAMESPACE"], r["NAME"]) for r in plugin.table("-A", "list")} >= {(jobs, "nightly")}
    assert plugin.complete("-n", jobs, "") == ["list", "next", "history", "trigger", "suspend", "resume"]
    assert plugin.complete("-n", jobs, "next", "") == ["nightly", "often", "weekly"]
    misplaced = plugin.cronwright("-A", "next", "nightly", check=False)
    assert misplaced.returncode == 2 and "applies to list only" in misplaced.stderr


def test_list_json_and_yaml_agree_with_the_schedule_math(
    plugin: KubectlPlugin, jobs: str, cluster: Cluster
) -> None:
    before = datetime.now(UTC)
    items = {item["name"]: item for item in plugin.json("list", "-n", jobs)["items"]}
    as_yaml = {item["name"]: item for item in plugin.yaml("list", "-n", jobs)["items"]}
    assert set(items) == set(as_yaml) == {"nightly", "often", "weekly"}
    nightly = items["nightly"]
    expected = next_fire_after(Schedule(cron="30 1,2 * * *", time_zone="America/New_York"), before, before)
    assert expected is not None
    assert nightly["nextRun"] == expected.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert nightly["nextRunJobTime"] == expected.astimezone(ZoneInfo("America/New_York")).strftime(
        "%Y-%m-%d %H:%M %Z"
    )
    assert nightly["nextRunLocal"] == expected.astimezone(ZoneInfo(LOCAL_ZONE)).strftime("%Y-%m-%d %H:%M %Z")
    assert nightly["successRate"] == 0.75 and nightly["keptRuns"] == 5 and nightly["lastResult"] == "Failed"
    assert nightly["dialect"] == "kubectl"
    assert items["weekly"]["state"] == "Paused" and items["weekly"]["nextRun"] is None
    created = datetime.fromisoformat(
        get(cluster, jobs, "often")["metadata"]["creationTimestamp"].replace("Z", "+00:00")
    )
    next_often = datetime.fromisoformat(items["often"]["nextRun"].replace("Z", "+00:00"))
    assert (next_often - created).total_seconds() % 90 == 0, "every 90s counts from creation"
    for name in ("nightly", "weekly"):
        assert as_yaml[name] == items[name]


def test_list_all_namespaces_and_the_context_namespace(
    plugin: KubectlPlugin, jobs: str, cluster: Cluster, tmp_path: Path
) -> None:
    rows = plugin.table("list", "-A")
    assert {(r["NAMESPACE"], r["NAME"]) for r in rows} >= {
        (jobs, "nightly"),
        (jobs, "often"),
        (jobs, "weekly"),
    }
    # A context whose namespace is the test's: no -n needed, as with kubectl.
    config = yaml.safe_load(Path(plugin.env["KUBECONFIG"]).read_text())
    context = dict(config["contexts"][0])
    config["contexts"].append({"name": "tenant", "context": {**context["context"], "namespace": jobs}})
    kubeconfig = tmp_path / "two-contexts"
    kubeconfig.write_text(yaml.safe_dump(config))
    names = [r["NAME"] for r in plugin.table("list", "--kubeconfig", str(kubeconfig), "--context", "tenant")]
    assert names == ["nightly", "often", "weekly"]
    in_default = plugin.cronwright("list", "--kubeconfig", str(kubeconfig))
    assert "nightly" not in in_default.stdout, "the current context's namespace is default"
    unknown = plugin.cronwright("list", "--kubeconfig", str(kubeconfig), "--context", "nope", check=False)
    assert unknown.returncode == 1 and "context 'nope' is not in the kubeconfig" in unknown.stderr


def test_next_marks_the_runs_daylight_saving_moves(plugin: KubectlPlugin, jobs: str) -> None:
    item = plugin.json("next", "nightly", "-n", jobs, "--count", "730")
    fires = item["fires"]
    assert len(fires) == 730 and item["zone"] == "America/New_York"
    noted = [f for f in fires if f["dst"]]
    skipped = [f for f in noted if "does not exist" in f["dst"]]
    doubled = [f for f in noted if "happens twice" in f["dst"]]
    assert skipped and doubled and len(noted) == len(skipped) + len(doubled)
    for fire in skipped:  # 02:30 on the spring-forward day fires at the change, 03:00 EDT
        assert fire["dst"] == "02:30 does not exist that day (DST starts): runs at 03:00 EDT"
        assert fire["jobTime"].endswith("03:00 EDT")
    for fire in doubled:  # 01:30 on the fall-back day fires once, at the first (EDT) one
        assert fire["dst"] == "01:30 happens twice that day (DST ends): runs once, at the first (EDT)"
        assert fire["jobTime"].endswith("01:30 EDT")
    instants = [f["at"] for f in fires]
    assert instants == sorted(instants) and len(set(instants)) == len(instants)
    table = plugin.table("next", "nightly", "-n", jobs, "-c", "730")
    assert [r["DST"] for r in table if r["DST"]] == [f["dst"] for f in noted]
    assert table[0]["#"] == "1" and table[0]["LOCAL"] == fires[0]["local"]
    assert plugin.yaml("next", "nightly", "-n", jobs, "-c", "3")["fires"] == fires[:3]


def test_next_of_a_paused_job_and_bad_counts(plugin: KubectlPlugin, jobs: str) -> None:
    paused = plugin.cronwright("next", "weekly", "-n", jobs)
    assert paused.stdout == "" and "no upcoming runs (it is paused)" in paused.stderr
    assert plugin.json("next", "weekly", "-n", jobs)["fires"] == []
    for count, message in (("0", "must be between 1 and 1000, got 0"), ("lots", "expected a whole number")):
        refused = plugin.cronwright("next", "nightly", "-n", jobs, "-c", count, check=False)
        assert (
            refused.returncode == 2 and "argument -c/--count" in refused.stderr and message in refused.stderr
        )


def test_history_table_json_yaml_and_filter(plugin: KubectlPlugin, jobs: str) -> None:
    rows = plugin.table("history", "nightly", "-n", jobs)
    assert [r["RESULT"] for r in rows] == ["Failed", "Skipped", "Succeeded", "Succeeded", "Succeeded"]
    assert rows[0] == {
        "SCHEDULED": "2026-01-15 16:30:00 JST",
        "STARTED": "2026-01-15 16:30:00 JST",
        "DURATION": "1.2s",
        "RESULT": "Failed",
        "CODE": "503",
        "ATTEMPTS": "3",
        "TRIGGER": "schedule",
    }
    assert rows[1]["CODE"] == "-" and rows[2]["TRIGGER"] == "manual"
    runs = plugin.json("history", "nightly", "-n", jobs)["runs"]
    assert [r["id"] for r in runs] == [r["id"] for r in HISTORY]
    assert runs[0]["scheduled"] == "2026-01-15T07:30:00Z" and runs[0]["durationMs"] == 1250
    assert plugin.yaml("history", "nightly", "-n", jobs)["runs"] == runs
    failed = plugin.json("history", "nightly", "-n", jobs, "--result", "Succeeded")["runs"]
    assert [r["id"] for r in failed] == ["run0003", "run0002", "run0001"]
    empty = plugin.cronwright("history", "often", "-n", jobs)
    assert empty.returncode == 0 and "no runs in the kept history" in empty.stderr


def test_a_missing_job_is_kubectls_not_found(plugin: KubectlPlugin, namespace: str) -> None:
    for verb in ("next", "history", "trigger", "suspend", "resume"):
        answer = plugin.cronwright(verb, "ghost", "-n", namespace, check=False)
        assert answer.returncode == 1, verb
        assert (
            answer.stderr.strip()
            == 'Error from server (NotFound): cronjobspecs.cronwright.io "ghost" not found'
        )


def test_trigger_suspend_resume_through_the_operator(
    plugin: KubectlPlugin,
    cluster: Cluster,
    namespace: str,
    receiver: Receiver,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    start_operator()
    apply(cluster, namespace, cronjobspec("hook", {"cron": "0 0 1 1 *"}, {"url": receiver.url("/hook")}))
    said = plugin.cronwright("trigger", "hook", "-n", namespace).stdout.strip()
    assert said.startswith("cronjobspec.cronwright.io/hook triggered (run ")
    run_id = said.removesuffix(")").rsplit(" ", 1)[-1]
    wait_for(lambda: receiver.at("/hook"), 30, "the manual run at the receiver")
    runs = wait_for(lambda: plugin.json("history", "hook", "-n", namespace)["runs"], 30, "the run in history")
    assert runs[0]["id"] == run_id and runs[0]["trigger"] == "manual" and runs[0]["result"] == "Succeeded"
    assert runs[0]["code"] == 200
    second = plugin.json("trigger", "hook", "-n", namespace)
    assert second["name"] == "hook" and second["runId"] != run_id
    assert (
        get(cluster, namespace, "hook")["metadata"]["annotations"]["cronwright.io/trigger"]
        == second["trigger"]
    )

    assert (
        plugin.cronwright("suspend", "hook", "-n", namespace).stdout
        == "cronjobspec.cronwright.io/hook suspended\n"
    )
    assert get(cluster, namespace, "hook")["spec"]["suspend"] is True
    assert plugin.table("list", "-n", namespace)[0]["NEXT (LOCAL)"] == "paused"
    again = plugin.json("suspend", "hook", "-n", namespace)
    assert again == {"namespace": namespace, "name": "hook", "suspended": True, "changed": False}
    assert plugin.yaml("resume", "hook", "-n", namespace)["changed"] is True
    assert get(cluster, namespace, "hook")["spec"]["suspend"] is False
    assert plugin.cronwright("resume", "hook", "-n", namespace).stdout.endswith("resumed (no change)\n")


def test_rbac_applies(plugin: KubectlPlugin, cluster: Cluster, jobs: str, tmp_path: Path) -> None:
    """The plugin acts as the kubeconfig's user: a read-only account can list and read
    history, and its trigger is the API server's Forbidden."""
    reader = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader"}},
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "cronjobspec-reader"},
                "rules": [
                    {"apiGroups": ["cronwright.io"], "resources": ["cronjobspecs"], "verbs": ["get", "list"]}
                ],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "reader"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "cronjobspec-reader",
                },
                "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": jobs}],
            },
        ],
    }
    cluster.kubectl_run("apply", "-n", jobs, "-f", "-", input=json.dumps(reader))
    kubeconfig = service_account_kubeconfig(cluster, jobs, "reader", tmp_path / "reader.kubeconfig")
    as_reader = KubectlPlugin(cluster, tmp_path, kubeconfig)
    names = wait_for(lambda: [r["NAME"] for r in as_reader.table("list", "-n", jobs)], 15, "RBAC")
    assert names == ["nightly", "often", "weekly"]
    refused = as_reader.cronwright("trigger", "nightly", "-n", jobs, check=False)
    assert refused.returncode == 1
    assert refused.stderr.startswith(
        'Error from server (Forbidden): cronjobspecs.cronwright.io "nightly" is forbidden'
    )
    assert "cronwright.io/trigger" not in (get(cluster, jobs, "nightly")["metadata"].get("annotations") or {})
    other = as_reader.cronwright("list", "-n", "default", check=False)
    assert other.returncode == 1 and "(Forbidden)" in other.stderr


def test_kubectl_completes_the_plugin(plugin: KubectlPlugin, jobs: str) -> None:
    assert plugin.complete("") == ["list", "next", "history", "trigger", "suspend", "resume"]
    assert plugin.complete("h") == ["history"]
    assert plugin.complete("next", "-n", jobs, "") == ["nightly", "often", "weekly"]
    assert plugin.complete("history", "--namespace", jobs, "ni") == ["nightly"]
    assert jobs in plugin.complete("list", "-n", "")
    assert plugin.complete("list", "-o", "") == ["table", "json", "yaml"]
    assert plugin.complete("history", "nightly", "--result", "S") == ["Succeeded", "Skipped"]
    assert "--all-namespaces" in plugin.complete("list", "--")
    assert plugin.complete("trigger", "nightly", "-n", jobs, "") == [], "one name per command"
