"""A small platform's resource graph, built by hand after what the components declare.

`compliant()` returns a `Stack`: two sites in Kazakhstan (Astana, low seismic zone, and
Almaty, 970 km away, high), a VPN between them, a critical PostgreSQL system placed
active-passive with synchronous replication and immutable offsite backups, a critical
bucket copied between the sites, and the custom resources the components create under
them (Trove instances, vault buckets, CronJobs, security group rules, IKE/IPsec policies).
It violates no policy. A test changes one thing (`set_system`, `set_props`, `set_inputs`,
`add`) and asserts the exact set of violations that follows.

Nodes look like what `multidc.plan.capture` records: custom resources' inputs in wire form
(camelCase), outputs = inputs plus an `id`, secrets as `[secret]`. Components carry their
contract properties as inputs and, as the engine would show them, as outputs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterable, Optional

from multidc.contract import (ARCHIVE_HOST, BACKUP_TARGET, BUCKET_COPY, DATABASE, INTERCONNECT, OBJECT_BUCKET, PLATFORM,
                              SITE, TAG_BACKUP_OF, TAG_SITE, TAG_SYSTEM)
from multidc.plan.analyzer import PolicyReport
from multidc.plan.graph import SECRET_MASK, Node, ResourceGraph

PROJECT = "multidc"
STACK = "policy-test"


def container(name: str = "rclone", image: str = "rclone/rclone:1.67.0", **extra: Any) -> dict[str, Any]:
    """A container as kw.container builds it: pinned, sized, non-root, read-only."""
    return {
        "name": name,
        "image": image,
        "args": ["copy", "src:", "dst:"],
        "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
        "env": [{"name": "HOME", "value": "/tmp"},
                {"name": "RCLONE_CONFIG_DST_SECRET_ACCESS_KEY",
                 "valueFrom": {"secretKeyRef": {"name": "keys", "key": "secret_key"}}}],
        **extra,
    }


def pod(*containers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"containers": list(containers), "securityContext": {"runAsNonRoot": True, "runAsUser": 65534,
                                                                "seccompProfile": {"type": "RuntimeDefault"}},
            "automountServiceAccountToken": False, **extra}


def cron_job(name: str, schedule: str = "0 2 * * *", *containers: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
            "spec": {"schedule": schedule, "concurrencyPolicy": "Forbid",
                     "jobTemplate": {"spec": {"template": {"spec": pod(*(containers or (container(),)),
                                                                       restartPolicy="OnFailure")}}}}}


def deployment(name: str, *containers: dict[str, Any]) -> dict[str, Any]:
    served = containers or (container(
        "web", "nginxinc/nginx-unprivileged:1.27.1", args=[],
        readinessProbe={"httpGet": {"path": "/", "port": 8080}},
        livenessProbe={"httpGet": {"path": "/", "port": 8080}}),)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": pod(*served)}}}


class Stack:
    """A mutable list of nodes, turned into a ResourceGraph by `graph()`."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self._qualified: dict[str, str] = {}

    # --- building ----------------------------------------------------------------------

    def add(self, type_: str, name: str, *, parent: Optional[str] = None, inputs: Optional[dict] = None,
            custom: bool = True, provider: Optional[str] = None, depends_on: Iterable[str] = (),
            secret_inputs: Iterable[str] = (), secret_outputs: Optional[Iterable[str]] = None) -> Node:
        """Add a resource under the node named `parent`; dependencies and provider by node name.

        `secret_outputs` (the additionalSecretOutputs option) defaults to the secret inputs of
        a custom resource: the generated SDKs and the bucket provider mark exactly those.
        """
        qualified = f"{self._qualified[parent]}${type_}" if parent else type_
        urn = f"urn:pulumi:{STACK}::{PROJECT}::{qualified}::{name}"
        inputs = dict(inputs or {})
        if custom and not type_.startswith("pulumi:providers:"):
            outputs = {**inputs, "id": f"{name}-id"}
        else:
            outputs = dict(inputs) if not custom else {}
        node = Node(urn=urn, type=type_, name=name, custom=custom,
                    parent=self.nodes[parent].urn if parent else None,
                    provider=self.nodes[provider].urn if provider else None,
                    dependencies=tuple(self.nodes[d].urn for d in depends_on),
                    inputs=inputs, outputs=outputs, secret_inputs=tuple(secret_inputs),
                    secret_outputs=tuple(secret_outputs if secret_outputs is not None
                                         else (secret_inputs if custom else ())),
                    id=f"{name}-id")
        self.nodes[name] = node
        self._qualified[name] = qualified
        return node

    def component(self, type_: str, name: str, props: dict[str, Any], parent: Optional[str] = None) -> Node:
        return self.add(type_, name, parent=parent, inputs=props, custom=False)

    # --- changing ----------------------------------------------------------------------

    def set_props(self, name: str, **props: Any) -> None:
        """Change a component's properties (inputs and outputs alike); None removes a key."""
        node = self.nodes[name]
        merged = {k: v for k, v in {**node.inputs, **props}.items() if v is not None}
        self.nodes[name] = replace(node, inputs=merged, outputs=dict(merged))

    def set_system(self, system: str, **props: Any) -> None:
        """Change the properties of every placement of a system."""
        for name, node in list(self.nodes.items()):
            if not node.custom and node.inputs.get("system") == system and "tier" in node.inputs:
                self.set_props(name, **props)

    def set_inputs(self, name: str, **inputs: Any) -> None:
        """Change a custom resource's inputs (and its outputs, as the mocks echo them); None removes a key."""
        node = self.nodes[name]
        merged = {k: v for k, v in {**node.inputs, **inputs}.items() if v is not None}
        self.nodes[name] = replace(node, inputs=merged, outputs={**merged, "id": node.outputs.get("id")})

    def set_outputs(self, name: str, outputs: dict[str, Any]) -> None:
        """Replace a node's outputs only (what AnalyzeStack sees), e.g. a component registering none."""
        self.nodes[name] = replace(self.nodes[name], outputs=dict(outputs))

    def set_dependencies(self, name: str, depends_on: Iterable[str]) -> None:
        self.nodes[name] = replace(self.nodes[name], dependencies=tuple(self.nodes[d].urn for d in depends_on))

    def remove(self, name: str) -> None:
        """Remove a node and everything under it."""
        doomed = {self.nodes[name].urn}
        for node_name, node in list(self.nodes.items()):  # registration order: parents come first
            if node.urn in doomed or node.parent in doomed:
                doomed.add(node.urn)
                del self.nodes[node_name]

    def urn(self, name: str) -> str:
        return self.nodes[name].urn

    def graph(self) -> ResourceGraph:
        return ResourceGraph(stack=STACK, project=PROJECT, nodes=tuple(self.nodes.values()))


# --- the compliant platform ----------------------------------------------------------------

SITES = {
    "astana": {"role": "primary", "city": "Astana", "country": "KZ", "latitude": 51.1694, "longitude": 71.4491,
               "seismic_zone": "low", "cidr": "10.10.0.0/16"},
    "almaty": {"role": "secondary", "city": "Almaty", "country": "KZ", "latitude": 43.2220, "longitude": 76.8512,
               "seismic_zone": "high", "cidr": "10.20.0.0/16"},
}
BACKUP = {"schedule": "0 */6 * * *", "daily": 14, "weekly": 8, "monthly": 12, "immutable_days": 30,
          "offsite_site": "almaty"}


def _site(stack: Stack, name: str, peers: list[str]) -> None:
    facts = SITES[name]
    stack.component(SITE, name, {
        "site": name, **facts, "availability_zones": [f"{name[:3]}-az1"], "on_prem": False,
        "s3_endpoint": f"https://s3.{name}.example.kz", "auth_url": f"https://infra.{name}.example.kz:5000/v3",
        "region": f"kz-{name[:3]}-1"}, parent="kz")
    stack.add("pulumi:providers:openstack", f"{name}-openstack", parent=name,
              inputs={"authUrl": f"https://infra.{name}.example.kz:5000/v3", "region": f"kz-{name[:3]}-1",
                      "tenantName": "bank", "cloud": name})
    stack.add("pulumi:providers:random", f"{name}-random", parent=name)
    on_site = {"parent": name, "provider": f"{name}-openstack"}
    stack.add("openstack:networking/network:Network", f"{name}-network", **on_site,
              inputs={"name": f"kz-{name}-net", "adminStateUp": True})
    stack.add("openstack:networking/subnet:Subnet", f"{name}-subnet", **on_site, depends_on=[f"{name}-network"],
              inputs={"name": f"kz-{name}-subnet", "networkId": f"{name}-network-id", "cidr": facts["cidr"],
                      "ipVersion": 4})
    stack.add("openstack:networking/router:Router", f"{name}-router", **on_site,
              inputs={"name": f"kz-{name}-router", "externalNetworkId": f"ext-net-{name}"})
    stack.add("openstack:networking/secGroup:SecGroup", f"{name}-internal", **on_site,
              inputs={"name": f"kz-{name}-internal"})
    for cidr in [facts["cidr"], *(SITES[peer]["cidr"] for peer in peers)]:
        stack.add("openstack:networking/secGroupRule:SecGroupRule", f"{name}-internal-ssh-{cidr.replace('/', '_')}",
                  **on_site, depends_on=[f"{name}-internal"],
                  inputs={"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "portRangeMin": 22,
                          "portRangeMax": 22, "remoteIpPrefix": cidr, "securityGroupId": f"{name}-internal-id"})
    stack.add("openstack:networking/secGroupRule:SecGroupRule", f"{name}-web-https", **on_site,
              inputs={"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "portRangeMin": 443,
                      "portRangeMax": 443, "remoteIpPrefix": "0.0.0.0/0", "securityGroupId": f"{name}-web-id"})


def _interconnect(stack: Stack, a: str, b: str) -> None:
    name = f"{a}-{b}-vpn"
    stack.component(INTERCONNECT, name, {
        "sites": [a, b], "encryption": "aes-256", "auth": "sha256", "pfs": "group14", "ike_version": "v2"},
        parent="kz")
    stack.add("random:index/randomPassword:RandomPassword", f"{name}-psk", parent=name, provider=f"{a}-random",
              inputs={"length": 48, "special": False})
    for site, peer in ((a, b), (b, a)):
        on_site = {"parent": name, "provider": f"{site}-openstack"}
        crypto = {"encryptionAlgorithm": "aes-256", "authAlgorithm": "sha256", "pfs": "group14",
                  "lifetimes": [{"units": "seconds", "value": 3600}]}
        stack.add("openstack:vpnaas/ikePolicy:IkePolicy", f"{name}-{site}-ike", **on_site,
                  inputs={"name": f"{name}-ike", "ikeVersion": "v2", **crypto})
        stack.add("openstack:vpnaas/ipSecPolicy:IpSecPolicy", f"{name}-{site}-ipsec", **on_site,
                  inputs={"name": f"{name}-ipsec", "transformProtocol": "esp", "encapsulationMode": "tunnel",
                          **crypto})
        stack.add("openstack:vpnaas/siteConnection:SiteConnection", f"{name}-{site}-to-{peer}", **on_site,
                  depends_on=[f"{name}-{site}-ike", f"{name}-{site}-ipsec", f"{name}-psk"],
                  inputs={"name": f"{name}-{site}-to-{peer}", "psk": SECRET_MASK, "peerAddress": "203.0.113.7"},
                  secret_inputs=["psk"])


def placement_props(system: str, site: str, kind: str, sites: list[str], **spec: Any) -> dict[str, Any]:
    """What common.placement_props registers for an active-passive placement."""
    role = "primary" if site == sites[0] else "standby"
    props = {
        "platform": "kz", "system": system, "site": site, "kind": kind, "tier": "critical",
        "topology": "active-passive", "role": role, "scale": "full" if role == "primary" else "warm-standby",
        "primary_site": sites[0], "sites": list(sites), "rpo_seconds": 0, "rto_seconds": 900,
        "data_classes": ["personal"], **spec,
    }
    if role == "standby":
        props.update(replicates_from=f"{system}-{sites[0]}",
                     replication_mechanism="rclone-pull" if kind == "bucket" else "logical")
    return {key: value for key, value in props.items() if value is not None}


def _bucket(stack: Stack, name: str, parent: str, site: str, bucket: str, **settings: Any) -> None:
    stack.add("pulumi-python:dynamic:Resource", name, parent=parent, secret_inputs=["access_key", "secret_key"],
              depends_on=[f"{site}-s3-credential"], inputs={
                  "__provider": "gASVpickled-provider", "bucket": bucket, "endpoint": f"https://s3.{site}.example.kz",
                  "region": "us-east-1", "access_key": SECRET_MASK, "secret_key": SECRET_MASK, "versioning": True,
                  "public": False, "force_destroy": False, "tags": {"multidc-site": site}, **settings})


def _backup_target(stack: Stack, system: str, primary: str, offsite: str, backup: dict[str, Any],
                   mechanism: str) -> None:
    name = f"{system}-backup-{offsite}"
    vault = f"kz-{system}-vault-{offsite}"
    stack.component(BACKUP_TARGET, name, {
        **backup, "system": system, "site": offsite, "protects_site": primary, "object_lock_mode": "COMPLIANCE",
        "mechanism": mechanism, "vault": vault, "endpoint": f"https://s3.{offsite}.example.kz",
        "runner": f"ops-{offsite}"}, parent="kz")
    _bucket(stack, f"{name}-vault", name, offsite, vault, lifecycle_days=372, noncurrent_days=30,
            tags={TAG_SITE: offsite, TAG_SYSTEM: system, TAG_BACKUP_OF: primary},
            object_lock_mode="COMPLIANCE", object_lock_days=backup["immutable_days"])
    stack.add("kubernetes:batch/v1:CronJob", f"{name}-dump", parent=name, provider="ops-k8s",
              inputs=cron_job(f"backup-{system}", backup["schedule"]))


def logical_parameters(system: str, site: str, sites: list[str]) -> list[dict[str, str]]:
    """What the components' configuration group sets for a sync system replicated logically."""
    parameters = [{"name": "wal_level", "value": "logical"}]
    if site == sites[0]:
        names = ", ".join(f'"multidc_{system.replace("-", "_")}_{other}"' for other in sites[1:])
        parameters.append({"name": "synchronous_standby_names", "value": f"FIRST 1 ({names})"})
    return parameters


def add_postgres(stack: Stack, system: str) -> None:
    """A critical PostgreSQL system with personal data: active-passive, synchronous, RPO 0,
    a Trove instance per site, immutable offsite backups (vault bucket and dump job)."""
    sites, backup = list(SITES), dict(BACKUP)
    for site in sites:
        name = f"{system}-{site}"
        stack.component(DATABASE, name, {
            **placement_props(system, site, "postgres", sites, replication="sync", backup=dict(backup)),
            "engine": "postgresql", "engine_version": "16", "flavor": "DB-8-32", "volume_gb": 500,
            "node_count": 1, "port": 5432}, parent="kz")
        stack.add("random:index/randomPassword:RandomPassword", f"{name}-password", parent=name,
                  provider=f"{site}-random", inputs={"length": 32, "special": False})
        stack.add("openstack:database/configuration:Configuration", f"{name}-parameters", parent=name,
                  provider=f"{site}-openstack", inputs={
                      "name": f"kz-{name}-parameters", "datastore": {"type": "postgresql", "version": "16"},
                      "configurations": logical_parameters(system, site, sites)})
        stack.add("openstack:database/instance:Instance", f"{name}-0", parent=name, provider=f"{site}-openstack",
                  depends_on=[f"{site}-network", f"{name}-password", f"{name}-parameters"], secret_inputs=["users"],
                  inputs={
                      "name": f"kz-{name}-0", "flavorId": "db-8-32", "size": 500,
                      "datastore": {"type": "postgresql", "version": "16"},
                      "configurationId": f"{name}-parameters-id", "networks": [{"uuid": f"{site}-network-id"}],
                      "databases": [{"name": system.replace("-", "_")}], "users": SECRET_MASK})
    _backup_target(stack, system, "astana", "almaty", backup, "pg-dump")


def compliant() -> Stack:
    """The baseline: no policy is violated."""
    stack = Stack()
    stack.component(PLATFORM, "kz", {"platform": "kz", "sites": ["astana", "almaty"]})
    _site(stack, "astana", ["almaty"])
    _site(stack, "almaty", ["astana"])
    for site in SITES:
        stack.add("openstack:identity/ec2CredentialV3:Ec2CredentialV3", f"{site}-s3-credential", parent=site,
                  provider=f"{site}-openstack")
    _interconnect(stack, "astana", "almaty")
    stack.add("pulumi:providers:kubernetes", "ops-k8s", parent="kz", inputs={"kubeconfig": SECRET_MASK},
              secret_inputs=["kubeconfig"])
    stack.add("kubernetes:apps/v1:Deployment", "web", parent="kz", provider="ops-k8s", inputs=deployment("web"))

    add_postgres(stack, "core-db")
    sites = list(SITES)
    documents_backup = {**BACKUP, "schedule": "*/15 * * * *"}
    for site in sites:
        name = f"documents-{site}"
        stack.component(OBJECT_BUCKET, name, {
            **placement_props("documents", site, "bucket", sites, rpo_seconds=900, backup=dict(documents_backup)),
            "bucket": f"kz-documents-{site}", "endpoint": f"https://s3.{site}.example.kz", "versioning": True,
            "noncurrent_days": 30}, parent="kz")
        _bucket(stack, f"{name}-bucket", name, site, f"kz-documents-{site}", noncurrent_days=30)
    copy_name = "documents-copy-astana-to-almaty"
    stack.component(BUCKET_COPY, copy_name, {
        "system": "documents", "source_site": "astana", "destination_site": "almaty", "site": "almaty",
        "schedule": "*/5 * * * *", "mode": "copy", "runner": "ops-almaty", "source_bucket": "kz-documents-astana",
        "destination_bucket": "kz-documents-almaty"}, parent="kz")
    stack.add("kubernetes:batch/v1:CronJob", f"{copy_name}-job", parent=copy_name, provider="ops-k8s",
              inputs=cron_job("copy-documents", "*/5 * * * *"))
    _backup_target(stack, "documents", "astana", "almaty", documents_backup, "rclone-copy")
    return stack


def with_cards(stack: Stack) -> Stack:
    """Add a payment-card PostgreSQL system, `cards-db`, as the components declare one: on each
    site's cardholder network (the upper half of the site's range, its own network and subnet),
    on the encrypted volume type, with a configuration group requiring TLS."""
    sites, backup = list(SITES), {**BACKUP, "schedule": "30 */6 * * *"}
    for site in sites:
        on_site = {"parent": site, "provider": f"{site}-openstack"}
        stack.add("openstack:networking/network:Network", f"{site}-cardholder-network", **on_site,
                  inputs={"name": f"kz-{site}-cardholder", "adminStateUp": True})
        stack.add("openstack:networking/subnet:Subnet", f"{site}-cardholder-subnet", **on_site,
                  depends_on=[f"{site}-cardholder-network"],
                  inputs={"networkId": f"{site}-cardholder-network-id", "cidr": "10.10.128.0/17", "ipVersion": 4})
    for site in sites:
        name = f"cards-db-{site}"
        stack.component(DATABASE, name, {
            **placement_props("cards-db", site, "postgres", sites, replication="sync", backup=dict(backup),
                              data_classes=["payment-card", "personal"]),
            "engine": "postgresql", "engine_version": "16", "port": 5432}, parent="kz")
        on_site = {"parent": name, "provider": f"{site}-openstack"}
        stack.add("openstack:database/configuration:Configuration", f"{name}-tls-only", **on_site, inputs={
            "name": f"kz-{name}-tls-only", "datastore": {"type": "postgresql", "version": "16"},
            "configurations": [{"name": "ssl", "value": "on"}, *logical_parameters("cards-db", site, sites)]})
        stack.add("openstack:database/instance:Instance", f"{name}-0", **on_site,
                  depends_on=[f"{site}-cardholder-network", f"{name}-tls-only"], inputs={
                      "name": f"kz-{name}-0", "flavorId": "db-4-16", "size": 200, "volumeType": "encrypted",
                      "datastore": {"type": "postgresql", "version": "16"}, "configurationId": f"{name}-tls-only-id",
                      "networks": [{"uuid": f"{site}-cardholder-network-id"}]})
    _backup_target(stack, "cards-db", "astana", "almaty", backup, "pg-dump")
    return stack


def with_archive_host(stack: Stack, network: str = "almaty-cardholder-network") -> Stack:
    """Add cards-db's archive host in almaty, as the components declare it: a server holding a copy of the card
    data, on ``network``, its data and boot volumes of the encrypted type, in a group that admits nothing."""
    name, on_site = "cards-db-backup-almaty-archive-host", {"provider": "almaty-openstack"}
    stack.component(ARCHIVE_HOST, name, {
        "system": "cards-db", "site": "almaty", "primary_site": "astana", "role": "archive-host", "flavor": "DB-4-16",
        "volume_gb": 200, "boot_volume_gb": 20, "node_count": 1, "full_node_count": 1,
        "subscription": "multidc_cards_db_archive", "schedule": "30 */6 * * *",
        "on_calendar": "*-*-* 00/6:30:00 UTC", "archive_timeout_s": 30}, parent="cards-db-backup-almaty")
    stack.add("openstack:blockstorage/volume:Volume", f"{name}-data", parent=name, **on_site,
              inputs={"size": 200, "volumeType": "encrypted"})
    stack.add("openstack:networking/secGroup:SecGroup", f"{name}-closed", parent=name, **on_site,
              inputs={"name": f"kz-{name}"})
    stack.add("openstack:compute/instance:Instance", f"{name}-server", parent=name, **on_site,
              depends_on=[network, f"{name}-data", f"{name}-closed"], secret_inputs=["userData"], inputs={
                  "flavorName": "DB-4-16", "networks": [{"uuid": f"{network}-id"}], "securityGroups": [f"kz-{name}"],
                  "userData": SECRET_MASK, "blockDevices": [
                      {"sourceType": "image", "destinationType": "volume", "volumeSize": 20, "bootIndex": 0,
                       "volumeType": "encrypted"},
                      {"sourceType": "volume", "destinationType": "volume", "bootIndex": -1,
                       "volumeType": "encrypted"}]})
    return stack


def found(report: PolicyReport) -> set[tuple[str, str]]:
    """Each violation as (policy ID, name of the resource it is on)."""
    return {(v.policy_id, v.urn.rsplit("::", 1)[-1] if v.urn else "(stack)") for v in report.violations}
