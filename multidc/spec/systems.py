"""Systems: what runs in the sites (databases, buckets, clusters, the ML platform), their
size, backups and per-system cross-field rules."""

from __future__ import annotations

from datetime import timedelta
from enum import Enum
from typing import Annotated, Literal, Optional

from pydantic import Field, model_validator

from multidc.spec.scalars import (
    CpuQuantity, Cron, Duration, MemoryQuantity, Name, NonBlank, SpecModel, Version, duplicate_problems,
    order_problems, raise_problems,
)


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
# Kinds that boot servers of a flavor in each of their sites (buckets and the ML platform do not).
SERVER_KINDS = DATABASE_KINDS | {Kind.vm_group, Kind.kubernetes}
# Magnum's Kubernetes drivers boot Fedora CoreOS; the spec's default VM image does not apply.
KUBERNETES_DEFAULT_IMAGE = "fedora-coreos-40"


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


class Retention(SpecModel):
    daily: Annotated[int, Field(ge=0, le=366)] = 7
    weekly: Annotated[int, Field(ge=0, le=260)] = 4
    monthly: Annotated[int, Field(ge=0, le=120)] = 12

    @property
    def longest_days(self) -> int:
        """The age, in days, at which the oldest kept backup may go."""
        return max(self.daily, self.weekly * 7, self.monthly * 31, 1)

    @model_validator(mode="after")
    def _keeps_something(self) -> "Retention":
        if not (self.daily or self.weekly or self.monthly):
            raise_problems([("daily", "every retention tier is 0, so no backup is kept; keep at least one "
                                      "(e.g. daily: 7)")])
        return self


class BackupPolicy(SpecModel):
    schedule: Cron = "0 2 * * *"
    retention: Retention = Retention()
    immutable_days: Annotated[int, Field(ge=0, le=3650, description="object lock (compliance) days")] = 0
    offsite_site: Name
    delayed_standby: Optional[Duration] = Field(
        None, description="PostgreSQL: a standby in the offsite site replaying the vault's WAL this far behind; "
                          "a ransomware attack found within it is undone by promoting it at a time before the attack")

    @model_validator(mode="after")
    def _lock_within_retention(self) -> "BackupPolicy":
        if self.immutable_days > self.retention.longest_days:
            raise_problems([("immutable_days", f"immutable_days {self.immutable_days} locks backups longer than "
                                               f"the retention keeps them ({self.retention.longest_days} days); "
                                               "lower immutable_days or lengthen the retention")])
        return self


class GpuPool(SpecModel):
    """A Kubernetes node group of GPU servers, e.g. one A100 40 GB per node for LoRA fine-tuning."""

    name: Name
    flavor: str
    gpu_model: str = "A100-40GB"
    gpus_per_node: Annotated[int, Field(ge=1, le=16)] = 1
    min_nodes: Annotated[int, Field(ge=0)] = 0
    max_nodes: Annotated[int, Field(ge=1)] = 2

    @model_validator(mode="after")
    def _bounds(self) -> "GpuPool":
        raise_problems(order_problems(("min_nodes", self.min_nodes), ("max_nodes", self.max_nodes)))
        return self


class Size(SpecModel):
    """How big a system is in a site that serves; a warm standby is derived from it."""

    flavor: str = "STD3-2-4"
    volume_gb: Annotated[int, Field(ge=1, le=65536)] = 50
    count: Annotated[int, Field(ge=1, le=500, description="VMs, database nodes or worker nodes")] = 1
    min_count: Optional[Annotated[int, Field(ge=0)]] = Field(None, description="autoscaling floor (kubernetes)")
    max_count: Optional[Annotated[int, Field(ge=1)]] = Field(None, description="autoscaling ceiling (kubernetes)")
    image: str = "ubuntu-22.04"
    engine_version: Optional[Version] = None
    gpu_pools: list[GpuPool] = []

    @model_validator(mode="after")
    def _bounds(self) -> "Size":
        raise_problems(order_problems(("min_count", self.min_count), ("count", self.count),
                                      ("max_count", self.max_count))
                       + duplicate_problems("gpu_pools", [pool.name for pool in self.gpu_pools], "GPU pool"))
        return self


# Who may resolve an ML platform endpoint's service name: `private` (the site networks and the VPN) or
# `public` (a floating IP); multidc.spec.service_names.
EndpointVisibility = Literal["private", "public"]
VISIBILITY_HELP = "private (reached over the site networks and the VPN) or public (a floating IP)"


class JupyterHub(SpecModel):
    enabled: bool = True
    visibility: EndpointVisibility = Field("private", description=VISIBILITY_HELP)
    gpu_profile: bool = True
    user_storage_gb: Annotated[int, Field(ge=1)] = 20
    authenticator: Literal["dummy", "native", "generic-oauth", "ldap"] = "native"
    max_users: Annotated[int, Field(ge=1)] = 50


class Mlflow(SpecModel):
    enabled: bool = True
    visibility: EndpointVisibility = Field("private", description=VISIBILITY_HELP)
    backend_db: Name = Field(description="a postgres system of this stack")
    artifact_bucket: Name = Field(description="a bucket system of this stack")


class ServedModel(SpecModel):
    """A model behind a REST API ("MLflow Deploy"); 2 CPU / 2 GiB served the users' churn model."""

    name: Name
    model_uri: str
    cpu: CpuQuantity = "2"
    memory: MemoryQuantity = "2Gi"
    min_replicas: Annotated[int, Field(ge=1)] = 2
    max_replicas: Annotated[int, Field(ge=1)] = 10
    workers: Annotated[int, Field(ge=1, le=64)] = 4
    visibility: EndpointVisibility = Field("private", description=VISIBILITY_HELP)
    image: Optional[str] = Field(
        None, description="the model server's image, built from serving/Dockerfile by your CI and pinned by "
                          "tag or digest; default: multidc's serving image of this release")

    @model_validator(mode="after")
    def _bounds(self) -> "ServedModel":
        raise_problems(order_problems(("min_replicas", self.min_replicas), ("max_replicas", self.max_replicas)))
        return self


class Spark(SpecModel):
    enabled: bool = True
    namespace: Name = "spark-jobs"


class MlPlatform(SpecModel):
    cluster: Name = Field(description="the kubernetes system the platform runs on")
    datasets: list[Name] = Field(
        [], description="bucket and database systems training reads; served from their copy in the ML site")
    site: Optional[Name] = Field(
        None, description="where training runs; default: the secondary site in active-passive (ML on replicas)")
    jupyterhub: JupyterHub = JupyterHub()
    mlflow: Optional[Mlflow] = None
    models: list[ServedModel] = []
    spark: Spark = Spark()

    @model_validator(mode="after")
    def _unique_models(self) -> "MlPlatform":
        raise_problems(duplicate_problems("models", [model.name for model in self.models], "served model"))
        return self


class System(SpecModel):
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
    stateless: bool = Field(False, description="holds nothing worth a backup (a cache, a job runner)")
    stateless_reason: Optional[NonBlank] = Field(None, description="why nothing is lost with it; required "
                                                                   "with stateless: true")

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

    def flavors(self) -> list[tuple[str, str]]:
        """(path under the system, flavor) of every server flavor it boots in each of its sites."""
        if self.kind not in SERVER_KINDS:
            return []
        return [("size.flavor", self.size.flavor)] + [
            (f"size.gpu_pools.{pool.name}.flavor", pool.flavor) for pool in self.size.gpu_pools]

    @property
    def boot_image(self) -> Optional[str]:
        """The image its servers boot: its own for VMs; for clusters Magnum's default unless one is set."""
        if self.kind is Kind.vm_group:
            return self.size.image
        if self.kind is Kind.kubernetes:
            return self.size.image if "image" in self.size.model_fields_set else KUBERNETES_DEFAULT_IMAGE
        return None

    def images(self) -> list[tuple[str, str]]:
        """(path under the system, image) of every image it boots servers from."""
        return [("size.image", self.boot_image)] if self.boot_image is not None else []

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
        if self.backup is not None and self.backup.delayed_standby is not None:
            if self.kind is not Kind.postgres:
                problems.append(("backup.delayed_standby", f"a delayed standby replays PostgreSQL's WAL archive; "
                                                           f"{self.kind.value} has none: drop delayed_standby"))
            elif self.backup.delayed_standby <= timedelta(0):
                problems.append(("backup.delayed_standby", "the delay must be positive, e.g. 1h"))
            elif self.backup.immutable_days == 0:
                problems.append(("backup.delayed_standby", "the delayed standby replays the locked vault; set "
                                                           "immutable_days so the WAL it replays cannot be altered"))
        if self.kind in SINGLE_WRITER_KINDS and self.size.count > 1:
            problems.append(("size.count", f"a {self.kind.value} system is one writer per site; {self.size.count} "
                                           "instances would be independent, unreplicated databases: use count 1 "
                                           "and a larger flavor, or add a site for a replica"))
        if DataClass.payment_card in self.data_classes and self.kind in {Kind.redis, Kind.clickhouse}:
            problems.append(("data_classes", f"payment-card data needs TLS-only access, which managed "
                                             f"{self.kind.value} cannot enforce; keep card data in postgres or mysql"))
        if self.size.gpu_pools and self.kind is not Kind.kubernetes:
            problems.append(("size.gpu_pools", "GPU pools are node groups of a kubernetes system"))
        problems += self._stateless_problems()
        raise_problems(problems)
        return self

    def _stateless_problems(self) -> list[tuple[str, str]]:
        """`stateless` lets the policy pack skip the backup rules; it must say why, and mean it."""
        if not self.stateless:
            if self.stateless_reason is not None:
                return [("stateless_reason", "given without stateless: true; set stateless: true or drop the reason")]
            return []
        problems = []
        if self.stateless_reason is None:
            problems.append(("stateless_reason", "stateless: true needs a stateless_reason saying why nothing is lost "
                                                 "with it (e.g. 'session cache, rebuilt on login')"))
        if self.kind is Kind.bucket:
            problems.append(("stateless", "a bucket exists to keep data; it cannot be stateless"))
        if self.backup is not None:
            problems.append(("stateless", "a stateless system has nothing to back up; drop its backup or stateless"))
        return problems

