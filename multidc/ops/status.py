"""`multidc status`: what is true right now, per system and site, probed live.

For each system the outputs document gives endpoints of: which site is primary, whether each
site answers, replication state and lag (bytes and seconds, as the primary sees each
standby), the age of the newest backup in the vault and of the last archived WAL, and each
bucket copy's lag (the oldest object of the source that the copy lacks). Every probe has a
short timeout and runs in parallel. A system is outside its targets when it has no reachable
primary or more than one, a standby that does not replicate, a lag beyond its RPO (for RPO 0:
a standby that is not synchronous), or a backup or copy older than its schedule allows.

Automatic failover is reported apart (it is no system's target): `armed` when a site's `multidc
watch` holds the primary lease in etcd (with its fencing token), `not-armed` when nobody holds it,
`refused` when the spec allows none (no witness, or one too close: multidc.dr.geography), and
`unknown` when no etcd member answers with a quorum.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Optional

import psycopg
from botocore.exceptions import BotoCoreError, ClientError
from croniter import croniter

from multidc.dr.backends import s3_client
from multidc.dr.geography import witness_problem
from multidc.protection import postgres as pg
from multidc.protection.rclone import S3Location

from multidc.spec import Platform

from . import wiring
from .lease import Etcd, EtcdUnavailable, current_holder, lease_key, present_watchers
from .outputs import StackOutputs, System

PROBE_TIMEOUT_S = 3.0
LIST_LIMIT = 10_000  # objects listed per bucket at most; a larger bucket's lag is marked partial


@dataclass
class SiteStatus:
    site: str
    reachable: bool
    role: Optional[str] = None  # primary, standby, fenced (probed), or None when unreachable
    error: str = ""
    archived_wal_age_s: Optional[float] = None


@dataclass
class SystemStatus:
    system: str
    kind: str
    rpo_s: float
    sites: list[SiteStatus] = field(default_factory=list)
    primary: Optional[str] = None
    replication: list[dict[str, Any]] = field(default_factory=list)
    backup_age_s: Optional[float] = None
    copy_lag_s: Optional[float] = None
    probed: bool = True
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _probe_postgres(server: Any) -> SiteStatus:
    site = SiteStatus(site="", reachable=False)
    try:
        with psycopg.connect(pg.conninfo(server), connect_timeout=int(PROBE_TIMEOUT_S), autocommit=True) as conn:
            conn.execute(f"SET statement_timeout = {int(PROBE_TIMEOUT_S * 1000)}")
            in_recovery, read_only = conn.execute(
                "SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only') = 'on'").fetchone()
            # A fenced old primary is out of recovery but refuses writes: it is not a primary.
            site.reachable = True
            site.role = "standby" if in_recovery else "fenced" if read_only else "primary"
            row = conn.execute("SELECT extract(epoch FROM now() - last_archived_time) FROM pg_stat_archiver "
                               "WHERE last_archived_time IS NOT NULL").fetchone()
            site.archived_wal_age_s = float(row[0]) if row else None
    except psycopg.Error as error:
        site.error = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return site


def _schedule_interval_s(schedule: str) -> float:
    """The longest gap between two runs of a cron schedule over the next week (at least one run)."""
    runs = croniter(schedule, datetime.now(timezone.utc))
    times = [runs.get_next(float) for _ in range(50)]
    return max(b - a for a, b in zip(times, times[1:])) if len(times) > 1 else 86400.0


def _objects(location: S3Location, prefix: str = "") -> tuple[dict[str, float], bool]:
    """Key -> LastModified (epoch) of up to LIST_LIMIT objects, and whether the listing is complete."""
    client = s3_client(location)
    found: dict[str, float] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            found[item["Key"]] = item["LastModified"].timestamp()
            if len(found) >= LIST_LIMIT:
                return found, False
    return found, True


def _postgres(name: str, system: System, outputs: StackOutputs, status: SystemStatus) -> None:
    servers = {site: wiring.server(name, site, p.database) for site, p in system.placements.items()
               if p.database is not None}
    with ThreadPoolExecutor(max_workers=max(1, len(servers))) as pool:
        probes = dict(zip(servers, pool.map(_probe_postgres, servers.values())))
    for site, probe in probes.items():
        probe.site = site
        status.sites.append(probe)
    primaries = [s.site for s in status.sites if s.role == "primary"]
    if not primaries:
        status.problems.append("no reachable primary: " + "; ".join(
            f"{s.site}: {s.error or s.role}" for s in status.sites))
        return
    if len(primaries) > 1:
        status.problems.append(f"more than one primary takes writes ({', '.join(primaries)}): split brain; fence "
                               "all but one now")
    status.primary = primaries[0]
    try:
        rows = pg.replication_status(servers[status.primary], timeout=PROBE_TIMEOUT_S)
    except pg.ReplicationError as error:
        status.problems.append(f"replication state unreadable on {status.primary}: {error}")
        rows = []
    status.replication = [{"standby": row.application_name, "state": row.state, "sync_state": row.sync_state,
                           "lag_bytes": row.lag_bytes, "replay_lag_s": row.replay_lag_s} for row in rows]
    standbys = [s for s in status.sites if s.site != status.primary]
    if standbys and len(rows) < len(standbys):
        down = ", ".join(s.site for s in standbys)
        status.problems.append(f"{len(rows)} of {len(standbys)} standby(s) replicate from {status.primary} "
                               f"(standbys: {down})")
    for row in status.replication:
        if system.rpo_s == 0 and row["sync_state"] != "sync":
            status.problems.append(f"RPO 0 but standby {row['standby']} is {row['sync_state']}, not synchronous")
        elif row["replay_lag_s"] is not None and row["replay_lag_s"] > system.rpo_s > 0:
            status.problems.append(f"standby {row['standby']} lags {row['replay_lag_s']:.1f}s, over the RPO "
                                   f"of {system.rpo_s:.0f}s")
    archived = next((s.archived_wal_age_s for s in status.sites if s.site == status.primary), None)
    if archived is not None and archived > max(system.rpo_s, 60):
        status.notes.append(f"last WAL archived {archived:.0f}s ago on {status.primary}")


def _location(outputs: StackOutputs, site: str, endpoint: str, bucket: str, region: str) -> S3Location:
    keys = outputs.sites[site].s3
    return S3Location(endpoint=endpoint, bucket=bucket, region=region,
                      access_key=wiring.secret_value(keys.access_key), secret_key=wiring.secret_value(keys.secret_key))


def _bucket(name: str, system: System, outputs: StackOutputs, status: SystemStatus) -> None:
    live = wiring.buckets(outputs)
    listings: dict[str, tuple[dict[str, float], bool]] = {}
    for site in system.placements:
        location = live.get((name, site))
        if location is None:
            continue
        try:
            listings[site] = _objects(location)
            status.sites.append(SiteStatus(site=site, reachable=True, role=system.placements[site].role))
        except (BotoCoreError, ClientError) as error:
            status.sites.append(SiteStatus(site=site, reachable=False, error=str(error)[:200]))
    primary = system.primary_site
    status.primary = primary  # a bucket takes writes where the spec serves it; the dns step moves clients
    if primary not in listings:
        status.problems.append(f"the bucket in its primary site {primary} does not answer")
    now = time.time()
    for copy in system.copies:
        if copy.source_site not in listings or copy.destination_site not in listings:
            status.problems.append(f"copy {copy.source_site} -> {copy.destination_site}: a side does not answer")
            continue
        (source, complete), (destination, _) = listings[copy.source_site], listings[copy.destination_site]
        missing = [modified for key, modified in source.items() if destination.get(key, -1) < modified]
        lag = now - min(missing) if missing else 0.0
        status.copy_lag_s = max(status.copy_lag_s or 0.0, lag)
        if not complete:
            status.notes.append(f"{copy.source_site} holds over {LIST_LIMIT} objects: lag from the first "
                                f"{LIST_LIMIT} only")
        if lag > max(system.rpo_s, _schedule_interval_s(copy.schedule)):
            status.problems.append(f"copy {copy.source_site} -> {copy.destination_site} lags {lag:.0f}s "
                                   f"({len(missing)} object(s)), over the RPO of {system.rpo_s:.0f}s")


def _backup(name: str, system: System, outputs: StackOutputs, status: SystemStatus) -> None:
    backup = system.backup
    if backup is None or not backup.vault.endpoint:
        return
    vault = _location(outputs, backup.site, backup.vault.endpoint, backup.vault.bucket, backup.vault.region)
    try:
        objects, _ = _objects(vault)
    except (BotoCoreError, ClientError) as error:
        status.problems.append(f"the backup vault {backup.vault.bucket} in {backup.site} does not answer: "
                               f"{str(error)[:160]}")
        return
    if not objects:
        status.notes.append(f"no backup in the vault {backup.vault.bucket} yet")
        return
    status.backup_age_s = time.time() - max(objects.values())
    allowed = 2 * _schedule_interval_s(backup.schedule)
    if status.backup_age_s > allowed:
        status.problems.append(f"newest backup is {status.backup_age_s:.0f}s old; the schedule "
                               f"'{backup.schedule}' allows {allowed:.0f}s")


def system_status(name: str, outputs: StackOutputs) -> SystemStatus:
    system = outputs.systems[name]
    status = SystemStatus(name, system.kind, system.rpo_s)
    has_database = any(p.database is not None for p in system.placements.values())
    has_bucket = any(p.bucket is not None for p in system.placements.values())
    if system.kind == "postgres" and has_database:
        _postgres(name, system, outputs, status)
    elif system.kind == "bucket" and has_bucket:
        _bucket(name, system, outputs, status)
    else:
        status.probed = False
        why = (outputs.model_extra or {}).get("not_realised", {}).get(name) if outputs.local else None
        status.notes.append(why or f"not probed: no probe for {system.kind} systems yet, or no endpoint in "
                                   "the outputs")
        return status
    _backup(name, system, outputs, status)
    return status


@dataclass
class AutomaticFailover:
    """Whether `multidc watch` would fail the stack over by itself now, and why (not)."""

    state: str  # armed, not-armed (no watcher holds the lease), refused (the spec forbids it), unknown (etcd silent)
    reason: str
    holder: Optional[str] = None  # the site whose watcher holds the primary lease
    token: Optional[int] = None  # its fencing token (the key's create revision)
    etcd: Optional[str] = None  # the member that answered
    watchers: dict[str, str] = field(default_factory=dict)  # site -> the holder its running watcher last saw

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def automatic_failover(platform: Platform, stack: str, outputs: StackOutputs,
                       etcd: Optional[str] = None) -> AutomaticFailover:
    """Read the primary lease through `etcd`, or through each member the outputs name, until one answers."""
    problem = witness_problem(platform)
    if problem is not None:
        return AutomaticFailover("refused", problem)
    members = [etcd] if etcd else [site.etcd for site in outputs.sites.values() if site.etcd] + (
        [outputs.witness.etcd] if outputs.witness is not None and outputs.witness.etcd else [])
    if not members:
        return AutomaticFailover("unknown", "no etcd member known: the outputs name none; give --etcd URL (any "
                                            "member of the stack's cluster)")
    key, silent = lease_key(stack), []
    for member in members:
        try:
            holder = current_holder(Etcd(member, timeout=PROBE_TIMEOUT_S), key)
        except EtcdUnavailable as error:
            silent.append(str(error))
            continue
        try:
            watching = present_watchers(Etcd(member, timeout=PROBE_TIMEOUT_S), stack)
        except EtcdUnavailable as error:
            silent.append(str(error))
            continue
        if holder is None:
            return AutomaticFailover("not-armed", f"nobody holds {key}: no `multidc watch` runs in the primary site "
                                                  "(start one in every site)", etcd=member, watchers=watching)
        takers = sorted(site for site, seen in watching.items() if site != holder.site and seen == holder.site)
        if not takers:
            return AutomaticFailover("not-armed", f"{holder.site} holds {key}, but no other site's `multidc watch` "
                                                  "runs and has seen it: nobody would take over (start one in every "
                                                  "site)", holder.site, holder.token, member, watching)
        return AutomaticFailover("armed", f"{holder.site}'s `multidc watch` holds {key}; the watcher in "
                                          f"{', '.join(takers)} fails over once that lease expires", holder.site,
                                 holder.token, member, watching)
    return AutomaticFailover("unknown", "no etcd member answered with a quorum: " + "; ".join(silent))


def stack_status(outputs: StackOutputs) -> list[SystemStatus]:
    """Every system's status, probed in parallel."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda name: system_status(name, outputs), outputs.systems))
