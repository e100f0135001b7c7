"""Network and access: nothing that administers or stores is reachable from the internet,
and the link between sites is encrypted properly."""

from __future__ import annotations

import ipaddress
from typing import Any, Mapping, Optional

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
)

from mdc.common import plain, schema, setting
from multidc.contract import DATABASE

from mdc.facts import component_of, is_bucket
from mdc.openstack import (COMPUTE_INSTANCE, DATABASE_INSTANCE, FLOATING_IPS, IKE_POLICY, IPSEC_POLICY, NETWORK, PORT,
                           ROUTER, SEC_GROUP_RULE, SWIFT_CONTAINER)
from mdc.workloads import kubernetes_kind
from mdc.waivers import resource_policy, stack_policy


# --- MDC-NET-001 ------------------------------------------------------------------------------

DATABASE_SERVICES = {
    5432: "PostgreSQL", 6432: "PgBouncer", 3306: "MySQL", 33060: "MySQL X", 1433: "SQL Server", 1521: "Oracle",
    6379: "Redis", 26379: "Redis Sentinel", 11211: "Memcached", 27017: "MongoDB", 9042: "Cassandra",
    8123: "ClickHouse HTTP", 9000: "ClickHouse native", 9440: "ClickHouse native/TLS", 9200: "Elasticsearch",
    3301: "Tarantool", 2379: "etcd", 2380: "etcd peers", 9092: "Kafka",
}
SERVICES = {
    22: "SSH", 3389: "RDP", 5985: "WinRM", 5986: "WinRM/TLS", 6443: "Kubernetes API", 10250: "kubelet",
    **DATABASE_SERVICES,
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


def port_names(ports: list[int]) -> str:
    return ", ".join(f"{port} ({SERVICES[port]})" if port in SERVICES else str(port) for port in ports)


def _port_range(rule: Mapping[str, Any]) -> Optional[tuple[int, int]]:
    """The TCP ports a rule admits; None for protocols without TCP ports (ICMP, UDP, ...)."""
    protocol = str(rule.get("protocol") or "any").lower().removesuffix(".0")
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
        names = port_names(exposed)
        span = f"port {low}" if low == high else f"ports {low}-{high}"
        report_violation(
            f"Security group rule '{args.name}' admits {source} on {span}, exposing {names} to the "
            "internet, where they are scanned and brute-forced within minutes. Restrict remote_ip_prefix to the "
            "site and peer CIDRs (or a bastion), or use remote_group_id.")


admin_ports_closed = resource_policy(
    name="mdc-net-001-admin-ports-closed",
    description="Prohibits security group rules that open SSH, RDP, database or Kubernetes API ports to the world.",
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=ADMIN_PORTS_SCHEMA,
    validate=validate_admin_ports_closed,
)


# --- MDC-NET-002 ------------------------------------------------------------------------------

def _networks_of(resource: PolicyResource) -> set[str]:
    """What a resource attaches to: network IDs and names in its inputs, and the URNs of the
    networks it depends on (known even in a preview, before any ID exists)."""
    props = resource.props
    found = {dependency.urn for dependency in resource.dependencies if dependency.resource_type == NETWORK}
    if resource.resource_type == PORT and props.get("networkId"):
        found.add(props["networkId"])
    if resource.resource_type in (DATABASE_INSTANCE, COMPUTE_INSTANCE):
        for network in plain(props.get("networks") or []):
            found |= {network[key] for key in ("uuid", "name") if network.get(key)}
    return found


def _external_networks(resources: list[PolicyResource]) -> set[str]:
    """IDs, names and URNs of the external (public) networks the stack declares or routes to."""
    external = {r.props["externalNetworkId"] for r in resources
                if r.resource_type == ROUTER and r.props.get("externalNetworkId")}
    for network in resources:
        if network.resource_type == NETWORK and network.props.get("external"):
            external |= {network.urn, *(network.props[k] for k in ("id", "name") if network.props.get(k))}
    return external


def _database_of(resource: PolicyResource) -> Optional[str]:
    """The database a resource is, or is part of: any Trove instance, anything under a
    ManagedDatabase component; None otherwise."""
    owner = component_of(resource)
    if owner is not None and owner.resource_type == DATABASE:
        return f"database '{owner.props.get('system', owner.name)}'"
    if resource.resource_type == DATABASE_INSTANCE:
        return f"database instance '{resource.name}'"
    return None


def validate_database_private(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    external = _external_networks(args.resources)
    databases = {r.urn: what for r in args.resources if (what := _database_of(r))}
    ports = {r.props.get("id"): databases.get(r.urn) or next((databases[d.urn] for d in r.dependencies
                                                                if d.urn in databases), None)
             for r in args.resources if r.resource_type == PORT}
    for resource in args.resources:
        if resource.resource_type in FLOATING_IPS:
            target = (databases.get(resource.urn) or ports.get(resource.props.get("portId"))
                      or next((databases[d.urn] for d in resource.dependencies if d.urn in databases), None))
            if target:
                report_violation(
                    f"'{resource.name}' gives {target} a floating (public) address: databases are reached from the "
                    "site network and the VPN only. Remove the floating IP.", resource.urn)
            continue
        what = databases.get(resource.urn)
        public = sorted(_networks_of(resource) & external) if what else []
        if public:
            report_violation(
                f"'{resource.name}' attaches {what} to the external network {public[0].rsplit('::', 1)[-1]}, giving "
                "it a public address that is scanned within minutes. Attach it to a private network only.",
                resource.urn)


database_private = stack_policy(
    name="mdc-net-002-database-private",
    description="Prohibits public addresses (floating IPs, external networks) on databases, whoever declared them.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_database_private,
)


# --- MDC-NET-003 ------------------------------------------------------------------------------

PUBLIC_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
_EVERYONE_GRANTEES = ("http://acs.amazonaws.com/groups/global/AllUsers",
                      "http://acs.amazonaws.com/groups/global/AuthenticatedUsers")


def _bucket_exposure(resource_type: str, props: Mapping[str, Any]) -> Optional[str]:
    """How a bucket or container is made public, or None."""
    if is_bucket(resource_type, props):
        return f"Bucket '{props.get('bucket')}' on {props.get('endpoint')} is public" if props.get("public") else None
    if resource_type == SWIFT_CONTAINER:
        read, write = str(props.get("containerRead") or ""), str(props.get("containerWrite") or "")
        if ".r:*" in read.replace(" ", "").split(",") or "*:*" in write or write.strip() == "*":
            return f"Swift container '{props.get('name')}' grants {'read' if '.r:' in read else 'write'} to anyone"
        return None
    if not resource_type.startswith("aws:s3"):
        return None
    acl = str(props.get("acl") or "")
    if acl in PUBLIC_ACLS:
        return f"S3 bucket ACL '{acl}' on '{props.get('bucket')}'"
    grants = plain((props.get("accessControlPolicy") or {}).get("grants") or [])
    if any(str((grant.get("grantee") or {}).get("uri")) in _EVERYONE_GRANTEES for grant in grants):
        return f"An S3 ACL on '{props.get('bucket')}' grants access to all users"
    return None


def validate_bucket_private(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    exposure = _bucket_exposure(args.resource_type, args.props)
    if exposure is None:
        return
    report_violation(
        f"{exposure}: anyone who guesses its name reads (or lists) its objects. Keep it private and serve public "
        "content through signed URLs or a CDN.")


bucket_private = resource_policy(
    name="mdc-net-003-bucket-private",
    description="Prohibits public buckets: multidc buckets, Swift containers and S3 ACLs.",
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
    if args.resource_type == IKE_POLICY and str(args.props.get("ikeVersion") or "v1") != "v2":
        weak.append(f"IKE {args.props.get('ikeVersion') or 'v1 (the Neutron default)'} (use v2)")
    if weak:
        kind = "IKE" if args.resource_type == IKE_POLICY else "IPsec"
        report_violation(
            f"{kind} policy '{args.name}' uses {'; '.join(weak)}: the link between sites carries replication "
            "and backups of every system, and these are breakable or deprecated (IKEv1 with a pre-shared key "
            "exposes it to offline guessing). Set interconnect.ipsec to aes-256, sha256, group14 or stronger "
            "and IKE v2 (fields left out get Neutron's weak defaults).")


vpn_crypto = resource_policy(
    name="mdc-net-004-vpn-crypto",
    description="Requires VPN IKE and IPsec policies to use IKEv2, AES-256, SHA-256 or stronger, and PFS "
                "group14 or stronger.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_vpn_crypto,
)


# --- MDC-NET-005 ------------------------------------------------------------------------------

EXPOSING_SERVICE_TYPES = frozenset({"LoadBalancer", "NodePort"})
EXPOSURE_SCHEMA = schema(ports={
    "type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 65535},
    "default": sorted(DATABASE_SERVICES),
    "description": "Ports that no LoadBalancer or NodePort Service may expose: databases and their proxies.",
})


def validate_service_exposure(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    kind = kubernetes_kind(args.resource_type)
    if kind is None or kind[0] != "Service":
        return
    spec = plain(args.props.get("spec") or {})
    exposure = spec.get("type") if spec.get("type") in EXPOSING_SERVICE_TYPES else None
    if spec.get("externalIPs"):
        exposure = f"external IPs {', '.join(map(str, spec['externalIPs']))}"
    if exposure is None:
        return
    protected = {int(p) for p in setting(args.get_config(), EXPOSURE_SCHEMA, "ports")}
    ports = sorted({int(number) for port in spec.get("ports") or [] for number in
                    (port.get("port"), port.get("targetPort")) if isinstance(number, (int, float))} & protected)
    if ports:
        report_violation(
            f"Service '{args.name}' ({exposure}) exposes {port_names(ports)} outside the cluster: every node (or a "
            "cloud load balancer) then forwards the internet's scanners to the database. Use a ClusterIP Service "
            "and reach it from inside the cluster or over the VPN.")


service_exposure = resource_policy(
    name="mdc-net-005-service-exposure",
    description="Prohibits LoadBalancer and NodePort Services (and external IPs) in front of database ports.",
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=EXPOSURE_SCHEMA,
    validate=validate_service_exposure,
)
