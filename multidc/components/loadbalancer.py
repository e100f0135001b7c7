"""An Octavia load balancer in front of a VM group's placement in one site.

The load balancer's VIP sits on the site network; a public group gets a floating IP on the
VIP port, and the VIP port's own security group admits the listener port from anywhere.
The members keep only the site's internal group (HTTPS from the site network, where the
load balancer's amphorae reach them, and from the peer sites over the VPN): nothing on the
internet reaches a member except through the load balancer. An HTTP health monitor takes a
member out of the pool after ``MAX_RETRIES`` failed checks of ``HEALTH_PATH``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_openstack as openstack

from multidc.components.site import WORLD, Site
from multidc.contract import LOAD_BALANCER, PUBLIC

LISTENER_PORT = 443  # TLS passes through to the members, which hold the certificate
MEMBER_PORT = 443
HEALTH_PATH = "/healthz"
HEALTH_DELAY_S, HEALTH_TIMEOUT_S, MAX_RETRIES = 5, 3, 3


@dataclass(frozen=True)
class LoadBalancerArgs:
    """A VM group's placement: its site, its members' addresses, and whether the internet reaches it."""

    platform: str
    system: str
    site: Site
    member_addresses: Sequence[pulumi.Input[str]]
    visibility: str
    external_network: str
    """The provider network floating IPs come from (the site's ``cloud.external_network``)."""


class LoadBalancer(pulumi.ComponentResource):
    """LoadBalancer, Listener, Pool, Members and an HTTP Monitor; a floating IP when public."""

    vip_address: pulumi.Output[str]
    """The load balancer's address on the site network."""
    floating_ip: Optional[pulumi.Output[str]]
    """Its public address; None for a private group."""
    address: pulumi.Output[str]
    """What the group's service name points at: the floating IP if public, else the VIP."""

    def __init__(self, name: str, args: LoadBalancerArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        site, public = args.site, args.visibility == PUBLIC
        contract = {"system": args.system, "site": site.name, "visibility": args.visibility,
                    "listener_port": LISTENER_PORT, "member_port": MEMBER_PORT, "health_path": HEALTH_PATH,
                    "members": len(args.member_addresses)}
        super().__init__(LOAD_BALANCER, name, contract, opts)
        on_site = pulumi.ResourceOptions(parent=self, provider=site.provider)
        label = f"{args.platform}-{name}"

        vip_group = openstack.networking.SecGroup(
            f"{name}-vip", name=f"{label}-vip", opts=on_site,
            description=f"multidc: {args.system}'s load balancer, port {LISTENER_PORT} from "
                        + ("anywhere" if public else "the site network"))
        openstack.networking.SecGroupRule(
            f"{name}-vip-https", security_group_id=vip_group.id, direction="ingress", ethertype="IPv4",
            protocol="tcp", port_range_min=LISTENER_PORT, port_range_max=LISTENER_PORT,
            remote_ip_prefix=WORLD if public else site.cidr, opts=on_site)
        balancer = openstack.loadbalancer.LoadBalancer(
            f"{name}-lb", name=label, vip_subnet_id=site.subnet_id, security_group_ids=[vip_group.id],
            description=f"multidc: {args.system} in {site.name}", opts=on_site)
        listener = openstack.loadbalancer.Listener(
            f"{name}-listener", name=f"{label}-{LISTENER_PORT}", loadbalancer_id=balancer.id, protocol="TCP",
            protocol_port=LISTENER_PORT, opts=on_site)
        pool = openstack.loadbalancer.Pool(
            f"{name}-pool", name=label, listener_id=listener.id, protocol="TCP", lb_method="LEAST_CONNECTIONS",
            opts=on_site)
        openstack.loadbalancer.Monitor(
            f"{name}-monitor", name=label, pool_id=pool.id, type="HTTPS", url_path=HEALTH_PATH,
            expected_codes="200", http_method="GET", delay=HEALTH_DELAY_S, timeout=HEALTH_TIMEOUT_S,
            max_retries=MAX_RETRIES, max_retries_down=MAX_RETRIES, opts=on_site)
        for index, address in enumerate(args.member_addresses):
            openstack.loadbalancer.Member(
                f"{name}-member-{index}", pool_id=pool.id, address=address, protocol_port=MEMBER_PORT,
                subnet_id=site.subnet_id, opts=on_site)

        self.vip_address = balancer.vip_address
        self.floating_ip = None
        if public:
            fip = openstack.networking.FloatingIp(
                f"{name}-fip", pool=args.external_network, description=f"multidc: {args.system} in {site.name}",
                opts=on_site)
            openstack.networking.FloatingIpAssociate(
                f"{name}-fip-associate", floating_ip=fip.address, port_id=balancer.vip_port_id, opts=on_site)
            self.floating_ip = fip.address
        self.address = self.floating_ip if self.floating_ip is not None else self.vip_address
        self.register_outputs({**contract, "vip_address": self.vip_address, "floating_ip": self.floating_ip,
                               "address": self.address})
