"""Network and access: nothing that administers or stores is reachable from the internet,
and the link between sites is encrypted properly."""

from __future__ import annotations

import ipaddress
from typing import Any, Mapping, Optional

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from mdc.common import plain, schema, setting
from multidc.contract import DATABASE

from mdc.facts import component_of, is_bucket

SEC_GROUP_RULE = "openstack:networking/secGroupRule:SecGroupRule"
ROUTER = "openstack:networking/router:Router"
NETWORK = "openstack:networking/network:Network"
PORT = "openstack:networking/port:Port"
DATABASE_INSTANCE = "openstack:database/instance:Instance"
COMPUTE_INSTANCE = "openstack:compute/instance:Instance"
FLOATING_IPS = frozenset({
    "openstack:networking/floatingIp:FloatingIp",
    "openstack:networking/floatingIpAssociate:FloatingIpAssociate",
    "openstack:compute/floatingIpAssociate:FloatingIpAssociate",
})
IKE_POLICY = "openstack:vpnaas/ikePolicy:IkePolicy"
IPSEC_POLICY = "openstack:vpnaas/ipSecPolicy:IpSecPolicy"

# --- MDC-NET-001 ------------------------------------------------------------------------------

SERVICES = {
    22: "SSH", 3389: "RDP", 5985: "WinRM", 5986: "WinRM/TLS", 5432: "PostgreSQL", 6432: "PgBouncer",
    3306: "MySQL", 6379: "Redis", 8123: "ClickHouse HTTP", 9000: "ClickHouse native",
    9440: "ClickHouse native/TLS", 6443: "Kubernetes API", 2379: "etcd", 2380: "etcd peers", 10250: "kubelet",
}
ADMIN_PORTS_SCHEMA = schema(ports={
    "type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 65535}, "default": sorted(SERVICES),
    "description": "Ports that must never be open to 0.0.0.0/0 or ::/0: remote administration, databases, "
                   "the Kubernetes control plane.",
})
_ALL_PROTOCOLS = frozenset({"any", "tcp", "6"})


def _world_source(rule: Mapping[str, Any]) -> Optional[str]:
    """The source that makes an ingress rule world-open, or None if it is restricted."""
    prefix = rule.get("remoteIpPrefix")
    if prefix:
        try:
            return prefix if ipaddress.ip_network(prefix, strict=False).prefixlen == 0 else None
        except ValueError:
            return None
    if rule.get("remoteGroupId") or rule.get("remoteAddressGroupId"):
        return None
    return "any address (no remote_ip_prefix)"


def _port_range(rule: Mapping[str, Any]) -> Optional[tuple[int, int]]:
    """The TCP ports a rule admits; None for protocols without TCP ports (ICMP, UDP, ...)."""
    protocol = str(rule.get("protocol") or "any").lower()
    if protocol not in _ALL_PROTOCOLS:
        return None
    low, high = rule.get("portRangeMin"), rule.get("portRangeMax")
    if protocol == "any" or not (low or high):
        return 1, 65535
    return int(low or 1), int(high or 65535)


def validate_admin_ports_closed(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != SEC_GROUP_RULE or args.props.get("direction") != "ingress":
        return
    source, ports = _world_source(args.props), _port_range(args.props)
    if source is None or ports is None:
        return
    low, high = ports
    protected = [int(p) for p in setting(args.get_config(), ADMIN_PORTS_SCHEMA, "ports")]
    exposed = [port for port in protected if low <= port <= high]
    if exposed:
        names = ", ".join(f"{port} ({SERVICES[port]})" if port in SERVICES else str(port) for port in exposed)
        span = f"port {low}" if low == high else f"ports {low}-{high}"
        report_violation(
            f"Security group rule '{args.name}' admits {source} on {span}, exposing {names} to the "
            "internet, where they are scanned and brute-forced within minutes. Restrict remote_ip_prefix to the "
            "site and peer CIDRs (or a bastion), or use remote_group_id.")


admin_ports_closed = ResourceValidationPolicy(
    name="mdc-net-001-admin-ports-closed",
    description="Prohibits security group rules that open SSH, RDP, database or Kubernetes API ports to the world.",
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=ADMIN_PORTS_SCHEMA,
    validate=validate_admin_ports_closed,
)


# --- MDC-NET-002 ------------------------------------------------------------------------------

def _networks_of(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """The network IDs a database resource attaches to."""
    if resource_type == PORT:
        return [props["networkId"]] if props.get("networkId") else []
    if resource_type in (DATABASE_INSTANCE, COMPUTE_INSTANCE):
        return [network["uuid"] for network in plain(props.get("networks") or []) if network.get("uuid")]
    return []


def validate_database_private(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    external = {r.props["externalNetworkId"] for r in args.resources
                if r.resource_type == ROUTER and r.props.get("externalNetworkId")}
    external |= {r.props["id"] for r in args.resources
                 if r.resource_type == NETWORK and r.props.get("external") and r.props.get("id")}
    for resource in args.resources:
        owner = component_of(resource)
        if owner is None or owner.resource_type != DATABASE:
            continue
        system = owner.props.get("system", owner.name)
        if resource.resource_type in FLOATING_IPS:
            report_violation(
                f"'{resource.name}' gives database '{system}' a floating (public) address: databases are reached "
                "from the site network and the VPN only. Remove the floating IP.", resource.urn)
        public = [network for network in _networks_of(resource.resource_type, resource.props) if network in external]
        if public:
            report_violation(
                f"'{resource.name}' attaches database '{system}' to the external network {public[0]}, giving it a "
                "public address. Attach it to the site's private network only.", resource.urn)


database_private = StackValidationPolicy(
    name="mdc-net-002-database-private",
    description="Prohibits public addresses (floating IPs, external networks) on databases.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_database_private,
)


# --- MDC-NET-003 ------------------------------------------------------------------------------

def validate_bucket_private(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if not is_bucket(args.resource_type, args.props) or not args.props.get("public"):
        return
    report_violation(
        f"Bucket '{args.props.get('bucket')}' on {args.props.get('endpoint')} is public: anyone who guesses its "
        "name reads (or lists) its objects. Keep it private and serve public content through signed URLs or a CDN.")


bucket_private = ResourceValidationPolicy(
    name="mdc-net-003-bucket-private",
    description="Prohibits public buckets.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_bucket_private,
)


# --- MDC-NET-004 ------------------------------------------------------------------------------

STRONG_AUTH = ("sha256", "sha384", "sha512")
STRONG_PFS = ("group14", "group15", "group16", "group19", "group20", "group21")
# What Neutron VPNaaS uses when a policy leaves a field out.
NEUTRON_DEFAULTS = {"encryptionAlgorithm": "aes-128", "authAlgorithm": "sha1", "pfs": "group5"}


def validate_vpn_crypto(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in (IKE_POLICY, IPSEC_POLICY):
        return
    chosen = {key: str(args.props.get(key) or default) for key, default in NEUTRON_DEFAULTS.items()}
    weak = []
    if not chosen["encryptionAlgorithm"].startswith("aes-256"):
        weak.append(f"encryption {chosen['encryptionAlgorithm']} (use aes-256)")
    if chosen["authAlgorithm"] not in STRONG_AUTH:
        weak.append(f"authentication {chosen['authAlgorithm']} (use {', '.join(STRONG_AUTH)})")
    if chosen["pfs"] not in STRONG_PFS:
        weak.append(f"PFS {chosen['pfs']} (use group14 or stronger)")
    if weak:
        kind = "IKE" if args.resource_type == IKE_POLICY else "IPsec"
        report_violation(
            f"{kind} policy '{args.name}' uses {'; '.join(weak)}: the link between sites carries replication "
            "and backups of every system, and these are breakable or deprecated. Set interconnect.ipsec to "
            "aes-256, sha256 and group14 or stronger (fields left out get Neutron's weak defaults).")


vpn_crypto = ResourceValidationPolicy(
    name="mdc-net-004-vpn-crypto",
    description="Requires VPN IKE and IPsec policies to use AES-256, SHA-256 or stronger, and PFS group14 "
                "or stronger.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_vpn_crypto,
)
