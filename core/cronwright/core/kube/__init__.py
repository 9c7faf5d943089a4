"""The Kubernetes client layer: the only code that speaks HTTP to the API server.

credentials.py  where the server is, who we are (kubeconfig, service account, token rotation)
client.py       Kube: the REST calls, every failure an ApiError
errors.py       ApiError and its kinds (NotFound, Conflict, ..., Unavailable)
refs.py         Ref: typed names of objects and collections instead of path strings
retry.py        Retry: the one policy for trying Unavailable calls again
update.py       update: read, compute, conditional merge patch, again on Conflict
watch.py        ListWatch: list, watch, list again when expired
"""

from cronwright.core.kube import refs
from cronwright.core.kube.client import Kube, run_with_kube
from cronwright.core.kube.credentials import (
    BearerAuth,
    Credentials,
    TokenFile,
    bare_token,
    default_namespace,
    load_credentials,
    renewal_time,
)
from cronwright.core.kube.errors import (
    AlreadyExists,
    ApiError,
    BadRequest,
    Conflict,
    Expired,
    Forbidden,
    Invalid,
    NotFound,
    Unauthorized,
    Unavailable,
    Unreachable,
    error_for,
)
from cronwright.core.kube.refs import Ref
from cronwright.core.kube.retry import Retry
from cronwright.core.kube.update import Updated, update
from cronwright.core.kube.watch import ListWatch, resource_version, watch_events

__all__ = [
    "AlreadyExists",
    "ApiError",
    "BadRequest",
    "BearerAuth",
    "Conflict",
    "Credentials",
    "Expired",
    "Forbidden",
    "Invalid",
    "Kube",
    "ListWatch",
    "NotFound",
    "Ref",
    "Retry",
    "TokenFile",
    "Unauthorized",
    "Unavailable",
    "Unreachable",
    "Updated",
    "bare_token",
    "default_namespace",
    "error_for",
    "load_credentials",
    "refs",
    "renewal_time",
    "resource_version",
    "run_with_kube",
    "update",
    "watch_events",
]
