"""Typed references to API objects and collections, instead of REST paths in f-strings.

A `Ref` names a resource type (apiVersion + plural), optionally a namespace, an object and
a subresource; `.path` is the one place that knows how those make a URL path.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from cronwright.core import models


def api_base(api_version: str) -> str:
    """`v1` lives under /api, every named group under /apis."""
    return "/api/v1" if api_version == "v1" else f"/apis/{api_version}"


@dataclass(frozen=True)
class Ref:
    """A collection (no name; no namespace = every namespace, or cluster-scoped) or one object."""

    api_version: str
    plural: str
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None

    @property
    def path(self) -> str:
        parts = [api_base(self.api_version)]
        if self.namespace:
            parts += ["namespaces", self.namespace]
        parts.append(self.plural)
        parts += [p for p in (self.name, self.subresource) if p]
        return "/".join(parts)

    def named(self, name: str) -> Ref:
        """The object `name` of this collection."""
        return replace(self, name=name)

    @property
    def status(self) -> Ref:
        """This object's status subresource (what the operator writes)."""
        return replace(self, subresource="status")


def cronjobspec(namespace: str | None = None, name: str | None = None) -> Ref:
    return Ref(models.API_VERSION, models.PLURAL, namespace, name)


def cronproject(namespace: str, name: str | None = None) -> Ref:
    return Ref(models.API_VERSION, models.PROJECT_PLURAL, namespace, name)


def secret(namespace: str, name: str | None = None) -> Ref:
    return Ref("v1", "secrets", namespace, name)


def configmap(namespace: str, name: str | None = None) -> Ref:
    return Ref("v1", "configmaps", namespace, name)


def event(namespace: str) -> Ref:
    return Ref("v1", "events", namespace)


def namespace(name: str | None = None) -> Ref:
    return Ref("v1", "namespaces", None, name)


def lease(namespace: str, name: str | None = None) -> Ref:
    return Ref("coordination.k8s.io/v1", "leases", namespace, name)


def validating_webhook_configuration(name: str) -> Ref:
    return Ref("admissionregistration.k8s.io/v1", "validatingwebhookconfigurations", None, name)
