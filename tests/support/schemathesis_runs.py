"""schemathesis against one dialect of the facade's /openapi.json: the bar every dialect is
held to, and the machinery that drives it, in one place.

Each operation is called with schemathesis's generated data (valid and invalid, `fuzz`) and
with its deterministic coverage cases (`coverage`). Every response must be no 5xx and have a
declared status code, content type and body schema (`CHECKS`). What differs per dialect is
only steering, described by a `Dialect`: how its key is sent, how random bodies are repaired
into valid ones (random data almost never satisfies the rules between fields, so without it
nearly every create would be a 400 and nothing would be stored), which path parameters get
the ids of real objects seeded first (so reads and writes also hit existing objects), and
which body field carries a URL, which is always moved to the discard port on loopback.

Generated headers that frame the message on the wire (`FRAMING_HEADERS`: Content-Length,
Transfer-Encoding, ...) are dropped: a request that lies about its own length is refused by
uvicorn's HTTP parser with its own plain-text 400 before any route runs, so it tests the HTTP
server, not the API the document describes (a CI run failed on `Content-Length: TRUE`).

schemathesis's own pytest integration (`schema.parametrize()`, `pytest.from_fixture`) fails on
pytest 9.2 (`Function` has no `_nodeid`), so operations are parametrized here and each runs a
plain hypothesis test over `operation.as_strategy()`. `CRONWRIGHT_SCHEMATHESIS_EXAMPLES` sets
the examples per operation (default 100; derandomized, so every run sends the same requests).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cronwright.api.app import ApiSettings, create_app
from tests.support.api_process import ApiProcess

LOOPBACK = "http://127.0.0.1:9/"
EXAMPLES = int(os.environ.get("CRONWRIGHT_SCHEMATHESIS_EXAMPLES", "100"))
CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

FRAMING_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "connection", "host", "expect", "upgrade", "te"}
)

Body = dict[str, Any]


def without_framing(headers: dict[str, Any] | None) -> dict[str, Any] | None:
    """`headers` without the ones the HTTP client sets to frame the message (see the module)."""
    if headers is None:
        return None
    return {name: value for name, value in headers.items() if name.lower() not in FRAMING_HEADERS}


def operations(*prefixes: str) -> list[tuple[str, str]]:
    """(method, path) of every operation under the prefixes, from the app itself (no server
    needed to collect the tests)."""
    spec = create_app(ApiSettings()).openapi()
    return [(m.upper(), p) for p, ops in spec["paths"].items() if p.startswith(prefixes) for m in ops]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def fuzzing_key(api: ApiProcess, namespace: str, scopes: tuple[str, ...] = ("read", "write")) -> str:
    """A key for the test's namespace whose rate limit thousands of requests stay under."""
    return api.new_key(namespace, scopes, rate_per_second=1000.0, rate_burst=1000)


def seed(
    client: httpx.Client, path: str, bodies: Iterable[Body], created: int = 201, id_field: str = "id"
) -> list[Any]:
    """The ids of real objects made by POSTing each body to `path`, for the runs to hit."""
    made = [client.post(path, json=body) for body in bodies]
    assert all(r.status_code == created for r in made), [r.text for r in made]
    return [r.json()[id_field] for r in made]


def no_url(body: Body) -> str | None:
    """For dialects whose bodies carry no URL (their targets are named in the settings file)."""
    return None


@dataclass(frozen=True)
class Dialect:
    """One dialect on one running facade, with the ids of the real objects seeded for the test.

    `repair(body, *one value from each of repair_from)` is the body made valid; `seeded` maps a
    path parameter to real ids; `url_field(body)` names the field of `body` that holds a URL
    (None when it holds none).
    """

    base_url: str
    headers: Mapping[str, str] = field(repr=False)  # the key: kept out of failure reports
    repair: Callable[..., Body]
    repair_from: Sequence[Sequence[Any]]
    seeded: Mapping[str, Sequence[Any]]
    url_field: Callable[[Body], str | None] = no_url

    def on_loopback(self, body: Any) -> Any:
        """`body` with its URL, if any, moved to the discard port on loopback."""
        name = self._url_name(body)
        return body if name is None else {**body, name: LOOPBACK + quote(body[name][:64], safe="")}

    def is_on_loopback(self, body: Any) -> bool:
        name = self._url_name(body)
        return name is None or body[name].startswith(LOOPBACK)

    def _url_name(self, body: Any) -> str | None:
        name = self.url_field(body) if isinstance(body, dict) else None
        return name if name is not None and isinstance(body.get(name), str) else None

    @cached_property
    def schema(self) -> schemathesis.BaseSchema:
        """The facade's own /openapi.json, with this dialect's steering as schemathesis hooks."""
        schema = schemathesis.openapi.from_url(f"{self.base_url}/openapi.json", config=schemathesis.Config())

        @schema.hook
        def map_body(context: schemathesis.HookContext, body: Any) -> Any:
            return self.on_loopback(body)

        @schema.hook
        def map_headers(context: schemathesis.HookContext, headers: dict[str, Any] | None) -> Any:
            return without_framing(headers)

        @schema.hook
        def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
            if not isinstance(body, dict):
                return st.just(body)
            fixed = st.builds(self.repair, st.just(body), *map(st.sampled_from, self.repair_from))
            return st.one_of(st.just(body), fixed)

        @schema.hook
        def flatmap_path_parameters(
            context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
        ) -> st.SearchStrategy[dict[str, Any] | None]:
            names = [n for n in self.seeded if isinstance(path_parameters, dict) and n in path_parameters]
            if not names:
                return st.just(path_parameters)
            ids = st.fixed_dictionaries({n: st.sampled_from(self.seeded[n]) for n in names})
            return st.one_of(st.just(path_parameters), ids.map(lambda real: {**path_parameters, **real}))

        return schema

    def fuzz(self, method: str, path: str) -> Counter[int]:
        """`EXAMPLES` generated requests (valid and invalid); each must pass CHECKS. Returns the
        statuses seen."""
        operation = self.schema[path][method]
        cases = st.one_of(
            operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE),
        )
        statuses: Counter[int] = Counter()

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        @given(case=cases)
        def check(case: schemathesis.Case) -> None:
            assert self.is_on_loopback(case.body), case.body
            statuses[self._call(case).status_code] += 1

        check()
        return statuses

    def coverage(self, method: str, path: str) -> int:
        """schemathesis's deterministic coverage cases (boundary values, each constraint broken
        in turn, missing fields, wrong types, unexpected methods), every other one on real
        objects; each must pass CHECKS. Returns how many were sent."""
        operation = self.schema[path][method]
        generation = self.schema.config.generation_for(operation=operation, phase="coverage")
        cases = self.schema.iter_coverage_cases(
            operation, generation_modes=list(schemathesis.GenerationMode), generation_config=generation
        )
        count = 0
        for i, case in enumerate(cases):
            case.body = self.on_loopback(case.body)
            case.headers = without_framing(case.headers)
            if i % 2 and isinstance(case.path_parameters, dict):
                real = {
                    n: ids[i // 2 % len(ids)] for n, ids in self.seeded.items() if n in case.path_parameters
                }
                case.path_parameters = {**case.path_parameters, **real}
            self._call(case)
            count += 1
        return count

    def _call(self, case: schemathesis.Case) -> Any:
        return case.call_and_validate(
            base_url=self.base_url, headers=dict(self.headers), checks=CHECKS, timeout=10
        )


def dialect_tests(*prefixes: str) -> tuple[Callable[..., None], Callable[..., None]]:
    """`test_fuzzed_requests` and `test_coverage_requests` over every operation under the
    prefixes, for a test module to bind under those names; they take its `dialect` fixture."""
    parametrized = pytest.mark.parametrize(("method", "path"), operations(*prefixes), ids=lambda v: v)

    @parametrized
    def test_fuzzed_requests(dialect: Dialect, method: str, path: str) -> None:
        statuses = dialect.fuzz(method, path)
        # Not vacuous: every operation also succeeded at least once (a stored object, a real id).
        assert any(200 <= status < 300 for status in statuses), dict(statuses)

    @parametrized
    def test_coverage_requests(dialect: Dialect, method: str, path: str) -> None:
        assert dialect.coverage(method, path) > 0

    return test_fuzzed_requests, test_coverage_requests
