"""The ML platform's endpoints as clients reach them: JupyterHub, MLflow and each served model.

Inside the cluster every one of them is a ClusterIP Service (multidc.components.ml_platform).
For each endpoint the spec names (multidc.spec.service_names.endpoints), one placement gets:

- a Neutron port on the site network: the address the endpoint's service name points at,
  owned by the stack, so it is known at `pulumi up` and survives re-creating the Service;
- a Kubernetes Service of type LoadBalancer on that port: the cluster's OpenStack cloud
  controller (Magnum clusters run cloud-provider-openstack) builds an Octavia load balancer
  with the port as its VIP (`loadbalancer.openstack.org/port-id`) and, being told the load
  balancer is internal, takes no floating IP of its own;
- a public endpoint: a floating IP of the stack's on that port; a private one: access only
  from the platform's site networks (`loadBalancerSourceRanges`), reached over the VPN;
- a NetworkPolicy that admits the load balancer's traffic (from the site network, or
  anywhere for a public endpoint) to the endpoint's pods on their port.

A warm standby has the same endpoints with no pods behind them until the runbook scales it up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Union

import pulumi
import pulumi_kubernetes as k8s
import pulumi_openstack as openstack

from multidc.components import k8s_workloads as kw
from multidc.components.ml_platform import (
    JUPYTERHUB_PROXY_PORT, MLFLOW_PORT, MODEL_PORT, jupyterhub_proxy_selector, mlflow_selector, model_selector,
)
from multidc.components.site import WORLD, Site
from multidc.contract import ANNOTATION_LB_INTERNAL, ANNOTATION_LB_PORT_ID, ML_ENDPOINTS, PUBLIC
from multidc.spec.service_names import JUPYTERHUB, MLFLOW, MODEL_PREFIX, Endpoint

JUPYTERHUB_LB_PORT = 80  # the chart's own proxy-public Service listens here too


@dataclass(frozen=True)
class MlEndpointsArgs:
    """One ML platform placement's endpoints: its site, its cluster and namespace, who may reach them."""

    platform: str
    system: str
    site: Site
    provider: k8s.Provider
    """The cluster's Kubernetes provider."""
    namespace: str
    endpoints: tuple[Endpoint, ...]
    external_network: str
    """The provider network floating IPs come from (the site's ``cloud.external_network``)."""
    private_ranges: tuple[str, ...]
    """The platform's site networks: who reaches a private endpoint (directly or over the VPN)."""


def _serving(system: str, endpoint: str) -> tuple[dict[str, str], int, Union[int, str], int]:
    """The pods behind an endpoint: selector, load balancer port, target port, the pods' port number."""
    if endpoint == JUPYTERHUB:
        return jupyterhub_proxy_selector(), JUPYTERHUB_LB_PORT, JUPYTERHUB_PROXY_PORT, 8000
    if endpoint == MLFLOW:
        return mlflow_selector(system), MLFLOW_PORT, MLFLOW_PORT, MLFLOW_PORT
    return model_selector(system, endpoint[len(MODEL_PREFIX):]), MODEL_PORT, MODEL_PORT, MODEL_PORT


class MlEndpoints(pulumi.ComponentResource):
    """A VIP port, a LoadBalancer Service, an ingress policy and (public) a floating IP per endpoint."""

    addresses: Mapping[str, pulumi.Output[str]]
    """What each endpoint's service name points at, by endpoint: the floating IP if public, else the VIP."""
    floating_ips: Mapping[str, Optional[pulumi.Output[str]]]

    def __init__(self, name: str, args: MlEndpointsArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        contract = {"system": args.system, "site": args.site.name,
                    "endpoints": {e.endpoint: e.visibility for e in args.endpoints}}
        super().__init__(ML_ENDPOINTS, name, contract, opts)
        on_site = pulumi.ResourceOptions(parent=self, provider=args.site.provider)
        in_cluster = pulumi.ResourceOptions(parent=self, provider=args.provider)
        addresses: dict[str, pulumi.Output[str]] = {}
        floating_ips: dict[str, Optional[pulumi.Output[str]]] = {}
        for endpoint in args.endpoints:
            assert endpoint.endpoint is not None
            role, public = f"{name}-{endpoint.endpoint}", endpoint.visibility == PUBLIC
            selector, port, target, pod_port = _serving(args.system, endpoint.endpoint)
            vip = openstack.networking.Port(
                f"{role}-vip", network_id=args.site.network_id, admin_state_up=True,
                fixed_ips=[openstack.networking.PortFixedIpArgs(subnet_id=args.site.subnet_id)],
                description=f"multidc: {endpoint.label} in {args.site.name} ({endpoint.visibility})", opts=on_site)
            sources = [WORLD] if public else list(args.private_ranges)
            k8s.core.v1.Service(
                f"{role}-lb", opts=in_cluster,
                metadata={"name": f"{endpoint.endpoint}-lb", "namespace": args.namespace,
                          "labels": kw.labels(endpoint.endpoint, "load-balancer", args.system),
                          "annotations": {ANNOTATION_LB_PORT_ID: vip.id, ANNOTATION_LB_INTERNAL: "true"}},
                spec={"type": "LoadBalancer", "selector": selector, "load_balancer_source_ranges": sources,
                      "ports": [{"name": "http", "port": port, "target_port": target, "protocol": "TCP"}]})
            kw.network_policy(
                f"{role}-from-lb", name=f"{endpoint.endpoint}-from-lb", namespace=args.namespace,
                pod_selector=selector, ingress=[{"from": [{"ip_block": {"cidr": cidr}} for cidr in sources],
                                                 "ports": [{"protocol": "TCP", "port": pod_port}]}],
                opts=in_cluster)
            address = vip.all_fixed_ips.apply(lambda ips: ips[0])
            floating_ips[endpoint.endpoint] = None
            if public:
                fip = openstack.networking.FloatingIp(
                    f"{role}-fip", pool=args.external_network, port_id=vip.id,
                    description=f"multidc: {endpoint.label} in {args.site.name}", opts=on_site)
                floating_ips[endpoint.endpoint] = address = fip.address
            addresses[endpoint.endpoint] = address
        self.addresses, self.floating_ips = addresses, floating_ips
        self.register_outputs({**contract, "addresses": addresses})
