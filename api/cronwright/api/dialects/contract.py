"""What a dialect gives the facade: one value per dialect module, registered in app.py.

The facade knows a dialect only through its `Dialect`: it mounts the router, sends every
error under the prefixes to `render_error`, and labels metrics with the name. Nothing else
about a dialect is looked up by convention, so adding one is one module that exports a
`DIALECT` plus one entry in `app.DIALECTS` (docs/dialects.md, "Adding a dialect");
tests/unit/test_dialect_contract.py checks every registered value keeps the promises below.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter
from pydantic import BaseModel

from cronwright.api.errors import Renderer


@dataclass(frozen=True)
class Dialect:
    #: Lower-case words joined by "-": the `dialect` label of metrics and of the resources
    #: the dialect writes (`cronwright.io/dialect`).
    name: str
    #: The paths it serves: every route of `router` is one of them or lies below one, and no
    #: other dialect's prefix overlaps them.
    prefixes: tuple[str, ...]
    router: APIRouter
    #: Turns any error raised under `prefixes` into a response in the dialect's envelope,
    #: naming the bad fields of a 400.
    render_error: Renderer
    #: The OpenAPI schema of that envelope; every body `render_error` makes validates against
    #: it, and the router declares it for its error statuses (errors.error_responses).
    envelope: type[BaseModel]
