"""Kubernetes workloads the toolkit deploys: sized, unprivileged, observable, reproducible.

The rules read the pod template of Deployments, StatefulSets, DaemonSets, ReplicaSets,
Jobs, CronJobs and Pods. Charts installed as a Helm `Release` are rendered inside the
cluster, not by Pulumi, so their objects never reach a policy pack.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Optional

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from mdc.common import plain

WORKLOADS = {
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "kubernetes:core/v1:Pod": ("spec",),
}
# Workloads that serve until stopped (a Job's pods run to completion and need no probes).
LONG_RUNNING = frozenset(WORKLOADS) - {"kubernetes:batch/v1:Job", "kubernetes:batch/v1:CronJob"}


def pod_spec(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any]:
    """The pod template of a Kubernetes workload, as plain data; {} for other types."""
    if resource_type not in WORKLOADS:
        return {}
    node: Any = props
    for key in WORKLOADS[resource_type]:
        node = node.get(key) if isinstance(node, Mapping) else None
    return plain(node) if isinstance(node, Mapping) else {}


def containers(pod: Mapping[str, Any], *, init: bool = True) -> Iterator[Mapping[str, Any]]:
    """A pod spec's init containers (unless `init=False`) and containers."""
    if init:
        yield from pod.get("initContainers") or []
    yield from pod.get("containers") or []


def _where(args: ResourceValidationArgs, container: Mapping[str, Any]) -> str:
    return f"Container '{container.get('name')}' of '{args.name}'"


# --- MDC-K8S-001 ------------------------------------------------------------------------------

def validate_resource_limits(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    for container in containers(pod_spec(args.resource_type, args.props)):
        resources = container.get("resources") or {}
        missing = [f"{kind}.{amount}" for kind in ("requests", "limits") for amount in ("cpu", "memory")
                   if not (resources.get(kind) or {}).get(amount)]
        if missing:
            report_violation(
                f"{_where(args, container)} sets no {', '.join(missing)}: without requests the scheduler packs "
                "it blindly and a failover moves more load than the standby has; without limits one runaway pod "
                "starves its node. Set resources.requests and resources.limits for cpu and memory.")


resource_limits = ResourceValidationPolicy(
    name="mdc-k8s-001-resource-limits",
    description="Requires CPU and memory requests and limits on every container.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_resource_limits,
)


# --- MDC-K8S-002 ------------------------------------------------------------------------------

def validate_not_privileged(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    for container in containers(pod_spec(args.resource_type, args.props)):
        if (container.get("securityContext") or {}).get("privileged"):
            report_violation(
                f"{_where(args, container)} is privileged: it has every capability and the host's devices, so a "
                "compromise of it is a compromise of the node. Drop `privileged` and grant only the capability "
                "it needs.")


not_privileged = ResourceValidationPolicy(
    name="mdc-k8s-002-not-privileged",
    description="Prohibits privileged containers.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_not_privileged,
)


# --- MDC-K8S-003 ------------------------------------------------------------------------------

def validate_non_root(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    pod = pod_spec(args.resource_type, args.props)
    pod_context = pod.get("securityContext") or {}
    for container in containers(pod):
        context = container.get("securityContext") or {}
        non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
        user = context.get("runAsUser", pod_context.get("runAsUser"))
        if not non_root or user == 0:
            report_violation(
                f"{_where(args, container)} may run as root (runAsNonRoot is {non_root}, runAsUser is {user}): a "
                "process escaping it lands as root on the node. Set securityContext.runAsNonRoot: true and a "
                "non-zero runAsUser on the pod or the container.")


non_root = ResourceValidationPolicy(
    name="mdc-k8s-003-non-root",
    description="Requires every container to run as a non-root user.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_non_root,
)


# --- MDC-K8S-004 ------------------------------------------------------------------------------

def validate_probes(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in LONG_RUNNING:
        return
    for container in containers(pod_spec(args.resource_type, args.props), init=False):
        missing = [probe for probe in ("livenessProbe", "readinessProbe") if not container.get(probe)]
        if missing:
            report_violation(
                f"{_where(args, container)} has no {' or '.join(missing)}: traffic reaches it before it is ready "
                "and a hung process is never restarted, so a failover 'succeeds' onto pods that do not answer. "
                "Add both probes.")


probes = ResourceValidationPolicy(
    name="mdc-k8s-004-probes",
    description="Requires liveness and readiness probes on the containers of long-running workloads.",
    enforcement_level=EnforcementLevel.ADVISORY,
    validate=validate_probes,
)


# --- MDC-K8S-005 ------------------------------------------------------------------------------

def image_version(image: str) -> Optional[str]:
    """The tag or digest that pins an image; None for untagged images and `latest`."""
    if "@sha256:" in image:
        return image.split("@", 1)[1]
    name = image.rsplit("/", 1)[-1]
    if ":" not in name:
        return None
    tag = name.split(":", 1)[1]
    return tag if tag and tag != "latest" else None


def validate_pinned_images(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    for container in containers(pod_spec(args.resource_type, args.props)):
        image = str(container.get("image") or "")
        if image_version(image) is None:
            report_violation(
                f"{_where(args, container)} runs image '{image}', which names no version: the standby site pulls "
                "whatever build is current on the day it scales up, not the one tested in the primary. Pin a tag "
                "(not 'latest') or a sha256 digest.")


pinned_images = ResourceValidationPolicy(
    name="mdc-k8s-005-pinned-images",
    description="Prohibits container images without a version tag, or tagged 'latest'.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_pinned_images,
)
