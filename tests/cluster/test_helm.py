"""The Helm chart on the real control plane: lint, render, schema, install, server-side
dry-run, least-privilege RBAC, and the components running under the chart's accounts.

No kubelet or controller-manager runs here, so pods never start: what the API server can
check is checked (every object accepted, RBAC decisions), and the operator and facade run
on this machine with the pod's exact arguments and the chart's service-account tokens.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from cronwright.api.apikeys import hash_key, new_key, parse_key
from cronwright.cli.main import parser
from cronwright.core import config as settings_file
from cronwright.core.controlplane.binaries import pinned_helm_version
from tests.support.chart_process import ChartComponent
from tests.support.cluster import Cluster
from tests.support.helm import CHART, Helm, service_account_kubeconfig
from tests.support.kubectl import apply, cronjobspec, events, status, wait_for
from tests.support.logs import problems
from tests.support.receiver import Receiver
from tests.support.stand_in_crds import stand_in_crd

# The Prometheus Operator's ServiceMonitor CRD, as a stand-in (tests/support/stand_in_crds.py).
SERVICE_MONITOR_CRD = stand_in_crd("monitoring.coreos.com", "ServiceMonitor", "servicemonitors")


def _namespace(cluster: Cluster) -> str:
    name = f"h-{uuid.uuid4().hex[:10]}"
    cluster.kubectl_run("create", "namespace", name)
    return name


def _all_features(tenant: str, key: str) -> dict[str, Any]:
    """Every optional part on, the operator and facade limited to one tenant namespace."""
    key_id = parse_key(key)
    return {
        "config": {
            "handlers": {"ping": {"http": {"url": "http://127.0.0.1:9/ping", "method": "POST"}}},
            "channels": {"web": {"url": "http://127.0.0.1:9/inbox"}},
        },
        "operator": {"watchNamespaces": [tenant], "replicas": 3},
        "webhook": {"enabled": True},
        "facade": {
            "tenantNamespaces": [tenant],
            "ingress": {
                "enabled": True,
                "className": "nginx",
                "hosts": [{"host": "cronwright.localhost", "paths": [{"path": "/", "pathType": "Prefix"}]}],
            },
        },
        "bootstrapApiKey": {"enabled": True, "keyId": key_id, "sha256": hash_key(key), "namespace": tenant},
        "metrics": {"serviceMonitor": {"enabled": True}},
        "networkPolicy": {"enabled": True, "egress": [{"to": [{"ipBlock": {"cidr": "127.0.0.0/8"}}]}]},
    }


def _kinds(objects: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    return by_kind


def _deployment(objects: list[dict[str, Any]], component: str) -> dict[str, Any]:
    return next(
        o
        for o in objects
        if o["kind"] == "Deployment" and o["metadata"]["labels"]["app.kubernetes.io/component"] == component
    )


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def can_i(cluster: Cluster, account: str, verb: str, resource: str, namespace: str | None = None) -> bool:
    """The API server's RBAC decision for the service account `namespace:name`.

    A SubjectAccessReview (the same authorizer decision `kubectl auth can-i --as` asks for)
    rather than can-i itself: can-i first resolves the resource through discovery and
    answers "no" for kinds whose CRD is not installed here (argoproj.io workflows), while
    RBAC rules need no CRD.
    `resource` is `plural.group`, optionally followed by /status or /NAME.
    """
    kind, _, tail = resource.partition("/")
    plural, _, group = kind.partition(".")
    sa_namespace, _, _ = account.partition(":")
    attributes = {"verb": verb, "group": group, "resource": plural, "namespace": namespace or ""}
    if tail == "status":
        attributes["subresource"] = "status"
    elif tail:
        attributes["name"] = tail
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": f"system:serviceaccount:{account}",
            "groups": [
                "system:serviceaccounts",
                f"system:serviceaccounts:{sa_namespace}",
                "system:authenticated",
            ],
            "resourceAttributes": attributes,
        },
    }
    answer = cluster.kubectl_run("create", "-o", "json", "-f", "-", input=json.dumps(review))
    return bool(json.loads(answer.stdout)["status"].get("allowed"))


@pytest.fixture(scope="module")
def helm(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(cluster, tmp_path_factory.mktemp("helm"))


@pytest.fixture(scope="module")
def service_monitor_crd(cluster: Cluster) -> None:
    cluster.kubectl_run("apply", "-f", "-", input=json.dumps(SERVICE_MONITOR_CRD))
    cluster.kubectl_run(
        "wait", "--for=condition=Established", "--timeout=60s", "crd/servicemonitors.monitoring.coreos.com"
    )


@pytest.fixture(scope="module")
def default_release(helm: Helm, cluster: Cluster) -> Iterator[str]:
    """The chart installed with its default values; yields the release namespace."""
    namespace = _namespace(cluster)
    helm.install("cw", namespace)
    yield namespace
    helm.run("uninstall", "cw", "-n", namespace, "--wait=false", check=False)


def test_helm_is_the_pinned_release_built_here(helm: Helm) -> None:
    assert helm.run("version", "--short").stdout.startswith(pinned_helm_version())


def test_lint_passes_with_default_and_all_features(helm: Helm) -> None:
    helm.run("lint", "--strict", str(CHART))
    helm.run("lint", "--strict", str(CHART), *helm.values_args(_all_features("tenant-a", new_key()[0])))


def test_default_render_is_hardened_and_runs_the_real_commands(helm: Helm) -> None:
    objects = helm.template("cw-system")
    kinds = _kinds(objects)
    assert {"Deployment", "Service", "ConfigMap", "ServiceAccount", "PodDisruptionBudget"} <= set(kinds)
    assert not {"Ingress", "ServiceMonitor", "NetworkPolicy", "Secret"} & set(kinds), "optional parts are off"
    for deployment in kinds["Deployment"]:
        pod = deployment["spec"]["template"]["spec"]
        container = _container(deployment)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] > 0
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
        }
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] in {"/readyz", "/healthz"}
        assert container["resources"]["requests"] and container["resources"]["limits"]
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/etc/cronwright", "/tmp"} <= mounts, "settings file and the only writable folder"
        # The arguments are the real CLI's: a renamed flag fails here, not in a pod.
        parsed = parser().parse_args(container["args"])
        assert parsed.config == "/etc/cronwright/config.yaml" and parsed.host == "0.0.0.0"
    operator = _container(_deployment(objects, "operator"))
    assert parser().parse_args(operator["args"]).lease_namespace == "cw-system"
    assert {e["name"] for e in operator["env"]} == {"POD_NAME", "POD_NAMESPACE"}
    assert _deployment(objects, "operator")["spec"]["replicas"] == 2
    facade = _container(_deployment(objects, "api"))
    assert parser().parse_args(facade["args"]).keys_namespace == "cw-system"


def test_all_features_render(helm: Helm) -> None:
    key = new_key()[0]
    objects = helm.template("cw-system", _all_features("tenant-a", key))
    kinds = _kinds(objects)
    assert {"Ingress", "ServiceMonitor", "NetworkPolicy", "Secret"} <= set(kinds)
    operator_args = _container(_deployment(objects, "operator"))["args"]
    assert "--namespace=tenant-a" in operator_args
    assert "--webhook-service=cw-system/r-cronwright-webhook" in operator_args
    assert "--webhook-configuration=cw-system-r-cronwright" in operator_args
    assert "--webhook-failure-policy=Ignore" in operator_args
    webhook_service = next(o for o in kinds["Service"] if o["metadata"]["name"] == "r-cronwright-webhook")
    assert webhook_service["spec"]["ports"][0]["port"] == 443
    # Namespaced operator and facade: their rights come from RoleBindings in tenant-a only.
    assert {(b["metadata"]["namespace"], b["roleRef"]["kind"]) for b in kinds["RoleBinding"]} >= {
        ("tenant-a", "ClusterRole")
    }
    assert not any(
        b["metadata"]["name"] == "r-cronwright-operator-cw-system" for b in kinds["ClusterRoleBinding"]
    )
    secret = kinds["Secret"][0]
    assert key not in json.dumps(secret), "only the hash of the bootstrap key is rendered"
    assert secret["stringData"]["sha256"] == hash_key(key)
    config_map = kinds["ConfigMap"][0]
    assert (
        yaml.safe_load(config_map["data"]["config.yaml"])["channels"]["web"]["url"]
        == "http://127.0.0.1:9/inbox"
    )


def test_operator_alone_with_its_own_account(helm: Helm) -> None:
    """facade.enabled=false leaves out every facade object; a ServiceAccount made elsewhere
    must be named, and the error says so."""
    objects = helm.template(
        "cw-system",
        {"facade": {"enabled": False}, "operator": {"serviceAccount": {"create": False, "name": "ops"}}},
    )
    assert all(o["metadata"].get("labels", {}).get("app.kubernetes.io/component") != "api" for o in objects)
    assert "ServiceAccount" not in _kinds(objects)
    assert _deployment(objects, "operator")["spec"]["template"]["spec"]["serviceAccountName"] == "ops"
    unnamed = {"operator": {"serviceAccount": {"create": False}}}
    result = helm.run("template", "r", str(CHART), *helm.values_args(unnamed), check=False)
    assert "operator.serviceAccount.name is required when operator.serviceAccount.create is false" in (
        result.stderr
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"operator": {"replicas": -1}}, "at '/operator/replicas'"),
        ({"operator": {"replcias": 2}}, "additional properties 'replcias' not allowed"),
        ({"operator": {"logFormat": "xml"}}, "at '/operator/logFormat'"),
        ({"operator": {"extraArgs": ["oops"]}}, "at '/operator/extraArgs/0'"),
        ({"webhook": {"enabled": True, "failurePolicy": "Sometimes"}}, "at '/webhook/failurePolicy'"),
        ({"facade": {"tenantNamespaces": ["Not_A_Namespace"]}}, "at '/facade/tenantNamespaces/0'"),
        ({"image": {"repository": ""}}, "at '/image/repository'"),
        ({"bootstrapApiKey": {"enabled": True, "keyId": "xyz"}}, "at '/bootstrapApiKey/keyId'"),
        ({"bootstrapApiKey": {"enabled": True}}, "at '/bootstrapApiKey/sha256'"),
        ({"config": "handlers: {}"}, "at '/config'"),
    ],
)
def test_schema_refuses_bad_values_naming_the_field(helm: Helm, values: dict[str, Any], message: str) -> None:
    result = helm.run("template", "r", str(CHART), *helm.values_args(values), check=False)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert message in result.stderr, result.stderr


def test_install_refuses_bad_values_and_creates_nothing(helm: Helm, cluster: Cluster) -> None:
    namespace = _namespace(cluster)
    result = helm.run(
        "install",
        "bad",
        str(CHART),
        "-n",
        namespace,
        *helm.values_args({"operator": {"replicas": "two"}}),
        check=False,
    )
    assert result.returncode != 0 and "at '/operator/replicas': got string, want integer" in result.stderr
    assert helm.run("status", "bad", "-n", namespace, check=False).returncode != 0
    listed = cluster.kubectl_run(
        "get", "deployments,configmaps,serviceaccounts", "-n", namespace, "-o", "name"
    )
    assert "cronwright" not in listed.stdout


def test_default_install_is_accepted_by_the_api_server(
    helm: Helm, cluster: Cluster, default_release: str
) -> None:
    status_line = helm.run("status", "cw", "-n", default_release, "-o", "json").stdout
    assert json.loads(status_line)["info"]["status"] == "deployed"
    names = cluster.kubectl_run(
        "get",
        "deployments,services,configmaps,serviceaccounts,poddisruptionbudgets,roles,rolebindings",
        "-n",
        default_release,
        "-o",
        "name",
    ).stdout.split()
    for expected in (
        "deployment.apps/cw-cronwright-operator",
        "deployment.apps/cw-cronwright-api",
        "service/cw-cronwright-api",
        "configmap/cw-cronwright-config",
        "serviceaccount/cw-cronwright-operator",
        "poddisruptionbudget.policy/cw-cronwright-operator",
        "role.rbac.authorization.k8s.io/cw-cronwright-operator-leases",
        "rolebinding.rbac.authorization.k8s.io/cw-cronwright-api-keys",
    ):
        assert expected in names
    cluster.kubectl_run("get", "clusterrole", f"cw-cronwright-operator-{default_release}")
    cluster.kubectl_run("get", "crd", "cronjobspecs.cronwright.io")
    notes = helm.run("get", "notes", "cw", "-n", default_release).stdout
    assert "port-forward svc/cw-cronwright-api 8000:" in notes
    assert (
        "Dashboard (sign in with an API key): http://127.0.0.1:8000/ui while the port-forward runs" in notes
    )
    assert "://" not in notes.split("/ui", 1)[1], "no ingress address without an ingress"


def test_all_features_pass_server_side_dry_run_and_install(
    helm: Helm, cluster: Cluster, service_monitor_crd: None
) -> None:
    namespace, tenant = _namespace(cluster), _namespace(cluster)
    values = _all_features(tenant, new_key()[0])
    rendered = helm.run(
        "template", "cw", str(CHART), "-n", namespace, "--include-crds", *helm.values_args(values)
    )
    dry_run = cluster.kubectl_run(
        "apply",
        "--server-side",
        "--dry-run=server",
        "-f",
        "-",
        input=rendered.stdout,
        check=False,
    )
    assert dry_run.returncode == 0, dry_run.stderr
    assert (
        "servicemonitor.monitoring.coreos.com/cw-cronwright-operator serverside-applied (server dry run)"
        in (dry_run.stdout)
    )
    helm.install("cw", namespace, values)
    for name in (
        "ingress.networking.k8s.io/cw-cronwright-api",
        "servicemonitor.monitoring.coreos.com/cw-cronwright-operator",
        "networkpolicy.networking.k8s.io/cw-cronwright-api",
        "service/cw-cronwright-webhook",
        f"secret/cronwright-apikey-{values['bootstrapApiKey']['keyId']}",
    ):
        cluster.kubectl_run("get", name, "-n", namespace)
    notes = helm.run("get", "notes", "cw", "-n", namespace).stdout
    assert (
        "http://127.0.0.1:8000/ui while the port-forward runs\n  or http://cronwright.localhost/ui\n" in notes
    )
    operator = f"{namespace}:cw-cronwright-operator"
    facade = f"{namespace}:cw-cronwright-api"
    wait_for(lambda: can_i(cluster, operator, "get", "secrets", tenant) or None, 15, "RBAC to take effect")
    # Limited to the tenant namespace: nothing in any other.
    assert not can_i(cluster, operator, "get", "secrets", namespace)
    assert not can_i(cluster, operator, "list", "cronjobspecs.cronwright.io")
    assert can_i(cluster, operator, "list", "cronjobspecs.cronwright.io", tenant)
    assert can_i(cluster, facade, "delete", "secrets", tenant)
    assert not can_i(cluster, facade, "delete", "secrets", namespace)
    assert not can_i(cluster, facade, "create", "cronjobspecs.cronwright.io", namespace)
    # The webhook configuration: only its own, by name.
    own = f"validatingwebhookconfigurations.admissionregistration.k8s.io/{namespace}-cw-cronwright"
    assert can_i(cluster, operator, "update", own)
    assert can_i(cluster, operator, "create", "validatingwebhookconfigurations.admissionregistration.k8s.io")
    assert not can_i(
        cluster, operator, "update", "validatingwebhookconfigurations.admissionregistration.k8s.io/other"
    )
    assert not can_i(cluster, operator, "delete", own)
    helm.run("uninstall", "cw", "-n", namespace)
    gone = cluster.kubectl_run(
        "get", "clusterrole", f"cw-cronwright-operator-{namespace}-webhook", check=False
    )
    assert gone.returncode != 0, "uninstall removes the cluster-scoped objects too"


def test_default_rbac_grants_what_the_code_uses_and_nothing_more(
    cluster: Cluster, default_release: str
) -> None:
    tenant = _namespace(cluster)
    operator = f"{default_release}:cw-cronwright-operator"
    facade = f"{default_release}:cw-cronwright-api"
    wait_for(lambda: can_i(cluster, operator, "watch", "cronjobspecs.cronwright.io") or None, 15, "RBAC")
    allowed = [
        (operator, "list", "cronjobspecs.cronwright.io", None),
        (operator, "get", "cronjobspecs.cronwright.io", tenant),
        (operator, "patch", "cronjobspecs.cronwright.io/status", tenant),
        (operator, "create", "events", tenant),
        (operator, "get", "secrets", tenant),
        (operator, "create", "jobs.batch", tenant),
        (operator, "delete", "workflows.argoproj.io", tenant),
        (operator, "create", "leases.coordination.k8s.io", default_release),
        (operator, "update", "leases.coordination.k8s.io", default_release),
        (operator, "list", "leases.coordination.k8s.io", default_release),
        (facade, "watch", "cronjobspecs.cronwright.io", None),
        (facade, "create", "cronjobspecs.cronwright.io", tenant),
        (facade, "patch", "cronjobspecs.cronwright.io", tenant),
        (facade, "delete", "cronjobspecs.cronwright.io", tenant),
        (facade, "create", "cronprojects.cronwright.io", tenant),
        (facade, "update", "secrets", tenant),
        (facade, "get", "secrets", default_release),
        (facade, "update", "configmaps/cronwright-asta-registry", tenant),
        (facade, "create", "configmaps", tenant),
    ]
    refused = [
        (operator, "create", "pods", tenant),
        (operator, "patch", "cronjobspecs.cronwright.io", tenant),
        (operator, "delete", "cronjobspecs.cronwright.io", tenant),
        (operator, "list", "secrets", tenant),
        (operator, "delete", "secrets", tenant),
        (operator, "create", "leases.coordination.k8s.io", tenant),
        (operator, "create", "deployments.apps", tenant),
        (operator, "create", "validatingwebhookconfigurations.admissionregistration.k8s.io", None),
        (operator, "list", "namespaces", None),
        (facade, "list", "secrets", tenant),
        # Keys are read one by one, never enumerated (creating them is the admin's CLI).
        (facade, "list", "secrets", default_release),
        (facade, "watch", "secrets", None),
        (facade, "patch", "cronjobspecs.cronwright.io/status", tenant),
        (facade, "create", "events", tenant),
        (facade, "create", "pods", tenant),
        (facade, "create", "namespaces", None),
        (facade, "update", "configmaps/cw-cronwright-config", default_release),
        (facade, "delete", "configmaps/cronwright-asta-registry", tenant),
    ]
    assert [c for c in allowed if not can_i(cluster, c[0], c[1], c[2], c[3])] == []
    assert [c for c in refused if can_i(cluster, c[0], c[1], c[2], c[3])] == []
    # kubectl's own answer agrees where it can resolve the kind.
    for account, verb, resource, where, expected in [
        (operator, "get", "secrets", tenant, "yes"),
        (operator, "create", "pods", tenant, "no"),
        (facade, "list", "secrets", default_release, "no"),
        (facade, "create", "cronjobspecs.cronwright.io", tenant, "yes"),
    ]:
        answer = cluster.kubectl_run(
            "auth", "can-i", verb, resource, "-n", where, f"--as=system:serviceaccount:{account}", check=False
        )
        assert answer.stdout.strip() == expected, (account, verb, resource)


def _pod_args(cluster: Cluster, namespace: str, deployment: str) -> list[str]:
    obj = json.loads(
        cluster.kubectl_run("get", "deployment", deployment, "-n", namespace, "-o", "json").stdout
    )
    return obj["spec"]["template"]["spec"]["containers"][0]["args"]


def _settings_file(cluster: Cluster, namespace: str, path: Path) -> Path:
    """The ConfigMap as the pod would see it mounted."""
    config_map = json.loads(
        cluster.kubectl_run("get", "configmap", "cw-cronwright-config", "-n", namespace, "-o", "json").stdout
    )
    path.write_text(config_map["data"]["config.yaml"])
    settings_file.load(path)  # what both components do at start: a bad file fails here
    return path


def test_operator_fires_under_the_charts_account_and_arguments(
    cluster: Cluster, default_release: str, receiver: Receiver, namespace: str, tmp_path: Path
) -> None:
    kubeconfig = service_account_kubeconfig(
        cluster, default_release, "cw-cronwright-operator", tmp_path / "operator.kubeconfig"
    )
    pod_args = _pod_args(cluster, default_release, "cw-cronwright-operator")
    # Watch the test's namespace only, as a namespaced install would (the default watches all).
    component = ChartComponent(
        [*pod_args, f"--namespace={namespace}"],
        kubeconfig,
        _settings_file(cluster, default_release, tmp_path / "config.yaml"),
        tmp_path / "operator.log",
        {**os.environ, "POD_NAME": "cw-cronwright-operator-local", "POD_NAMESPACE": default_release},
    )
    try:
        component.start("/readyz")
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "hook"},
            "data": {"token": base64.b64encode(b"Bearer s3cret").decode()},
        }
        job = cronjobspec(
            "tick",
            {"every": "1s"},
            {
                "url": receiver.url("/tick"),
                "headersFrom": [{"name": "Authorization", "secretKeyRef": {"name": "hook", "key": "token"}}],
            },
        )
        apply(cluster, namespace, secret, job)
        first = wait_for(lambda: (receiver.at("/tick") or [None])[0], 30, "a run", every=0.3)
        assert first.headers["authorization"] == "Bearer s3cret", "the Secret was readable"
        wait_for(lambda: status(cluster, namespace, "tick").get("lastRun") or None, 30, "status written")
        lease = cluster.kubectl_run(
            "get", "lease", "cronwright-op-cw-cronwright-operator-local", "-n", default_release, "-o", "json"
        )
        assert json.loads(lease.stdout)["spec"]["leaseDurationSeconds"] > 0
        assert problems(component.log) == [], "a warning or error: a call the account may not make?"
        posted = wait_for(
            lambda: [e for e in events(cluster, namespace, "tick") if e["reason"] == "RunSucceeded"],
            15,
            "a RunSucceeded Event (events create is granted)",
        )
        assert posted[0]["reportingInstance"] == "cw-cronwright-operator-local"
    finally:
        component.stop()
        if component.popen and component.popen.returncode not in (0, -15):
            print(component.tail())


def test_operator_registers_the_webhook_under_the_charts_account(
    helm: Helm, cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    """With webhook.enabled the operator, under the chart's account and arguments, stores the
    shared serving certificate and registers its configuration against the chart's Service.
    No pod backs that Service here, so the API server cannot reach the webhook — and with
    the chart's failurePolicy Ignore a CronJobSpec is still accepted."""
    release_namespace = _namespace(cluster)
    helm.install(
        "cw", release_namespace, {"webhook": {"enabled": True}, "operator": {"watchNamespaces": [namespace]}}
    )
    configuration = f"{release_namespace}-cw-cronwright"
    component = ChartComponent(
        _pod_args(cluster, release_namespace, "cw-cronwright-operator"),
        service_account_kubeconfig(
            cluster, release_namespace, "cw-cronwright-operator", tmp_path / "kubeconfig"
        ),
        _settings_file(cluster, release_namespace, tmp_path / "config.yaml"),
        tmp_path / "operator.log",
        {**os.environ, "POD_NAME": "cw-cronwright-operator-local", "POD_NAMESPACE": release_namespace},
    )
    try:
        component.start("/readyz")
        registered = wait_for(
            lambda: (
                (
                    r := cluster.kubectl_run(
                        "get", "validatingwebhookconfiguration", configuration, "-o", "json", check=False
                    )
                ).returncode
                == 0
                and json.loads(r.stdout)
            ),
            30,
            "the webhook configuration",
        )
        hook = registered["webhooks"][0]
        assert hook["failurePolicy"] == "Ignore"
        assert hook["clientConfig"]["service"] == {
            "namespace": release_namespace,
            "name": "cw-cronwright-webhook",
            "path": hook["clientConfig"]["service"]["path"],
            "port": 443,
        }
        certificate = json.loads(
            cluster.kubectl_run(
                "get", "secret", "cw-cronwright-webhook-tls", "-n", release_namespace, "-o", "json"
            ).stdout
        )
        assert hook["clientConfig"]["caBundle"] == certificate["data"]["ca.crt"]
        apply(
            cluster,
            namespace,
            cronjobspec("accepted", {"cron": "0 9 * * *"}, {"url": "http://127.0.0.1:9/x"}),
        )
        assert problems(component.log) == [], "a warning or error: a call the account may not make?"
    finally:
        component.stop()
        cluster.kubectl_run("delete", "validatingwebhookconfiguration", configuration, check=False)


def test_facade_serves_the_bootstrap_key_under_the_charts_account(
    helm: Helm, cluster: Cluster, receiver: Receiver, namespace: str, tmp_path: Path
) -> None:
    release_namespace = _namespace(cluster)
    key = new_key()[0]
    helm.install(
        "cw",
        release_namespace,
        {
            "bootstrapApiKey": {
                "enabled": True,
                "keyId": parse_key(key),
                "sha256": hash_key(key),
                "namespace": namespace,
            },
            "facade": {"tenantNamespaces": [namespace]},
        },
    )
    kubeconfig = service_account_kubeconfig(
        cluster, release_namespace, "cw-cronwright-api", tmp_path / "api.kubeconfig"
    )
    component = ChartComponent(
        _pod_args(cluster, release_namespace, "cw-cronwright-api"),
        kubeconfig,
        _settings_file(cluster, release_namespace, tmp_path / "config.yaml"),
        tmp_path / "api.log",
        dict(os.environ),
    )
    try:
        component.start("/healthz")
        with httpx.Client(
            base_url=component.url, headers={"Authorization": f"Bearer {key}"}, timeout=15
        ) as client:
            created = client.post(
                "/v1/cron-jobs",
                json={
                    "endpoint_url": receiver.url("/hook"),
                    "frequency": "daily",
                    "time": "09:00",
                    "timezone": "UTC",
                    "method": "POST",
                    "headers": {"Authorization": "Bearer token123"},
                },
            )
            assert created.status_code == 201, created.text + component.tail()
            job = created.json()
            fetched = client.get(f"/v1/cron-jobs/{job['id']}")
            assert (
                fetched.status_code == 200 and fetched.json()["headers"]["Authorization"] == "Bearer token123"
            )
            assert client.delete(f"/v1/cron-jobs/{job['id']}").status_code in (200, 204)
        with httpx.Client(
            base_url=component.url, headers={"Authorization": f"Bearer {new_key()[0]}"}
        ) as other:
            assert other.get("/v1/cron-jobs").status_code == 401, "an unknown key is refused"
    finally:
        component.stop()
        helm.run("uninstall", "cw", "-n", release_namespace, check=False)
