"""What a real node leaves on this machine, and taking it away again.

A node's processes, mounts and network namespace die with its pid namespace (node.py).
What outlives it on the machine is only its run directory (``/tmp/cronwright-node/<id>``)
and the cgroup tree kubelet made under ``/sys/fs/cgroup/<controller>/<id>``. Each live
node holds a file lock in its run directory; a run directory whose lock nobody holds
belongs to an interrupted run, and :func:`clean_stale` removes it and its cgroups. Several
nodes (parallel test sessions) can run at once: each has its own namespaces, id and
cgroups. :func:`leftovers` lists what a stopped node still left, for the tests.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BASE = Path(os.environ.get("CRONWRIGHT_NODE_DIR", "/tmp/cronwright-node"))
PREFIX = "cwnode-"
CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass
class Instance:
    """One node's id (its cgroup name too) and run directory, locked while it lives."""

    id: str
    root: Path
    lock_fd: int


@contextlib.contextmanager
def _registry_lock() -> Iterator[None]:
    """Serializes registering a node with removing stale ones (so a node being registered
    is never mistaken for a stale one)."""
    BASE.mkdir(parents=True, exist_ok=True)
    with open(BASE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def register() -> Instance:
    with _registry_lock():
        node_id = PREFIX + secrets.token_hex(4)
        root = BASE / node_id
        root.mkdir(mode=0o700)
        fd = os.open(root / "owner.lock", os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return Instance(node_id, root, fd)


def release(instance: Instance) -> None:
    """Remove the run directory, then let go of its lock."""
    shutil.rmtree(instance.root, ignore_errors=True)
    os.close(instance.lock_fd)


def _is_stale(root: Path) -> bool:
    lock = root / "owner.lock"
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return True  # a run that died before taking its lock (or half removed)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def hierarchies() -> list[Path]:
    """Every cgroup hierarchy mounted under /sys/fs/cgroup (v1 controllers and v2)."""
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        return [CGROUP_ROOT]  # pure cgroup v2
    return sorted(p for p in CGROUP_ROOT.iterdir() if p.is_dir() and not p.is_symlink())


def prepare_cgroups(node_id: str) -> None:
    """kubelet's cgroupRoot must exist in every v1 hierarchy, and a cpuset cgroup is only
    usable once it has cpus and mems (copied from the parent)."""
    for hierarchy in hierarchies():
        if hierarchy.name == "unified" and hierarchy != CGROUP_ROOT:
            continue  # the hybrid layout's v2 tree: kubelet does not use it on v1
        (hierarchy / node_id).mkdir(exist_ok=True)
        if hierarchy.name == "cpuset":
            for knob in ("cpuset.cpus", "cpuset.mems"):
                (hierarchy / node_id / knob).write_text((hierarchy / knob).read_text())


def _trees(node_id: str) -> list[Path]:
    return [h / node_id for h in hierarchies() if (h / node_id).is_dir()]


def _tasks(trees: list[Path]) -> list[int]:
    pids = []
    for tree in trees:
        for procs in tree.rglob("cgroup.procs"):
            with contextlib.suppress(OSError):
                pids += [int(pid) for pid in procs.read_text().split()]
    return pids


def remove_cgroups(node_id: str, *, kill: bool, timeout: float = 10.0) -> list[str]:
    """rmdir the node's cgroup trees bottom-up; what remains.

    kill=True first kills any task left in them: only for the node's own cgroups at its
    stop. Otherwise a tree with a task anywhere is left whole: its processes would have
    died with their pid namespace, so it belongs to a live node, whatever its name says."""
    trees = _trees(node_id)
    if not kill and _tasks(trees):
        return [str(t) for t in trees]
    deadline = time.monotonic() + timeout
    while trees and time.monotonic() < deadline:
        for pid in _tasks(trees) if kill else ():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for tree in trees:
            for directory in sorted((d for d in tree.rglob("*") if d.is_dir()), key=lambda d: -len(d.parts)):
                with contextlib.suppress(OSError):
                    directory.rmdir()
            with contextlib.suppress(OSError):
                tree.rmdir()
        trees = [t for t in trees if t.exists()]
        if trees:
            time.sleep(0.2)
    return [str(t) for t in trees]


def _host_mounts_under(path: Path) -> list[str]:
    prefix = str(path)
    mounts = []
    with open("/proc/self/mountinfo") as info:
        for line in info:
            point = line.split()[4]
            if point == prefix or point.startswith(prefix + "/"):
                mounts.append(point)
    return mounts


def clean_stale() -> list[str]:
    """Remove what interrupted runs left: run directories nobody holds, their mounts (none
    by design, but checked) and every cgroup of ours without a live node; what was removed."""
    removed: list[str] = []
    with _registry_lock():
        live = set()
        for root in sorted(BASE.glob(PREFIX + "*")):
            if not _is_stale(root):
                live.add(root.name)
                continue
            for point in sorted(_host_mounts_under(root), key=len, reverse=True):
                subprocess.run(["umount", "-l", point], check=False, capture_output=True)
                removed.append(f"mount {point}")
            shutil.rmtree(root, ignore_errors=True)
            removed.append(str(root))
        for hierarchy in hierarchies():
            for tree in hierarchy.glob(PREFIX + "*"):
                if (
                    tree.is_dir()
                    and tree.name not in live
                    and not remove_cgroups(tree.name, kill=False, timeout=1)
                ):
                    removed.append(f"cgroup {tree}")
    return removed


def processes_in(namespaces: dict[str, int]) -> list[str]:
    """Processes of this machine inside any of the namespaces ({"net": inode, "pid": ...})."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        for kind, inode in namespaces.items():
            with contextlib.suppress(OSError):
                if os.stat(proc / "ns" / kind).st_ino == inode:
                    comm = (proc / "comm").read_text().strip()
                    found.append(f"pid {proc.name} ({comm}) in the node's {kind} namespace")
                    break
    return found


def leftovers(node_id: str, root: Path, namespaces: dict[str, int], links_before: set[str]) -> list[str]:
    """Everything a stopped node left on this machine; empty when it left nothing.

    `links_before`: this machine's network links before the node started (a veth or bridge
    of the node must never appear among them)."""
    left = processes_in(namespaces)
    left += [f"cgroup {h / node_id}" for h in hierarchies() if (h / node_id).exists()]
    left += [f"mount {m}" for m in _host_mounts_under(root)]
    if root.exists():
        left.append(f"run directory {root}")
    left += [f"network link {name} on this machine" for name in sorted(host_links() - links_before)]
    return left


def host_links() -> set[str]:
    """This process's network links (/sys is mounted in its namespace)."""
    return {p.name for p in Path("/sys/class/net").iterdir()}
