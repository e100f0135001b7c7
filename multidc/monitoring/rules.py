"""Alert rules generated from each system's targets: one Prometheus rule group per system.

Pure functions over the validated spec. What each system gets follows from what it is:

* a replicated PostgreSQL, MySQL or Redis system: its replication lag above the RPO target
  (never below `LAG_FLOOR_S`: a standby confirms every 10 s, so an RPO of 0 is watched at
  that floor) and a standby that stopped replicating;
* a PostgreSQL primary: archived WAL older than `ARCHIVE_MAX_AGE_S`;
* a system with a backup policy: its last successful backup older than the schedule allows
  (the longest gap between two runs of its cron, plus half of it for the job to finish);
* a replicated bucket: each copy's last successful run older than the bucket's RPO;
* the stack: the witness unreachable, and a certificate of the witness or of a public
  service name expiring within `CERT_WARNING_S`.

Every alert carries the labels ``system``, ``tier`` and ``severity`` (from the tier), which
Alertmanager routes on (`multidc.monitoring.routes`). `multidc plan` lists the rules; the
monitoring release loads them; `promtool test rules` tests every group (tests/monitoring).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

from croniter import croniter

from multidc import spec
from multidc.monitoring import metrics as m

LAG_FLOOR_S = 30
STANDBY_MEMORY = "1h"  # how long Prometheus remembers a standby that stopped confirming
ARCHIVE_MAX_AGE_S = 15 * 60
CERT_WARNING_S = 14 * 86400
STACK_GROUP = "stack"
SEVERITY = {spec.Tier.critical: "page", spec.Tier.important: "page", spec.Tier.standard: "ticket"}
# How long a condition must hold before it alerts, per tier: a critical system pages sooner.
FOR = {spec.Tier.critical: "1m", spec.Tier.important: "5m", spec.Tier.standard: "15m"}
_CRON_SAMPLE_RUNS = 400
CLUSTER_KINDS = frozenset({spec.Kind.kubernetes, spec.Kind.ml_platform})


@dataclass(frozen=True)
class Alert:
    """One alerting rule, with what it watches and its threshold (seconds; None if a state)."""

    name: str
    expr: str
    for_: str
    labels: dict[str, str]
    summary: str
    watches: str  # replication-lag, standby-stopped, archive-age, backup-age, copy-age, witness, certificate
    threshold_s: Optional[int] = None
    selector: dict[str, str] = field(default_factory=dict)

    def to_rule(self) -> dict[str, Any]:
        return {"alert": self.name, "expr": self.expr, "for": self.for_, "labels": dict(self.labels),
                "annotations": {"summary": self.summary}}


@dataclass(frozen=True)
class RuleGroup:
    name: str
    system: Optional[str]
    alerts: tuple[Alert, ...]

    def to_group(self) -> dict[str, Any]:
        return {"name": self.name, "rules": [alert.to_rule() for alert in self.alerts]}


def longest_gap_s(schedule: str) -> int:
    """The longest time between two consecutive runs of a cron schedule, in seconds."""
    runs = croniter(schedule, datetime(2024, 1, 1))
    previous = runs.get_next(datetime)
    longest = 0
    for _ in range(_CRON_SAMPLE_RUNS):
        current = runs.get_next(datetime)
        longest = max(longest, int((current - previous).total_seconds()))
        previous = current
    return longest


def backup_max_age_s(schedule: str) -> int:
    """How old the last successful backup may be: the longest gap, plus half of it to finish."""
    gap = longest_gap_s(schedule)
    return gap + gap // 2


def _selector(**labels: str) -> str:
    return "{" + ", ".join(f'{key}="{value}"' if not key.endswith("_re") else f'{key[:-3]}=~"{value}"'
                           for key, value in labels.items()) + "}"


def _camel(system: str) -> str:
    return "".join(part.capitalize() for part in system.replace("_", "-").split("-"))


def _labels(system: spec.System) -> dict[str, str]:
    return {"system": system.name, "tier": system.tier.value, "severity": SEVERITY[system.tier]}


def _replication(system: spec.System) -> list[Alert]:
    threshold = max(LAG_FLOOR_S, int(system.rpo.total_seconds()))
    name, labels, wait = _camel(system.name), _labels(system), FOR[system.tier]
    rpo = spec.format_duration(system.rpo)
    on = _selector(system=system.name)
    if system.kind is spec.Kind.postgres:
        seen = f"max_over_time({m.PG_REPLY_TIMESTAMP}{on}[{STANDBY_MEMORY}])"
        lag = f"time() - max by (system, standby) ({seen})"
        stopped = f"max by (system, standby) ({seen}) unless on (system, standby) {m.PG_REPLY_TIMESTAMP}{on}"
    elif system.kind is spec.Kind.mysql:
        lag = f"max by (system, site) ({m.MYSQL_BEHIND}{on})"
        stopped = f"max by (system, site) ({m.MYSQL_IO_RUNNING}{on}) == 0"
    else:  # redis
        lag = f"max by (system, site) ({m.REDIS_LAST_IO}{on})"
        stopped = f"max by (system, site) ({m.REDIS_LINK_UP}{on}) == 0"
    return [
        Alert(f"{name}ReplicationLagAboveRpo", f"{lag} > {threshold}", wait, labels,
              f"{system.name}: a standby is more than {threshold}s behind (RPO {rpo}); losing the primary now "
              "would lose more than the target allows", "replication-lag", threshold),
        Alert(f"{name}StandbyNotReplicating", stopped, wait, labels,
              f"{system.name}: a standby stopped replicating; the system has no current copy in another site",
              "standby-stopped"),
    ]


def _archive(system: spec.System) -> Alert:
    on = _selector(system=system.name, role="primary")
    return Alert(f"{_camel(system.name)}WalArchiveStale", f"max by (system) ({m.PG_ARCHIVE_AGE}{on}) > "
                 f"{ARCHIVE_MAX_AGE_S}", FOR[system.tier], _labels(system),
                 f"{system.name}: no WAL segment archived for more than {ARCHIVE_MAX_AGE_S}s; point-in-time "
                 "restore would lose everything since", "archive-age", ARCHIVE_MAX_AGE_S)


def _backup(system: spec.System) -> Alert:
    assert system.backup is not None
    allowed = backup_max_age_s(system.backup.schedule)
    if system.kind in CLUSTER_KINDS:  # Velero's schedule, not a CronJob of ours
        on = _selector(schedule=m.VELERO_REGULAR_SCHEDULE.format(system=system.name))
        last = f"max by (site, schedule) ({m.VELERO_LAST_SUCCESS}{on})"  # each cluster's Velero
    else:
        on = _selector(cronjob_re=f"{system.name}-backup-.*")
        last = f"max by (cronjob) ({m.CRONJOB_LAST_SUCCESS}{on})"
    return Alert(f"{_camel(system.name)}BackupStale", f"time() - {last} > {allowed}", FOR[system.tier],
                 _labels(system),
                 f"{system.name}: the last successful backup is older than its schedule "
                 f"'{system.backup.schedule}' allows ({allowed}s)", "backup-age", allowed)


def _copy(system: spec.System) -> Alert:
    threshold = max(LAG_FLOOR_S, int(system.rpo.total_seconds()))
    on = _selector(cronjob_re=f"{system.name}-copy-.*")
    return Alert(f"{_camel(system.name)}BucketCopyLagAboveRpo", f"time() - max by (cronjob) "
                 f"({m.CRONJOB_LAST_SUCCESS}{on}) > {threshold}", FOR[system.tier], _labels(system),
                 f"{system.name}: a bucket copy last succeeded more than {threshold}s ago (RPO "
                 f"{spec.format_duration(system.rpo)})", "copy-age", threshold)


def system_group(system: spec.System) -> Optional[RuleGroup]:
    """The rules of one system; None when nothing of it is watched (a VM group, a single cluster)."""
    alerts: list[Alert] = []
    replicated = system.topology in spec.REPLICATED
    if replicated and system.kind in (spec.Kind.postgres, spec.Kind.mysql, spec.Kind.redis):
        alerts += _replication(system)
    if system.kind is spec.Kind.postgres:
        alerts.append(_archive(system))
    if system.backup is not None and system.kind is not spec.Kind.vm_group:
        alerts.append(_backup(system))
    if replicated and system.kind is spec.Kind.bucket:
        alerts.append(_copy(system))
    if not alerts:
        return None
    return RuleGroup(f"multidc-{system.name}", system.name, tuple(alerts))


def stack_group(platform: spec.Platform) -> Optional[RuleGroup]:
    """The witness's reachability and certificate: what automatic failover depends on."""
    witness = platform.witness
    if witness is None:
        return None
    labels = {"system": STACK_GROUP, "tier": spec.Tier.critical.value, "severity": SEVERITY[spec.Tier.critical]}
    on = _selector(instance=witness.endpoint)
    return RuleGroup(f"multidc-{STACK_GROUP}", None, (
        Alert("WitnessUnreachable", f"max({m.PROBE_SUCCESS}{on}) == 0", FOR[spec.Tier.critical], labels,
              f"the witness {witness.name} ({witness.endpoint}) does not answer; automatic failover cannot tell a "
              "partition from a lost site", "witness"),
        Alert("CertificateExpiresSoon", f"min by (instance) ({m.CERT_EXPIRY}) - time() < {CERT_WARNING_S}",
              "1h", labels, f"a certificate expires within {CERT_WARNING_S // 86400} days", "certificate",
              CERT_WARNING_S),
    ))


def rule_groups(platform: spec.Platform) -> list[RuleGroup]:
    """Every group of the stack: one per watched system, then the stack's own."""
    groups = [group for system in platform.systems if (group := system_group(system)) is not None]
    stack = stack_group(platform)
    return groups + ([stack] if stack is not None else [])


def rule_file(groups: list[RuleGroup]) -> dict[str, Any]:
    """A Prometheus rule file (what `promtool check rules` reads and a PrometheusRule's spec holds)."""
    return {"groups": [group.to_group() for group in groups]}
