"""The typed spec of one platform: its sites, the interconnect and its systems.

Read from the structured stack config key `multidc:platform`, validated once, at load,
by pydantic. Field rules live on the fields; cross-field rules (CIDR overlap, topology
vs engine, RPO vs replication mode, references between systems) live in the models'
validators. Every problem is reported at once as a dotted path and a short reason:

    systems.core-db.topology: active-active needs a multi-writer engine; postgres has one writer
"""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import yaml
from croniter import croniter
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,

    model_validator,
)
from pydantic_core import PydanticCustomError

CONFIG_KEY = "multidc:platform"

_NAME = r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$"
Name = Annotated[str, Field(pattern=_NAME, description="lower-case letters, digits and dashes")]


# --- scalar types --------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> timedelta:
    """Parse '0s', '30s', '15m', '4h', '1d' (or a number of seconds) into a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    raise PydanticCustomError(
        "duration", "'{value}' is not a duration; write a whole number and a unit: 0s, 30s, 15m, 4h, 1d",
        {"value": value},
    )


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration)]


def _check_cron(value: str) -> str:
    if not isinstance(value, str) or len(value.split()) != 5 or not croniter.is_valid(value):
        raise PydanticCustomError(
            "cron", "'{value}' is not a five-field cron schedule (minute hour day month weekday), e.g. '0 2 * * *'",
            {"value": value},
        )
    return value


Cron = Annotated[str, BeforeValidator(_check_cron)]


def _check_cidr(value: Any) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(value, strict=True)
    except (ValueError, TypeError):
        raise PydanticCustomError(
            "cidr", "'{value}' is not an IPv4 network in CIDR form with its host bits zero, e.g. 10.10.0.0/16",
            {"value": value},
        ) from None


Cidr = Annotated[ipaddress.IPv4Network, BeforeValidator(_check_cidr), PlainSerializer(str)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _problems(problems: list[tuple[str, str]]) -> None:
    """Raise every cross-field problem at once; `SpecError` expands them into paths."""
    if problems:
        raise PydanticCustomError("multidc", "{count} problems", {"count": len(problems), "problems": problems})


# --- sites -----------------------------------------------------------------------------

class SiteRole(str, Enum):
    primary = "primary"
    secondary = "secondary"
    backup = "backup"


class SeismicZone(str, Enum):
    low = "low"
    moderate = "moderate"
    high = "high"


class Cloud(_Model):
    """Where a site's OpenStack API is, and which project the platform lives in."""

    auth_url: Annotated[str, Field(pattern=r"^https?://")]
    region: str
    project: str
    domain: str = "Default"
    profile: Optional[str] = Field(
        None, description="clouds.yaml entry holding this site's credentials (defaults to the site's name)")
    on_prem: bool = Field(False, description="the customer's own OpenStack (hybrid stacks)")
    external_network: str = Field("ext-net", description="the provider network routers use as their gateway")
    dns_zone: Optional[str] = Field(None, description="Designate zone for service names, e.g. 'bank.kz.'")
    encrypted_volume_type: str = Field(
        "encrypted", description="the Cinder volume type with encryption at rest (LUKS), used for card data")


class Location(_Model):
    city: str
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]
    latitude: Annotated[float, Field(ge=-90, le=90)]
    longitude: Annotated[float, Field(ge=-180, le=180)]
    seismic_zone: SeismicZone = SeismicZone.low


class Site(_Model):
    name: Name
    role: SiteRole
    cloud: Cloud
    location: Location
    cidr: Cidr
    availability_zones: Annotated[list[str], Field(min_length=1)] = ["nova"]
    s3_endpoint: Annotated[str, Field(pattern=r"^https?://")]


class Witness(_Model):
    """A third location that votes on automatic failover, so a partition is not taken for a fire."""

    name: Name
    location: Location
    endpoint: Annotated[str, Field(pattern=r"^https?://")]


class IpsecPolicy(_Model):
    encryption: Literal["aes-256", "aes-192", "aes-128"] = "aes-256"
    auth: Literal["sha256", "sha384", "sha512", "sha1"] = "sha256"
    pfs: Literal["group14", "group15", "group16", "group19", "group20", "group21", "group5", "group2"] = "group14"
    ike_version: Literal["v1", "v2"] = "v2"
    lifetime_seconds: Annotated[int, Field(ge=600, le=86400)] = 3600


class Interconnect(_Model):
    kind: Literal["ipsec-vpn"] = "ipsec-vpn"
    ipsec: IpsecPolicy = IpsecPolicy()


# --- systems ---------------------------------------------------------------------------

class Kind(str, Enum):
    vm_group = "vm-group"
    postgres = "postgres"
    mysql = "mysql"
    redis = "redis"
    clickhouse = "clickhouse"
    bucket = "bucket"
    kubernetes = "kubernetes"
    ml_platform = "ml-platform"


DATABASE_KINDS = frozenset({Kind.postgres, Kind.mysql, Kind.redis, Kind.clickhouse})
# One writer at a time: a second writable copy in another site would diverge.
SINGLE_WRITER_KINDS = frozenset({Kind.postgres, Kind.mysql})
STATEFUL_KINDS = DATABASE_KINDS | {Kind.bucket, Kind.kubernetes, Kind.ml_platform}


class Tier(str, Enum):
    critical = "critical"
    important = "important"
    standard = "standard"


class Topology(str, Enum):
    active_active = "active-active"
    active_passive = "active-passive"
    backup_only = "backup-only"
    single_site = "single-site"


REPLICATED = frozenset({Topology.active_active, Topology.active_passive})


class ReplicationMode(str, Enum):
    sync = "sync"
    async_ = "async"


class DataClass(str, Enum):
    personal = "personal"
    payment_card = "payment-card"
    public = "public"


class Retention(_Model):
    daily: Annotated[int, Field(ge=0, le=366)] = 7
    weekly: Annotated[int, Field(ge=0, le=260)] = 4
    monthly: Annotated[int, Field(ge=0, le=120)] = 12


class BackupPolicy(_Model):
    schedule: Cron = "0 2 * * *"
    retention: Retention = Retention()
    immutable_days: Annotated[int, Field(ge=0, le=3650, description="object lock (compliance) days")] = 0
    offsite_site: Name


class GpuPool(_Model):
    """A Kubernetes node group of GPU servers, e.g. one A100 40 GB per node for LoRA fine-tuning."""

    name: Name
    flavor: str
    gpu_model: str = "A100-40GB"
    gpus_per_node: Annotated[int, Field(ge=1, le=16)] = 1
    min_nodes: Annotated[int, Field(ge=0)] = 0
    max_nodes: Annotated[int, Field(ge=1)] = 2

    @model_validator(mode="after")
    def _bounds(self) -> "GpuPool":
        if self.min_nodes > self.max_nodes:
            _problems([("min_nodes", f"min_nodes {self.min_nodes} is above max_nodes {self.max_nodes}")])
        return self


class Size(_Model):
    """How big a system is in a site that serves; a warm standby is derived from it."""

    flavor: str = "STD3-2-4"
    volume_gb: Annotated[int, Field(ge=1, le=65536)] = 50
    count: Annotated[int, Field(ge=1, le=500, description="VMs, database nodes or worker nodes")] = 1
    min_count: Optional[Annotated[int, Field(ge=0)]] = Field(None, description="autoscaling floor (kubernetes)")
    max_count: Optional[Annotated[int, Field(ge=1)]] = Field(None, description="autoscaling ceiling (kubernetes)")
    image: str = "ubuntu-22.04"
    engine_version: Optional[str] = None
    gpu_pools: list[GpuPool] = []

    @model_validator(mode="after")
    def _bounds(self) -> "Size":
        low = self.min_count if self.min_count is not None else self.count
        high = self.max_count if self.max_count is not None else self.count
        if not low <= self.count <= high:
            _problems([("count", f"count {self.count} is outside the autoscaling bounds {low}..{high}")])
        return self


class JupyterHub(_Model):
    enabled: bool = True
    gpu_profile: bool = True
    user_storage_gb: Annotated[int, Field(ge=1)] = 20
    authenticator: Literal["dummy", "native", "generic-oauth", "ldap"] = "native"
    max_users: Annotated[int, Field(ge=1)] = 50


class Mlflow(_Model):
    enabled: bool = True
    backend_db: Name = Field(description="a postgres system of this stack")
    artifact_bucket: Name = Field(description="a bucket system of this stack")


class ServedModel(_Model):
    """A model behind a REST API ("MLflow Deploy"); 2 CPU / 2 GiB served the users' churn model."""

    name: Name
    model_uri: str
    cpu: str = "2"
    memory: str = "2Gi"
    min_replicas: Annotated[int, Field(ge=1)] = 2
    max_replicas: Annotated[int, Field(ge=1)] = 10
    workers: Annotated[int, Field(ge=1, le=64)] = 4
    image: Optional[str] = Field(
        None, description="the model server's image, built from serving/Dockerfile by your CI and pinned by "
                          "tag or digest; default: multidc's serving image of this release")


class Spark(_Model):
    enabled: bool = True
    namespace: Name = "spark-jobs"


class MlPlatform(_Model):
    cluster: Name = Field(description="the kubernetes system the platform runs on")
    datasets: list[Name] = Field(
        [], description="bucket and database systems training reads; served from their copy in the ML site")
    site: Optional[Name] = Field(
        None, description="where training runs; default: the secondary site in active-passive (ML on replicas)")
    jupyterhub: JupyterHub = JupyterHub()
    mlflow: Optional[Mlflow] = None
    models: list[ServedModel] = []
    spark: Spark = Spark()


class System(_Model):
    name: Name
    kind: Kind
    tier: Tier = Tier.standard
    sites: Annotated[list[Name], Field(min_length=1, description="the first is the primary")]
    topology: Topology = Topology.single_site
    replication: Optional[ReplicationMode] = None
    rpo: Duration = timedelta(hours=24)
    rto: Duration = timedelta(hours=4)
    data_classes: list[DataClass] = []
    size: Size = Size()
    backup: Optional[BackupPolicy] = None
    ml: Optional[MlPlatform] = None

    @property
    def primary_site(self) -> str:
        return self.sites[0]

    @property
    def standby_sites(self) -> list[str]:
        return self.sites[1:] if self.topology in REPLICATED else []

    @property
    def is_database(self) -> bool:
        return self.kind in DATABASE_KINDS

    @property
    def is_stateful(self) -> bool:
        return self.kind in STATEFUL_KINDS

    @model_validator(mode="after")
    def _cross_field(self) -> "System":
        problems: list[tuple[str, str]] = []
        if len(set(self.sites)) != len(self.sites):
            problems.append(("sites", "a site is listed twice"))
        if self.topology in REPLICATED and len(self.sites) < 2:
            problems.append(("topology", f"{self.topology.value} needs at least two sites; {len(self.sites)} given"))
        if self.topology in (Topology.single_site, Topology.backup_only) and len(self.sites) != 1:
            problems.append(("sites", f"{self.topology.value} places the system in exactly one site; "
                                      f"{len(self.sites)} given"))
        if self.topology is Topology.active_active and self.kind in SINGLE_WRITER_KINDS:
            problems.append(("topology", f"active-active needs a multi-writer engine; {self.kind.value} has one "
                                         "writer (use active-passive)"))
        replicates_data = self.topology in REPLICATED and self.kind in DATABASE_KINDS
        if replicates_data and self.replication is None:
            problems.append(("replication", f"{self.topology.value} {self.kind.value} needs a replication mode: "
                                            "sync or async"))
        if self.replication is not None and not replicates_data:
            problems.append(("replication", "a replication mode applies only to a database placed active-active "
                                            "or active-passive"))
        if self.rpo == timedelta(0):
            if self.replication is ReplicationMode.async_:
                problems.append(("rpo", "RPO 0 needs synchronous replication; async loses the commits in flight"))
            elif not replicates_data and self.is_stateful:
                problems.append(("rpo", f"RPO 0 needs a synchronously replicated copy; {self.topology.value} "
                                        "has none"))
        if self.topology is Topology.backup_only and self.backup is None:
            problems.append(("backup", "backup-only needs a backup policy naming its offsite_site"))
        if self.kind is Kind.ml_platform and self.ml is None:
            problems.append(("ml", "an ml-platform system needs its 'ml' section (cluster, services)"))
        if self.ml is not None and self.kind is not Kind.ml_platform:
            problems.append(("ml", f"only an ml-platform system takes an 'ml' section; this is {self.kind.value}"))
        if self.backup is not None and self.kind is Kind.vm_group:
            problems.append(("backup", "a vm-group is rebuilt from its image, not restored; back up the data "
                                       "systems it uses (databases, buckets) or use the provider's Cloud Backup"))
        if self.kind in SINGLE_WRITER_KINDS and self.size.count > 1:
            problems.append(("size.count", f"a {self.kind.value} system is one writer per site; {self.size.count} "
                                           "instances would be independent, unreplicated databases: use count 1 "
                                           "and a larger flavor, or add a site for a replica"))
        if DataClass.payment_card in self.data_classes and self.kind in {Kind.redis, Kind.clickhouse}:
            problems.append(("data_classes", f"payment-card data needs TLS-only access, which managed "
                                             f"{self.kind.value} cannot enforce; keep card data in postgres or mysql"))
        if self.size.gpu_pools and self.kind is not Kind.kubernetes:
            problems.append(("size.gpu_pools", "GPU pools are node groups of a kubernetes system"))
        _problems(problems)
        return self


class Platform(_Model):
    """One stack: a platform across two or more sites."""

    name: Name
    sites: Annotated[list[Site], Field(min_length=2)]
    interconnect: Interconnect = Interconnect()
    witness: Optional[Witness] = None
    systems: Annotated[list[System], Field(min_length=1)]

    def site(self, name: str) -> Site:
        return next(site for site in self.sites if site.name == name)

    def system(self, name: str) -> System:
        return next(system for system in self.systems if system.name == name)

    @property
    def primary(self) -> Site:
        return next(site for site in self.sites if site.role is SiteRole.primary)

    def replicating_pairs(self) -> list[tuple[str, str]]:
        """Site pairs that carry replication or offsite backups, each once, in spec order."""
        order = [site.name for site in self.sites]
        pairs: set[tuple[str, str]] = set()
        for system in self.systems:
            linked = list(system.sites) if system.topology in REPLICATED else []
            if system.backup is not None:
                linked = list(dict.fromkeys([*system.sites, system.backup.offsite_site]))
            for i, a in enumerate(linked):
                for b in linked[i + 1:]:
                    pairs.add(tuple(sorted((a, b), key=order.index)))
        return sorted(pairs, key=lambda p: (order.index(p[0]), order.index(p[1])))

    @model_validator(mode="after")
    def _cross_field(self) -> "Platform":
        problems = self.reference_problems(self.model_dump(mode="json"))
        if not problems:
            problems = self._ml_placement_problems()
        _problems(problems)
        return self

    def _ml_placement_problems(self) -> list[tuple[str, str]]:
        """MLflow writes where it runs; training reads only copies present in its site."""
        problems = []
        for system in self.systems:
            if system.ml is None:
                continue
            site, path = self.ml_site(system), f"systems.{system.name}.ml"
            if system.ml.mlflow is not None and system.ml.mlflow.enabled:
                for field in ("backend_db", "artifact_bucket"):
                    store = self.system(getattr(system.ml.mlflow, field))
                    if store.primary_site != site:
                        problems.append((f"{path}.mlflow.{field}",
                                         f"MLflow writes to '{store.name}', whose primary is '{store.primary_site}'; "
                                         f"list '{site}' first in its sites so it is writable where ML runs"))
            for name in system.ml.datasets:
                if site not in self.system(name).sites:
                    problems.append((f"{path}.datasets", f"'{name}' has no copy in '{site}', where training runs"))
        return problems

    @staticmethod
    def reference_problems(data: dict) -> list[tuple[str, str]]:
        """Rules between sites and systems: names, references, CIDR overlap.

        Works on plain data, defensively, so that these problems are reported together
        with field errors elsewhere in the spec (a typo in one system must not hide a
        dangling reference in another).
        """
        def items(key: str) -> list[dict]:
            value = data.get(key)
            return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []

        problems: list[tuple[str, str]] = []
        sites, systems = items("sites"), items("systems")
        site_names = [s.get("name") for s in sites if isinstance(s.get("name"), str)]
        system_names = [s.get("name") for s in systems if isinstance(s.get("name"), str)]
        for name in sorted({n for n in site_names if site_names.count(n) > 1}):
            problems.append((f"sites.{name}", "duplicate site name"))
        for name in sorted({n for n in system_names if system_names.count(n) > 1}):
            problems.append((f"systems.{name}", "duplicate system name"))
        if sites and not any(s.get("role") == SiteRole.primary.value for s in sites):
            problems.append(("sites", "no site has role primary; name one"))
        networks = []
        for site in sites:
            try:
                networks.append((site.get("name"), ipaddress.IPv4Network(site.get("cidr"), strict=True)))
            except (ValueError, TypeError):
                continue
        for i, (a_name, a) in enumerate(networks):
            for b_name, b in networks[i + 1:]:
                if a.overlaps(b):
                    problems.append((f"sites.{b_name}.cidr",
                                     f"{b} overlaps {a} of site '{a_name}'; the VPN cannot route both"))
        known = ", ".join(site_names)
        by_name = {s.get("name"): s for s in systems}
        for system in systems:
            path = f"systems.{system.get('name')}"
            placed = system.get("sites") if isinstance(system.get("sites"), list) else []
            for site in placed:
                if isinstance(site, str) and site not in site_names:
                    problems.append((f"{path}.sites", f"unknown site '{site}'; known sites: {known}"))
            backup = system.get("backup") if isinstance(system.get("backup"), dict) else {}
            offsite = backup.get("offsite_site")
            if isinstance(offsite, str):
                if offsite not in site_names:
                    problems.append((f"{path}.backup.offsite_site", f"unknown site '{offsite}'; known sites: {known}"))
                elif placed and offsite == placed[0]:
                    problems.append((f"{path}.backup.offsite_site", f"'{offsite}' is the system's primary site; "
                                                                    "an offsite copy must be in another site"))
            if isinstance(system.get("ml"), dict):
                problems.extend(_ml_problems(path, system, by_name))
        problems.extend(_copy_runner_problems(systems, site_names))
        return problems

    def ml_site(self, system: System) -> str:
        """Where an ML platform trains: the spec's choice, else the replica site in active-passive."""
        if system.ml is not None and system.ml.site is not None:
            return system.ml.site
        if system.topology is Topology.active_passive:
            return system.sites[1]
        return system.primary_site


def copy_destinations(system: dict) -> list[str]:
    """Sites that pull a copy of this system's data: replica sites of a replicated bucket
    (both ways when active-active) and the offsite site of its backups."""
    placed = system.get("sites") if isinstance(system.get("sites"), list) else []
    sites: list[str] = []
    if system.get("kind") == Kind.bucket.value and system.get("topology") in {t.value for t in REPLICATED}:
        sites += placed if system.get("topology") == Topology.active_active.value else placed[1:]
    backup = system.get("backup")
    if isinstance(backup, dict) and isinstance(backup.get("offsite_site"), str):
        sites.append(backup["offsite_site"])
    return list(dict.fromkeys(s for s in sites if isinstance(s, str)))


def _copy_runner_problems(systems: list[dict], site_names: list[str]) -> list[tuple[str, str]]:
    """Copies are pulled by jobs in the destination site, so a cluster must be there to run them."""
    with_cluster = {site for system in systems if system.get("kind") == Kind.kubernetes.value
                    for site in (system.get("sites") or []) if isinstance(site, str)}
    problems = []
    for system in systems:
        for site in copy_destinations(system):
            if site in site_names and site not in with_cluster:
                field = "backup.offsite_site" if site == (system.get("backup") or {}).get("offsite_site") else "sites"
                problems.append((f"systems.{system.get('name')}.{field}",
                                 f"'{site}' receives copies but has no kubernetes system to run the pull jobs; "
                                 "place one there (a small single-site cluster is enough)"))
    return problems


def _ml_problems(path: str, system: dict, systems: dict[str, dict]) -> list[tuple[str, str]]:
    ml = system["ml"]
    path = f"{path}.ml"
    problems = []
    wanted = [("cluster", ml.get("cluster"), Kind.kubernetes)]
    mlflow = ml.get("mlflow")
    if isinstance(mlflow, dict) and mlflow.get("enabled", True):
        wanted += [("mlflow.backend_db", mlflow.get("backend_db"), Kind.postgres),
                   ("mlflow.artifact_bucket", mlflow.get("artifact_bucket"), Kind.bucket)]
    for field, ref, kind in wanted:
        target = systems.get(ref)
        if target is None or target.get("kind") != kind.value:
            problems.append((f"{path}.{field}", f"'{ref}' is not a {kind.value} system of this stack"))
    for ref in ml.get("datasets") or []:
        target = systems.get(ref)
        if target is None or target.get("kind") not in {Kind.bucket.value, *(k.value for k in DATABASE_KINDS)}:
            problems.append((f"{path}.datasets", f"'{ref}' is not a bucket or database system of this stack"))
    placed = system.get("sites") if isinstance(system.get("sites"), list) else []
    site = ml.get("site")
    if site is not None and site not in placed:
        problems.append((f"{path}.site", f"'{site}' is not one of the system's sites {placed}"))
    cluster = systems.get(ml.get("cluster"))
    hub = ml.get("jupyterhub") if isinstance(ml.get("jupyterhub"), dict) else {}
    pools = ((cluster or {}).get("size") or {}).get("gpu_pools") if isinstance(cluster, dict) else None
    if cluster is not None and hub.get("enabled", True) and hub.get("gpu_profile", True) and not pools:
        problems.append((f"{path}.jupyterhub.gpu_profile",
                         f"a GPU notebook profile needs a GPU pool on cluster '{ml.get('cluster')}'; add "
                         "size.gpu_pools there, or set gpu_profile: false"))
    if cluster is not None and isinstance(cluster.get("sites"), list):
        missing = [s for s in placed if s not in cluster["sites"]]
        if missing:
            problems.append((f"{path}.cluster", f"cluster '{ml.get('cluster')}' has no presence in {missing}"))
    return problems


# --- loading -----------------------------------------------------------------------------

class SpecError(Exception):
    """A spec that cannot be used, with every problem as (dotted path, reason)."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {path}: {reason}" for path, reason in problems)
        super().__init__(f"{source}: {len(problems)} problem(s) in the platform spec\n{lines}")


def _readable_path(loc: tuple, data: Any) -> list[str]:
    """Turn ('systems', 2, 'rpo') into ['systems', 'core-db', 'rpo'] using the items' names."""
    parts: list[str] = []
    node = data
    for part in loc:
        if isinstance(part, int) and isinstance(node, list) and part < len(node):
            item = node[part]
            named = isinstance(item, dict) and isinstance(item.get("name"), str)
            parts.append(item["name"] if named else str(part))
            node = item
        else:
            parts.append(str(part))
            node = node.get(part) if isinstance(node, dict) else None
    return parts


def problems_of(error: ValidationError, data: Any) -> list[tuple[str, str]]:
    """Every problem in a pydantic ValidationError as (dotted path, reason)."""
    problems: list[tuple[str, str]] = []
    for item in error.errors(include_url=False):
        # Tagged and function validators add their own names to the location: drop them.
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
        base = _readable_path(loc, data)
        nested = (item.get("ctx") or {}).get("problems")
        if item["type"] == "multidc" and nested:
            for sub, reason in nested:
                problems.append((".".join([*base, sub]) if base else sub, reason))
        elif item["type"] == "extra_forbidden":
            problems.append((".".join(base), "unknown field; check its spelling against the spec reference"))
        else:
            problems.append((".".join(base) or "platform", item["msg"]))
    return problems


def parse_platform(data: Any, source: str = "spec") -> Platform:
    """Validate a platform spec given as plain data; raise SpecError with every problem."""
    if not isinstance(data, dict):
        raise SpecError(source, [("platform", f"expected a mapping of sites and systems, got {type(data).__name__}")])
    try:
        return Platform.model_validate(data)
    except ValidationError as error:
        problems = problems_of(error, data)
        problems += [p for p in Platform.reference_problems(data) if p not in problems]
        raise SpecError(source, problems) from None


def stack_file(stack: str, root: Path | None = None) -> Path:
    root = root or Path(__file__).resolve().parent.parent
    return root / "stacks" / f"Pulumi.{stack}.yaml"


def read_stack_config(path: Path) -> dict[str, Any]:
    """The `config:` mapping of a Pulumi stack file, or SpecError naming the file."""
    source = str(path)
    if not path.is_file():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in path.parent.glob("Pulumi.*.yaml"))
        raise SpecError(source, [("stack", f"no such stack file; known stacks: {', '.join(known) or 'none'}")])
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise SpecError(source, [("yaml", str(error).replace("\n", " "))]) from None
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise SpecError(source, [("config", "the stack file has no 'config:' mapping")])
    return config


def load_stack(stack: str, root: Path | None = None) -> Platform:
    """Load and validate `stacks/Pulumi.<stack>.yaml`'s `multidc:platform`."""
    path = stack_file(stack, root)
    config = read_stack_config(path)
    if CONFIG_KEY not in config:
        raise SpecError(str(path), [(CONFIG_KEY, "missing; the platform spec lives under this config key")])
    return parse_platform(config[CONFIG_KEY], str(path))
