"""Pod security: every workload meets the Pod Security Standards' "restricted" profile.

Controls (kubernetes.io/docs/concepts/security/pod-security-standards): Privileged
Containers, Privilege Escalation and Capabilities (MDC-K8S-002), Running as Non-root
(003), Host Namespaces, HostPath Volumes and Host Ports (006), Seccomp (007). Full objects
must set what "restricted" requires; patches and Helm values are judged on what they set
(`workloads.py`).
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs

from mdc.kubernetes import where
from mdc.workloads import helm_values, release_contexts, values_host_access, workload
from mdc.waivers import resource_policy

# The one capability "restricted" lets a container add back after dropping ALL.
ALLOWED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
SECCOMP_CONFINED = frozenset({"RuntimeDefault", "Localhost"})


def _escalations(context: Mapping[str, Any], full: bool) -> Iterator[str]:
    """What in one container security context breaks Privileged Containers, Privilege
    Escalation or Capabilities; `full`: the object is complete, so what is missing counts."""
    if context.get("privileged") is True:
        yield "is privileged (every capability and the host's devices)"
    escalation = context.get("allowPrivilegeEscalation")
    if escalation is True or (full and escalation is not False):
        yield "may gain privileges (set allowPrivilegeEscalation: false)"
    capabilities = context.get("capabilities") or {}
    added = sorted(str(c).upper().removeprefix("CAP_") for c in capabilities.get("add") or []
                   if str(c).upper().removeprefix("CAP_") not in ALLOWED_CAPABILITIES)
    if added:
        yield f"adds capabilities {', '.join(added)} (only NET_BIND_SERVICE may be added)"
    if full and "ALL" not in {str(c).upper() for c in capabilities.get("drop") or []}:
        yield "does not drop ALL capabilities"


# --- MDC-K8S-002 ------------------------------------------------------------------------------

def validate_not_privileged(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    pods = workload(args.resource_type, args.props)
    if pods is not None:
        for container in pods.containers(ephemeral=True):
            context = container.get("securityContext")
            if pods.patch and context is None:
                continue
            problems = list(_escalations(context or {}, full=not pods.patch))
            if problems:
                report_violation(
                    f"{where(args, container)} {'; '.join(problems)}: a compromise of it becomes a compromise of "
                    "the node (Pod Security Standards, restricted: Privileged Containers, Privilege Escalation, "
                    "Capabilities). Set securityContext.allowPrivilegeEscalation: false and capabilities.drop: "
                    "[ALL], and add back only NET_BIND_SERVICE if needed.")
        return
    for found in release_contexts(args.resource_type, args.props):
        problems = list(_escalations(found.context, full=False))
        if problems:
            report_violation(
                f"Helm release '{args.name}' sets {found.path} so that its pods {'; '.join(problems)} (Pod Security "
                "Standards, restricted). Override those values.")


not_privileged = resource_policy(
    name="mdc-k8s-002-not-privileged",
    description="Prohibits privileged containers, privilege escalation and added capabilities "
                "(Pod Security Standards, restricted).",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_not_privileged,
)


# --- MDC-K8S-003 ------------------------------------------------------------------------------

def validate_non_root(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    pods = workload(args.resource_type, args.props)
    if pods is not None:
        pod_context = pods.pod.get("securityContext") or {}
        for container in pods.containers(ephemeral=True):
            context = container.get("securityContext") or {}
            non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
            user = context.get("runAsUser", pod_context.get("runAsUser"))
            if (non_root is False or user == 0) if pods.patch else (not non_root or user == 0):
                report_violation(
                    f"{where(args, container)} may run as root (runAsNonRoot is {non_root}, runAsUser is {user}): "
                    "a process escaping it lands as root on the node. Set securityContext.runAsNonRoot: true and "
                    "a non-zero runAsUser on the pod or the container.")
        return
    for found in release_contexts(args.resource_type, args.props):
        if found.context.get("runAsNonRoot") is False or found.context.get("runAsUser") == 0:
            report_violation(f"Helm release '{args.name}' sets {found.path} to run as root (runAsNonRoot false or "
                             "runAsUser 0). Override those values with a non-root user.")


non_root = resource_policy(
    name="mdc-k8s-003-non-root",
    description="Requires every container to run as a non-root user (Pod Security Standards, restricted).",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_non_root,
)


# --- MDC-K8S-006 ------------------------------------------------------------------------------

def _host_access(pod: Mapping[str, Any], containers: list[Mapping[str, Any]]) -> Iterator[str]:
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key) is True:
            yield f"{key}: true"
    for volume in pod.get("volumes") or []:
        if isinstance(volume, Mapping) and volume.get("hostPath"):
            yield f"hostPath volume '{volume.get('name')}' ({(volume['hostPath'] or {}).get('path')})"
    for container in containers:
        for port in container.get("ports") or []:
            if isinstance(port, Mapping) and port.get("hostPort"):
                yield f"hostPort {int(port['hostPort'])} on container '{container.get('name')}'"


def validate_host_access(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    why = ("it shares the node's network, processes, memory or files, so whoever controls the pod reads and "
           "changes the node (Pod Security Standards, baseline: Host Namespaces, HostPath Volumes, Host Ports)")
    pods = workload(args.resource_type, args.props)
    if pods is not None:
        found = list(_host_access(pods.pod, list(pods.containers(ephemeral=True))))
        if found:
            report_violation(f"'{args.name}' sets {'; '.join(found)}: {why}. Remove them; use a Service, a "
                             "PersistentVolumeClaim or a ConfigMap instead.")
        return
    values = helm_values(args.resource_type, args.props)
    found = list(values_host_access(values)) if values is not None else []
    if found:
        report_violation(f"Helm release '{args.name}' sets {', '.join(found)} to true: {why}. Override those values.")


host_access = resource_policy(
    name="mdc-k8s-006-host-access",
    description="Prohibits host namespaces (hostNetwork, hostPID, hostIPC), hostPath volumes and host ports "
                "(Pod Security Standards, baseline).",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_host_access,
)


# --- MDC-K8S-007 ------------------------------------------------------------------------------

def _profile(context: Any) -> Any:
    return ((context or {}).get("seccompProfile") or {}).get("type")


def validate_seccomp(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    pods = workload(args.resource_type, args.props)
    if pods is not None:
        pod_profile = _profile(pods.pod.get("securityContext"))
        for container in pods.containers(ephemeral=True):
            profile = _profile(container.get("securityContext")) or pod_profile
            if profile == "Unconfined" or (not pods.patch and profile not in SECCOMP_CONFINED):
                report_violation(
                    f"{where(args, container)} runs with seccomp profile {profile or '(none)'}: every system call "
                    "of the kernel is open to it (Pod Security Standards, restricted: Seccomp). Set "
                    "securityContext.seccompProfile.type: RuntimeDefault on the pod or the container.")
        return
    for found in release_contexts(args.resource_type, args.props):
        if _profile(found.context) == "Unconfined":
            report_violation(f"Helm release '{args.name}' sets {found.path}.seccompProfile to Unconfined. Use "
                             "RuntimeDefault.")


seccomp = resource_policy(
    name="mdc-k8s-007-seccomp",
    description="Requires a RuntimeDefault or Localhost seccomp profile on every container "
                "(Pod Security Standards, restricted).",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_seccomp,
)
