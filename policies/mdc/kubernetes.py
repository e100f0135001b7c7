"""Kubernetes workloads: sized, observable, reproducible (their security is pod_security.py's).

The rules read the pod template of every workload kind and its Patch variant
(`workloads.py`). A patch leaves out what it does not change, so it is judged only on what it
sets.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs

from mdc.workloads import workload
from mdc.waivers import resource_policy


def where(args: ResourceValidationArgs, container: Mapping[str, Any]) -> str:
    return f"Container '{container.get('name')}' of '{args.name}'"


# --- MDC-K8S-001 ------------------------------------------------------------------------------

def validate_resource_limits(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    pods = workload(args.resource_type, args.props)
    if pods is None or pods.patch:
        return
    for container in pods.containers():
        resources = container.get("resources") or {}
        missing = [f"{kind}.{amount}" for kind in ("requests", "limits") for amount in ("cpu", "memory")
                   if not (resources.get(kind) or {}).get(amount)]
        if missing:
            report_violation(
                f"{where(args, container)} sets no {', '.join(missing)}: without requests the scheduler packs "
                "it blindly and a failover moves more load than the standby has; without limits one runaway pod "
                "starves its node. Set resources.requests and resources.limits for cpu and memory.")


resource_limits = resource_policy(
    name="mdc-k8s-001-resource-limits",
    description="Requires CPU and memory requests and limits on every container.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_resource_limits,
)


# --- MDC-K8S-004 ------------------------------------------------------------------------------

def validate_probes(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    pods = workload(args.resource_type, args.props)
    if pods is None or pods.patch or not pods.long_running:
        return
    for container in pods.containers(init=False):
        missing = [probe for probe in ("livenessProbe", "readinessProbe") if not container.get(probe)]
        if missing:
            report_violation(
                f"{where(args, container)} has no {' or '.join(missing)}: traffic reaches it before it is ready "
                "and a hung process is never restarted, so a failover 'succeeds' onto pods that do not answer. "
                "Add both probes.")


probes = resource_policy(
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
    pods = workload(args.resource_type, args.props)
    if pods is None:
        return
    for container in pods.containers():
        if pods.patch and "image" not in container:
            continue
        image = str(container.get("image") or "")
        if image_version(image) is None:
            report_violation(
                f"{where(args, container)} runs image '{image}', which names no version: the standby site pulls "
                "whatever build is current on the day it scales up, not the one tested in the primary. Pin a tag "
                "(not 'latest') or a sha256 digest.")


pinned_images = resource_policy(
    name="mdc-k8s-005-pinned-images",
    description="Prohibits container images without a version tag, or tagged 'latest'.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_pinned_images,
)
