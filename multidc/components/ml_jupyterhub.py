"""JupyterHub for one ML platform placement, from the Zero to JupyterHub chart.

A CPU profile and, when the cluster has a GPU pool in this site, a GPU profile (one
``nvidia.com/gpu``, tolerating the pool's taint); every notebook gets the MLflow tracking
URI and the datasets' settings. A warm standby runs the hub without its user scheduler
and image pullers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import pulumi

from multidc.components import k8s_workloads as kw
from multidc.components.common import HelmChart
from multidc.components.ml_mlflow import MLFLOW_PORT

# Jupyter Docker Stacks, pinned by build date; the CUDA build for the GPU profile.
NOTEBOOK_IMAGE = ("quay.io/jupyter/scipy-notebook", "2026-08-24")
GPU_NOTEBOOK_IMAGE = ("quay.io/jupyter/pytorch-notebook", "cuda12-2026-08-24")
GPU_RESOURCE = "nvidia.com/gpu"

# The classes ship in the chart's hub image; the settings each needs beyond its name (IdP
# URLs, LDAP server) are not in the spec and go in through `hub.config` at deploy time.
AUTHENTICATORS = {
    "dummy": "dummy",
    "native": "nativeauthenticator.NativeAuthenticator",
    "generic-oauth": "oauthenticator.generic.GenericOAuthenticator",
    "ldap": "ldapauthenticator.LDAPAuthenticator",
}
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")

JUPYTERHUB_CHART = HelmChart("jupyterhub", "https://hub.jupyter.org/helm-chart/", "4.3.3")
JUPYTERHUB_RELEASE = JUPYTERHUB_CHART.chart  # common.helm_release names a release after its chart
JUPYTERHUB_PROXY_PORT = "http"  # the chart's proxy pods serve the hub on this named port (8000)


def jupyterhub_proxy_selector() -> dict[str, str]:
    """The labels the Zero to JupyterHub chart gives its proxy pods (where users connect)."""
    return {"app": "jupyterhub", "component": "proxy", "release": JUPYTERHUB_RELEASE}


@dataclass(frozen=True)
class GpuScheduling:
    """How a pod reaches the GPU pool: the pool's taint to tolerate and its labels to select."""

    taint_key: str = "nvidia.com/gpu"
    taint_value: str = "present"
    taint_effect: str = "NoSchedule"
    node_labels: Mapping[str, str] = field(default_factory=dict)


def jupyterhub_values(
    *,
    authenticator: str,
    max_users: int,
    user_storage_gb: int,
    full: bool,
    gpu: Optional[GpuScheduling],
    tracking_uri: Optional[str],
    dataset_plain: list[str],
    dataset_secret: list[str],
    dataset_db_ports: list[pulumi.Input[int]],
    system: str,
) -> dict[str, Any]:
    """Values for the Zero to JupyterHub chart (raw chart keys, camelCase)."""
    extra_env: dict[str, Any] = {
        key: {"valueFrom": {"configMapKeyRef": {"name": "datasets", "key": key}}} for key in dataset_plain}
    extra_env.update({
        key: {"valueFrom": {"secretKeyRef": {"name": "datasets", "key": key}}} for key in dataset_secret})
    egress: list[dict[str, Any]] = []
    if tracking_uri is not None:
        extra_env["MLFLOW_TRACKING_URI"] = tracking_uri
        egress.append({"to": [{"podSelector": {"matchLabels": {
            "app.kubernetes.io/name": "mlflow", "app.kubernetes.io/instance": system}}}],
            "ports": [{"protocol": "TCP", "port": MLFLOW_PORT}]})
    if dataset_db_ports:
        # Read-only dataset endpoints are on the site network; only their ports are opened.
        egress.append({"to": [{"ipBlock": {"cidr": cidr}} for cidr in PRIVATE_RANGES],
                       "ports": [{"protocol": "TCP", "port": port} for port in dataset_db_ports]})
    profiles: list[dict[str, Any]] = [{
        "display_name": "CPU: 2 cores, 4 GB",
        "slug": "cpu",
        "default": True,
        "kubespawner_override": {"cpu_guarantee": 1, "cpu_limit": 2, "mem_guarantee": "2G", "mem_limit": "4G"},
    }]
    if gpu is not None:
        profiles.append({
            "display_name": f"GPU: 1 {GPU_RESOURCE}, 10 cores, 80 GB",
            "slug": "gpu",
            "kubespawner_override": {
                "image": ":".join(GPU_NOTEBOOK_IMAGE),
                "cpu_guarantee": 4, "cpu_limit": 10, "mem_guarantee": "32G", "mem_limit": "80G",
                "extra_resource_guarantees": {GPU_RESOURCE: "1"},
                "extra_resource_limits": {GPU_RESOURCE: "1"},
                "tolerations": [{"key": gpu.taint_key, "operator": "Equal", "value": gpu.taint_value,
                                 "effect": gpu.taint_effect}],
                "node_selector": dict(gpu.node_labels),
            },
        })
    return {
        "hub": {
            "config": {"JupyterHub": {"authenticator_class": AUTHENTICATORS[authenticator],
                                      "active_server_limit": max_users}},
            "resources": kw.resources("500m", "1Gi"),
            "networkPolicy": {"enabled": True},
        },
        "proxy": {
            # Published by an ingress or load balancer decided per site, not by the chart.
            "service": {"type": "ClusterIP"},
            "chp": {"resources": kw.resources("200m", "256Mi"), "networkPolicy": {"enabled": True}},
        },
        "singleuser": {
            "image": {"name": NOTEBOOK_IMAGE[0], "tag": NOTEBOOK_IMAGE[1]},
            "storage": {"type": "dynamic", "capacity": f"{user_storage_gb}Gi"},
            # The network policy already blocks the cloud metadata server; the chart's iptables
            # init container would need privileges the namespace's pod security level refuses.
            "cloudMetadata": {"blockWithIptables": False},
            "extraEnv": extra_env,
            "networkPolicy": {"enabled": True, "egress": egress},
            "profileList": profiles,
        },
        "scheduling": {"userScheduler": {"enabled": full}, "userPlaceholder": {"enabled": False}},
        "prePuller": {"hook": {"enabled": False}, "continuous": {"enabled": full}},
        "cull": {"enabled": True, "timeout": 3600},
    }
