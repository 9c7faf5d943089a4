"""Where the API server is and how to prove who we are: kubeconfig or the in-cluster
service account, read with the official `kubernetes` package (it does that well), and a
token sent fresh on every request because a pod's token rotates.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import ssl
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.config import incluster_config


class TokenFile:
    """A projected service-account token, read again whenever the kubelet rotates it.

    The kubelet replaces the file (an atomic symlink swap) well before the token expires;
    an API server started with ``--service-account-extend-token-expiration=false`` refuses
    the old one once its short lifetime is over. So the file is never read once and
    frozen: each request looks at the file's identity (a stat, no read) and reads it again
    only when it changed."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._seen: tuple[int, int] | None = None
        self._token: str | None = None

    def read(self) -> str | None:
        stat = os.stat(self.path)
        seen = (stat.st_ino, stat.st_mtime_ns)
        if seen != self._seen:
            with open(self.path) as f:
                self._token = bare_token(f.read())
            self._seen = seen
        return self._token


def renewal_time(token: str | None) -> dt.datetime | None:
    """When a client should fetch a rotating token again: 90% into its lifetime.

    The kubelet writes a new token at 80% of the old one's lifetime, so at 90% the file
    holds the next one. Service-account tokens are JWTs whose `iat`/`exp` claims can be
    read without verifying them (only the API server needs to trust them). None when the
    token carries no lifetime (a static token, or not a JWT)."""
    try:
        payload = token.split(".")[1] if token else ""
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        issued, expires = float(claims["iat"]), float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None
    return dt.datetime.fromtimestamp(issued + 0.9 * (expires - issued), dt.UTC)


@dataclass(frozen=True)
class Credentials:
    """Where the API server is and how to prove who we are; files as the loaders wrote them."""

    host: str
    ca_path: str | None
    verify: bool
    cert_path: str | None
    key_path: str | None
    token: str | None
    token_file: TokenFile | None = field(default=None, compare=False)

    def tls(self) -> ssl.SSLContext | bool:
        if not self.verify:
            return False
        context = ssl.create_default_context(cafile=self.ca_path)
        if self.cert_path:
            context.load_cert_chain(self.cert_path, self.key_path)
        return context

    def current_token(self) -> str | None:
        """The token to send now: the rotated file's content in a pod, else the fixed one."""
        return self.token_file.read() if self.token_file else self.token


class BearerAuth(httpx.Auth):
    """Puts the current token on every request; after a 401 with a token that has since
    rotated, sends the request once more with the new one."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        sent = self.credentials.current_token()
        if sent:
            request.headers["Authorization"] = f"Bearer {sent}"
        response = yield request
        if response.status_code == 401 and sent:
            fresh = self.credentials.current_token()
            if fresh and fresh != sent:
                request.headers["Authorization"] = f"Bearer {fresh}"
                yield request


SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def bare_token(value: str | None) -> str | None:
    """The token alone, whatever scheme word the loader put before it.

    The kubeconfig loader stores ``"Bearer <token>"`` but the in-cluster loader stores
    ``"bearer <token>"``; sending either prefix again gives ``Bearer bearer <jwt>``, which
    every API server answers with 401."""
    if not value:
        return None
    scheme, _, rest = value.strip().partition(" ")
    return rest.strip() if rest and scheme.lower() == "bearer" else value.strip()


def _kubeconfig_path(kubeconfig: str | None, environ: Mapping[str, str]) -> str:
    # Read $KUBECONFIG now: the kubernetes package only looks at it when first imported.
    return kubeconfig or environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")


def load_credentials(
    kubeconfig: str | None = None,
    *,
    context: str | None = None,
    environ: Mapping[str, str] = os.environ,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
) -> Credentials:
    """kubeconfig (explicit, $KUBECONFIG or ~/.kube/config; its current context unless
    `context` names another) or the in-cluster service account."""
    cfg = k8s_client.Configuration()
    in_cluster = kubeconfig is None and context is None and "KUBERNETES_SERVICE_HOST" in environ
    if in_cluster:
        incluster_config.InClusterConfigLoader(
            token_filename=str(service_account_dir / "token"),
            cert_filename=str(service_account_dir / "ca.crt"),
            environ=environ,
        ).load_and_set(cfg)
    else:
        k8s_config.load_kube_config(
            config_file=_kubeconfig_path(kubeconfig, environ), context=context, client_configuration=cfg
        )
    token = bare_token(cfg.api_key.get("authorization") or cfg.api_key.get("BearerToken"))
    return Credentials(
        host=cfg.host.rstrip("/"),
        ca_path=cfg.ssl_ca_cert,
        verify=bool(cfg.verify_ssl),
        cert_path=cfg.cert_file,
        key_path=cfg.key_file,
        token=token,
        token_file=TokenFile(str(service_account_dir / "token")) if in_cluster else None,
    )


def default_namespace(
    kubeconfig: str | None = None,
    *,
    context: str | None = None,
    environ: Mapping[str, str] = os.environ,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
) -> str:
    """The namespace kubectl would use without -n: the context's, else "default" (in a
    pod: the pod's own). A context the kubeconfig lacks is a ValueError naming it."""
    if kubeconfig is None and context is None and "KUBERNETES_SERVICE_HOST" in environ:
        try:
            return (service_account_dir / "namespace").read_text().strip() or "default"
        except OSError:
            return "default"
    contexts, current = k8s_config.list_kube_config_contexts(
        config_file=_kubeconfig_path(kubeconfig, environ)
    )
    chosen = current if context is None else next((c for c in contexts if c["name"] == context), None)
    if chosen is None:
        raise ValueError(f"context {context!r} is not in the kubeconfig")
    return (chosen.get("context") or {}).get("namespace") or "default"
