"""A pool of GPU nodes in a Magnum cluster, tainted for GPU work, and the NVIDIA GPU operator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s
import pulumi_openstack as openstack

from multidc import spec
from multidc.components.common import HelmChart, helm_release, namespace
from multidc.components.ml_jupyterhub import GpuScheduling
from multidc.contract import GPU_POOL

GPU_OPERATOR = HelmChart("gpu-operator", "https://helm.ngc.nvidia.com/nvidia", "v24.9.0")
GPU_OPERATOR_NAMESPACE = "gpu-operator"


def gpu_scheduling(pool: spec.GpuPool) -> GpuScheduling:
    """The taint GPU nodes carry and the labels that select them (what the ML platform schedules by)."""
    return GpuScheduling(node_labels={"nvidia.com/gpu.present": "true", "multidc/gpu-model": pool.gpu_model})


@dataclass(frozen=True)
class GpuNodePoolArgs:
    """One GPU pool of the spec on one cluster placement.

    ``install_operator`` is set on the first pool of a cluster only: the operator serves
    every GPU node of the cluster, and a second release of it would collide.
    """

    system: spec.System
    site: str
    pool: spec.GpuPool
    cluster_id: pulumi.Output[str]
    openstack_provider: openstack.Provider
    kubernetes_provider: k8s.Provider
    install_operator: bool = True


class GpuNodePool(pulumi.ComponentResource):
    """A Magnum node group of GPU servers that only GPU workloads (which tolerate the taint) land on."""

    scheduling: GpuScheduling
    """The taint to tolerate and the labels to select, for the ML platform."""
    node_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: GpuNodePoolArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        pool = args.pool
        self.scheduling = gpu_scheduling(pool)
        taint = f"{self.scheduling.taint_key}={self.scheduling.taint_value}:{self.scheduling.taint_effect}"
        node_labels = ",".join(f"{key}={value}" for key, value in self.scheduling.node_labels.items())
        contract = {
            "system": args.system.name, "site": args.site, "pool": pool.name, "flavor": pool.flavor,
            "gpu_model": pool.gpu_model, "gpus_per_node": pool.gpus_per_node, "min_nodes": pool.min_nodes,
            "max_nodes": pool.max_nodes, "node_count": max(pool.min_nodes, 1), "node_labels": dict(
                self.scheduling.node_labels), "taint": taint,
            "gpu_operator": f"{GPU_OPERATOR.chart}@{GPU_OPERATOR.version}" if args.install_operator else None,
        }
        super().__init__(GPU_POOL, name, contract, opts)
        # The pool starts at its floor (at least one node, so the operator's validator has a GPU
        # to run on) and the cluster autoscaler grows it with pending GPU pods.
        node_group = openstack.containerinfra.NodeGroup(
            f"{name}-nodes",
            cluster_id=args.cluster_id,
            name=pool.name,
            role="gpu",
            flavor_id=pool.flavor,
            node_count=max(pool.min_nodes, 1),
            min_node_count=pool.min_nodes,
            max_node_count=pool.max_nodes,
            merge_labels=True,
            # Magnum passes kubelet_options to each node's kubelet: that is what puts the labels
            # and the taint on the Kubernetes nodes. The plain keys record them for readers.
            labels={**self.scheduling.node_labels,
                    "kubelet_options": f"--node-labels={node_labels} --register-with-taints={taint}"},
            opts=pulumi.ResourceOptions(parent=self, provider=args.openstack_provider),
        )
        self.node_group_id = node_group.id

        if args.install_operator:
            in_cluster = pulumi.ResourceOptions(parent=self, provider=args.kubernetes_provider)
            # The operator's driver and toolkit daemonsets load kernel modules: privileged by necessity.
            operator_namespace = namespace(f"{name}-gpu-operator-namespace", GPU_OPERATOR_NAMESPACE, "privileged",
                                           in_cluster)
            toleration = {"key": self.scheduling.taint_key, "operator": "Exists",
                          "effect": self.scheduling.taint_effect}
            helm_release(f"{name}-gpu-operator", GPU_OPERATOR, operator_namespace, {
                "daemonsets": {"tolerations": [toleration]},
                "node-feature-discovery": {"worker": {"tolerations": [toleration]}},
                "operator": {"resources": {"requests": {"cpu": "200m", "memory": "256Mi"},
                                           "limits": {"cpu": "500m", "memory": "512Mi"}}},
            }, pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=[node_group])))
        self.register_outputs({**contract, "node_group_id": self.node_group_id})
