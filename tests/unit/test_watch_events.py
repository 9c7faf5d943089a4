"""Reading a watch stream: one event per "\\n"-terminated line, whatever the strings hold."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st

from cronwright.core.kube import watch_events


def read(chunks: list[bytes]) -> list[dict[str, Any]]:
    async def collect() -> list[dict[str, Any]]:
        async def stream():  # type: ignore[no-untyped-def]
            for chunk in chunks:
                yield chunk

        response = httpx.Response(200, content=stream())
        return [event async for event in watch_events(response)]

    return asyncio.run(collect())


def encode(events: list[dict[str, Any]]) -> bytes:
    """As the API server writes them: compact JSON, non-ASCII left as it is, "\\n" after each."""
    return b"".join(json.dumps(e, ensure_ascii=False).encode() + b"\n" for e in events)


def test_separators_inside_strings_do_not_split_an_event() -> None:
    event = {"type": "ADDED", "object": {"spec": {"http": {"body": {"note": "a\x85b\u2028c\x1cd\re"}}}}}
    assert read([encode([event, {"type": "BOOKMARK", "object": {}}])]) == [
        event,
        {"type": "BOOKMARK", "object": {}},
    ]


texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
events = st.lists(
    st.fixed_dictionaries({"type": st.sampled_from(["ADDED", "MODIFIED"]), "note": texts}), max_size=5
)


@given(events, st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=10))
def test_any_chunking_of_any_events_reads_back_the_same_events(
    sent: list[dict[str, Any]], sizes: list[int]
) -> None:
    data, chunks, at = encode(sent), [], 0
    while at < len(data):
        size = sizes[len(chunks) % len(sizes)]
        chunks.append(data[at : at + size])
        at += size
    assert read(chunks) == sent
