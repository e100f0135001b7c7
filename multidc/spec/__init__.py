"""The typed spec of one platform: its sites, the interconnect and its systems.

Read from the structured stack config key `multidc:platform`, validated once, at load,
by pydantic. Field rules live on the fields; cross-field rules (CIDR overlap, topology
vs engine, RPO vs replication mode, references between systems) live in the models'
validators. Every problem is reported at once as a dotted path and a short reason:

    systems.core-db.topology: active-active needs a multi-writer engine; postgres has one writer

By concept: `scalars` (names, durations, cron, CIDRs, URLs, DNS zones, Kubernetes
quantities, versions: each checked as its target would), `sites` (cloud, location,
catalogue, witness, interconnect), `systems` (System, Size, backups, the ML platform),
`waivers` (accepted exceptions to policies), `assumptions` (the stack's own values
of the assessment's figures, each with its source), `platform` (the Platform and the rules
between its sites and systems), `secrets` (no plaintext secret anywhere in a stack
file), `errors` (SpecError, problems worded with the value, the rule and the fix),
`load` (stack files), `cloud` (the flavors and images a site's cloud really offers).
"""

from multidc.spec.assumptions import AmountFigure, Assumptions, DurationFigure
from multidc.spec.errors import SpecError, problems_of
from multidc.spec.load import CONFIG_KEY, config_problems, load_stack, parse_platform, read_stack_config, stack_file
from multidc.spec.platform import Platform, copy_destinations
from multidc.spec.scalars import (
    Cidr, CpuQuantity, Cron, DnsZone, Duration, MemoryQuantity, Name, Url, Version, format_duration, parse_duration,
)
from multidc.spec.sites import (
    Catalogue, Cloud, Interconnect, IpsecPolicy, Location, SeismicZone, Site, SiteRole, Witness,
)
from multidc.spec.systems import (
    DATABASE_KINDS,
    KUBERNETES_DEFAULT_IMAGE,
    REPLICATED,
    SERVER_KINDS,
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
from multidc.spec.waivers import Waiver

__all__ = [
    "AmountFigure", "Assumptions", "DurationFigure",
    "CONFIG_KEY", "SpecError", "config_problems", "load_stack", "parse_platform", "problems_of", "read_stack_config",
    "stack_file", "Platform", "copy_destinations",
    "Cidr", "CpuQuantity", "Cron", "DnsZone", "Duration", "MemoryQuantity", "Name", "Url", "Version",
    "format_duration", "parse_duration",
    "Catalogue", "Cloud", "Interconnect", "IpsecPolicy", "Location", "SeismicZone", "Site", "SiteRole", "Witness",
    "DATABASE_KINDS", "KUBERNETES_DEFAULT_IMAGE", "REPLICATED", "SERVER_KINDS", "SINGLE_WRITER_KINDS",
    "STATEFUL_KINDS", "BackupPolicy", "DataClass", "GpuPool",
    "JupyterHub", "Kind", "Mlflow", "MlPlatform", "ReplicationMode", "Retention", "ServedModel", "Size", "Spark",
    "System", "Tier", "Topology", "Waiver",
]
