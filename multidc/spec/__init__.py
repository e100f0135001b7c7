"""The typed spec of one platform: its sites, the interconnect and its systems.

Read from the structured stack config key `multidc:platform`, validated once, at load,
by pydantic. Field rules live on the fields; cross-field rules (CIDR overlap, topology
vs engine, RPO vs replication mode, references between systems) live in the models'
validators. Every problem is reported at once as a dotted path and a short reason:

    systems.core-db.topology: active-active needs a multi-writer engine; postgres has one writer

By concept: `scalars` (names, durations, cron, CIDRs), `sites` (cloud, location,
witness, interconnect), `systems` (System, Size, backups, the ML platform), `platform`
(the Platform and the rules between its sites and systems), `load` (stack files,
SpecError and problem formatting).
"""

from multidc.spec.load import (
    CONFIG_KEY,
    SpecError,
    load_stack,
    parse_platform,
    problems_of,
    read_stack_config,
    stack_file,
)
from multidc.spec.platform import Platform, copy_destinations
from multidc.spec.scalars import Cidr, Cron, Duration, Name, format_duration, parse_duration
from multidc.spec.sites import Cloud, Interconnect, IpsecPolicy, Location, SeismicZone, Site, SiteRole, Witness
from multidc.spec.systems import (
    DATABASE_KINDS,
    REPLICATED,
    SINGLE_WRITER_KINDS,
    STATEFUL_KINDS,
    BackupPolicy,
    DataClass,
    GpuPool,
    JupyterHub,
    Kind,
    Mlflow,
    MlPlatform,
    ReplicationMode,
    Retention,
    ServedModel,
    Size,
    Spark,
    System,
    Tier,
    Topology,
)

__all__ = [
    "CONFIG_KEY", "SpecError", "load_stack", "parse_platform", "problems_of", "read_stack_config", "stack_file",
    "Platform", "copy_destinations",
    "Cidr", "Cron", "Duration", "Name", "format_duration", "parse_duration",
    "Cloud", "Interconnect", "IpsecPolicy", "Location", "SeismicZone", "Site", "SiteRole", "Witness",
    "DATABASE_KINDS", "REPLICATED", "SINGLE_WRITER_KINDS", "STATEFUL_KINDS", "BackupPolicy", "DataClass", "GpuPool",
    "JupyterHub", "Kind", "Mlflow", "MlPlatform", "ReplicationMode", "Retention", "ServedModel", "Size", "Spark",
    "System", "Tier", "Topology",
]
