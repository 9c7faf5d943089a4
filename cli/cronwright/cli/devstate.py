"""What `cronwright dev` keeps in its state directory (``.cronwright/``) between runs.

A restart must not cost the user their cluster: jobs made with kubectl or the REST API,
the API key pasted into scripts, the ports bookmarked in a browser. So the directory holds
the local control plane's data (etcd's data directory, certificates, kubeconfig), the API
key and the ports of the last run, and a restart takes them up again — each port only
while it is still free. ``cronwright dev --reset`` (``make dev-reset``) deletes them first.

It also holds ``env``, a POSIX shell file a second terminal sources (``. .cronwright/env``)
to get ``cronwright``, ``kubectl`` and ``helm`` on PATH and ``KUBECONFIG``,
``CRONWRIGHT_URL`` and ``API_KEY`` set, so README commands run exactly as printed.

The API key is kept in plain text (mode 0600) here on the developer's machine, as
``dev.json`` always showed it: the cluster itself stores only its hash.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

#: Everything `--reset` deletes: what a restart would otherwise take up again, and the
#: logs of the runs it forgets. The settings file is rewritten at every start anyway.
KEPT = ("cluster", "ports.json", "api-key", "env", "dev.json")
LOGS = ("operator.log", "api.log", "receiver.log")


class StateBusy(RuntimeError):
    """Another `cronwright dev` is running on the same state directory."""


@dataclass(frozen=True)
class DevState:
    root: Path

    @property
    def cluster(self) -> Path:
        return self.root / "cluster"

    @property
    def env(self) -> Path:
        return self.root / "env"

    @property
    def info(self) -> Path:
        return self.root / "dev.json"

    @property
    def kept(self) -> bool:
        """Whether an earlier run left a cluster to take up again."""
        return (self.cluster / "etcd").is_dir()

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Held while `cronwright dev` runs: two runs on one etcd data directory would
        fail in etcd's own words, or worse, each overwrite the other's files."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StateBusy(
                    f"another `cronwright dev` is running with state directory {self.root}"
                    " (stop it with Ctrl-C, or pass --state-dir)"
                ) from None
            yield

    def reset(self) -> None:
        """Delete what a restart would take up again; only cronwright's own entries, so a
        --state-dir pointing at a folder with other files never loses them."""
        for name in (*KEPT, *LOGS):
            path = self.root / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)

    def ports(self) -> dict[str, int]:
        """The ports of the last run by role; {} when there is none or it is unreadable."""
        with contextlib.suppress(OSError, ValueError):
            stored = json.loads((self.root / "ports.json").read_text())
            return {str(k): int(v) for k, v in stored.items() if isinstance(v, int)}
        return {}

    def save_ports(self, ports: dict[str, int]) -> None:
        (self.root / "ports.json").write_text(json.dumps(ports, indent=2, sort_keys=True) + "\n")

    def api_key(self) -> str | None:
        with contextlib.suppress(OSError):
            return (self.root / "api-key").read_text().strip() or None
        return None

    def save_api_key(self, key: str) -> None:
        write_private(self.root / "api-key", key + "\n")

    def write_info(self, info: dict[str, str | None]) -> None:
        """dev.json, for scripts: private, as it holds the API key."""
        write_private(self.info, json.dumps(info, indent=2) + "\n")

    def write_env(self, path: Sequence[Path], kubeconfig: Path, api_url: str, api_key: str) -> None:
        write_private(self.env, env_script(path, kubeconfig, api_url, api_key))


def env_script(
    path: Sequence[Path],
    kubeconfig: Path,
    api_url: str,
    api_key: str,
    written_by: str = "cronwright dev",
    name: str = ".cronwright/env",
) -> str:
    """The ``env`` file: POSIX sh, every value quoted, folders put in front of PATH."""
    folders = ":".join(str(folder) for folder in path)
    return (
        f"# Written by `{written_by}` at each start. In a second shell: . {name}\n"
        f'export PATH={shlex.quote(folders)}:"$PATH"\n'
        f"export KUBECONFIG={shlex.quote(str(kubeconfig))}\n"
        f"export CRONWRIGHT_URL={shlex.quote(api_url)}\n"
        f"export API_KEY={shlex.quote(api_key)}\n"
    )


def source_hint(env: Path, cwd: Path) -> str:
    """How to load ``env`` from `cwd`: relative when it is below (". .cronwright/env")."""
    try:
        return f". {env.relative_to(cwd)}"
    except ValueError:
        return f". {shlex.quote(str(env))}"


def write_private(path: Path, text: str) -> None:
    """Created 0600 before anything is written: the text may hold the API key."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    path.chmod(0o600)
