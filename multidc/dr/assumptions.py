"""The figures the resilience assessment assumes, each with where it comes from.

Every RPO and RTO the assessment reports is built from the spec, the planned resource
graph and these constants, and its formula names them. Change one here and every
verdict, runbook and doc that uses it follows. Figures measured in this repository
(`benchmarks/drill.py`) are marked so; the rest are estimates for an OpenStack cloud
that only a drill on a real cloud can confirm. Each carries its `kind` (measured, cited,
default, estimated), which the Markdown runbooks show next to the matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from croniter import croniter


# Where a figure comes from: measured by a benchmark here, cited from a standard or a project's
# documented default, this toolkit's own configurable default, or estimated (no source yet:
# only a drill on a real cloud can confirm it).
MEASURED, CITED, DEFAULT, ESTIMATED = "measured", "cited", "default", "estimated"


@dataclass(frozen=True)
class Assumption:
    """A named figure, where it comes from (`kind`) and its source."""

    name: str
    value: float
    unit: str
    source: str
    kind: str


def _a(kind: str, name: str, value: float, unit: str, source: str) -> Assumption:
    return Assumption(name, value, unit, source, kind)


# --- geography -------------------------------------------------------------------------------
FAILURE_DOMAIN_KM = _a(
    CITED, "FAILURE_DOMAIN_KM", 100, "km",
    "BSI: georedundant data centers never less than 100 km apart; closer sites count as one failure domain")
EARTHQUAKE_RADIUS_KM = _a(
    ESTIMATED, "EARTHQUAKE_RADIUS_KM", 100, "km",
    "estimate: strong shaking (MMI VIII+) of a M7 crustal earthquake reaches tens of km; 100 km with margin")
SEISMIC_REGION_KM = _a(
    ESTIMATED, "SEISMIC_REGION_KM", 500, "km",
    "estimate: sites in a high seismic zone within this distance sit on the same fault system "
    "(e.g. the Northern Tien Shan) and are assumed lost together")

# --- detection and decision ------------------------------------------------------------------
LEASE_TTL_S = _a(
    DEFAULT, "LEASE_TTL_S", 3, "s", "`multidc watch --ttl` default: the primary site's etcd lease (multidc.ops.watch)")
ETCD_ELECTION_S = _a(
    CITED, "ETCD_ELECTION_S", 1, "s",
    "etcd's default election timeout, 1000 ms (etcd.io/docs tuning): a lost site's member may have been the "
    "leader, and the new leader restarts every lease's TTL once elected")
WATCH_LOOP_S = _a(
    DEFAULT, "WATCH_LOOP_S", 1, "s",
    "one round of `multidc watch`: TTL / 6 of sleep (0.5 s) plus its etcd calls, rounded up (multidc.ops.watch)")
OPERATOR_DECLARATION_S = _a(
    ESTIMATED, "OPERATOR_DECLARATION_S", 900, "s",
    "estimate: page the on-call engineer, confirm the site is lost, decide (no witness: no automatic failover)")
HEALTH_CHECK_DETECTION_S = _a(
    CITED, "HEALTH_CHECK_DETECTION_S", 30, "s",
    "3 failed health checks at a 10 s interval (Octavia health monitor / DNS health check defaults)")

# --- failover steps --------------------------------------------------------------------------
FENCE_S = _a(
    ESTIMATED, "FENCE_S", 5, "s", "estimate: one SQL reload or one security-group change; below 1 s in benchmarks/drill.py")
PROMOTE_S = _a(
    ESTIMATED, "PROMOTE_S", 10, "s",
    "estimate for a loaded server: pg_promote + checkpoint; about 1 s on idle local servers in benchmarks/drill.py")
RELAX_SYNC_S = _a(
    ESTIMATED, "RELAX_SYNC_S", 2, "s", "one ALTER SYSTEM + reload (multidc.protection.postgres.relax_synchronous)")
DNS_TTL_S = _a(
    DEFAULT, "DNS_TTL_S", 60, "s", "the TTL the runbook sets on Designate recordsets of failover names")
NODE_GROUP_SCALE_UP_S = _a(
    ESTIMATED, "NODE_GROUP_SCALE_UP_S", 600, "s",
    "estimate: Magnum node group resize (Nova boot + kubelet join) for a warm standby cluster")
VM_BOOT_S = _a(
    ESTIMATED, "VM_BOOT_S", 300, "s", "estimate: Nova boot of a scaled-down VM group's missing members, image cached")
HOST_EVACUATION_S = _a(
    ESTIMATED, "HOST_EVACUATION_S", 900, "s",
    "estimate: provider's instance HA (Masakari / nova evacuate) restarts a VM of a dead hypervisor")
POD_EVICTION_S = _a(
    CITED, "POD_EVICTION_S", 300, "s",
    "Kubernetes default tolerationSeconds for node.kubernetes.io/unreachable (DefaultTolerationSeconds)")
ASYNC_LAG_S = _a(
    ESTIMATED, "ASYNC_LAG_S", 5, "s",
    "estimate: healthy asynchronous streaming across ~1000 km (tens of ms RTT) stays below this; alert above it")

# --- restore ---------------------------------------------------------------------------------
RESTORE_MB_S = _a(
    ESTIMATED, "RESTORE_MB_S", 100, "MB/s",
    "estimate: sustained restore over a 1 Gbit/s interconnect (~119 MB/s line rate) less protocol overhead")
RESTORE_PROVISION_S = _a(
    ESTIMATED, "RESTORE_PROVISION_S", 1200, "s",
    "estimate: pulumi up of a fresh instance/bucket in the surviving site before the data flows")
REBUILD_S = _a(
    ESTIMATED, "REBUILD_S", 1800, "s", "estimate: pulumi up of a stateless system from the spec in the surviving site")
DEFAULT_VOLUME_GB = _a(
    DEFAULT, "DEFAULT_VOLUME_GB", 50, "GB", "multidc.spec.Size default volume_gb, used when the graph states none")

# --- ransomware ------------------------------------------------------------------------------
RANSOMWARE_DETECTION_DAYS = _a(
    CITED, "RANSOMWARE_DETECTION_DAYS", 10, "days",
    "Mandiant M-Trends 2024: global median attacker dwell time 10 days; a copy locked for less may "
    "expire, or be deleted by the attacker, before the attack is found")

ALL: tuple[Assumption, ...] = (
    FAILURE_DOMAIN_KM, EARTHQUAKE_RADIUS_KM, SEISMIC_REGION_KM, LEASE_TTL_S, ETCD_ELECTION_S, WATCH_LOOP_S,
    OPERATOR_DECLARATION_S, HEALTH_CHECK_DETECTION_S, FENCE_S, PROMOTE_S, RELAX_SYNC_S, DNS_TTL_S,
    NODE_GROUP_SCALE_UP_S, VM_BOOT_S, HOST_EVACUATION_S, POD_EVICTION_S, ASYNC_LAG_S, RESTORE_MB_S,
    RESTORE_PROVISION_S, REBUILD_S, DEFAULT_VOLUME_GB, RANSOMWARE_DETECTION_DAYS,
)

_CRON_ORIGIN = datetime(2024, 1, 1, tzinfo=timezone.utc)  # a Monday: a fixed week makes results repeatable


def cron_interval_s(schedule: str) -> float:
    """The longest gap between two runs of a cron schedule over one week, in seconds.

    The worst case is what bounds an RPO: '0 */6 * * *' gives 21600, '0 2 * * 1-5' gives
    the weekend gap (259200), not the weekday one.
    """
    runs = croniter(schedule, _CRON_ORIGIN)
    times = [runs.get_next(datetime) for _ in range(2)]
    week_end = _CRON_ORIGIN.timestamp() + 7 * 86400
    while times[-1].timestamp() < week_end:
        times.append(runs.get_next(datetime))
    return max(b.timestamp() - a.timestamp() for a, b in zip(times, times[1:]))
