"""Following a collection: list once, then watch from the list's resourceVersion, and list
again when the server says that version is too old (410 Expired).

The facade's job cache is built on this (api/store.py); the operator follows its resources
with kopf instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Protocol

from cronwright.core.kube.errors import ApiError, Expired
from cronwright.core.kube.refs import Ref

if TYPE_CHECKING:
    from cronwright.core.kube.client import Kube

log = logging.getLogger(__name__)


class _Bytes(Protocol):
    def aiter_bytes(self) -> AsyncIterator[bytes]: ...


async def watch_events(response: _Bytes) -> AsyncIterator[dict[str, Any]]:
    """The events of a watch stream, one JSON object per "\\n"-terminated line.

    Split on "\\n" only. The API server leaves characters such as U+0085 unescaped inside
    strings, and `str.splitlines` (what httpx's `aiter_lines` uses) cuts a line there: one
    such value in any object made the facade's watch fail on the same event forever."""
    buffer = b""
    async for chunk in response.aiter_bytes():
        *lines, buffer = (buffer + chunk).split(b"\n")
        for line in lines:
            if line.strip():
                yield json.loads(line)
    if buffer.strip():
        yield json.loads(buffer)


def resource_version(obj: dict[str, Any]) -> int:
    """The resourceVersion as a number, to keep the newer of two copies of an object
    (watch events can arrive after the answer to one's own, later write)."""
    try:
        return int(obj["metadata"]["resourceVersion"])
    except (KeyError, ValueError):
        return 0


class ListWatch:
    """Feeds `on_list` (every item of a full list: the whole truth) and `on_event` (each watch
    event, bookmarks included; ERROR events are raised by `Kube.watch`) for one collection,
    forever."""

    def __init__(
        self,
        kube: Kube,
        ref: Ref,
        on_list: Callable[[list[dict[str, Any]]], None],
        on_event: Callable[[dict[str, Any]], None],
        pause: float = 1.0,
    ) -> None:
        self.kube = kube
        self.ref = ref
        self.on_list = on_list
        self.on_event = on_event
        self.pause = pause
        self.resource_version = ""

    async def list(self) -> None:
        listed = await self.kube.get(self.ref)
        self.on_list(listed.get("items") or [])
        self.resource_version = listed["metadata"]["resourceVersion"]

    async def watch(self) -> None:
        """Watch from the last list (call `list` first) until cancelled; an interrupted watch
        resumes where it was, an expired one lists again (a failed list is retried the same
        way, never ends the loop)."""
        expired = False
        while True:
            try:
                if expired:
                    await self.list()
                    expired = False
                # aclosing: a failing handler closes the stream at once, not when collected.
                async with contextlib.aclosing(self.kube.watch(self.ref, self.resource_version)) as events:
                    async for event in events:
                        obj = event.get("object") or {}
                        self.resource_version = obj.get("metadata", {}).get(
                            "resourceVersion", self.resource_version
                        )
                        self.on_event(event)
            except Expired:
                expired = True
            except (ApiError, ValueError) as error:
                log.warning("watch of %s interrupted: %s; resuming", self.ref.path, error)
                await asyncio.sleep(self.pause)
