"""A trailing slash names the same operation, in every dialect (api/slashes.py): no empty 307."""

from __future__ import annotations

import pytest

from tests.support.api_process import ApiProcess

A1BASE_JOB = {"endpoint_url": "http://127.0.0.1:9/x", "frequency": "daily", "time": "09:00", "method": "GET"}


@pytest.mark.parametrize(
    ("path", "header"),
    [
        ("/v1/cron-jobs", "bearer"),
        ("/api/agents/agent-1/schedules", "bearer"),
        ("/api/v1/cron/jobs", "bearer"),
        ("/api/cron", "bearer"),
        ("/api/v1/projects", "x-api-key"),
        ("/api/v1/jobs", "x-api-key"),
    ],
)
def test_every_collection_answers_the_same_with_a_trailing_slash(
    api: ApiProcess, namespace: str, path: str, header: str
) -> None:
    with api.client(api.new_key(namespace), header=header) as client:
        plain, slashed = client.get(path), client.get(f"{path}/")
        assert plain.status_code == 200, plain.text
        assert (slashed.status_code, slashed.json()) == (200, plain.json())


def test_writes_and_items_take_a_trailing_slash_too(api: ApiProcess, namespace: str) -> None:
    with api.client(api.new_key(namespace)) as client:
        made = client.post("/v1/cron-jobs/", json=A1BASE_JOB)
        assert made.status_code == 201, made.text
        job = client.get(f"/v1/cron-jobs/{made.json()['id']}/")
        assert job.status_code == 200 and job.json()["id"] == made.json()["id"]
        assert client.get("/v1/cron-jobs").json()["meta"]["total"] == 1
    with api.client(api.new_key(namespace), header="x-api-key") as cronpulse:
        project = cronpulse.post("/api/v1/projects/", json={"name": "p"})
        assert project.status_code == 201, project.text
        assert cronpulse.get(f"/api/v1/projects/{project.json()['id']}/").json()["name"] == "p"
