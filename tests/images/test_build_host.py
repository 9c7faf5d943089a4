"""What the image build needs from the machine: root and the Debian build packages. Without
them it fails naming what is missing (the tests never skip)."""

from __future__ import annotations

import pytest

from cronwright.core.controlplane.debian import missing_packages, require_packages
from cronwright.core.controlplane.images import BUILD_PACKAGES, build_host_problem

pytestmark = pytest.mark.images


def test_missing_packages_are_named() -> None:
    absent = "cronwright-no-such-package"
    assert missing_packages(["dpkg", absent]) == [absent]
    with pytest.raises(RuntimeError, match=absent):
        require_packages(["dpkg", absent], "this test")


def test_the_build_packages_are_installed_here() -> None:
    """`make test` runs `make images` first, which installs them."""
    assert missing_packages(BUILD_PACKAGES) == []


@pytest.mark.parametrize(
    ("euid", "missing", "named"),
    [
        (0, [], None),
        (1000, [], ["root"]),
        (0, ["buildah", "mmdebstrap"], ["buildah, mmdebstrap", "make images"]),
        (1000, ["buildah"], ["root", "buildah", "make images"]),
    ],
)
def test_what_the_build_needs_is_named(euid: int, missing: list[str], named: list[str] | None) -> None:
    problem = build_host_problem(euid, missing)
    if named is None:
        assert problem is None
    else:
        assert problem is not None and all(word in problem for word in named), problem
