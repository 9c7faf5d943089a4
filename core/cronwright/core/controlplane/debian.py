"""Debian packages the image build needs (buildah, mmdebstrap, busybox-static, gcc),
installed with apt-get when missing.

`make images` installs them (``cronwright image-build --install-tools``); the build itself
and the tests only check, and fail naming what is missing, so a test never changes the
machine behind the user's back and never skips.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Sequence

INSTALL_HINT = "run `make images` as root (it installs them with apt-get)"


def missing_packages(packages: Iterable[str]) -> list[str]:
    """The packages of the list that dpkg does not have installed."""
    wanted = list(packages)
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\n", *wanted],
        capture_output=True,
        text=True,
        check=False,
    )
    installed = {
        name.split(":")[0]
        for name, _, status in (line.partition(" ") for line in result.stdout.splitlines())
        if status == "installed"
    }
    return [name for name in wanted if name not in installed]


def require_packages(packages: Sequence[str], purpose: str) -> None:
    """Fail naming the missing packages, and how to get them."""
    missing = missing_packages(packages)
    if missing:
        raise RuntimeError(f"{purpose} needs the Debian packages {', '.join(missing)}: {INSTALL_HINT}")


def install_packages(packages: Sequence[str], purpose: str) -> list[str]:
    """apt-get install what is missing (as root); return what was installed.

    `DPkg::Lock::Timeout` waits for another apt-get instead of failing at once: parallel
    sessions on one machine install their own packages at the same time.
    """
    missing = missing_packages(packages)
    if not missing:
        return []
    if os.geteuid() != 0:
        raise RuntimeError(
            f"{purpose} needs the Debian packages {', '.join(missing)}; installing them needs root"
            f" (apt-get install {' '.join(missing)})"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lock = ["-o", "DPkg::Lock::Timeout=600"]
    for command in (
        ["apt-get", *lock, "update", "-qq"],
        ["apt-get", *lock, "install", "-y", "-qq", "--no-install-recommends", *missing],
    ):
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            output = result.stdout[-2000:] + result.stderr[-2000:]
            raise RuntimeError(f"`{' '.join(command)}` failed:\n{output}")
    still = missing_packages(missing)
    if still:
        raise RuntimeError(f"apt-get did not install {', '.join(still)}")
    return missing
