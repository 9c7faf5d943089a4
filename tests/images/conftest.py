"""The images built without Docker (core/cronwright/core/controlplane/images.py), once per
session: `make test` builds them first (`make images`), so here they come from the cache."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from cronwright.core.controlplane.buildah import Buildah
from cronwright.core.controlplane.images import Images, ensure_images, image_store


@pytest.fixture(scope="session")
def built_images() -> Images:
    """Fails (never skips) naming what is missing when not root or a build tool is absent."""
    return ensure_images()


@pytest.fixture(scope="session")
def store() -> Buildah:
    return image_store()


@contextmanager
def container_of(store: Buildah, ref: str) -> Iterator[Callable[..., str]]:
    """A throwaway container of the image; the callable runs a command in it (as the
    image's own user) and returns its output. Creating one copies the whole image (vfs),
    so tests of one image share one."""
    container = store.run("from", "--pull=never", ref).strip()
    try:
        yield lambda *command: store.run("run", "--isolation", "chroot", container, "--", *command)
    finally:
        store.run("rm", container)


def run_in_image(store: Buildah, ref: str, *command: str) -> str:
    with container_of(store, ref) as run:
        return run(*command)


@pytest.fixture(scope="session")
def in_cronwright(built_images: Images, store: Buildah) -> Iterator[Callable[..., str]]:
    """Run a command in (one shared container of) the cronwright image."""
    with container_of(store, built_images.cronwright.ref) as run:
        yield run
