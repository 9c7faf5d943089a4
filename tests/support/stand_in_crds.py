"""Stand-ins for other projects' CRDs: the group, kind and scope of the real one with an
open schema — enough for the API server to accept a chart's object of that kind."""

from __future__ import annotations

from typing import Any

OPEN = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def stand_in_crd(group: str, kind: str, plural: str, version: str = "v1") -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind},
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }
