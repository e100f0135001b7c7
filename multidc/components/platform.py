"""The whole platform of one stack: every site, the VPNs, every placement, copies and backups.

Wiring follows each system's topology:

* active-passive: full size in the primary, a warm standby in the other sites (node groups
  at about a third; a database standby declared as a replica of the primary);
* active-active: full size in every site;
* backup-only and single-site: the system in its one site.

Any system with a backup policy gets a BackupTarget in its offsite site; every replicated
bucket gets a BucketCopy per direction (primary to each standby; both ways when
active-active). Jobs that pull copies into a site run on the first cluster placed there
(the spec guarantees one).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Optional

import pulumi

from multidc import spec
from multidc.components.backup import BackupTarget, BackupTargetArgs, VeleroTarget
from multidc.components.bucket import ObjectBucket, ObjectBucketArgs
from multidc.components.common import STANDBY, placement_name, placement_props, placement_role, waiver_props
from multidc.components.database import ManagedDatabase, ManagedDatabaseArgs, holds_card_data
from multidc.components.entrypoints import declare_entrypoints, declare_monitoring
from multidc.components.interconnect import Interconnect, InterconnectArgs
from multidc.components.dns import ServiceNames
from multidc.components.loadbalancer import LoadBalancer
from multidc.components.ml_endpoints import MlEndpoints
from multidc.components.monitoring import Monitoring
from multidc.components.kubernetes import KubernetesCluster, KubernetesClusterArgs
from multidc.components.ml_platform import (
    Dataset,
    DatabaseEndpoint,
    MlPlatform,
    MlPlatformArgs,
    PostgresConnection,
    S3BucketAccess,
    ml_scale,
    training_datasets,
)
from multidc.components.replication import BucketCopy, BucketCopyArgs
from multidc.components.site import Site, SiteArgs
from multidc.components.velero import Velero, VeleroArgs
from multidc.components.vm_group import VmGroup, VmGroupArgs
from multidc.contract import PLATFORM, WAIVERS
from multidc.spec.service_names import MLFLOW, endpoints

Placement = tuple[str, str]  # (system, site)


@dataclass(frozen=True)
class PlatformArgs:
    """A validated platform spec."""

    platform: spec.Platform


class Platform(pulumi.ComponentResource):
    """Every resource of one stack, grouped by site and system."""

    site_components: dict[str, Site]
    """The Site component of each site, by name."""
    clusters: dict[Placement, KubernetesCluster]
    databases: dict[Placement, ManagedDatabase]
    buckets: dict[Placement, ObjectBucket]
    vm_groups: dict[Placement, VmGroup]
    ml_platforms: dict[Placement, MlPlatform]
    backups: dict[str, BackupTarget]
    copies: list[BucketCopy]
    load_balancers: dict[Placement, LoadBalancer]
    """The load balancer in front of each VM group placement."""
    service_names: dict[str, ServiceNames]
    """Each site's zone and service names, by site (sites without a zone have none)."""
    ml_endpoints: dict[Placement, MlEndpoints]
    """The load-balanced endpoints (JupyterHub, MLflow, served models) of each ML platform placement."""
    monitoring: dict[Placement, Monitoring]
    """The monitoring release in each cluster placement."""
    spec: spec.Platform
    """The validated spec this platform was declared from."""

    def __init__(self, name: str, args: PlatformArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        platform = args.platform
        witness = platform.witness
        contract = {
            "platform": platform.name,
            "sites": [site.name for site in platform.sites],
            "witness": None if witness is None else {
                "name": witness.name, "country": witness.location.country,
                "latitude": witness.location.latitude, "longitude": witness.location.longitude},
            # The policy pack honours these (docs/policies.md, "Waiving a policy").
            WAIVERS: [waiver_props(waiver) for waiver in platform.waivers],
        }
        super().__init__(PLATFORM, name, contract, opts)
        self._platform = platform
        self.spec = platform
        self._systems = {system.name: system for system in platform.systems}
        self._child = pulumi.ResourceOptions(parent=self)
        self.clusters, self.databases, self.buckets, self.vm_groups = {}, {}, {}, {}
        self.ml_platforms, self.backups, self.copies = {}, {}, []

        self._declare_sites()
        for a, b in platform.replicating_pairs():
            Interconnect(f"{a}-{b}-vpn", InterconnectArgs(sites=(self.site_components[a], self.site_components[b]),
                                                          ipsec=platform.interconnect.ipsec), opts=self._child)
        # Clusters first: ML platforms and every pull job run on them.
        ordered = sorted(platform.systems, key=lambda system: system.kind is not spec.Kind.kubernetes)
        for system in ordered:
            if system.kind is not spec.Kind.ml_platform:
                self._place(system)
        # The first cluster placed in a site runs the jobs that pull copies into it.
        self._runners: dict[str, KubernetesCluster] = {}
        for (_, site), cluster in self.clusters.items():
            self._runners.setdefault(site, cluster)
        for system in platform.systems:
            if system.kind is spec.Kind.ml_platform:
                self._place_ml(system)
        velero_targets: dict[Placement, list[VeleroTarget]] = defaultdict(list)
        for system in platform.systems:
            if system.backup is not None:
                target = self._backup(system)
                if target.velero is not None:
                    for placement in self._velero_clusters(system):
                        velero_targets[placement].append(target.velero)
            if system.kind is spec.Kind.bucket:
                self._copy_bucket(system)
        for placement, targets in velero_targets.items():
            cluster = self.clusters[placement]
            Velero(f"{cluster.placement}-velero", VeleroArgs(cluster=cluster, targets=tuple(targets)),
                   opts=pulumi.ResourceOptions(parent=cluster))
        self.load_balancers, self.ml_endpoints, self.service_names = declare_entrypoints(self, self._child)
        self.monitoring = declare_monitoring(self, self._child)

        self.register_outputs(contract)

    def _declare_sites(self) -> None:
        platform = self._platform
        peers: dict[str, list[str]] = defaultdict(list)
        for a, b in platform.replicating_pairs():
            peers[a].append(str(platform.site(b).cidr))
            peers[b].append(str(platform.site(a).cidr))
        vm_systems: dict[str, list[str]] = defaultdict(list)
        cardholder: set[str] = set()
        for system in platform.systems:
            if system.kind is spec.Kind.vm_group:
                for site in system.sites:
                    vm_systems[site].append(system.name)
            if holds_card_data(system):
                cardholder.update(system.sites)
        self.site_components = {
            site.name: Site(site.name, SiteArgs(
                platform=platform.name, site=site, peer_cidrs=tuple(peers[site.name]),
                server_groups=tuple(vm_systems[site.name]), web=False,
                cardholder=site.name in cardholder), opts=self._child)
            for site in platform.sites
        }

    def _place(self, system: spec.System) -> None:
        """One component per site of the system; a database's primary before its standbys."""
        platform = self._platform
        for site_name in system.sites:
            name, site, placement = placement_name(system.name, site_name), self.site_components[site_name], (
                system.name, site_name)
            if system.kind is spec.Kind.kubernetes:
                self.clusters[placement] = KubernetesCluster(
                    name, KubernetesClusterArgs(platform=platform, system=system, site=site), opts=self._child)
            elif system.kind in spec.DATABASE_KINDS:
                primary = None
                if placement_role(system, site_name) == STANDBY:
                    primary = self.databases[(system.name, system.primary_site)]
                self.databases[placement] = ManagedDatabase(
                    name, ManagedDatabaseArgs(platform=platform, system=system, site=site, primary=primary),
                    opts=self._child)
            elif system.kind is spec.Kind.bucket:
                self.buckets[placement] = ObjectBucket(
                    name, ObjectBucketArgs(platform=platform, system=system, site=site), opts=self._child)
            elif system.kind is spec.Kind.vm_group:
                self.vm_groups[placement] = VmGroup(
                    name, VmGroupArgs(platform=platform, system=system, site=site), opts=self._child)

    def _place_ml(self, system: spec.System) -> None:
        """The ML platform on its cluster in each site; where it trains, it reads its datasets' copies there."""
        platform, ml = self._platform, system.ml
        assert ml is not None
        copies = {(dataset, site): self._dataset(dataset, site) for dataset in ml.datasets
                  for site in self._systems[dataset].sites}
        for site_name in system.sites:
            cluster = self.clusters[(ml.cluster, site_name)]
            gpu = next(iter(cluster.gpu_node_pools.values()), None)
            mlflow_db = artifacts = None
            if ml.mlflow is not None and ml.mlflow.enabled:
                mlflow_db = self._postgres_connection(ml.mlflow.backend_db, site_name)
                artifacts = self._bucket_access(ml.mlflow.artifact_bucket, site_name)
            self.ml_platforms[(system.name, site_name)] = MlPlatform(
                placement_name(system.name, site_name), MlPlatformArgs(
                    system=system, site=site_name, scale=ml_scale(platform, system, site_name),
                    provider=cluster.provider, gpu=gpu.scheduling if gpu else None, mlflow_db=mlflow_db,
                    artifacts=artifacts, datasets=training_datasets(platform, system, site_name, copies),
                    service_hosts=tuple(e.name(zone).rstrip(".") for e in endpoints(system) if e.endpoint == MLFLOW
                                        for zone in [platform.site(site_name).cloud.dns_zone] if zone),
                    placement=placement_props(platform, system, site_name)),
                opts=self._child)

    def _postgres_connection(self, system: str, site: str) -> Optional[PostgresConnection]:
        """MLflow's store: the database's placement in ``site`` (the spec makes it the primary where ML runs)."""
        database = self.databases.get((system, site))
        if database is None or database.password is None:
            return None
        return PostgresConnection(host=database.endpoint, port=database.port, dbname=database.database,
                                  user=database.user, password=database.password)

    def _bucket_access(self, system: str, site: str) -> Optional[S3BucketAccess]:
        bucket = self.buckets.get((system, site))
        if bucket is None:
            return None
        keys = self.site_components[site]
        return S3BucketAccess(endpoint=bucket.endpoint, bucket=bucket.bucket, access_key=keys.s3_access_key,
                              secret_key=keys.s3_secret_key)

    def _dataset(self, system: str, site: str) -> Dataset:
        database = self.databases.get((system, site))
        if database is not None:
            return Dataset(system=system, site=site, database=DatabaseEndpoint(
                engine=database.engine, host=database.endpoint, port=database.port, dbname=database.database,
                user=database.user, password=database.password))
        return Dataset(system=system, site=site, bucket=self._bucket_access(system, site))

    def _backup(self, system: spec.System) -> BackupTarget:
        assert system.backup is not None
        offsite = system.backup.offsite_site
        primary = (system.name, system.primary_site)
        source = self.databases.get(primary) or self.buckets.get(primary)
        namespaces: tuple[str, ...] = ("*",)
        ml_platform = self.ml_platforms.get(primary)
        if ml_platform is not None:
            namespaces = tuple(n for n in (ml_platform.namespace, ml_platform.spark_namespace) if n)
        target = BackupTarget(
            f"{system.name}-backup-{offsite}", BackupTargetArgs(
                platform=self._platform, system=system, site=self.site_components[offsite],
                protects=self.site_components[system.primary_site], runner=self._runners[offsite], source=source,
                namespaces=namespaces),
            opts=self._child)
        self.backups[system.name] = target
        return target

    def _velero_clusters(self, system: spec.System) -> list[Placement]:
        """The clusters whose Velero backs up ``system``: its own, or for an ML platform the one it runs on."""
        cluster_system = system.ml.cluster if system.ml is not None else system.name
        return [(cluster_system, site) for site in system.sites]

    def _copy_bucket(self, system: spec.System) -> None:
        """Primary to each standby (active-passive), or every site to every other (active-active)."""
        if system.topology not in spec.REPLICATED:
            return
        sources = system.sites if system.topology is spec.Topology.active_active else [system.primary_site]
        for source in sources:
            for destination in system.sites:
                if destination == source:
                    continue
                self.copies.append(BucketCopy(
                    f"{system.name}-copy-{source}-to-{destination}", BucketCopyArgs(
                        system=system, source=self.buckets[(system.name, source)],
                        source_site=self.site_components[source], destination=self.buckets[(system.name, destination)],
                        destination_site=self.site_components[destination], runner=self._runners[destination]),
                    opts=self._child))

