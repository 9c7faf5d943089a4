"""The chart's Grafana dashboard and PrometheusRule: off by default, switched on by values,
rules checked and unit-tested by promtool (tests/promtool/alerts.test.yaml), every
dashboard query parsed by promtool, and every metric they read one the operator exports.

Only `helm template` and a server-side dry run need the control plane; promtool runs
offline on the rendered files.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from cronwright.core.controlplane.binaries import pinned_promtool_version, prometheus_release
from cronwright.operator.metrics import Metrics
from tests.support.cluster import Cluster
from tests.support.helm import CHART, Helm
from tests.support.promtool import Promtool, recording_rules
from tests.support.stand_in_crds import stand_in_crd

ALERT_TESTS = Path(__file__).resolve().parents[1] / "promtool" / "alerts.test.yaml"
ON = {"metrics": {"grafanaDashboard": {"enabled": True}, "prometheusRule": {"enabled": True}}}
ALERTS = {
    "CronwrightRunsFailing",
    "CronwrightFireSkewHigh",
    "CronwrightStatusLagHigh",
    "CronwrightHeartbeatDown",
    "CronwrightNoOperator",
    "CronwrightShardsUnheld",
}
#: Grafana's variables, given values that make each query plain PromQL for the parser.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$job": "r-cronwright-operator"}
#: The Prometheus Operator's PrometheusRule CRD, as a stand-in (tests/support/stand_in_crds.py).
PROMETHEUS_RULE_CRD = stand_in_crd("monitoring.coreos.com", "PrometheusRule", "prometheusrules")


@pytest.fixture(scope="module")
def helm(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(cluster, tmp_path_factory.mktemp("helm-observability"))


@pytest.fixture(scope="module")
def promtool() -> Promtool:
    return Promtool()


@pytest.fixture(scope="module")
def rendered(helm: Helm) -> list[dict[str, Any]]:
    return helm.template("cw-system", ON)


def _one(objects: list[dict[str, Any]], kind: str, name_suffix: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"].endswith(name_suffix)]
    assert len(found) == 1, [o["metadata"]["name"] for o in objects if o["kind"] == kind]
    return found[0]


def _dashboard(objects: list[dict[str, Any]]) -> dict[str, Any]:
    config_map = _one(objects, "ConfigMap", "-dashboard")
    return json.loads(config_map["data"]["cronwright.json"])


def _panel_queries(dashboard: dict[str, Any]) -> dict[str, str]:
    queries = {}
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            queries[f"dashboard:panel_{panel['id']}:{target['refId']}"] = expr
    return queries


def _exported_metric_names() -> set[str]:
    """The series names a real operator's registry exposes, suffixes included."""
    names = set()
    for family in Metrics().registry.collect():
        suffixes = {
            "counter": ("_total",),
            "histogram": ("_bucket", "_sum", "_count"),
            "gauge": ("",),
        }[family.type]
        names |= {family.name + suffix for suffix in suffixes}
    return names


def _metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\b(cronwright_[a-z_]+|up)\b(?=\s*[{\[)])", expr))


def test_promtool_is_the_pinned_release_built_here(promtool: Promtool) -> None:
    answer = promtool.run("--version")
    assert answer.returncode == 0, answer.stderr
    assert f"version {prometheus_release(pinned_promtool_version())}" in answer.stdout + answer.stderr


def test_both_are_off_by_default(helm: Helm) -> None:
    kinds = {(o["kind"], o["metadata"]["name"]) for o in helm.template("cw-system")}
    assert not [k for k in kinds if k[0] == "PrometheusRule" or k[1].endswith("-dashboard")], kinds


def test_dashboard_config_map_carries_the_grafana_sidecar_label(rendered: list[dict[str, Any]]) -> None:
    config_map = _one(rendered, "ConfigMap", "-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["namespace"] == "cw-system"
    dashboard = _dashboard(rendered)
    assert dashboard["uid"] == "cronwright-operator"
    titles = {panel["title"] for panel in dashboard["panels"]}
    for wanted in (
        "Runs per second by result",
        "Fire skew",
        "Status lag",
        "Runs in flight",
        "Schedules in the book",
        "API write latency p99",
        "API write conflicts",
        "Heartbeats down",
    ):
        assert wanted in titles, wanted


def test_sidecar_label_and_folder_annotation_follow_values(helm: Helm) -> None:
    values = {
        "metrics": {
            "grafanaDashboard": {
                "enabled": True,
                "labels": {"grafana_dashboard": "cronwright"},
                "annotations": {"grafana_folder": "Platform"},
            }
        }
    }
    config_map = _one(helm.template("cw-system", values), "ConfigMap", "-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "cronwright"
    assert config_map["metadata"]["annotations"] == {"grafana_folder": "Platform"}


def test_every_dashboard_query_parses(
    rendered: list[dict[str, Any]], promtool: Promtool, tmp_path: Path
) -> None:
    queries = _panel_queries(_dashboard(rendered))
    assert len(queries) >= 12
    assert not [q for q in queries.values() if "$" in q], "a Grafana variable left unreplaced"
    answer = promtool.check_rules(recording_rules(queries), tmp_path / "dashboard-queries.yaml")
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert f"SUCCESS: {len(queries)} rules found" in answer.stdout


def test_promtool_refuses_a_query_that_does_not_parse(promtool: Promtool, tmp_path: Path) -> None:
    """The check above can fail: a broken query is refused, naming the rule."""
    broken = {"dashboard:broken": "sum by (le (rate(cronwright_runs_total[5m]))"}
    answer = promtool.check_rules(recording_rules(broken), tmp_path / "broken.yaml")
    assert answer.returncode != 0
    assert "dashboard:broken" in answer.stdout + answer.stderr


def test_rule_and_dashboard_read_only_metrics_the_operator_exports(rendered: list[dict[str, Any]]) -> None:
    rule = _one(rendered, "PrometheusRule", "-operator")
    expressions = [r["expr"] for group in rule["spec"]["groups"] for r in group["rules"]]
    expressions += list(_panel_queries(_dashboard(rendered)).values())
    used = set().union(*(_metric_names(e) for e in expressions))
    assert {"cronwright_runs_total", "cronwright_status_lag_seconds_bucket"} <= used
    assert used - _exported_metric_names() - {"up"} == set()


def test_rule_file_passes_promtool_check(
    rendered: list[dict[str, Any]], promtool: Promtool, tmp_path: Path
) -> None:
    rule = _one(rendered, "PrometheusRule", "-operator")
    assert rule["metadata"]["namespace"] == "cw-system"
    alerts = {r["alert"] for group in rule["spec"]["groups"] for r in group["rules"]}
    assert alerts == ALERTS
    answer = promtool.check_rules(rule["spec"]["groups"], tmp_path / "rules.yaml")
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in answer.stdout


def test_alerts_fire_and_stay_quiet_in_promtool_unit_tests(
    rendered: list[dict[str, Any]], promtool: Promtool, tmp_path: Path
) -> None:
    rule = _one(rendered, "PrometheusRule", "-operator")
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    shutil.copy(ALERT_TESTS, tmp_path / "alerts.test.yaml")
    tested = {t["alertname"] for t in _alert_tests() for t in t.get("alert_rule_test", [])}
    assert tested == ALERTS
    for alert in ALERTS:
        firing = [
            t for case in _alert_tests() for t in case.get("alert_rule_test", []) if t["alertname"] == alert
        ]
        assert any(t["exp_alerts"] for t in firing) and any(not t["exp_alerts"] for t in firing), alert
    answer = promtool.run("test", "rules", "alerts.test.yaml", cwd=tmp_path)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert "SUCCESS" in answer.stdout


def test_a_wrong_threshold_fails_the_unit_tests(helm: Helm, promtool: Promtool, tmp_path: Path) -> None:
    """The unit tests pin the thresholds: with a skew threshold of 5 s the 2.5 s case no
    longer fires and promtool says which test failed."""
    values = {"metrics": {"prometheusRule": {"enabled": True, "fireSkewSeconds": 5}}}
    rule = _one(helm.template("cw-system", values), "PrometheusRule", "-operator")
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    shutil.copy(ALERT_TESTS, tmp_path / "alerts.test.yaml")
    answer = promtool.run("test", "rules", "alerts.test.yaml", cwd=tmp_path)
    assert answer.returncode != 0
    assert "alertname: CronwrightFireSkewHigh" in answer.stdout + answer.stderr


def test_selector_and_labels_follow_values(helm: Helm, promtool: Promtool, tmp_path: Path) -> None:
    values = {
        "metrics": {
            "prometheusRule": {
                "enabled": True,
                "selector": 'job="cronwright", cluster="eu-1"',
                "labels": {"release": "kube-prometheus-stack"},
            }
        }
    }
    rule = _one(helm.template("cw-system", values), "PrometheusRule", "-operator")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    exprs = [r["expr"] for group in rule["spec"]["groups"] for r in group["rules"]]
    assert all('{job="cronwright", cluster="eu-1"' in e for e in exprs), exprs
    answer = promtool.check_rules(rule["spec"]["groups"], tmp_path / "rules.yaml")
    assert answer.returncode == 0, answer.stdout + answer.stderr


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"prometheusRule": {"failingRunsRatio": 2}}, "at '/metrics/prometheusRule/failingRunsRatio'"),
        ({"prometheusRule": {"heartbeatFor": "soon"}}, "at '/metrics/prometheusRule/heartbeatFor'"),
        ({"prometheusRule": {"selector": "{job=x}"}}, "at '/metrics/prometheusRule/selector'"),
        ({"grafanaDashboard": {"labels": {"grafana_dashboard": 1}}}, "at '/metrics/grafanaDashboard/labels"),
        ({"grafanaDashboard": {"enable": True}}, "additional properties 'enable' not allowed"),
    ],
)
def test_schema_refuses_bad_values_naming_the_field(helm: Helm, values: dict[str, Any], message: str) -> None:
    result = helm.run("template", "r", str(CHART), *helm.values_args({"metrics": values}), check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_api_server_accepts_both(helm: Helm, cluster: Cluster, namespace: str) -> None:
    cluster.kubectl_run("apply", "-f", "-", input=json.dumps(PROMETHEUS_RULE_CRD))
    cluster.kubectl_run(
        "wait", "--for=condition=Established", "--timeout=60s", "crd/prometheusrules.monitoring.coreos.com"
    )
    rendered = helm.run("template", "cw", str(CHART), "-n", namespace, *helm.values_args(ON)).stdout
    dry_run = cluster.kubectl_run(
        "apply", "--server-side", "--dry-run=server", "-f", "-", input=rendered, check=False
    )
    assert dry_run.returncode == 0, dry_run.stderr
    assert "prometheusrule.monitoring.coreos.com/cw-cronwright-operator serverside-applied" in dry_run.stdout
    assert "configmap/cw-cronwright-dashboard serverside-applied" in dry_run.stdout


def _alert_tests() -> list[dict[str, Any]]:
    return yaml.safe_load(ALERT_TESTS.read_text())["tests"]
