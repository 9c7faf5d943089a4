"""The operator and the facade, run in-cluster, keep working past two token rotations.

In a pod the kubelet replaces the projected service-account token before it expires; an
API server with `--service-account-extend-token-expiration=false` then refuses the old
one. A client that reads its token once works for the first lifetime and then gets 401
for good. Here the tokens live 10 s and rotate every 8 s (tests/support/service_accounts.py
says how and why the test signs them itself), and the API server's audit log tells which
token each request carried — so the test can check that kopf's watch, the operator's own
writes and the facade's writes all moved on to tokens minted after the first two died.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cronwright.api.apikeys import create_key
from cronwright.core.controlplane.cluster import ControlPlane, free_port, run_kubectl
from cronwright.core.kube import run_with_kube
from cronwright.core.processes import start_component, stop_component
from tests.support import audit
from tests.support.kubectl import wait_for
from tests.support.receiver import Receiver
from tests.support.service_accounts import (
    DEAD_AFTER,
    RotatingServiceAccount,
    TokenMinter,
    in_cluster_prefix,
)

pytestmark = pytest.mark.cluster

NAMESPACE = "rotation"
ACCOUNT = "cronwright"
LIFETIME, PERIOD = 10.0, 8.0
CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[ControlPlane]:
    (tmp_path / "audit-policy.yaml").write_text(audit.policy())
    flags = [
        f"--audit-policy-file={tmp_path / 'audit-policy.yaml'}",
        f"--audit-log-path={tmp_path / 'audit.log'}",
        "--service-account-extend-token-expiration=false",
    ]
    with ControlPlane(workdir=tmp_path / "plane", extra_apiserver_flags=flags) as started:
        yield started


def kubectl(plane: ControlPlane, *args: str, input: str | None = None) -> str:
    return run_kubectl(plane.kubectl, plane.kubeconfig, *args, input=input).stdout


def jtis_used(events: list[dict[str, Any]], agent: str, verb: str, resource: str) -> set[str]:
    """The tokens (by jti) our account sent for one kind of request, answered without error."""
    return {
        credential.removeprefix("JTI=")
        for event in events
        if event["user"].get("username") == f"system:serviceaccount:{NAMESPACE}:{ACCOUNT}"
        and event.get("userAgent", "").startswith(agent)
        and event.get("verb") == verb
        and event.get("objectRef", {}).get("resource") == resource
        and event.get("responseStatus", {}).get("code", 0) < 400
        for credential in event["user"].get("extra", {}).get(CREDENTIAL_ID, [])
    }


def test_operator_and_facade_follow_rotating_tokens(plane: ControlPlane, tmp_path: Path) -> None:
    kubectl(plane, "create", "namespace", NAMESPACE)
    kubectl(plane, "create", "serviceaccount", ACCOUNT, "-n", NAMESPACE)
    kubectl(
        plane,
        "create",
        "clusterrolebinding",
        "rotation-admin",
        "--clusterrole=cluster-admin",
        f"--serviceaccount={NAMESPACE}:{ACCOUNT}",
    )
    uid = kubectl(plane, "get", "serviceaccount", ACCOUNT, "-n", NAMESPACE, "-o", "jsonpath={.metadata.uid}")
    assert plane.workdir is not None
    pki = plane.workdir / "pki"
    account = RotatingServiceAccount(
        tmp_path / "serviceaccount",
        pki / "ca.crt",
        TokenMinter(pki / "sa.key", NAMESPACE, ACCOUNT, uid),
        LIFETIME,
        PERIOD,
    ).start()
    receiver = Receiver().start()
    host, port = plane.server.removeprefix("https://").split(":")
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "KUBERNETES_SERVICE_HOST": host,
        "KUBERNETES_SERVICE_PORT": port,
    }
    prefix = in_cluster_prefix(account.directory)
    op_port, api_port = free_port(), free_port()
    operator = api = None
    try:
        operator = start_component(
            ["operator", f"--namespace={NAMESPACE}", f"--lease-namespace={NAMESPACE}", f"--port={op_port}"],
            tmp_path / "operator.log",
            f"http://127.0.0.1:{op_port}",
            "/readyz",
            env=env,
            prefix=prefix,
        )
        api = start_component(
            ["api", f"--port={api_port}", f"--keys-namespace={NAMESPACE}"],
            tmp_path / "api.log",
            f"http://127.0.0.1:{api_port}",
            "/healthz",
            env=env,
            prefix=prefix,
        )
        kubectl(
            plane,
            "apply",
            "-n",
            NAMESPACE,
            "-f",
            "-",
            input=json.dumps(
                {
                    "apiVersion": "cronwright.io/v1alpha1",
                    "kind": "CronJobSpec",
                    "metadata": {"name": "steady"},
                    "spec": {"schedule": {"every": "2s"}, "http": {"url": receiver.url("/steady")}},
                }
            ),
        )
        wait_for(lambda: receiver.at("/steady"), 30, "a first run")

        # Two rotations, then until the first two tokens are dead for sure.
        wait_for(lambda: len(account.tokens) >= 3, 3 * PERIOD, "two rotations")
        wait_until = account.tokens[1].expires + DEAD_AFTER
        time.sleep(max(0.0, wait_until - time.time()))
        dead = {token.jti for token in account.tokens[:2]}
        # Break every connection and watch: each client must come back with the token it
        # holds now (kopf's watch would otherwise run on its first token for 5 minutes).
        plane.restart_apiserver()
        cutoff = time.time()

        key = run_with_kube(
            str(plane.kubeconfig),
            lambda kube: create_key(kube, NAMESPACE, ("read", "write"), keys_namespace=NAMESPACE),
        )
        created = httpx.post(
            f"http://127.0.0.1:{api_port}/v1/cron-jobs",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "endpoint_url": receiver.url("/late"),
                "frequency": "custom",
                "custom_schedule": "* * * * * *",
                "timezone": "UTC",
                "method": "POST",
            },
            timeout=10,
        )
        assert created.status_code == 201, created.text
        wait_for(lambda: receiver.at("/late"), 30, "a run of the job created after the rotations")
        wait_for(lambda: [r for r in receiver.at("/steady") if r.at > cutoff], 10, "steady runs after")
    finally:
        stop_component(api)
        stop_component(operator)
        account.stop()
        receiver.stop()

    events = audit.events(tmp_path / "audit.log")
    assert not [e for e in events if audit.code(e) == 401], "no request was refused"
    minted = [token.jti for token in account.tokens]
    later = set(minted[2:])
    for agent, verb, resource in [
        ("kopf/", "watch", "cronjobspecs"),  # kopf's watch came back with a rotated token
        ("cronwright-operator/", "patch", "cronjobspecs"),  # status writes
        ("cronwright-api/", "create", "cronjobspecs"),  # the facade's write
    ]:
        used = jtis_used(events, agent, verb, resource)
        assert used & later, f"{agent} {verb} {resource}: no rotated token among {used}"
    assert not (jtis_used(events, "cronwright-api/", "create", "cronjobspecs") & dead)
