"""PCI DSS, the part a deployment can show: systems holding payment-card data (data class
`payment-card`) form their own segment (requirement 1), store on encrypted volumes
(requirement 3) and are reached only over TLS (requirement 4).

Resources belong to a system through their parent chain: everything under a placement
component is that placement's. Network membership comes from dependencies (a database
instance depends on the network it is attached to), which the engine knows even in a
preview, before any ID exists.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Any, Iterable, Mapping, Optional

from pulumi_policy import EnforcementLevel, PolicyResource, ReportViolation, StackValidationArgs


from mdc.common import plain, schema, setting

from mdc.facts import DATA_HOSTS, Placement, StackFacts, ancestor_urn, configuration_settings, placement_urn
from mdc.openstack import (CLUSTER, COMPUTE_INSTANCE, DATABASE_CONFIGURATION, DATABASE_INSTANCE, LISTENER,
                           LOAD_BALANCER, NETWORK, PORT, SUBNET, VOLUME)
from mdc.waivers import stack_policy

PAYMENT_CARD = "payment-card"
TLS_LISTENER_PROTOCOLS = ("TERMINATED_HTTPS", "HTTPS")
# The Trove configuration setting that makes each engine require TLS of its clients.
TLS_SETTINGS = {"mysql": ("require_secure_transport", "ON"), "mariadb": ("require_secure_transport", "ON"),
                "postgresql": ("ssl", "on")}


def _cardholder(facts: StackFacts) -> dict[str, Placement]:
    """The components holding card data, by URN: card systems' placements, and their archive hosts (a copy of the
    data in the vault's site) and delayed standbys, each as its system's primary placement moved to the host's
    site."""
    holders = {p.urn: p for p in facts.placements if PAYMENT_CARD in p.data_classes}
    primaries = {p.system: p for p in holders.values() if p.is_primary}
    for host in facts.archive_hosts:
        if host.system in primaries:
            holders[host.urn] = replace(primaries[host.system], urn=host.urn, site=host.site)
    return holders


def _holder_urn(resource: PolicyResource) -> Optional[str]:
    """The placement, archive host or delayed standby a resource is declared under (its parent chain), or None."""
    return ancestor_urn(resource, DATA_HOSTS) or placement_urn(resource)


def _in_cardholder(resources: Iterable[PolicyResource],
                   cardholder: Mapping[str, Placement]) -> Iterable[tuple[PolicyResource, Placement]]:
    for resource in resources:
        urn = _holder_urn(resource)
        if urn in cardholder:
            yield resource, cardholder[urn]


# --- MDC-PCI-001 ------------------------------------------------------------------------------

# What attaches to a network: servers, ports, database instances, clusters, load balancers.
# (A subnet belongs to its network; a router interface is the routed, filtered way in.)
ATTACHING = frozenset({COMPUTE_INSTANCE, DATABASE_INSTANCE, PORT, CLUSTER, LOAD_BALANCER})


def _networks(resource: PolicyResource, by_key: Mapping[str, PolicyResource]) -> set[PolicyResource]:
    """The networks a resource attaches to: networks it depends on, the networks of subnets it
    depends on, and networks its inputs name by ID or name (`networks`, `networkId`, `fixedNetwork`)."""
    found = set()
    for dependency in resource.dependencies:
        if dependency.resource_type == NETWORK:
            found.add(dependency)
        elif dependency.resource_type == SUBNET:
            found |= {d for d in dependency.dependencies if d.resource_type == NETWORK}
    props = resource.props
    keys = [props.get("networkId"), props.get("fixedNetwork"), props.get("vipNetworkId")]
    keys += [network.get(key) for network in plain(props.get("networks") or []) for key in ("uuid", "name")]
    found |= {by_key[key] for key in keys if isinstance(key, str) and key in by_key}
    return found


def validate_cardholder_segment(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    facts = StackFacts.of(args.resources)
    cardholder = _cardholder(facts)
    if not cardholder:
        return
    systems = {p.urn: p.system for p in facts.placements}
    systems.update({host.urn: host.system for host in facts.archive_hosts})
    by_key = {r.props[key]: r for r in args.resources if r.resource_type == NETWORK
              for key in ("id", "name") if isinstance(r.props.get(key), str)}
    users: dict[str, set[str]] = defaultdict(set)  # network URN -> who attaches to it
    networks: dict[str, PolicyResource] = {}
    cardholder_networks: dict[str, set[str]] = defaultdict(set)  # placement URN -> network URNs
    for resource in args.resources:
        placement = _holder_urn(resource)
        if placement not in systems and resource.resource_type not in ATTACHING:
            continue
        user = systems[placement] if placement in systems else f"'{resource.name}' (declared outside the spec)"
        for network in _networks(resource, by_key):
            networks[network.urn] = network
            users[network.urn].add(user)
            if placement in cardholder:
                cardholder_networks[placement].add(network.urn)
    card_systems = {p.system for p in cardholder.values()}
    for urn, placement in cardholder.items():
        for network in sorted(cardholder_networks[urn]):
            others = sorted(users[network] - card_systems)
            if others:
                report_violation(
                    f"'{placement.system}' holds payment-card data but shares network '{networks[network].name}' in "
                    f"'{placement.site}' with {', '.join(others)}: every system on it is then in PCI DSS scope, "
                    "and one compromised neighbour reaches the card data directly (PCI DSS requirement 1.3). "
                    "Attach it to a network of its own (routed, with security groups admitting only what must "
                    "reach it).", urn)


cardholder_segment = stack_policy(
    name="mdc-pci-001-cardholder-segment",
    description="Requires payment-card systems to sit on networks no other system attaches to.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_cardholder_segment,
)


# --- MDC-PCI-002 ------------------------------------------------------------------------------

ENCRYPTION_SCHEMA = schema(encrypted_volume_types={
    "type": "array", "items": {"type": "string"}, "minItems": 1, "default": ["encrypted"],
    "description": "Names of the cloud's Cinder volume types that are encrypted (LUKS); ask the provider.",
})


def _volume_types(resource: PolicyResource) -> list[Optional[str]]:
    """The volume type of every volume a resource creates."""
    props = resource.props
    if resource.resource_type in (DATABASE_INSTANCE, VOLUME):
        return [props.get("volumeType")]
    if resource.resource_type == COMPUTE_INSTANCE:
        return [device.get("volumeType") for device in plain(props.get("blockDevices") or [])
                if device.get("destinationType") == "volume"]
    return []


def validate_encrypted_at_rest(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    facts = StackFacts.of(args.resources)
    encrypted = list(setting(args.get_config(), ENCRYPTION_SCHEMA, "encrypted_volume_types"))
    for resource, placement in _in_cardholder(args.resources, _cardholder(facts)):
        for volume_type in _volume_types(resource):
            if volume_type not in encrypted:
                report_violation(
                    f"'{resource.name}' stores payment-card data of '{placement.system}' on volume type "
                    f"{volume_type or '(the cloud default)'}, which is not an encrypted type "
                    f"({', '.join(encrypted)}): a disk leaving the data center carries card data in the clear. "
                    "Use an encrypted volume type, or list the cloud's encrypted types in encrypted_volume_types.",
                    resource.urn)


encrypted_at_rest = stack_policy(
    name="mdc-pci-002-encrypted-at-rest",
    description="Requires the volumes of payment-card systems to use an encrypted volume type.",
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=ENCRYPTION_SCHEMA,
    validate=validate_encrypted_at_rest,
)


# --- MDC-PCI-003 ------------------------------------------------------------------------------

def _tls_problem(resource: PolicyResource) -> Optional[str]:
    props: Mapping[str, Any] = resource.props
    if resource.resource_type == LISTENER:
        protocol = props.get("protocol")
        if protocol not in TLS_LISTENER_PROTOCOLS:
            return f"listens with protocol {protocol}; use TERMINATED_HTTPS (or HTTPS passed through)"
        return None
    if resource.resource_type != DATABASE_INSTANCE:
        return None
    engine = str((plain(props.get("datastore") or {})).get("type", ""))
    wanted = TLS_SETTINGS.get(engine)
    if wanted is None:
        return f"runs {engine}, on which Trove cannot require TLS; keep card data in postgresql or mysql"
    configurations = [d for d in resource.dependencies if d.resource_type == DATABASE_CONFIGURATION]
    if not any(configuration_settings(c).get(wanted[0], "").lower() == wanted[1].lower() for c in configurations):
        return (f"has no configuration group setting {wanted[0]} = {wanted[1]}, so clients may connect without "
                "TLS; attach one (configuration_id)")
    return None


def validate_tls_only(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    facts = StackFacts.of(args.resources)
    for resource, placement in _in_cardholder(args.resources, _cardholder(facts)):
        problem = _tls_problem(resource)
        if problem:
            report_violation(
                f"'{resource.name}' of payment-card system '{placement.system}' {problem}: card data must never "
                "cross a network in the clear (PCI DSS requirement 4).", resource.urn)


tls_only = stack_policy(
    name="mdc-pci-003-tls-only",
    description="Requires payment-card systems to be reachable only over TLS (databases and load balancers).",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=validate_tls_only,
)
