"""Which header values an API key may see (docs/security.md, "Header values and API keys").

Only a1base and cronpulse show a job's headers. In both, a value held in a Secret the facade
did not write (a kubectl-made job's `headersFrom`) reaches no key at all, and credentials the
facade stored itself reach only keys that may write the job. Against the real control plane
and the session's facade.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import pytest

from cronwright.api.header_secrets import HIDDEN
from tests.support.api_process import ApiProcess, envelope_error
from tests.support.cluster import Cluster
from tests.support.kubectl import apply, cronjobspec, get, wait_for

A1BASE = "/v1/cron-jobs"
PROJECTS = "/api/v1/projects"
JOBS = "/api/v1/jobs"
USER_TOKEN = "Bearer s3cret-of-the-user"
FOREIGN_REF = {"name": "Authorization", "secretKeyRef": {"name": "hook-credentials", "key": "token"}}


def user_secret(name: str = "hook-credentials") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "stringData": {"token": USER_TOKEN},
    }


def secret_token(cluster: Cluster, namespace: str, name: str = "hook-credentials") -> str:
    data = get(cluster, namespace, name, kind="secret")["data"]
    return base64.b64decode(data["token"]).decode()


def kubectl_job(cluster: Cluster, namespace: str, name: str, ref: dict = FOREIGN_REF, **meta: object) -> dict:
    """A job made with kubectl: a clear header, a credential-named one in clear, and the
    Authorization header read from the user's own Secret."""
    job = cronjobspec(
        name,
        {"cron": "0 9 * * *"},
        {"url": "http://127.0.0.1:9/hook", "headers": {"X-Env": "prod", "X-Api-Key": "clear-key"}},
    )
    job["spec"]["http"]["headersFrom"] = [ref]
    job["metadata"].update(meta)
    apply(cluster, namespace, user_secret(ref["secretKeyRef"]["name"]), job)
    return get(cluster, namespace, name)


def a1base_id(obj: dict) -> str:
    return "crn_" + obj["metadata"]["uid"].replace("-", "")


def test_a1base_never_shows_a_users_secret_and_shows_its_own_to_writers_only(
    api: ApiProcess, cluster: Cluster, namespace: str
) -> None:
    obj = kubectl_job(cluster, namespace, "from-kubectl")
    path = f"{A1BASE}/{a1base_id(obj)}"
    with (
        api.client(api.new_key(namespace)) as writer,
        api.client(api.new_key(namespace, ("read",))) as reader,
    ):
        wait_for(lambda: writer.get(path).status_code == 200, 10, "the kubectl-made job in the facade")
        by_writer, by_reader = writer.get(path), reader.get(path)
        assert by_writer.json()["headers"] == {
            "X-Env": "prod",
            "X-Api-Key": "clear-key",
            "Authorization": HIDDEN,
        }
        assert by_reader.json()["headers"] == {"X-Env": "prod", "X-Api-Key": HIDDEN, "Authorization": HIDDEN}
        for response in (by_writer, by_reader):
            assert USER_TOKEN not in response.text

        # Credentials the facade stored itself: the writer that set them sees them, a reader not.
        made = writer.post(
            A1BASE,
            json={
                "endpoint_url": "http://127.0.0.1:9/x",
                "frequency": "daily",
                "time": "09:00",
                "method": "POST",
                "headers": {"Authorization": "Bearer facade-kept", "Accept": "application/json"},
            },
        ).json()
        own = f"{A1BASE}/{made['id']}"
        assert writer.get(own).json()["headers"] == {
            "Accept": "application/json",
            "Authorization": "Bearer facade-kept",
        }
        assert reader.get(own).json()["headers"] == {"Accept": "application/json", "Authorization": HIDDEN}
        assert "facade-kept" not in reader.get(own).text


def test_a1base_writes_keep_a_users_secret_reference_and_never_touch_the_secret(
    api: ApiProcess, cluster: Cluster, namespace: str
) -> None:
    obj = kubectl_job(cluster, namespace, "from-kubectl")
    path = f"{A1BASE}/{a1base_id(obj)}"
    with api.client(api.new_key(namespace)) as writer:
        wait_for(lambda: writer.get(path).status_code == 200, 10, "the kubectl-made job in the facade")
        # A PATCH without headers leaves both header fields exactly as kubectl wrote them.
        assert writer.patch(path, json={"custom_schedule": "0 10 * * *"}).status_code == 200
        http = get(cluster, namespace, "from-kubectl")["spec"]["http"]
        assert http["headersFrom"] == [FOREIGN_REF]
        assert http["headers"] == {"X-Env": "prod", "X-Api-Key": "clear-key"}

        # Sending back what was read, plus a header, keeps the reference (HIDDEN is not stored).
        shown = writer.get(path).json()["headers"]
        patched = writer.patch(path, json={"headers": {**shown, "X-Trace": "on"}})
        assert patched.status_code == 200, patched.text
        assert patched.json()["headers"] == {**shown, "X-Trace": "on"}
        http = get(cluster, namespace, "from-kubectl")["spec"]["http"]
        assert FOREIGN_REF in http["headersFrom"]
        assert http["headers"] == {"X-Env": "prod", "X-Trace": "on"}
        assert HIDDEN not in json.dumps(http)
        assert secret_token(cluster, namespace) == USER_TOKEN


def test_a_users_secret_named_like_the_facades_is_neither_shown_overwritten_nor_deleted(
    api: ApiProcess, cluster: Cluster, namespace: str
) -> None:
    """`<job>-headers` is the name the facade gives its own Secrets; a user's Secret of that
    name (for a job made with kubectl) stays the user's."""
    ref = {"name": "Authorization", "secretKeyRef": {"name": "mine-headers", "key": "token"}}
    obj = kubectl_job(cluster, namespace, "mine", ref)
    path = f"{A1BASE}/{a1base_id(obj)}"
    with api.client(api.new_key(namespace)) as writer:
        wait_for(lambda: writer.get(path).status_code == 200, 10, "the kubectl-made job in the facade")
        assert writer.get(path).json()["headers"]["Authorization"] == HIDDEN

        refused = writer.patch(path, json={"headers": {"Authorization": "Bearer replaced"}})
        assert "mine-headers" in envelope_error(refused, 409, "conflict")["message"]
        assert secret_token(cluster, namespace, "mine-headers") == USER_TOKEN

        assert writer.delete(path).status_code == 200
        assert secret_token(cluster, namespace, "mine-headers") == USER_TOKEN


@pytest.fixture
def cronpulse_writer(api: ApiProcess, namespace: str) -> Iterator[httpx.Client]:
    scopes = ("read:jobs", "write:jobs", "read:projects", "write:projects")
    with api.client(api.new_key(namespace, scopes), header="x-api-key") as c:
        yield c


def test_cronpulse_never_shows_a_users_secret_and_shows_its_own_to_writers_only(
    api: ApiProcess, cluster: Cluster, namespace: str, cronpulse_writer: httpx.Client
) -> None:
    project = cronpulse_writer.post(PROJECTS, json={"name": "p"}).json()
    owner = get(cluster, namespace, project["id"], kind="cronproject")
    owned = {
        "ownerReferences": [
            {
                "apiVersion": owner["apiVersion"],
                "kind": owner["kind"],
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
            }
        ]
    }
    kubectl_job(cluster, namespace, "from-kubectl", **owned)
    made = cronpulse_writer.post(
        JOBS,
        json={
            "name": "own",
            "projectId": project["id"],
            "url": "http://127.0.0.1:9/x",
            "method": "GET",
            "schedule": "*/5 * * * *",
            "headers": {"X-Api-Key": "facade-kept", "Accept": "text/plain"},
        },
    ).json()
    path = f"{JOBS}/from-kubectl"
    with api.client(api.new_key(namespace, ("read:jobs",)), header="x-api-key") as reader:
        wait_for(lambda: reader.get(path).status_code == 200, 10, "the kubectl-made job in the facade")
        for client, clear_key, own_key in (
            (cronpulse_writer, "clear-key", "facade-kept"),
            (reader, HIDDEN, HIDDEN),
        ):
            foreign = client.get(path)
            assert foreign.json()["headers"] == {
                "X-Env": "prod",
                "X-Api-Key": clear_key,
                "Authorization": HIDDEN,
            }
            assert USER_TOKEN not in foreign.text
            own = client.get(f"{JOBS}/{made['id']}").json()
            assert own["headers"] == {"Accept": "text/plain", "X-Api-Key": own_key}
            listed = {j["id"]: j["headers"] for j in client.get(JOBS).json()}
            assert listed == {"from-kubectl": foreign.json()["headers"], made["id"]: own["headers"]}

    # A PUT of other fields leaves the reference alone; HIDDEN sent back keeps it too.
    assert cronpulse_writer.put(path, json={"timeout": 9}).status_code == 200
    assert get(cluster, namespace, "from-kubectl")["spec"]["http"]["headersFrom"] == [FOREIGN_REF]
    shown = cronpulse_writer.get(path).json()["headers"]
    assert cronpulse_writer.put(path, json={"headers": shown}).status_code == 200
    http = get(cluster, namespace, "from-kubectl")["spec"]["http"]
    assert http["headersFrom"][-1] == FOREIGN_REF and HIDDEN not in json.dumps(http)
    assert secret_token(cluster, namespace) == USER_TOKEN
