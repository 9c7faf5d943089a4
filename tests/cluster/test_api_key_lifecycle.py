"""API keys as the facade sees them (docs/security.md): a key whose namespace does not exist,
and a revoked key, against the real control plane."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from cronwright.api.apikeys import key_secret, new_key, parse_key
from cronwright.core.kube import run_with_kube
from tests.support.api_process import ApiProcess, api_with_settings, envelope_error
from tests.support.cluster import Cluster

TARGET = "http://127.0.0.1:9/x"
#: The named targets asta (`channels`) and cron-registry (`handlers`) create jobs with.
facade = api_with_settings(
    "facade", {"channels": {"web": {"url": TARGET}}, "handlers": {"ping": {"http": {"url": TARGET}}}}
)

A1BASE_JOB = {
    "endpoint_url": TARGET,
    "frequency": "daily",
    "time": "09:00",
    "method": "POST",
    "headers": {"Authorization": "Bearer t"},
}
AGENT_SCHEDULE = {
    "name": "n",
    "type": "delayed",
    "delay_seconds": 60,
    "callback_type": "webhook",
    "callback_id": TARGET,
}
ASTA_JOB = {"name": "n", "cron_expr": "0 9 * * *", "message": "hi", "channel": "web"}
REGISTRY_JOB = {"name": "n", "schedule": "0 9 * * *", "handler": "ping"}


def stored_key(api: ApiProcess, cluster: Cluster, namespace: str) -> str:
    """A key for `namespace` written straight as its Secret, as a key whose namespace was
    deleted later looks (`apikey create` refuses a missing namespace)."""
    plaintext, key_id = new_key()
    manifest = key_secret(key_id, plaintext, namespace, ["read", "write"], keys_namespace=api.keys_namespace)
    cluster.kubectl_run("create", "namespace", api.keys_namespace, check=False)  # the first key makes it
    path = f"/api/v1/namespaces/{api.keys_namespace}/secrets"
    run_with_kube(str(api.kubeconfig), lambda kube: kube.create(path, manifest))
    return plaintext


def test_a_key_whose_namespace_is_missing_gets_a_403_naming_it_in_every_envelope(
    facade: ApiProcess, cluster: Cluster, namespace: str
) -> None:
    missing = f"{namespace}-gone"
    key = stored_key(facade, cluster, missing)
    with facade.client(key) as bearer, facade.client(key, header="x-api-key") as cronpulse:
        for response in (
            bearer.post("/v1/cron-jobs", json=A1BASE_JOB),
            bearer.post("/api/agents/agent-1/schedules", json=AGENT_SCHEDULE),
            bearer.post("/api/v1/cron/jobs", json=REGISTRY_JOB),
        ):
            error = envelope_error(response, 403, "namespace_not_found")
            assert repr(missing) in error["message"], error

        refused = cronpulse.post("/api/v1/projects", json={"name": "p"})
        assert refused.status_code == 403, refused.text
        assert list(refused.json()) == ["error"] and repr(missing) in refused.json()["error"]

        # asta's own envelope; before, its name registry took the 404 for a lost race and
        # answered 503 busy after ~25 s of retries.
        started = time.monotonic()
        refused = bearer.post("/api/cron", json=ASTA_JOB)
        assert refused.status_code == 403, refused.text
        body = refused.json()
        assert body["ok"] is False and body["code"] == "namespace_not_found", body
        assert repr(missing) in body["error"] and body["detail"] == body["error"], body
        assert time.monotonic() - started < 5, "refused at once, not after retries"

        # Reads answer as for an empty namespace: there is nothing in it.
        listed = bearer.get("/v1/cron-jobs")
        assert listed.status_code == 200 and listed.json()["meta"]["total"] == 0
        assert cronpulse.get("/api/v1/projects").json() == []
        assert bearer.get("/api/cron").json() == {"cron_jobs": []}
        assert bearer.get("/api/v1/cron/jobs").json()["pagination"]["total"] == 0


def test_with_no_key_cache_a_revoked_key_is_refused_on_the_next_request(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    extra = ("--key-cache-seconds", "0")
    with ApiProcess(cluster.kubeconfig, "cronwright-keys", tmp_path / "api.log", extra) as api:
        key = api.new_key(namespace)
        with api.client(key) as client:
            assert client.get("/v1/cron-jobs").status_code == 200
            where = ("--keys-namespace", api.keys_namespace, "--kubeconfig", str(cluster.kubeconfig))
            command = ("apikey", "revoke", str(parse_key(key)), *where)
            revoked = subprocess.run(
                [sys.executable, "-m", "cronwright.cli", *command],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert revoked.returncode == 0, revoked.stderr
            envelope_error(client.get("/v1/cron-jobs"), 401, "unauthorized")
