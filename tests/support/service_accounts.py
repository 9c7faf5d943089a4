"""Service-account tokens as a pod sees them, with lifetimes short enough to wait out.

The kubelet cannot do this in a test's time: the API server refuses a token request for
less than 10 minutes (``MinTokenAgeSec``) and the kubelet rotates at 80% of a lifetime,
so two rotations would take 16 minutes. Instead the test signs tokens itself with the
control plane's service-account key — the claims the TokenRequest API writes (issuer,
audience, service account name and uid, a `jti`), a lifetime of seconds, never extended —
and swaps each new one into a directory the way the kubelet does (a new file renamed over
the old one). `in_cluster_prefix` mounts that directory, in a private mount namespace,
where every pod finds its token: the component under test runs its real in-cluster code
path and cannot tell the difference.

The API server accepts a token up to one minute past its `exp` (go-jose's default
leeway) and caches a successful authentication for up to 10 s, so a token is dead for
sure `DEAD_AFTER` seconds after its `exp`.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ISSUER = "https://kubernetes.default.svc"
DEAD_AFTER = 60 + 10 + 5  # leeway + authentication cache + margin
TOKEN_DIR_IN_POD = "/run/secrets/kubernetes.io/serviceaccount"  # /var/run is a link to /run


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@dataclass(frozen=True)
class Token:
    jti: str
    issued: float
    expires: float
    value: str


@dataclass(frozen=True)
class TokenMinter:
    """Signs ES256 service-account JWTs with the control plane's signing key."""

    signing_key: Path
    namespace: str
    name: str
    uid: str

    def mint(self, lifetime: float) -> Token:
        key = serialization.load_pem_private_key(self.signing_key.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        now = int(time.time())
        jti = str(uuid.uuid4())
        claims = {
            "iss": ISSUER,
            "aud": [ISSUER],
            "sub": f"system:serviceaccount:{self.namespace}:{self.name}",
            "iat": now,
            "nbf": now,
            "exp": now + int(lifetime),
            "jti": jti,
            "kubernetes.io": {
                "namespace": self.namespace,
                "serviceaccount": {"name": self.name, "uid": self.uid},
            },
        }
        header = _b64(json.dumps({"alg": "ES256", "typ": "JWT"}).encode())
        payload = _b64(json.dumps(claims).encode())
        r, s = decode_dss_signature(key.sign(f"{header}.{payload}".encode(), ec.ECDSA(hashes.SHA256())))
        signature = _b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        return Token(jti, now, now + int(lifetime), f"{header}.{payload}.{signature}")


class RotatingServiceAccount:
    """A directory holding `ca.crt` and a `token` replaced every `period` seconds."""

    def __init__(
        self, directory: Path, ca: Path, minter: TokenMinter, lifetime: float, period: float
    ) -> None:
        self.directory = directory
        self.minter = minter
        self.lifetime = lifetime
        self.period = period
        self.tokens: list[Token] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._rotate, daemon=True)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "ca.crt").write_bytes(ca.read_bytes())
        self._write()

    def _write(self) -> None:
        token = self.minter.mint(self.lifetime)
        fresh = self.directory / "token.new"
        fresh.write_text(token.value)
        fresh.replace(self.directory / "token")
        self.tokens.append(token)

    def _rotate(self) -> None:
        while not self._stop.wait(self.period):
            self._write()

    def start(self) -> RotatingServiceAccount:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def in_cluster_prefix(token_dir: Path) -> list[str]:
    """A command prefix that runs the rest as in a pod: `token_dir` mounted at the
    service-account path, inside a private mount namespace (nothing changes on the host;
    a tmpfs over /run keeps the mount point off the host's own /run)."""
    script = 'mount -t tmpfs tmpfs /run && mkdir -p "$2" && mount --bind "$1" "$2" && shift 2 && exec "$@"'
    return [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        script,
        "in-cluster",
        str(token_dir),
        TOKEN_DIR_IN_POD,
    ]
