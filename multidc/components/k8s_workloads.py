"""The Kubernetes objects multidc writes itself, built one way.

Every container gets requests and limits (equal: the Guaranteed QoS class, so a noisy
neighbour cannot take what a served model was sized for), a pinned image, and a non-root,
read-only security context; every Deployment gets probes, a PodDisruptionBudget and a
NetworkPolicy from the callers. The dict builders (``container``, ``pod_security_context``,
``resources``) return ``*ArgsDict``-shaped dicts, so a CronJob's job template can use them
as well as a Deployment; the resource builders take the Pulumi resource name, the object's
name in the cluster (stable, so runbooks can ``kubectl scale`` it) and the caller's
``ResourceOptions`` (parent and provider: never a default provider).
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from multidc.contract import LABEL_COMPONENT, LABEL_MANAGED_BY, LABEL_NAME, LABEL_PART_OF, MANAGED_BY

NON_ROOT_UID = 65534  # nobody
# Scratch space for read-only root filesystems; libraries write temp files and caches here.
SCRATCH_VOLUME = "scratch"
SCRATCH_PATH = "/tmp"

_TAG = re.compile(r"^(?P<repo>[^@]+?)(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$")


class UnpinnedImageError(ValueError):
    """An image reference names no version; the message says which image and how to pin it."""


def pinned_image(image: str) -> str:
    """Return ``image`` if it names a version (a tag other than ``latest``, or a digest).

    An unpinned image changes under a running platform: the copy in the standby site would
    pull a different build from the one in the primary on the day it is scaled up.
    """
    match = _TAG.match(image)
    unversioned = match is None or (match.group("tag") is None and match.group("digest") is None)
    if unversioned or match.group("tag") == "latest":
        repo = match.group("repo") if match else image
        raise UnpinnedImageError(
            f"image {image!r} is not pinned: multidc deploys only images with a version tag "
            "(not 'latest') or a sha256 digest, so both sites run the same build; "
            f"write it as e.g. '{repo}:1.2.3'"
        )
    return image


def resources(cpu: str, memory: str) -> dict[str, Any]:
    """Requests equal to limits (Guaranteed QoS): what a workload was sized for is what it gets."""
    amount = {"cpu": cpu, "memory": memory}
    return {"requests": dict(amount), "limits": dict(amount)}


def container_security_context() -> dict[str, Any]:
    return {
        "run_as_non_root": True,
        "run_as_user": NON_ROOT_UID,
        "run_as_group": NON_ROOT_UID,
        "allow_privilege_escalation": False,
        "read_only_root_filesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccomp_profile": {"type": "RuntimeDefault"},
    }


def pod_security_context() -> dict[str, Any]:
    return {
        "run_as_non_root": True,
        "run_as_user": NON_ROOT_UID,
        "run_as_group": NON_ROOT_UID,
        "fs_group": NON_ROOT_UID,
        "seccomp_profile": {"type": "RuntimeDefault"},
    }


def http_probes(path: str, port: int, *, startup_seconds: int = 120) -> dict[str, Any]:
    """Readiness, liveness and a startup probe that allows ``startup_seconds`` to come up
    (a model server downloads its model first) before liveness may restart the pod."""
    get = {"path": path, "port": port}
    period = 5
    return {
        "readiness_probe": {"http_get": get, "period_seconds": period, "timeout_seconds": 2, "failure_threshold": 3},
        "liveness_probe": {"http_get": get, "period_seconds": 10, "timeout_seconds": 5, "failure_threshold": 6},
        "startup_probe": {"http_get": get, "period_seconds": period, "timeout_seconds": 2,
                          "failure_threshold": max(1, startup_seconds // period)},
    }


def container(
    name: str,
    image: str,
    *,
    args: Sequence[str],
    cpu: str,
    memory: str,
    port: Optional[int] = None,
    probe_path: Optional[str] = None,
    startup_seconds: int = 120,
    env: Sequence[Mapping[str, Any]] = (),
    env_from: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """A container (``ContainerArgsDict``) with pinned image, limits, non-root context and
    ``/tmp`` as its only writable path (mount ``scratch_volume()`` in the pod)."""
    spec: dict[str, Any] = {
        "name": name,
        "image": pinned_image(image),
        "args": list(args),
        "resources": resources(cpu, memory),
        "security_context": container_security_context(),
        "env": [{"name": "HOME", "value": SCRATCH_PATH}, {"name": "TMPDIR", "value": SCRATCH_PATH}, *env],
        "volume_mounts": [{"name": SCRATCH_VOLUME, "mount_path": SCRATCH_PATH}],
    }
    if env_from:
        spec["env_from"] = list(env_from)
    if port is not None:
        spec["ports"] = [{"name": "http", "container_port": port, "protocol": "TCP"}]
        if probe_path is not None:
            spec.update(http_probes(probe_path, port, startup_seconds=startup_seconds))
    return spec


def scratch_volume(size: str = "1Gi") -> dict[str, Any]:
    return {"name": SCRATCH_VOLUME, "empty_dir": {"size_limit": size}}


def pod_spec(containers: Sequence[Mapping[str, Any]], **extra: Any) -> dict[str, Any]:
    """A pod spec (``PodSpecArgsDict``) around ``containers``, with the non-root pod context,
    the scratch volume and no service-account token (nothing here talks to the API server)."""
    return {
        "containers": list(containers),
        "security_context": pod_security_context(),
        "volumes": [scratch_volume()],
        "automount_service_account_token": False,
        **extra,
    }


def labels(app: str, component: str, part_of: str) -> dict[str, str]:
    """The recommended labels; `part_of` is the system, which `contract.system_selector` selects on."""
    return {LABEL_NAME: app, LABEL_COMPONENT: component, LABEL_PART_OF: part_of, LABEL_MANAGED_BY: MANAGED_BY}


def deployment(
    resource_name: str,
    *,
    name: str,
    namespace: pulumi.Input[str],
    selector: Mapping[str, str],
    pod_labels: Mapping[str, str],
    pod: Mapping[str, Any],
    replicas: Optional[int],
    annotations: Optional[Mapping[str, str]] = None,
    opts: pulumi.ResourceOptions,
) -> k8s.apps.v1.Deployment:
    """A Deployment; ``replicas=None`` leaves the count to a HorizontalPodAutoscaler (a
    declared count would be reset to on every ``pulumi up``, fighting the autoscaler)."""
    spec: dict[str, Any] = {
        "selector": {"match_labels": dict(selector)},
        "strategy": {"type": "RollingUpdate", "rolling_update": {"max_unavailable": 0, "max_surge": 1}},
        "template": {"metadata": {"labels": {**pod_labels, **selector}}, "spec": dict(pod)},
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return k8s.apps.v1.Deployment(
        resource_name,
        metadata={"name": name, "namespace": namespace, "labels": dict(pod_labels),
                  "annotations": dict(annotations or {})},
        spec=spec,
        opts=opts,
    )


def service(
    resource_name: str,
    *,
    name: str,
    namespace: pulumi.Input[str],
    selector: Mapping[str, str],
    port: int,
    target_port: int,
    service_labels: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.Service:
    """A ClusterIP Service: exposure beyond the cluster is a separate, deliberate decision."""
    return k8s.core.v1.Service(
        resource_name,
        metadata={"name": name, "namespace": namespace, "labels": dict(service_labels)},
        spec={
            "type": "ClusterIP",
            "selector": dict(selector),
            "ports": [{"name": "http", "port": port, "target_port": target_port, "protocol": "TCP"}],
        },
        opts=opts,
    )


def autoscaler(
    resource_name: str,
    *,
    name: str,
    namespace: pulumi.Input[str],
    deployment_name: str,
    min_replicas: int,
    max_replicas: int,
    cpu_utilization: int = 70,
    opts: pulumi.ResourceOptions,
) -> k8s.autoscaling.v2.HorizontalPodAutoscaler:
    """Scale on CPU. A Deployment at zero replicas (a warm standby) is left alone by the
    autoscaler until the runbook scales it up; from then on the autoscaler owns the count."""
    return k8s.autoscaling.v2.HorizontalPodAutoscaler(
        resource_name,
        metadata={"name": name, "namespace": namespace},
        spec={
            "scale_target_ref": {"api_version": "apps/v1", "kind": "Deployment", "name": deployment_name},
            "min_replicas": min_replicas,
            "max_replicas": max_replicas,
            "metrics": [{"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization", "average_utilization": cpu_utilization}}}],
        },
        opts=opts,
    )


def disruption_budget(
    resource_name: str,
    *,
    name: str,
    namespace: pulumi.Input[str],
    selector: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> k8s.policy.v1.PodDisruptionBudget:
    """At most one pod down by voluntary disruption (node drains, upgrades). ``maxUnavailable``
    rather than ``minAvailable`` so a warm standby at zero replicas does not block drains."""
    return k8s.policy.v1.PodDisruptionBudget(
        resource_name,
        metadata={"name": name, "namespace": namespace},
        spec={"max_unavailable": 1, "selector": {"match_labels": dict(selector)}},
        opts=opts,
    )


def dns_egress() -> dict[str, Any]:
    """Egress to the cluster DNS, wherever it runs (port 53 on any pod in any namespace)."""
    return {
        "to": [{"namespace_selector": {}}],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }


def network_policy(
    resource_name: str,
    *,
    name: str,
    namespace: pulumi.Input[str],
    pod_selector: Mapping[str, str],
    ingress: Optional[Sequence[Mapping[str, Any]]] = None,
    egress: Optional[Sequence[Mapping[str, Any]]] = None,
    opts: pulumi.ResourceOptions,
) -> k8s.networking.v1.NetworkPolicy:
    """A NetworkPolicy; a direction given (even as ``[]``) is denied except for its rules,
    a direction left as None is not restricted by this policy."""
    policy_types, spec = [], {"pod_selector": {"match_labels": dict(pod_selector)}}
    if ingress is not None:
        policy_types.append("Ingress")
        spec["ingress"] = list(ingress)
    if egress is not None:
        policy_types.append("Egress")
        spec["egress"] = list(egress)
    spec["policy_types"] = policy_types
    return k8s.networking.v1.NetworkPolicy(
        resource_name, metadata={"name": name, "namespace": namespace}, spec=spec, opts=opts,
    )
