"""buildah with a private image store: the way this project builds images without Docker.

Every call names its own storage (``--root``/``--runroot`` under the cache folder, the vfs
driver: no overlay mounts are left behind, nothing under /var/lib/containers is touched)
and runs RUN steps with ``--isolation chroot`` (no OCI runtime, no daemon). Images
leave the store as docker-archive tarballs, the format `ctr images import` reads.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The host's CA bundle: pip inside a RUN step trusts what the host trusts (a machine
# behind a TLS-intercepting proxy otherwise fails with CERTIFICATE_VERIFY_FAILED).
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


class BuildahError(RuntimeError):
    """A buildah command failed; the message carries the command and its output's tail."""


@dataclass(frozen=True)
class Buildah:
    storage: Path

    def _command(self, args: Sequence[str]) -> list[str]:
        return [
            "buildah",
            "--root",
            str(self.storage / "root"),
            "--runroot",
            str(self.storage / "runroot"),
            "--storage-driver",
            "vfs",
            *args,
        ]

    def run(self, *args: str, stream: bool = False) -> str:
        """Run one buildah command; its stdout, or its output on stderr when streaming.

        A long build streams its output to our stderr (as the Go builds do), so a user
        sees its progress; a failure raises with the command and the output's tail.
        """
        command = self._command(args)
        if stream:
            tail: list[str] = []
            with subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            ) as proc:
                assert proc.stdout is not None
                for line in proc.stdout:
                    tail = [*tail[-39:], line.rstrip()]
                    print(f"[cronwright]   {line.rstrip()}", file=sys.stderr, flush=True)
            if proc.returncode != 0:
                raise BuildahError(f"`{' '.join(command)}` failed:\n" + "\n".join(tail))
            return ""
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            output = result.stdout[-2000:] + result.stderr[-3000:]
            raise BuildahError(f"`{' '.join(command)}` failed:\n{output}")
        return result.stdout

    def has_image(self, ref: str) -> bool:
        result = subprocess.run(
            self._command(["inspect", "--type", "image", "--format", "{{.FromImageID}}", ref]),
            capture_output=True,
            text=True,
            check=False,
        )
        return result.returncode == 0

    def inspect(self, ref: str) -> dict[str, Any]:
        """`buildah inspect` of an image: its OCI and Docker configs, layers and history."""
        return json.loads(self.run("inspect", "--type", "image", ref))

    def commit_rootfs(self, rootfs_tar: Path, ref: str, config: Sequence[str]) -> None:
        """An image from scratch: one layer (the tarball, unpacked at /) and a config."""
        container = self.run("from", "scratch").strip()
        try:
            self.run("add", container, str(rootfs_tar), "/")
            self.run("config", *config, container)
            self.run("commit", "--format", "docker", "--rm", container, ref)
        except BuildahError:
            self.run("rm", container)
            raise

    def bud(self, context: Path, ref: str, build_args: dict[str, str]) -> None:
        """Build a Dockerfile. ``--pull=never``: the base must already be in the store (a
        pull would ask a registry). ``--format docker`` keeps HEALTHCHECK, which the OCI
        format drops. ``--layers=false``: one layer per stage, no cache of intermediates
        (the whole build is cached by its key instead)."""
        args = [
            "bud",
            "--pull=never",
            "--format",
            "docker",
            "--isolation",
            "chroot",
            "--network",
            "host",
            "--layers=false",
            "--file",
            str(context / "Dockerfile"),
            "--tag",
            ref,
        ]
        for name, value in build_args.items():
            args += ["--build-arg", f"{name}={value}"]
        if HOST_CA_BUNDLE.exists():
            args += ["--volume", f"{HOST_CA_BUNDLE}:{HOST_CA_BUNDLE}:ro"]
        self.run(*args, str(context), stream=True)

    def push_archive(self, ref: str, archive: Path) -> None:
        """Write the image as a docker-archive tarball tagged `ref` (written aside first, so
        a half-written archive never looks finished)."""
        partial = archive.with_name(archive.name + ".partial")
        partial.unlink(missing_ok=True)
        self.run("push", "--quiet", ref, f"docker-archive:{partial}:{ref}")
        partial.replace(archive)

    def remove_image(self, ref: str) -> None:
        if self.has_image(ref):
            self.run("rmi", ref)
