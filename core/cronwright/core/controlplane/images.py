"""The container images a real node runs in the tests, built here without Docker or a registry.

- ``localhost/pause:local``: the sandbox image, ``pause.c`` from the pinned k8s.io/kubernetes
  module (the Go module cache) linked with ``gcc -static``; no registry has to serve it.
- ``localhost/cronwright-test-busybox:local``: Debian's busybox-static with its applets
  (sh, nc, sleep, echo, cat, date, ...) for test pods. Its ``wget`` crashes (static glibc
  cannot load NSS modules), so tests talk HTTP with ``nc``.
- ``localhost/cronwright-base:<suite>-<hash>``: a Debian root filesystem with python3, venv,
  pip and CA certificates made by mmdebstrap from Debian's packages. It stands in for the
  official ``python:3.11.14-slim-trixie``, which no registry here can serve; it is handed to
  the Dockerfile as ``BASE_IMAGE`` and never tagged under the official name.
- ``localhost/cronwright:<hash>``: the project's own Dockerfile built with ``buildah bud``.

Everything lives under ``~/.cache/cronwright/images`` (``CRONWRIGHT_CACHE_DIR``): a private
buildah store and one docker-archive tarball per image, for ``ctr -n k8s.io images import``.
Each image is keyed by a digest of what it is built from (for cronwright: the Dockerfile,
the locks, pyproject.toml and every source file in the build context, see image_keys.py),
so an unchanged tree never rebuilds and a changed source always does. A file lock lets
parallel sessions share one build instead of racing. Building needs root (chroot
isolation, mmdebstrap) and the Debian packages of ``BUILD_PACKAGES``; without them this
fails naming what is missing.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cronwright.core.controlplane import debian
from cronwright.core.controlplane.binaries import (
    GO_MODULE,
    KUBERNETES_MODULE,
    cache_dir,
    go_command,
    pinned_versions,
)
from cronwright.core.controlplane.buildah import Buildah, BuildahError
from cronwright.core.controlplane.image_keys import context_digest, copy_context

REPO_ROOT = Path(__file__).resolve().parents[4]

# Bump when a recipe below changes in a way its hashed inputs do not show.
RECIPE = "1"
BUILD_PACKAGES = ("buildah", "mmdebstrap", "busybox-static", "gcc", "libc6-dev")

PAUSE_REF = "localhost/pause:local"
BUSYBOX_REF = "localhost/cronwright-test-busybox:local"
BASE_REPOSITORY = "localhost/cronwright-base"
CRONWRIGHT_REPOSITORY = "localhost/cronwright"

# bookworm's python3 is 3.11, the version the locks are compiled for (and the official
# default base's), so the same hash-pinned wheels install on both bases.
BASE_SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "python3-pip", "python-is-python3", "ca-certificates")
BASE_CONFIG = (
    "--env",
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "--env",
    "LANG=C.UTF-8",
    "--cmd",
    '["python3"]',
)
BUSYBOX = Path("/bin/busybox")
BUSYBOX_APPLETS_NEEDED = ("sh", "nc", "sleep", "echo", "cat", "date")
# How many cronwright builds stay cached (worktrees and branches with different sources
# take turns; each costs ~0.5-1 GB in the vfs store).
KEEP_CRONWRIGHT_BUILDS = 3


@dataclass(frozen=True)
class Image:
    """An image in the build store, and its docker-archive tarball (named `ref` inside)."""

    ref: str
    archive: Path


@dataclass(frozen=True)
class Images:
    pause: Image
    busybox: Image
    cronwright: Image
    base: str  # the Debian base the cronwright image was built FROM (its BASE_IMAGE)

    def for_node(self) -> tuple[Image, ...]:
        """What a node imports into containerd."""
        return (self.pause, self.busybox, self.cronwright)


def images_dir() -> Path:
    return cache_dir() / "images"


def image_store() -> Buildah:
    """The private buildah store holding every image built here (`buildah inspect` them)."""
    return Buildah(images_dir() / "buildah")


def install_build_tools() -> list[str]:
    """apt-get install the missing build packages (what `make images` runs); returns them."""
    return debian.install_packages(BUILD_PACKAGES, "building the test images")


def build_host_problem(euid: int, missing: list[str]) -> str | None:
    """What keeps this machine from building the images (None: nothing), said in full."""
    needs = []
    if euid != 0:
        needs.append("root (buildah --isolation chroot, mmdebstrap)")
    if missing:
        needs.append(f"the Debian packages {', '.join(missing)} ({debian.INSTALL_HINT})")
    return f"building the test images needs {' and '.join(needs)}" if needs else None


def _require_build_host() -> None:
    problem = build_host_problem(os.geteuid(), debian.missing_packages(BUILD_PACKAGES))
    if problem:
        raise RuntimeError(problem)


@contextmanager
def _build_lock() -> Iterator[Buildah]:
    """The store, held under the cache's file lock (parallel sessions wait, then reuse)."""
    _require_build_host()
    directory = images_dir()
    (directory / "archives").mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield image_store()


def _say(message: str) -> None:
    print(f"[cronwright] {message}", file=sys.stderr, flush=True)


def _digest(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _archive_path(name: str, key: str) -> Path:
    return images_dir() / "archives" / f"{name}-{key[:16]}.tar"


def _drop_other_archives(name: str, keep: Path) -> None:
    for old in keep.parent.glob(f"{name}-*.tar"):
        if old != keep:
            old.unlink(missing_ok=True)


def _rootfs_tar(
    path: Path, files: dict[str, tuple[bytes, int]], links: dict[str, str], dirs: dict[str, int]
) -> None:
    """A root filesystem layer owned by root, with fixed times (the same input, the same tar)."""
    with tarfile.open(path, "w") as tar:
        for name, mode in sorted(dirs.items()):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        for name, (data, mode) in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
        for name, target in sorted(links.items()):
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
            tar.addfile(info)


def _run(command: list[str], what: str, cwd: Path | None = None) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = result.stdout[-2000:] + result.stderr[-3000:]
        raise RuntimeError(f"{what}: `{' '.join(command)}` failed:\n{output}")
    return result.stdout


# -- pause ---------------------------------------------------------------------------------


def pause_source() -> Path:
    """build/pause/linux/pause.c of the pinned k8s.io/kubernetes module, downloaded into the
    Go module cache first if it is not there yet."""
    version = pinned_versions().kubernetes
    go = go_command()
    modcache = Path(_run([go, "env", "GOMODCACHE"], "finding the Go module cache").strip())
    source = modcache / f"{KUBERNETES_MODULE}@{version}" / "build" / "pause" / "linux" / "pause.c"
    if not source.exists():
        _run([go, "mod", "download", f"{KUBERNETES_MODULE}@{version}"], "downloading pause.c", cwd=GO_MODULE)
    if not source.exists():
        raise RuntimeError(f"{source} is missing after `go mod download {KUBERNETES_MODULE}@{version}`")
    return source


def _build_pause(store: Buildah) -> Image:
    source = pause_source()
    version = pinned_versions().kubernetes
    flags = ["-Os", "-static", "-s", f"-DVERSION={version}-cronwright"]
    gcc = _run(["gcc", "--version"], "gcc").splitlines()[0]
    key = _digest(RECIPE, "pause", source.read_bytes(), " ".join(flags), gcc)
    image = Image(PAUSE_REF, _archive_path("pause", key))
    if image.archive.exists():
        return image
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=images_dir()) as work:
        binary = Path(work) / "pause"
        _run(["gcc", *flags, "-o", str(binary), str(source)], "compiling pause.c")
        layer = Path(work) / "rootfs.tar"
        _rootfs_tar(layer, {"pause": (binary.read_bytes(), 0o755)}, {}, {})
        config = ["--entrypoint", '["/pause"]', "--user", "65535:65535", "--os", "linux", "--arch", _arch()]
        store.commit_rootfs(layer, image.ref, config)
    store.push_archive(image.ref, image.archive)
    _drop_other_archives("pause", image.archive)
    _say(f"built {image.ref} in {time.monotonic() - started:.1f}s -> {image.archive}")
    return image


# -- busybox -------------------------------------------------------------------------------


def _build_busybox(store: Buildah) -> Image:
    if not BUSYBOX.exists():
        raise RuntimeError(f"{BUSYBOX} is missing: package busybox-static has it ({debian.INSTALL_HINT})")
    binary = BUSYBOX.read_bytes()
    key = _digest(RECIPE, "busybox", binary)
    image = Image(BUSYBOX_REF, _archive_path("busybox", key))
    if image.archive.exists():
        return image
    started = time.monotonic()
    applets = set(_run([str(BUSYBOX), "--list"], "listing busybox applets").split())
    absent = [name for name in BUSYBOX_APPLETS_NEEDED if name not in applets]
    if absent:
        raise RuntimeError(f"{BUSYBOX} has no applet {', '.join(absent)}; the test pods need them")
    with tempfile.TemporaryDirectory(dir=images_dir()) as work:
        layer = Path(work) / "rootfs.tar"
        links = {f"bin/{name}": "busybox" for name in applets if name != "busybox"}
        _rootfs_tar(layer, {"bin/busybox": (binary, 0o755)}, links, {"bin": 0o755, "tmp": 0o1777})
        config = ["--cmd", '["/bin/sh"]', "--env", "PATH=/bin", "--os", "linux", "--arch", _arch()]
        store.commit_rootfs(layer, image.ref, config)
    store.push_archive(image.ref, image.archive)
    _drop_other_archives("busybox", image.archive)
    _say(f"built {image.ref} in {time.monotonic() - started:.1f}s -> {image.archive}")
    return image


# -- the Debian base and the cronwright image -----------------------------------------------


def base_ref() -> str:
    """The base image's reference: the suite, and a hash of everything it is made from."""
    key = _digest(RECIPE, "base", BASE_SUITE, ",".join(BASE_PACKAGES), json.dumps(BASE_CONFIG), _arch())
    return f"{BASE_REPOSITORY}:{BASE_SUITE}-{key[:12]}"


def _build_base(store: Buildah) -> str:
    ref = base_ref()
    if store.has_image(ref):
        return ref
    started = time.monotonic()
    _say(f"building {ref}: Debian {BASE_SUITE} with {', '.join(BASE_PACKAGES)} (mmdebstrap) ...")
    with tempfile.TemporaryDirectory(dir=images_dir()) as work:
        rootfs = Path(work) / "rootfs.tar"
        command = [
            "mmdebstrap",
            "--quiet",
            "--variant=minbase",
            f"--include={','.join(BASE_PACKAGES)}",
            BASE_SUITE,
            str(rootfs),
        ]
        _run(command, "making the Debian base with mmdebstrap")
        store.commit_rootfs(rootfs, ref, [*BASE_CONFIG, "--os", "linux", "--arch", _arch()])
    _say(f"built {ref} in {time.monotonic() - started:.1f}s")
    return ref


def cronwright_key(base: str, context: Path = REPO_ROOT) -> str:
    """The cache key of the cronwright image: its build context, Dockerfile and base."""
    return context_digest(context, {"recipe": RECIPE, "BASE_IMAGE": base})


def _cronwright_image(key: str) -> Image:
    return Image(f"{CRONWRIGHT_REPOSITORY}:{key[:12]}", _archive_path("cronwright", key))


def _build_cronwright(store: Buildah, context: Path) -> tuple[Image, str]:
    base = base_ref()
    image = _cronwright_image(cronwright_key(base, context))
    if image.archive.exists() and store.has_image(image.ref):
        os.utime(image.archive)  # last use, for pruning
        return image, base
    _build_base(store)
    with tempfile.TemporaryDirectory(dir=images_dir()) as work:
        # Built from a copy, keyed by the copy: an edit during the build cannot end up
        # in an image cached under the key of the tree before it.
        snapshot = Path(work) / "context"
        copy_context(context, snapshot)
        image = _cronwright_image(cronwright_key(base, snapshot))
        if not store.has_image(image.ref):
            started = time.monotonic()
            _say(f"building {image.ref} from {context / 'Dockerfile'} with BASE_IMAGE={base} ...")
            store.bud(snapshot, image.ref, {"BASE_IMAGE": base})
            _say(f"built {image.ref} in {time.monotonic() - started:.1f}s")
    store.push_archive(image.ref, image.archive)
    _prune_cronwright(store, KEEP_CRONWRIGHT_BUILDS)
    return image, base


def _prune_cronwright(store: Buildah, keep: int) -> None:
    """Drop all but the `keep` most recently used cronwright builds (archive and image)."""
    archives = sorted(
        (images_dir() / "archives").glob("cronwright-*.tar"), key=lambda p: p.stat().st_mtime, reverse=True
    )
    for old in archives[keep:]:
        ref = f"{CRONWRIGHT_REPOSITORY}:{old.stem.removeprefix('cronwright-')[:12]}"
        try:
            store.remove_image(ref)
        except BuildahError as error:  # a container of it is still in use: next time
            _say(f"kept {ref}: {str(error).splitlines()[-1]}")
            continue
        old.unlink(missing_ok=True)


# -- public entry points ---------------------------------------------------------------------


def ensure_pause() -> Image:
    with _build_lock() as store:
        return _build_pause(store)


def ensure_busybox() -> Image:
    with _build_lock() as store:
        return _build_busybox(store)


def ensure_base() -> str:
    with _build_lock() as store:
        return _build_base(store)


def ensure_cronwright(context: Path = REPO_ROOT) -> Image:
    with _build_lock() as store:
        return _build_cronwright(store, context)[0]


def ensure_images(context: Path = REPO_ROOT) -> Images:
    """Every image, built first where its key is not cached (a cached call takes ~1 s)."""
    with _build_lock() as store:
        pause = _build_pause(store)
        busybox = _build_busybox(store)
        cronwright, base = _build_cronwright(store, context)
    return Images(pause=pause, busybox=busybox, cronwright=cronwright, base=base)
