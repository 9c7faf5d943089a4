"""How the client proves who it is: the Authorization header it builds from each loader.

The in-cluster loader of the `kubernetes` package stores ``"bearer " + token`` (lower
case). Stripping only ``"Bearer "`` once sent ``Bearer bearer <jwt>`` from every pod, and
the chart's operator and facade crash-looped on 401.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import httpx
import pytest
import yaml

from cronwright.core.kube import (
    BearerAuth,
    Credentials,
    bare_token,
    default_namespace,
    load_credentials,
    renewal_time,
)

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2lnbmF0dXJl"


def sent_authorization(credentials: Credentials) -> str:
    """The Authorization header the client puts on a request now."""
    request = next(BearerAuth(credentials).auth_flow(httpx.Request("GET", f"{credentials.host}/api")))
    return request.headers["Authorization"]


@pytest.fixture
def service_account(tmp_path: Path) -> Path:
    (tmp_path / "token").write_text(JWT)
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    return tmp_path


def test_in_cluster_credentials_send_the_bare_token(service_account: Path) -> None:
    environ = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    credentials = load_credentials(environ=environ, service_account_dir=service_account)
    assert sent_authorization(credentials) == f"Bearer {JWT}"
    assert credentials.host == "https://10.96.0.1:443"
    assert credentials.ca_path == str(service_account / "ca.crt")


def test_kubeconfig_token_is_sent_once(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
                "users": [{"name": "u", "user": {"token": JWT}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    credentials = load_credentials(str(kubeconfig), environ={})
    assert sent_authorization(credentials) == f"Bearer {JWT}"


@pytest.mark.parametrize(
    ("stored", "token"),
    [
        (f"bearer {JWT}", JWT),
        (f"Bearer {JWT}", JWT),
        (f"BEARER {JWT}\n", JWT),
        (JWT, JWT),
        (f"{JWT}\n", JWT),
        ("", None),
        (None, None),
    ],
)
def test_bare_token(stored: str | None, token: str | None) -> None:
    assert bare_token(stored) == token


def jwt(issued: float, expires: float) -> str:
    claims = json.dumps({"iat": issued, "exp": expires, "sub": "system:serviceaccount:x:y"}).encode()
    body = base64.urlsafe_b64encode(claims).decode().rstrip("=")
    return f"eyJhbGciOiJSUzI1NiJ9.{body}.c2ln"


def rotate(path: Path, token: str) -> None:
    """As the kubelet does it: a new file swapped in, never an edit in place."""
    fresh = path.with_suffix(".new")
    fresh.write_text(token)
    fresh.replace(path)


def test_in_cluster_credentials_follow_the_rotated_token_file(service_account: Path) -> None:
    environ = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    credentials = load_credentials(environ=environ, service_account_dir=service_account)
    first, second = jwt(1000, 1600), jwt(1480, 2080)
    rotate(service_account / "token", first)
    assert sent_authorization(credentials) == f"Bearer {first}"
    rotate(service_account / "token", f"bearer {second}\n")
    assert sent_authorization(credentials) == f"Bearer {second}"


def test_bearer_auth_retries_once_with_a_token_rotated_since(service_account: Path) -> None:
    """A 401 for a token that has since been replaced is retried with the new one; a 401
    for the current token is the answer (no loop)."""
    environ = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    credentials = load_credentials(environ=environ, service_account_dir=service_account)
    old, new = jwt(0, 600), jwt(480, 1080)
    rotate(service_account / "token", old)
    flow = BearerAuth(credentials).auth_flow(httpx.Request("GET", "https://10.96.0.1/api"))
    request = next(flow)
    assert request.headers["Authorization"] == f"Bearer {old}"
    rotate(service_account / "token", new)
    retried = flow.send(httpx.Response(401, request=request))
    assert retried.headers["Authorization"] == f"Bearer {new}"
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(401, request=retried))


def test_bearer_auth_does_not_retry_an_unchanged_token(service_account: Path) -> None:
    environ = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    credentials = load_credentials(environ=environ, service_account_dir=service_account)
    flow = BearerAuth(credentials).auth_flow(httpx.Request("GET", "https://10.96.0.1/api"))
    request = next(flow)
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(401, request=request))


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (jwt(1000, 2000), dt.datetime.fromtimestamp(1900, dt.UTC)),
        (jwt(0, 3600), dt.datetime.fromtimestamp(3240, dt.UTC)),
        (JWT, None),  # claims without a lifetime
        ("not-a-jwt", None),
        ("a.!!!.c", None),
        (None, None),
    ],
)
def test_renewal_time_is_nine_tenths_into_the_lifetime(
    token: str | None, expected: dt.datetime | None
) -> None:
    assert renewal_time(token) == expected


def _two_contexts(path: Path) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "a", "cluster": {"server": "https://127.0.0.1:6443"}},
                    {"name": "b", "cluster": {"server": "https://127.0.0.2:6443"}},
                ],
                "users": [{"name": "u", "user": {"token": JWT}}],
                "contexts": [
                    {"name": "plain", "context": {"cluster": "a", "user": "u"}},
                    {"name": "team", "context": {"cluster": "b", "user": "u", "namespace": "team-a"}},
                ],
                "current-context": "plain",
            }
        )
    )
    return path


def test_a_named_context_picks_its_cluster_and_namespace(tmp_path: Path) -> None:
    kubeconfig = str(_two_contexts(tmp_path / "config"))
    assert load_credentials(kubeconfig, environ={}).host == "https://127.0.0.1:6443"
    assert load_credentials(kubeconfig, context="team", environ={}).host == "https://127.0.0.2:6443"
    assert default_namespace(kubeconfig, environ={}) == "default"
    assert default_namespace(kubeconfig, context="team", environ={}) == "team-a"
    with pytest.raises(ValueError, match="context 'nope' is not in the kubeconfig"):
        default_namespace(kubeconfig, context="nope", environ={})


def test_kubeconfig_from_the_environment(tmp_path: Path) -> None:
    kubeconfig = str(_two_contexts(tmp_path / "config"))
    assert default_namespace(context="team", environ={"KUBECONFIG": kubeconfig}) == "team-a"


def test_in_a_pod_the_namespace_is_the_pods(service_account: Path) -> None:
    environ = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    assert default_namespace(environ=environ, service_account_dir=service_account) == "default"
    (service_account / "namespace").write_text("cronwright-system\n")
    assert default_namespace(environ=environ, service_account_dir=service_account) == "cronwright-system"
