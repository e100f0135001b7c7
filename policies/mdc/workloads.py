"""Where a Kubernetes object keeps its pods: every workload kind, its Patch variant, Helm values.

Any resource whose type is `kubernetes:<group>/<version>:<Kind>` with a pod template is a
workload, whatever API version: Pod, PodTemplate, Deployment, StatefulSet, DaemonSet,
ReplicaSet, ReplicationController, Job, CronJob. `<Kind>Patch` (server-side apply patches)
carries the same template, partially: a field a patch leaves out is left as it is, so rules
that ask for a field to be set judge only full objects, while rules against a dangerous value
judge patches too.

A Helm `Release` is rendered inside the cluster, so its objects never reach a policy pack;
what does is its `values`. Where a chart exposes a security context or host access there
(`securityContext`, `podSecurityContext`, `containerSecurityContext`, `hostNetwork`, ...),
the values are judged as a patch would be.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Iterator, Optional

from mdc.common import plain

TEMPLATES = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
# Pods that run to completion (and need no probes); a PodTemplate is not run by itself.
RUN_TO_COMPLETION = frozenset({"Job", "CronJob", "PodTemplate"})
HELM_RELEASES = frozenset({"kubernetes:helm.sh/v3:Release"})
POD_CONTEXT_KEYS = frozenset({"podSecurityContext"})
CONTEXT_KEYS = frozenset({"securityContext", "podSecurityContext", "containerSecurityContext"})
HOST_KEYS = ("hostNetwork", "hostPID", "hostIPC")


def kubernetes_kind(resource_type: str) -> Optional[tuple[str, bool]]:
    """('Deployment', False) for kubernetes:apps/v1:Deployment, ('Deployment', True) for its
    Patch; None for anything not of the Kubernetes provider."""
    if not resource_type.startswith("kubernetes:"):
        return None
    kind = resource_type.rsplit(":", 1)[-1]
    if kind.endswith("Patch") and len(kind) > len("Patch"):
        return kind[:-len("Patch")], True
    return kind, False


@dataclass(frozen=True)
class Workload:
    """The pod template of one Kubernetes object, as plain data."""

    kind: str
    patch: bool
    pod: Mapping[str, Any]

    @property
    def long_running(self) -> bool:
        return self.kind not in RUN_TO_COMPLETION

    def containers(self, *, init: bool = True, ephemeral: bool = False) -> Iterator[Mapping[str, Any]]:
        """The pod's init containers (unless `init=False`), containers, and ephemeral
        containers (debug containers, which the Pod Security Standards judge too) if asked."""
        kinds = [*(["initContainers"] if init else []), "containers", *(["ephemeralContainers"] if ephemeral else [])]
        for key in kinds:
            for container in self.pod.get(key) or []:
                if isinstance(container, Mapping):
                    yield container


def workload(resource_type: str, props: Mapping[str, Any]) -> Optional[Workload]:
    """The workload of a Kubernetes object; None for objects without a pod template."""
    kind = kubernetes_kind(resource_type)
    if kind is None or kind[0] not in TEMPLATES:
        return None
    node: Any = props
    for key in TEMPLATES[kind[0]]:
        node = node.get(key) if isinstance(node, Mapping) else None
    if not isinstance(node, Mapping):
        return None
    return Workload(kind=kind[0], patch=kind[1], pod=plain(node))


@dataclass(frozen=True)
class ValuesContext:
    """A security context found in a Helm release's values."""

    path: str
    context: Mapping[str, Any]
    pod_level: bool


def values_contexts(values: Any, path: str = "values") -> Iterator[ValuesContext]:
    """Every security context in a Helm release's values, wherever the chart puts it."""
    if isinstance(values, Mapping):
        for key, item in values.items():
            where = f"{path}.{key}"
            if key in CONTEXT_KEYS and isinstance(item, Mapping):
                yield ValuesContext(where, item, key in POD_CONTEXT_KEYS)
            yield from values_contexts(item, where)
    elif isinstance(values, Sequence) and not isinstance(values, str):
        for index, item in enumerate(values):
            yield from values_contexts(item, f"{path}[{index}]")


def values_host_access(values: Any, path: str = "values") -> Iterator[str]:
    """Paths in a Helm release's values that turn on host namespaces (hostNetwork: true, ...)."""
    if isinstance(values, Mapping):
        for key, item in values.items():
            where = f"{path}.{key}"
            if key in HOST_KEYS and item is True:
                yield where
            yield from values_host_access(item, where)
    elif isinstance(values, Sequence) and not isinstance(values, str):
        for index, item in enumerate(values):
            yield from values_host_access(item, f"{path}[{index}]")


def helm_values(resource_type: str, props: Mapping[str, Any]) -> Optional[Any]:
    """A Helm release's values as plain data; None for other resources."""
    if resource_type not in HELM_RELEASES:
        return None
    return plain(props.get("values") or {})


def release_contexts(resource_type: str, props: Mapping[str, Any]) -> Iterator[ValuesContext]:
    """The security contexts in a Helm release's values; nothing for other resources."""
    values = helm_values(resource_type, props)
    return values_contexts(values) if values is not None else iter(())
