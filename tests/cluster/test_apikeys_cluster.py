"""API keys end to end: `cronwright apikey` against a real API server, checked by KeyStore."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from cronwright.api.apikeys import KEY_LABEL, ApiKey, KeyStore, hash_key, parse_key
from cronwright.core.kube import Kube, load_credentials
from tests.support.cluster import Cluster


@pytest.fixture
def keys_namespace(cluster: Cluster, namespace: str) -> Iterator[str]:
    """Each test's own keys namespace (created by `apikey create` itself)."""
    name = f"keys-{namespace}"
    yield name
    cluster.kubectl_run("delete", "secrets", "-l", f"{KEY_LABEL}=true", "-n", name, check=False)


def cli(cluster: Cluster, keys_namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    common = ("--keys-namespace", keys_namespace, "--kubeconfig", str(cluster.kubeconfig))
    return subprocess.run(
        [sys.executable, "-m", "cronwright.cli", "apikey", *args, *common],
        capture_output=True,
        text=True,
        timeout=60,
    )


def create(cluster: Cluster, keys_namespace: str, *args: str) -> str:
    result = cli(cluster, keys_namespace, "create", *args)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    return lines[0]


def authenticate(
    cluster: Cluster, keys_namespace: str, *keys: str | None, ttl: float = 5.0
) -> list[ApiKey | None]:
    async def go() -> list[ApiKey | None]:
        kube = Kube(load_credentials(str(cluster.kubeconfig)))
        try:
            store = KeyStore(kube, keys_namespace, ttl=ttl)
            return [await store.authenticate(key) for key in keys]
        finally:
            await kube.close()

    return asyncio.run(go())


def test_created_key_authenticates_with_its_namespace_and_scopes(
    cluster: Cluster, namespace: str, keys_namespace: str
) -> None:
    result = cli(
        cluster,
        keys_namespace,
        "create",
        "--namespace",
        namespace,
        "--scope",
        "read:jobs",
        "--scope",
        "write:projects",
        "--rate-limit-per-second",
        "3.5",
        "--rate-limit-burst",
        "7",
        "--description",
        "nightly CI",
    )
    assert result.returncode == 0, result.stderr
    plaintext = result.stdout.strip()
    key_id = parse_key(plaintext)
    assert key_id and result.stdout == plaintext + "\n"
    for fact in (key_id, namespace, "read:jobs,write:projects", "shown once"):
        assert fact in result.stderr
    assert plaintext not in result.stderr

    [key] = authenticate(cluster, keys_namespace, plaintext)

    assert key == ApiKey(key_id, namespace, frozenset({"read:jobs", "write:projects"}), 3.5, 7)


def test_default_scopes_and_rejections(cluster: Cluster, namespace: str, keys_namespace: str) -> None:
    plaintext = create(cluster, keys_namespace, "--namespace", namespace)
    second = create(cluster, keys_namespace, "--namespace", namespace, "--scope", "*")
    key_id = parse_key(plaintext)
    forged = f"cwk_{key_id}_" + "A" * 43
    unknown = "cwk_000000000000_" + plaintext[-43:]

    good, star, *rejected = authenticate(
        cluster, keys_namespace, plaintext, second, forged, unknown, plaintext[:-1], "", None, "Bearer x"
    )

    assert good.scopes == {"read", "write"} and good.allows("read") and not good.allows("read:jobs")
    assert good.rate_per_second is None and good.rate_burst is None
    assert star.allows("write:jobs")
    assert rejected == [None] * 6


def test_stored_secret_is_labelled_and_holds_no_plaintext(
    cluster: Cluster, namespace: str, keys_namespace: str
) -> None:
    plaintext = create(cluster, keys_namespace, "--namespace", namespace, "--description", "d")
    key_id = parse_key(plaintext)

    raw = cluster.kubectl_run(
        "get", "secret", f"cronwright-apikey-{key_id}", "-n", keys_namespace, "-o", "json"
    )
    secret = json.loads(raw.stdout)
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}

    assert secret["metadata"]["labels"] == {KEY_LABEL: "true", "app.kubernetes.io/part-of": "cronwright"}
    assert data["sha256"] == hash_key(plaintext)
    assert data["namespace"] == namespace and data["scopes"] == "read,write"
    secret_part = plaintext.removeprefix(f"cwk_{key_id}_")
    for text in (raw.stdout, json.dumps(data)):
        assert secret_part not in text and secret_part[:12] not in text


def test_revoked_key_stops_working_within_the_ttl(
    cluster: Cluster, namespace: str, keys_namespace: str
) -> None:
    plaintext = create(cluster, keys_namespace, "--namespace", namespace)
    key_id = parse_key(plaintext)
    assert key_id

    async def go() -> list[ApiKey | None]:
        kube = Kube(load_credentials(str(cluster.kubeconfig)))
        try:
            store = KeyStore(kube, keys_namespace, ttl=0.1)
            before = await store.authenticate(plaintext)
            revoked = cli(cluster, keys_namespace, "revoke", key_id)
            assert revoked.returncode == 0, revoked.stderr
            await asyncio.sleep(0.2)
            return [before, await store.authenticate(plaintext)]
        finally:
            await kube.close()

    before, after = asyncio.run(go())
    assert before is not None and after is None
    again = cli(cluster, keys_namespace, "revoke", key_id)
    assert again.returncode == 1 and key_id in again.stderr
    bad = cli(cluster, keys_namespace, "revoke", "../../x")
    assert bad.returncode == 1 and "not a key id" in bad.stderr


def test_list_shows_ids_but_never_hashes(cluster: Cluster, namespace: str, keys_namespace: str) -> None:
    first = create(cluster, keys_namespace, "--namespace", namespace, "--description", "first key")
    second = create(cluster, keys_namespace, "--namespace", namespace, "--scope", "read")

    result = cli(cluster, keys_namespace, "list")

    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["KEY", "ID", "NAMESPACE", "SCOPES", "CREATED", "DESCRIPTION"]
    assert sorted(row.split()[:3] for row in rows) == sorted(
        [[parse_key(first), namespace, "read,write"], [parse_key(second), namespace, "read"]]
    )
    assert next(row for row in rows if row.startswith(str(parse_key(first)))).endswith("first key")
    for plaintext in (first, second):
        assert hash_key(plaintext) not in result.stdout
        assert plaintext[17:] not in result.stdout


def test_create_refuses_a_missing_namespace_unless_asked_to_create_it(
    cluster: Cluster, namespace: str, keys_namespace: str
) -> None:
    missing = f"{namespace}-none"
    refused = cli(cluster, keys_namespace, "create", "--namespace", missing)
    assert refused.returncode == 1 and refused.stdout == ""
    assert (
        f"namespace '{missing}' does not exist" in refused.stderr and "--create-namespace" in refused.stderr
    )
    listed = cli(cluster, keys_namespace, "list")
    assert listed.stdout.splitlines()[1:] == [], "no key was stored"

    made = cli(cluster, keys_namespace, "create", "--namespace", missing, "--create-namespace")
    assert made.returncode == 0, made.stderr
    [key] = authenticate(cluster, keys_namespace, made.stdout.strip())
    assert key is not None and key.namespace == missing
    created = json.loads(cluster.kubectl_run("get", "namespace", missing, "-o", "json").stdout)
    assert created["metadata"]["name"] == missing
    assert f"created namespace {missing}" in made.stderr

    again = cli(cluster, keys_namespace, "create", "--namespace", missing, "--create-namespace")
    assert again.returncode == 0 and "created namespace" not in again.stderr, "an existing one is kept"
