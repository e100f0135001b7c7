"""One data center: its OpenStack provider, network, router, security groups and S3 keys."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_openstack as openstack
import pulumi_random as random

from multidc import spec
from multidc.contract import SITE

# Ingress the toolkit's VMs accept, per port, and from where. Nothing is open to the world
# except HTTPS on the web group. Egress keeps OpenStack's default (allow), which VMs need for
# package mirrors, the S3 endpoints and the peer site.
INTRA_SITE, FROM_PEERS = "site", "peers"
INTERNAL_PORTS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (22, "ssh", (INTRA_SITE, FROM_PEERS)),  # operators reach a site through the VPN during DR
    (443, "https", (INTRA_SITE, FROM_PEERS)),  # service calls and health checks from the peer
    (9100, "node-exporter", (INTRA_SITE,)),  # each site monitors itself
)
WORLD = "0.0.0.0/0"


@dataclass(frozen=True)
class SiteArgs:
    """A site of the spec, the CIDRs of the sites it talks to, and what runs on its VMs.

    ``server_groups`` names the vm-group systems placed here: each gets an anti-affinity
    server group so that one hypervisor failure takes at most one of its VMs. ``web`` declares
    the web security group (HTTPS from anywhere) for those VMs. ``cardholder`` declares a
    network of its own for the payment-card databases placed here.
    """

    platform: str
    site: spec.Site
    peer_cidrs: tuple[str, ...] = ()
    server_groups: tuple[str, ...] = ()
    web: bool = False
    cardholder: bool = False


class Site(pulumi.ComponentResource):
    """A site's OpenStack provider and the network every placement in it attaches to."""

    name: str
    cidr: str
    availability_zones: list[str]
    s3_endpoint: str
    provider: openstack.Provider
    """Every OpenStack resource of this site is bound to it explicitly."""
    random_provider: random.Provider
    """Generated passwords and keys of this site's components."""
    external_network_id: pulumi.Output[str]
    """The provider network routers (and Magnum's load balancers) use as their gateway."""
    network_id: pulumi.Output[str]
    subnet_id: pulumi.Output[str]
    cardholder_network_id: Optional[pulumi.Output[str]]
    """The network payment-card databases attach to, alone; None when the site holds no card data."""
    cardholder_subnet_id: Optional[pulumi.Output[str]]
    subnet_ids: list[pulumi.Output[str]]
    """Every subnet of the site (what the VPN carries)."""
    router_id: pulumi.Output[str]
    router_ip: pulumi.Output[str]
    """The router's external address, the far end of the peer sites' VPN connections."""
    internal_security_group: pulumi.Output[str]
    """Name of the group every VM of this site is in (SSH, HTTPS, metrics from site and peers)."""
    web_security_group: Optional[pulumi.Output[str]]
    """Name of the group with HTTPS from anywhere, when the site serves the web."""
    server_groups: dict[str, pulumi.Output[str]]
    """Anti-affinity server group ID per vm-group system."""
    s3_access_key: pulumi.Output[str]
    """EC2 access key for this site's S3 endpoint (a secret)."""
    s3_secret_key: pulumi.Output[str]
    """EC2 secret key for this site's S3 endpoint (a secret)."""

    def __init__(self, name: str, args: SiteArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        site = args.site
        contract = {
            "site": site.name,
            "role": site.role.value,
            "city": site.location.city,
            "country": site.location.country,
            "latitude": site.location.latitude,
            "longitude": site.location.longitude,
            "seismic_zone": site.location.seismic_zone.value,
            "cidr": str(site.cidr),
            "availability_zones": list(site.availability_zones),
            "on_prem": site.cloud.on_prem,
            "s3_endpoint": site.s3_endpoint,
            "auth_url": site.cloud.auth_url,
            "region": site.cloud.region,
        }
        super().__init__(SITE, name, contract, opts)
        self.name = site.name
        self.cidr = str(site.cidr)
        self.availability_zones = list(site.availability_zones)
        self.s3_endpoint = site.s3_endpoint
        prefix = f"{args.platform}-{site.name}"

        # Credentials stay in the operator's clouds.yaml under this profile; the stack holds none.
        self.provider = openstack.Provider(
            f"{name}-openstack",
            auth_url=site.cloud.auth_url,
            region=site.cloud.region,
            tenant_name=site.cloud.project,
            user_domain_name=site.cloud.domain,
            project_domain_name=site.cloud.domain,
            cloud=site.cloud.profile or site.name,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.random_provider = random.Provider(f"{name}-random", opts=pulumi.ResourceOptions(parent=self))
        on_site = pulumi.ResourceOptions(parent=self, provider=self.provider)

        external = openstack.networking.get_network_output(
            name=site.cloud.external_network, external=True,
            opts=pulumi.InvokeOutputOptions(parent=self, provider=self.provider))
        router = openstack.networking.Router(f"{name}-router", name=f"{prefix}-router",
                                             external_network_id=external.id, opts=on_site)
        # With a cardholder segment the site's range is split in two: the lower half for
        # everything, the upper half for payment-card databases alone (PCI DSS requirement 1).
        general, cardholder = (tuple(site.cidr.subnets(prefixlen_diff=1)) if args.cardholder
                               else (site.cidr, None))
        self.network_id, self.subnet_id = self._segment(name, f"{prefix}-net", general, router, on_site)
        self.cardholder_network_id = self.cardholder_subnet_id = None
        if cardholder is not None:
            self.cardholder_network_id, self.cardholder_subnet_id = self._segment(
                f"{name}-cardholder", f"{prefix}-cardholder", cardholder, router, on_site)
        self.subnet_ids = [self.subnet_id] + ([self.cardholder_subnet_id] if cardholder is not None else [])
        self.external_network_id = external.id
        self.router_id = router.id
        self.router_ip = router.external_fixed_ips.apply(lambda ips: ips[0].ip_address)

        sources = {INTRA_SITE: (self.cidr,), FROM_PEERS: args.peer_cidrs}
        internal = openstack.networking.SecGroup(
            f"{name}-internal", name=f"{prefix}-internal",
            description="multidc: SSH, HTTPS and metrics from this site and its peer sites only", opts=on_site)
        for port, purpose, allowed in INTERNAL_PORTS:
            for cidr in (cidr for origin in allowed for cidr in sources[origin]):
                self._ingress(f"{name}-internal-{purpose}-{cidr.replace('/', '_')}", internal, port, cidr, on_site)
        self.internal_security_group = internal.name

        self.web_security_group = None
        if args.web:
            web = openstack.networking.SecGroup(f"{name}-web", name=f"{prefix}-web",
                                                description="multidc: HTTPS from anywhere", opts=on_site)
            self._ingress(f"{name}-web-https", web, 443, WORLD, on_site)
            self.web_security_group = web.name

        self.server_groups = {
            system: openstack.compute.ServerGroup(f"{name}-{system}-anti-affinity", name=f"{prefix}-{system}",
                                                  policies="anti-affinity", opts=on_site).id
            for system in args.server_groups
        }

        credential = openstack.identity.Ec2CredentialV3(
            f"{name}-s3-credential",
            opts=pulumi.ResourceOptions.merge(on_site, pulumi.ResourceOptions(
                additional_secret_outputs=["access", "secret"])))
        self.s3_access_key = pulumi.Output.secret(credential.access)
        self.s3_secret_key = pulumi.Output.secret(credential.secret)

        self.register_outputs({
            **contract,
            "network_id": self.network_id,
            "subnet_id": self.subnet_id,
            "router_id": self.router_id,
            "router_ip": self.router_ip,
            "internal_security_group": self.internal_security_group,
            "s3_endpoint": self.s3_endpoint,
        })

    @staticmethod
    def _segment(name: str, label: str, cidr: ipaddress.IPv4Network, router: openstack.networking.Router,
                 opts: pulumi.ResourceOptions) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        """A network with one subnet over ``cidr``, routed by the site's router; (network, subnet) IDs."""
        network = openstack.networking.Network(f"{name}-network", name=label, admin_state_up=True, opts=opts)
        subnet = openstack.networking.Subnet(f"{name}-subnet", name=f"{label}-subnet", network_id=network.id,
                                             cidr=str(cidr), ip_version=4, opts=opts)
        openstack.networking.RouterInterface(f"{name}-router-interface", router_id=router.id, subnet_id=subnet.id,
                                             opts=opts)
        return network.id, subnet.id

    @staticmethod
    def _ingress(name: str, group: openstack.networking.SecGroup, port: int, cidr: str,
                 opts: pulumi.ResourceOptions) -> None:
        openstack.networking.SecGroupRule(
            name, security_group_id=group.id, direction="ingress", ethertype="IPv4", protocol="tcp",
            port_range_min=port, port_range_max=port, remote_ip_prefix=cidr, opts=opts)
