"""Every registered dialect keeps the contract of dialects/contract.py: the facade relies on
nothing else, so a dialect that passes here is served, routed and rendered correctly."""

from __future__ import annotations

import itertools
import json
import re

import pytest
from fastapi.routing import APIRoute

from cronwright.api.app import DIALECTS, dialect_of
from cronwright.api.dialects.contract import Dialect
from cronwright.api.errors import ApiProblem, longest_prefix

BY_NAME = {dialect.name: dialect for dialect in DIALECTS}
each_dialect = pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
PROBLEMS = [
    ApiProblem(400, "validation_error", "Invalid request parameters", {"endpoint_url": ["Must be a URL"]}),
    ApiProblem(404, "not_found", "Cron job 7 not found"),
    ApiProblem(429, "rate_limited", "Rate limit exceeded", headers={"Retry-After": "1"}),
    ApiProblem(500, "internal_error", "Internal server error"),
]


def test_registered_dialects_are_dialect_values_with_unique_names() -> None:
    assert all(isinstance(dialect, Dialect) for dialect in DIALECTS)
    assert len(BY_NAME) == len(DIALECTS)
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name) for name in BY_NAME)


def test_prefixes_are_paths_and_no_two_dialects_share_or_nest_one() -> None:
    for dialect in DIALECTS:
        assert dialect.prefixes, dialect.name
        assert all(p.startswith("/") and not p.endswith("/") for p in dialect.prefixes), dialect.name
    for one, other in itertools.combinations(DIALECTS, 2):
        for a, b in itertools.product(one.prefixes, other.prefixes):
            assert longest_prefix(a, [b]) is None and longest_prefix(b, [a]) is None, (a, b)


@each_dialect
def test_every_route_lies_under_the_dialects_prefixes(dialect: Dialect) -> None:
    """So its errors reach its own renderer (the longest matching prefix decides)."""
    routes = [route for route in dialect.router.routes if isinstance(route, APIRoute)]
    assert routes, dialect.name
    for route in routes:
        assert longest_prefix(route.path, dialect.prefixes) is not None, route.path
        assert dialect_of(route.path) == dialect.name, route.path


@each_dialect
@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: str(p.status))
def test_render_error_answers_in_the_dialects_envelope(dialect: Dialect, problem: ApiProblem) -> None:
    response = dialect.render_error(problem)
    body = json.loads(bytes(response.body))
    assert response.status_code == problem.status
    assert response.media_type == "application/json"
    dialect.envelope.model_validate(body)
    for field in problem.details or {}:
        assert field in json.dumps(body), "a 400 names the bad field"


@each_dialect
def test_the_router_declares_its_envelope_for_every_error_status(dialect: Dialect) -> None:
    declared = dialect.router.responses
    assert {400, 401, 403, 404, 429, 503} <= set(declared), dialect.name
    assert all(declared[status]["model"] is dialect.envelope for status in declared), dialect.name
