"""A stack's own figures: what it knows better than the defaults the assessment assumes.

Every RPO and RTO the assessment reports, and some runbook settings (the DNS TTL), come
from the spec, the planned graph and a table of figures (`multidc/dr/assumptions.py`:
each measured, cited, a default or an estimate). A stack that has measured one on its own
cloud, or has a provider's figure in writing, declares it here, with where it comes from:

    assumptions:
      promote_s: {value: 4s, source: "drill on kz-prod 2026-11-03, worst of 5 runs"}
      restore_mb_s: {value: 250, source: "QazCloud S3 restore test, ticket OPS-1182"}

Durations take the spec's units (`4s`, `10m`) or a number of seconds; the others a positive
number in the unit named below. `source` is required: the plan and the runbooks print it
next to the figure, marked `declared`. A name that is not a figure is refused with the
names that are.
"""

from __future__ import annotations

from typing import Annotated, Optional

from pydantic import Field

from multidc.spec.scalars import Duration, NonBlank, SpecModel

Positive = Annotated[float, Field(gt=0)]
SOURCE = "where the figure comes from: a measurement (what, where, when) or a document a reviewer can read"


class DurationFigure(SpecModel):
    """A duration the stack declares, and its source."""

    value: Duration
    source: NonBlank = Field(description=SOURCE)


class AmountFigure(SpecModel):
    """A positive amount (km, MB/s, GB, days) the stack declares, and its source."""

    value: Positive
    source: NonBlank = Field(description=SOURCE)


def _duration(what: str) -> object:
    return Field(None, description=f"duration: {what}")


def _amount(unit: str, what: str) -> object:
    return Field(None, description=f"{unit}: {what}")


class Assumptions(SpecModel):
    """Per-stack values of the assessment's figures; each field is one figure, lower-case."""

    failure_domain_km: Optional[AmountFigure] = _amount("km", "sites closer than this fail together")
    earthquake_radius_km: Optional[AmountFigure] = _amount("km", "sites this close to an epicentre are lost")
    seismic_region_km: Optional[AmountFigure] = _amount("km", "high-zone sites this close share a fault system")
    operator_declaration_s: Optional[DurationFigure] = _duration("a human declares the site lost (no witness)")
    health_check_detection_s: Optional[DurationFigure] = _duration("load balancer health checks drop a member")
    fence_s: Optional[DurationFigure] = _duration("the old primary stops taking writes")
    promote_s: Optional[DurationFigure] = _duration("a standby becomes the primary")
    relax_sync_s: Optional[DurationFigure] = _duration("a primary stops waiting for its lost sync standby")
    dns_ttl_s: Optional[DurationFigure] = _duration("TTL the DNS failover step sets (resolvers forget the old site)")
    node_group_scale_up_s: Optional[DurationFigure] = _duration("a warm standby cluster's node groups reach full size")
    vm_boot_s: Optional[DurationFigure] = _duration("a scaled-down VM group's missing members boot")
    host_evacuation_s: Optional[DurationFigure] = _duration("the provider restarts a dead hypervisor's VM elsewhere")
    pod_eviction_s: Optional[DurationFigure] = _duration("Kubernetes evicts pods from an unreachable node")
    async_lag_s: Optional[DurationFigure] = _duration("how far an asynchronous standby may trail its primary")
    restore_mb_s: Optional[AmountFigure] = _amount("MB/s", "sustained restore rate into the surviving site")
    restore_provision_s: Optional[DurationFigure] = _duration("a fresh instance or bucket exists before data flows")
    rebuild_s: Optional[DurationFigure] = _duration("a stateless system is rebuilt from the spec")
    wal_replay_ratio: Optional[AmountFigure] = _amount(
        "x", "time to replay the WAL since the last base backup, as a share of the time it took to write")
    default_volume_gb: Optional[AmountFigure] = _amount("GB", "data volume when neither spec nor graph states one")
    ransomware_detection_days: Optional[AmountFigure] = _amount("days", "an attack goes unnoticed this long")
