"""Build and cache etcd, kube-apiserver, kubectl, Helm, promtool and the node's binaries
from the Go module proxy.

The pinned versions live in one place each, ``tools/controlplane/go.mod``,
``tools/helm/go.mod``, ``tools/promtool/go.mod`` and ``tools/containerd/go.mod`` (four
modules, so Helm's, Prometheus' and containerd's dependencies never have to agree with the
control plane's); this module reads them from there. The node binaries
(kube-controller-manager, kube-scheduler, kube-proxy, kubelet, containerd, its runc shim
and ctr) are only built for the real-node fixture (``make node``), never for ``make dev``.
Binaries are cached per version
under ``~/.cache/cronwright/`` (``CRONWRIGHT_CACHE_DIR`` overrides), so only the first run
on a machine builds. A file lock lets parallel test sessions share one build instead of
racing.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[4]
GO_MODULE = Path(os.environ.get("CRONWRIGHT_CONTROLPLANE_MODULE", REPO_ROOT / "tools" / "controlplane"))
HELM_GO_MODULE = REPO_ROOT / "tools" / "helm"
PROMTOOL_GO_MODULE = REPO_ROOT / "tools" / "promtool"
CONTAINERD_GO_MODULE = REPO_ROOT / "tools" / "containerd"

KUBERNETES_MODULE = "k8s.io/kubernetes"
ETCD_MODULE = "go.etcd.io/etcd/server/v3"
HELM_MODULE = "helm.sh/helm/v4"
PROMETHEUS_MODULE = "github.com/prometheus/prometheus"


CONTAINERD_MODULE = "github.com/containerd/containerd/v2"


@dataclass(frozen=True)
class Versions:
    kubernetes: str
    etcd: str

    @property
    def key(self) -> str:
        return f"kubernetes-{self.kubernetes}-etcd-{self.etcd}"


@dataclass(frozen=True)
class Binaries:
    etcd: Path
    kube_apiserver: Path
    kubectl: Path


@dataclass(frozen=True)
class NodeBinaries:
    """What a real node runs besides etcd and kube-apiserver (``controlplane.node``)."""

    kube_controller_manager: Path
    kube_scheduler: Path
    kube_proxy: Path
    kubelet: Path
    containerd: Path
    containerd_shim_runc_v2: Path
    ctr: Path

    def all(self) -> tuple[Path, ...]:
        return (
            self.kube_controller_manager,
            self.kube_scheduler,
            self.kube_proxy,
            self.kubelet,
            self.containerd,
            self.containerd_shim_runc_v2,
            self.ctr,
        )


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "cronwright"
    return Path(os.environ.get("CRONWRIGHT_CACHE_DIR", default)).expanduser()


def _pinned_version(go_mod: Path, module: str) -> str:
    match = re.search(
        rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v[0-9][^\s]*)", go_mod.read_text(), re.MULTILINE
    )
    if not match:
        raise RuntimeError(f"{go_mod} does not pin {module}")
    return match.group(1)


def pinned_versions(go_mod: Path = GO_MODULE / "go.mod") -> Versions:
    return Versions(
        kubernetes=_pinned_version(go_mod, KUBERNETES_MODULE), etcd=_pinned_version(go_mod, ETCD_MODULE)
    )


def pinned_helm_version(go_mod: Path = HELM_GO_MODULE / "go.mod") -> str:
    return _pinned_version(go_mod, HELM_MODULE)


def pinned_promtool_version(go_mod: Path = PROMTOOL_GO_MODULE / "go.mod") -> str:
    return _pinned_version(go_mod, PROMETHEUS_MODULE)


def pinned_containerd_version(go_mod: Path = CONTAINERD_GO_MODULE / "go.mod") -> str:
    return _pinned_version(go_mod, CONTAINERD_MODULE)


def _kubernetes_ldflags(version: str) -> str:
    """Stamp the release into the binaries: /version and `kubectl version` report it,
    and Helm and client libraries check it."""
    major, minor = version.lstrip("v").split(".")[:2]
    build_date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    flags = ["-s", "-w"]
    for package in ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version"):
        flags += [
            f"-X {package}.gitVersion={version}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
            f"-X {package}.buildDate={build_date}",
        ]
    return " ".join(flags)


def _etcd_ldflags(version: str) -> str:
    return f"-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=release-{version}"


def _helm_ldflags(version: str) -> str:
    """What Helm's own Makefile stamps for a release build, so `helm version` prints the
    pinned release instead of the bare "v4.x" default of an unstamped build."""
    package = f"{HELM_MODULE}/internal/version"
    return f"-s -w -X {package}.version={version} -X {package}.gitTreeState=clean"


def prometheus_release(module_version: str) -> str:
    """Prometheus tags its Go module v0.MMM.P for release M.MM.P (v0.316.0 is 3.16.0);
    2.x releases were tagged v0.MM.P (v0.55.1 is 2.55.1)."""
    _, combined, patch = module_version.lstrip("v").split(".", 2)
    major, minor = divmod(int(combined), 100) if int(combined) >= 100 else (2, int(combined))
    return f"{major}.{minor}.{patch}"


def _promtool_ldflags(version: str) -> str:
    """What Prometheus' promu stamps for a release, so `promtool --version` names the pinned
    release instead of an empty version."""
    package = "github.com/prometheus/common/version"
    return f"-s -w -X {package}.Version={prometheus_release(version)} -X {package}.Branch=HEAD"


def _containerd_ldflags(version: str) -> str:
    """What containerd's Makefile stamps, so `containerd --version` and the CRI version the
    kubelet logs name the pinned release instead of "2.x+unknown"."""
    package = f"{CONTAINERD_MODULE}/version"
    return f"-s -w -X {package}.Version={version} -X {package}.Package={CONTAINERD_MODULE}"


def go_command() -> str:
    """The Go toolchain's `go`: on PATH or where Debian and the official tarball put it."""
    go = shutil.which("go") or next(
        (p for p in ("/usr/local/go/bin/go", "/usr/lib/go/bin/go") if Path(p).exists()), None
    )
    if not go:
        raise RuntimeError("the Go toolchain is needed to build the control plane; `go` is not on PATH")
    return go


def _build(package: str, output: Path, ldflags: str, label: str, module: Path = GO_MODULE) -> None:
    """go build with -v, turning its package list into a progress line."""
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
    tmp = output.with_suffix(".partial")
    command = [go_command(), "build", "-v", "-trimpath", "-ldflags", ldflags, "-o", str(tmp), package]
    print(f"[cronwright] building {label} (first run on this machine only) ...", file=sys.stderr, flush=True)
    started = dt.datetime.now()
    with subprocess.Popen(
        command, cwd=module, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    ) as proc:
        assert proc.stderr is not None
        tail: list[str] = []
        for compiled, line in enumerate(proc.stderr, start=1):
            tail = [*tail[-29:], line.rstrip()]
            if compiled % 50 == 0:
                elapsed = (dt.datetime.now() - started).seconds
                print(
                    f"[cronwright]   {label}: {compiled} packages compiled, {elapsed}s",
                    file=sys.stderr,
                    flush=True,
                )
    if proc.returncode != 0:
        raise RuntimeError(f"building {label} failed:\n" + "\n".join(tail))
    tmp.replace(output)
    elapsed = (dt.datetime.now() - started).seconds
    print(f"[cronwright] built {label} in {elapsed}s -> {output}", file=sys.stderr, flush=True)


def _ensure_built(directory: Path, wanted: list[tuple[str, Path, str, str]], module: Path) -> None:
    """Build each (package, output, ldflags, label) whose output is missing, under the
    directory's file lock, so parallel sessions share one build instead of racing."""
    if all(output.exists() for _, output, _, _ in wanted):
        return
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for package, output, ldflags, label in wanted:
            if not output.exists():
                _build(package, output, ldflags, label, module)


def ensure_binaries() -> Binaries:
    """The cached binaries of the pinned release, built first if missing."""
    versions = pinned_versions()
    directory = cache_dir() / versions.key
    binaries = Binaries(
        etcd=directory / "etcd",
        kube_apiserver=directory / "kube-apiserver",
        kubectl=directory / "kubectl",
    )
    kube_flags = _kubernetes_ldflags(versions.kubernetes)
    wanted = [
        (ETCD_MODULE, binaries.etcd, _etcd_ldflags(versions.etcd), f"etcd {versions.etcd}"),
        (
            f"{KUBERNETES_MODULE}/cmd/kube-apiserver",
            binaries.kube_apiserver,
            kube_flags,
            f"kube-apiserver {versions.kubernetes}",
        ),
        (f"{KUBERNETES_MODULE}/cmd/kubectl", binaries.kubectl, kube_flags, f"kubectl {versions.kubernetes}"),
    ]
    _ensure_built(directory, wanted, GO_MODULE)
    return binaries


def ensure_node_binaries() -> NodeBinaries:
    """The cached node binaries of the pinned releases, built first if missing.

    The Kubernetes ones come from the control plane's module (same release as the API
    server, as a node must be); containerd from its own. Each set has its own cache folder
    and lock, apart from the control plane's, so `make dev` never waits for them.
    """
    kubernetes = pinned_versions().kubernetes
    containerd = pinned_containerd_version()
    kube_dir = cache_dir() / f"node-kubernetes-{kubernetes}"
    ctrd_dir = cache_dir() / f"containerd-{containerd}"
    binaries = NodeBinaries(
        kube_controller_manager=kube_dir / "kube-controller-manager",
        kube_scheduler=kube_dir / "kube-scheduler",
        kube_proxy=kube_dir / "kube-proxy",
        kubelet=kube_dir / "kubelet",
        containerd=ctrd_dir / "containerd",
        containerd_shim_runc_v2=ctrd_dir / "containerd-shim-runc-v2",
        ctr=ctrd_dir / "ctr",
    )
    kube_flags = _kubernetes_ldflags(kubernetes)
    kube_wanted = [
        (f"{KUBERNETES_MODULE}/cmd/{output.name}", output, kube_flags, f"{output.name} {kubernetes}")
        for output in binaries.all()[:4]
    ]
    ctrd_flags = _containerd_ldflags(containerd)
    ctrd_wanted = [
        (f"{CONTAINERD_MODULE}/cmd/{output.name}", output, ctrd_flags, f"{output.name} {containerd}")
        for output in binaries.all()[4:]
    ]
    _ensure_built(ctrd_dir, ctrd_wanted, CONTAINERD_GO_MODULE)
    _ensure_built(kube_dir, kube_wanted, GO_MODULE)
    return binaries


def ensure_helm() -> Path:
    """The cached Helm binary of the pinned release, built first if missing."""
    version = pinned_helm_version()
    directory = cache_dir() / f"helm-{version}"
    helm = directory / "helm"
    _ensure_built(
        directory,
        [(f"{HELM_MODULE}/cmd/helm", helm, _helm_ldflags(version), f"helm {version}")],
        HELM_GO_MODULE,
    )
    return helm


def ensure_promtool() -> Path:
    """The cached promtool of the pinned Prometheus release, built first if missing."""
    version = pinned_promtool_version()
    directory = cache_dir() / f"promtool-{version}"
    promtool = directory / "promtool"
    _ensure_built(
        directory,
        [(f"{PROMETHEUS_MODULE}/cmd/promtool", promtool, _promtool_ldflags(version), f"promtool {version}")],
        PROMTOOL_GO_MODULE,
    )
    return promtool
