"""An HTTP run: resolve the Secrets it sends, make the request (http_executor.py), record it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from cronwright.core import runs
from cronwright.core.models import HttpTarget, RunRecord, RunResult
from cronwright.operator import http_executor
from cronwright.operator.events import EventRecorder
from cronwright.operator.metrics import Metrics
from cronwright.operator.runners import Run, content_problem, late
from cronwright.operator.secrets import SecretCache, SecretProblem


class HttpRunner:
    def __init__(
        self,
        http: http_executor.Client,
        secrets: SecretCache,
        events: EventRecorder,
        metrics: Metrics,
        version: str,
    ) -> None:
        self._http = http
        self._secrets = secrets
        self._events = events
        self._metrics = metrics
        self._version = version

    async def run(self, run: Run) -> RunRecord:
        missed = late(run, self._metrics)
        if missed is not None:
            return missed
        target = run.spec.http
        assert target is not None
        entry = run.entry
        try:
            secret_headers, signing_key = await self.secret_values(entry.key[0], target)
        except SecretProblem as problem:
            return content_problem(run, problem, "SecretNotFound", self._events)
        request = http_executor.plan_from_target(
            target,
            run.spec.retry,
            secret_headers,
            signing_key,
            runs.idempotency_key(entry.uid, run.due, run.trigger_value),
        )
        # Receivers learn which run this is without keeping state of their own.
        request = dataclasses.replace(
            request,
            headers={
                **request.headers,
                "X-Cronwright-Scheduled-Time": runs.rfc3339(run.due),
                "X-Cronwright-Run-Id": run.rid,
                "X-Cronwright-Trigger": str(run.trigger),
            },
        )
        outcome = await http_executor.execute(self._http, request, version=self._version)
        return RunRecord(
            id=run.rid,
            scheduled_time=run.due,
            start_time=outcome.started_at,
            finish_time=datetime.now(UTC),
            duration_ms=outcome.duration_ms,
            result=RunResult.Succeeded if outcome.succeeded else RunResult.Failed,
            trigger=run.trigger,
            attempts=outcome.attempts,
            response_code=outcome.response_code,
            response_body=outcome.response_body,
            error=outcome.error,
        )

    async def secret_values(
        self, namespace: str, target: HttpTarget, fresh: bool = False
    ) -> tuple[dict[str, str], bytes | None]:
        """The header values and the signing key a run sends; SecretProblem names the first
        reference that does not resolve. `fresh` reads past the cache (and refills it)."""
        headers = {
            header.name: (
                await self._secrets.value(
                    namespace, header.secret_key_ref, f"spec.http.headersFrom[{i}]", fresh=fresh
                )
            ).decode()
            for i, header in enumerate(target.headers_from or [])
        }
        signing_key = (
            await self._secrets.value(
                namespace, target.signing.secret_key_ref, "spec.http.signing.secretKeyRef", fresh=fresh
            )
            if target.signing
            else None
        )
        return headers, signing_key
