"""A managed Kubernetes cluster (OpenStack Magnum) of one system in one site."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s
import pulumi_openstack as openstack

from multidc import spec
from multidc.components.common import WARM_STANDBY, placement_props, warm_standby_count
from multidc.components.gpu_pool import GpuNodePool, GpuNodePoolArgs
from multidc.components.site import Site
from multidc.contract import KUBERNETES

CRITICAL_MASTERS = 3


@dataclass(frozen=True)
class WorkerCounts:
    """The worker node group's size: where it starts, and the autoscaler's bounds."""

    node_count: int
    min_nodes: int
    max_nodes: int


def worker_counts(size: spec.Size, scale: str) -> WorkerCounts:
    """Full size from the spec; a warm standby starts at about a third and keeps the full
    ceiling, so that the autoscaler can grow it to full size at failover without a deploy."""
    full_min = size.min_count if size.min_count is not None else size.count
    full_max = size.max_count if size.max_count is not None else size.count
    if scale != WARM_STANDBY:
        return WorkerCounts(size.count, full_min, full_max)
    count = warm_standby_count(size.count)
    return WorkerCounts(count, min(full_min, count), full_max)


@dataclass(frozen=True)
class KubernetesClusterArgs:
    """A kubernetes system's placement in one site."""

    platform: spec.Platform
    system: spec.System
    site: Site


class KubernetesCluster(pulumi.ComponentResource):
    """A Magnum cluster, its autoscaled worker node group, GPU pools, and a provider for it."""

    placement: str
    """The component name, ``<system>-<site>``."""
    site: str
    provider: k8s.Provider
    """Kubernetes provider of this cluster, for everything deployed into it (ML platform, Velero, jobs)."""
    cluster_id: pulumi.Output[str]
    api_address: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    """The raw kubeconfig (a secret)."""
    gpu_node_pools: dict[str, GpuNodePool]

    def __init__(self, name: str, args: KubernetesClusterArgs,
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        system, site, size = args.system, args.site, args.system.size
        props = placement_props(args.platform, system, site.name)
        workers = worker_counts(size, props["scale"])
        masters = CRITICAL_MASTERS if system.tier is spec.Tier.critical else 1
        version = size.engine_version or "1.29"
        image = system.boot_image
        contract = {
            **props, "engine_version": version, "flavor": size.flavor, "image": image, "master_count": masters,
            "node_count": workers.node_count, "min_nodes": workers.min_nodes, "max_nodes": workers.max_nodes,
            "full_node_count": size.count, "gpu_pools": [pool.name for pool in size.gpu_pools],
        }
        super().__init__(KUBERNETES, name, contract, opts)
        self.placement = name
        self.site = site.name
        on_site = pulumi.ResourceOptions(parent=self, provider=site.provider)

        template = openstack.containerinfra.ClusterTemplate(
            f"{name}-template",
            name=f"{args.platform.name}-{name}",
            coe="kubernetes",
            image=image,
            flavor=size.flavor,
            master_flavor=size.flavor,
            external_network_id=site.external_network_id,
            network_driver="calico",
            volume_driver="cinder",
            # Private API and nodes: the peer site and operators reach them through the VPN.
            floating_ip_enabled=False,
            master_lb_enabled=masters > 1,
            labels={
                "kube_tag": f"v{version}",
                "auto_scaling_enabled": "true",
                "auto_healing_enabled": "true",
                "master_lb_floating_ip_enabled": "false",
            },
            opts=on_site,
        )
        # Magnum always creates a default worker group from node_count; it is kept at one node
        # for cluster add-ons (autoscaler, Velero, GPU operator) while the node group below
        # carries the workloads and scales.
        cluster = openstack.containerinfra.Cluster(
            f"{name}-cluster",
            name=f"{args.platform.name}-{name}",
            cluster_template_id=template.id,
            master_count=masters,
            node_count=1,
            fixed_network=site.network_id,
            fixed_subnet=site.subnet_id,
            merge_labels=True,
            labels={"availability_zone": site.availability_zones[0]},
            opts=on_site,
        )
        openstack.containerinfra.NodeGroup(
            f"{name}-workers",
            cluster_id=cluster.id,
            name="workers",
            role="worker",
            flavor_id=size.flavor,
            node_count=workers.node_count,
            min_node_count=workers.min_nodes,
            max_node_count=workers.max_nodes,
            opts=on_site,
        )
        self.cluster_id = cluster.id
        self.api_address = cluster.api_address
        self.kubeconfig = pulumi.Output.secret(cluster.kubeconfig.apply(lambda config: config["raw_config"]))
        self.provider = k8s.Provider(f"{name}-k8s", kubeconfig=self.kubeconfig,
                                     opts=pulumi.ResourceOptions(parent=self))

        self.gpu_node_pools = {
            pool.name: GpuNodePool(f"{name}-{pool.name}", GpuNodePoolArgs(
                system=system, site=site.name, pool=pool, cluster_id=cluster.id,
                openstack_provider=site.provider, kubernetes_provider=self.provider,
                install_operator=index == 0), opts=pulumi.ResourceOptions(parent=self))
            for index, pool in enumerate(size.gpu_pools)
        }
        self.register_outputs({**contract, "cluster_id": self.cluster_id, "api_address": self.api_address,
                               "kubeconfig": self.kubeconfig})
