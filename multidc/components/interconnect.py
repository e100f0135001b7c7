"""The IPsec site-to-site VPN between two sites (OpenStack VPNaaS), declared on both ends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_openstack as openstack
import pulumi_random as random

from multidc import spec
from multidc.components.site import Site
from multidc.contract import INTERCONNECT

# Dead peer detection: a silent peer is declared dead after two minutes and the tunnel is
# re-negotiated, so a site that comes back is reconnected without an operator.
DEAD_PEER_DETECTION = {"action": "restart", "interval": 30, "timeout": 120}


@dataclass(frozen=True)
class InterconnectArgs:
    """The two sites to join and the IPsec policy of the spec (``interconnect.ipsec``)."""

    sites: tuple[Site, Site]
    ipsec: spec.IpsecPolicy


class Interconnect(pulumi.ComponentResource):
    """A VPN service on each site's router and a site connection each way, with one pre-shared key."""

    connection_ids: dict[str, pulumi.Output[str]]
    """The site connection declared in each site, by site name."""

    def __init__(self, name: str, args: InterconnectArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        ipsec = args.ipsec
        contract = {
            "sites": [site.name for site in args.sites],
            "encryption": ipsec.encryption,
            "auth": ipsec.auth,
            "pfs": ipsec.pfs,
            "ike_version": ipsec.ike_version,
        }
        super().__init__(INTERCONNECT, name, contract, opts)
        first, second = args.sites
        # One key for both ends; generated, so it exists only in the (encrypted) stack state.
        psk = random.RandomPassword(
            f"{name}-psk", length=48, special=False,
            opts=pulumi.ResourceOptions(parent=self, provider=first.random_provider,
                                        additional_secret_outputs=["result"]))
        key = pulumi.Output.secret(psk.result)

        services = {}
        for site in args.sites:
            on_site = pulumi.ResourceOptions(parent=self, provider=site.provider)
            services[site.name] = openstack.vpnaas.Service(
                f"{name}-{site.name}-service", router_id=site.router_id, admin_state_up=True,
                name=f"{name}-{site.name}", opts=on_site)

        self.connection_ids = {}
        for site, peer in ((first, second), (second, first)):
            on_site = pulumi.ResourceOptions(parent=self, provider=site.provider)
            lifetime = [{"units": "seconds", "value": ipsec.lifetime_seconds}]
            ike = openstack.vpnaas.IkePolicy(
                f"{name}-{site.name}-ike", name=f"{name}-ike", ike_version=ipsec.ike_version,
                encryption_algorithm=ipsec.encryption, auth_algorithm=ipsec.auth, pfs=ipsec.pfs,
                lifetimes=lifetime, opts=on_site)
            policy = openstack.vpnaas.IpSecPolicy(
                f"{name}-{site.name}-ipsec", name=f"{name}-ipsec", encryption_algorithm=ipsec.encryption,
                auth_algorithm=ipsec.auth, pfs=ipsec.pfs, transform_protocol="esp", encapsulation_mode="tunnel",
                lifetimes=lifetime, opts=on_site)
            local = openstack.vpnaas.EndpointGroup(
                f"{name}-{site.name}-local", name=f"{name}-{site.name}-local", type="subnet",
                endpoints=site.subnet_ids, opts=on_site)
            remote = openstack.vpnaas.EndpointGroup(
                f"{name}-{site.name}-peer", name=f"{name}-{peer.name}-cidr", type="cidr",
                endpoints=[peer.cidr], opts=on_site)
            connection = openstack.vpnaas.SiteConnection(
                f"{name}-{site.name}-to-{peer.name}", name=f"{name}-{site.name}-to-{peer.name}",
                vpnservice_id=services[site.name].id, ikepolicy_id=ike.id, ipsecpolicy_id=policy.id,
                local_ep_group_id=local.id, peer_ep_group_id=remote.id,
                peer_address=peer.router_ip, peer_id=peer.router_ip, psk=key,
                dpds=[DEAD_PEER_DETECTION], admin_state_up=True,
                opts=pulumi.ResourceOptions.merge(on_site, pulumi.ResourceOptions(
                    additional_secret_outputs=["psk"])))
            self.connection_ids[site.name] = connection.id

        self.register_outputs({**contract, "connection_ids": self.connection_ids})
