"""The figures the resilience assessment assumes, each with where it comes from.

Every RPO and RTO the assessment reports is built from the spec, the planned resource
graph and these figures, and its formula names them. Change one here and every verdict,
runbook and doc that uses it follows. Each carries its `kind`: `measured` by a benchmark
here (on local servers: a lower bound for a cloud, and said so), `cited` from a standard
or a documented default, this toolkit's own `default`, or `estimated` (no source yet:
only a drill on a real cloud can confirm it). A stack overrides any of them under
`assumptions:` in its spec, with a source (multidc.spec.assumptions); `figures(platform)`
gives the effective table, those marked `declared`. The plan, `--json` and the Markdown
runbooks show each figure with its kind and source.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Optional

from croniter import croniter

from multidc.spec import Platform


# Where a figure comes from: measured by a benchmark here, cited from a standard or a project's
# documented default, this toolkit's own configurable default, or estimated (no source yet:
# only a drill on a real cloud can confirm it); `declared` by the stack's spec, with its source.
MEASURED, CITED, DEFAULT, ESTIMATED, DECLARED = "measured", "cited", "default", "estimated", "declared"
KINDS = (MEASURED, CITED, DEFAULT, ESTIMATED, DECLARED)


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
# FENCE_S and PROMOTE_S: the worst of 18 steps each (core-db and cards-db PostgreSQL, sessions Redis; 3 runs in
# each of two modes) of `PYTHONPATH=. .venv/bin/python benchmarks/drill.py --stack kz-prod --runs 3 --triggers
# declared --modes own,sync`, 2026-12-02, load average 14-34 on 2 cores (other suites running). docs/dr.md.
_DRILL = ("`benchmarks/drill.py --stack kz-prod --runs 3 --triggers declared --modes own,sync`, 2026-12-02, "
          "2 cores at load average 14-34")
FENCE_S = _a(
    MEASURED, "FENCE_S", 0.04, "s",
    "measured locally (lower bound): the drill's db.fence steps of a SIGKILLed primary (it is marked to restart as a "
    f"standby), median 1.7 ms, worst 36 ms over 18 steps, {_DRILL}. A cloud fence that must change a security "
    "group or reach a live server takes longer: declare it")
PROMOTE_S = _a(
    MEASURED, "PROMOTE_S", 7.3, "s",
    "measured locally (lower bound): the drill's db.promote steps (PostgreSQL logical: detach, sequences, writable, "
    f"verified; Redis REPLICAOF NO ONE), median 3.3-3.7 s, worst 7.3 s over 18 steps, {_DRILL}. PostgreSQL's "
    "pg_promote() waits up to wait_seconds, 60 by default, for a promotion to finish")
RELAX_SYNC_S = _a(
    ESTIMATED, "RELAX_SYNC_S", 2, "s",
    "estimate: one ALTER SYSTEM + reload (multidc.protection.postgres.relax_synchronous); benchmarks/drill.py "
    "prints the db.relax steps it sees, but none ran on 2026-12-02: in kz-prod's own modes no sync standby of a "
    "surviving primary is lost, and with --modes sync the runbook (built from the spec, where mlflow-db is "
    "async) has no relax step, so the drill reports mlflow-db's writes blocked")
DNS_TTL_S = _a(
    DEFAULT, "DNS_TTL_S", 60, "s", "how long clients keep an address of a system whose name the stack does not "
    "declare (no dns_zone); declared names use their own TTL, a fifth of the RTO (multidc.spec.service_names)")
NODE_GROUP_SCALE_UP_S = _a(
    CITED, "NODE_GROUP_SCALE_UP_S", 900, "s",
    "upper bound: the Kubernetes Cluster Autoscaler's default --max-node-provision-time, 15m (its FAQ, "
    "'What are the parameters to CA?'; AKS and OpenShift document the same default): a node not ready by then "
    "counts as failed. A Magnum node group resize boots Nova servers that join as kubelets within that bound")
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
    MEASURED, "RESTORE_MB_S", 23, "MB/s",
    "measured locally (lower bound while a cloud's object storage and interconnect outrun two moto S3 processes on "
    "one 2-core machine, the limit here): multidc's bucket restore (parallel, MD5-verified), 2,000 objects "
    "(377 MiB) at 23.1 MiB/s, rclone 29.8 MiB/s in the same run, 2026-11-27, `benchmarks/restore.py --objects "
    "2000` (docs/benchmarks.md). A 1 Gbit/s interconnect carries at most ~119 MB/s; declare the stack's own rate "
    "from a restore test on its cloud. A database restore adds fixed costs (barman-cloud PITR of 20 MB: 34.8 s, "
    "docs/ransomware.md)")
RESTORE_PROVISION_S = _a(
    ESTIMATED, "RESTORE_PROVISION_S", 1200, "s",
    "estimate: pulumi up of a fresh instance/bucket in the surviving site before the data flows")
REBUILD_S = _a(
    ESTIMATED, "REBUILD_S", 1800, "s", "estimate: pulumi up of a stateless system from the spec in the surviving site")
WAL_REPLAY_RATIO = _a(
    ESTIMATED, "WAL_REPLAY_RATIO", 0.1, "x",
    "estimate: replaying the WAL written since the last base backup takes this share of the time it took "
    "to write, for an OLTP database writing well below its capacity (single-threaded redo; a write-saturated "
    "one replays near 1:1)")
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
    RESTORE_PROVISION_S, REBUILD_S, WAL_REPLAY_RATIO, DEFAULT_VOLUME_GB, RANSOMWARE_DETECTION_DAYS,
)

# The watcher's own settings (what automatic detection runs with), not assumptions about a cloud:
# a stack sets them where the watcher runs, not in `assumptions:`.
NOT_DECLARABLE = frozenset({LEASE_TTL_S.name, ETCD_ELECTION_S.name, WATCH_LOOP_S.name})


def spec_field(name: str) -> str:
    """The spec's name of a figure: `PROMOTE_S` is declared as `assumptions.promote_s`."""
    return name.lower()


@dataclass(frozen=True)
class Figures:
    """The figures one stack's verdicts and runbooks use: the table above, with what its spec declares."""

    items: tuple[Assumption, ...] = ALL

    def __getitem__(self, name: str) -> Assumption:
        found = next((a for a in self.items if a.name == name), None)
        if found is None:
            raise KeyError(f"no figure {name}; known: {', '.join(a.name for a in self.items)}")
        return found

    def value(self, name: str) -> float:
        return self[name].value

    def term(self, name: str) -> tuple[str, float]:
        """One term of an RTO formula: the figure's name and its value."""
        return name, self.value(name)

    def count(self, kind: str) -> int:
        return sum(1 for a in self.items if a.kind == kind)

    def to_json(self) -> list[dict]:
        return [{"name": a.name, "value": a.value, "unit": a.unit, "source": a.source, "kind": a.kind}
                for a in self.items]


def figures(platform: Optional[Platform]) -> Figures:
    """The effective figures of a stack: each one its spec declares under `assumptions:` replaces the default."""
    declared = platform.assumptions if platform is not None else None
    if declared is None:
        return Figures()
    items = []
    for default in ALL:
        given = getattr(declared, spec_field(default.name), None) if default.name not in NOT_DECLARABLE else None
        if given is None:
            items.append(default)
            continue
        value = given.value.total_seconds() if isinstance(given.value, timedelta) else float(given.value)
        items.append(replace(default, value=value, kind=DECLARED,
                             source=f"declared by stack {platform.name}: {given.source}"))
    return Figures(tuple(items))

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
