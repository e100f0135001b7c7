"""The drill: run the stack's failover runbook against real local services and measure RTO and RPO.

Every PostgreSQL system of the stack with an active-passive topology between the two drilled
sites gets a pair of real PostgreSQL servers on 127.0.0.1 (the standby streams from the
primary in the system's mode, or `--mode` for all of them), and every replicated bucket a
copy in each site: one S3 endpoint (a moto server process) per site holds that site's
buckets, and rclone copies each bucket from its primary site to the other on a schedule.
Servers and buckets are mapped by (system, site), so the runbook's db.* and storage.*
steps act on them. One client per PostgreSQL system writes continuously through the normal
multi-host connection string (`host=a,b port=pa,pb target_session_attrs=read-write`) and
records every acknowledged commit; one per bucket puts objects into its primary bucket.

At a random moment every process of the stack's primary site gets SIGKILL: each of its
PostgreSQL servers (primaries and standbys alike) and its S3 endpoint. The unplanned
failover runbook runs (at once, as an operator's declaration, or when the watcher and the
witness agree). Systems whose primary was in the killed site fail over; systems whose
primary is in the surviving site only lose their standby and must keep taking writes.
Per PostgreSQL system the drill measures:

- RTO: from the kill to the first write acknowledged by the system's primary after it
  (the promoted standby, or the surviving primary);
- RPO: acknowledged commits missing on that primary (0 expected in sync mode);
- fencing: a killed old primary, restarted, refuses writes;
- failback: re-protect, switch back, and every acknowledged commit checked again.

Per bucket: objects acknowledged, objects in the surviving copy, objects lost, and after
failback the surviving objects missing from the bucket that serves again.

Other database kinds (redis, mysql, clickhouse) have no local stand-in: the toolkit relies on
the engine's own replication for them, which the drill does not exercise; their steps, and
the DNS, Kubernetes and Pulumi steps that need a real cloud, are recorded and listed.
"""

from __future__ import annotations

import random
import secrets
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import psycopg
from rich.table import Table

from multidc.local.postgres import LocalPostgres
from multidc.local.s3 import LocalS3
from multidc.plan.graph import ResourceGraph
from multidc.protection import postgres as pg
from multidc.protection.rclone import CopyMode, S3Location, run_copy
from multidc.spec import Kind, Platform, System, Topology

from .backends import DatabaseBackend, RecordingBackend, StorageBackend, s3_client
from .executor import Executor
from .geography import witness_problem
from .journal import Journal
from .runbook import RunbookKind, Step, build
from .watcher import FAILOVER, WitnessServer, Watcher, ask_witness

CLOUD_ONLY = {
    "dns": "needs a real OpenStack Designate",
    "k8s": "needs a real Kubernetes cluster",
    "pulumi": "needs a Pulumi CLI and a real cloud",
    "manual": "a person at the provider does it",
    "restore": "no local service stands in for this system",
    "net": "needs a real OpenStack network",
}
NO_STAND_IN = ("no local stand-in for {kind}: the toolkit's real mechanism for it is the engine's own "
               "replication, not exercised here")
# How long a system whose primary survived may go without an acknowledged write before
# the drill reports that its writes stopped (a synchronous standby lost and not relaxed).
WRITES_CONTINUE_S = 10.0


class DrillError(RuntimeError):
    """The drill could not run; the message says which system or service and why."""


@dataclass
class SystemResult:
    """What the drill measured on one PostgreSQL system."""

    system: str
    mode: str
    primary_site: str
    standby_site: str
    failed_over: bool  # False: the primary survived, only its standby was killed
    rto_from_kill_s: Optional[float] = None
    rto_from_command_s: Optional[float] = None
    acknowledged: int = 0
    missing_after_failover: int = -1
    sync_relaxed_by_runbook: Optional[bool] = None  # for a surviving sync primary only
    writes_continued: bool = False
    fenced_refuses_writes: Optional[bool] = None  # None: its primary was not killed
    fence_evidence: str = ""
    failback_done: bool = False
    primary_after_failback: str = ""
    acknowledged_total: int = 0
    missing_after_failback: int = -1

    @property
    def rpo_commits(self) -> int:
        return self.missing_after_failover


@dataclass
class BucketResult:
    """What the drill measured on one replicated bucket."""

    bucket: str
    primary_site: str
    copy_site: str
    failed_over: bool
    objects_acknowledged: int = 0
    objects_surviving: int = 0
    objects_lost: int = 0
    objects_missing_after_failback: int = -1
    serving_after_failback: str = ""


@dataclass
class DrillResult:
    """What one drill measured, per PostgreSQL system and per bucket."""

    stack: str
    mode: str  # 'per system', or the --mode every system ran in
    trigger: str
    from_site: str
    to_site: str
    systems: list[SystemResult] = field(default_factory=list)
    buckets: list[BucketResult] = field(default_factory=list)
    killed_after_s: float = 0.0
    kill_took_s: float = 0.0  # from the first SIGKILL until every process of the site was gone
    decision: str = ""
    detection_s: Optional[float] = None
    failback_done: bool = False
    failover_steps: list[dict[str, Any]] = field(default_factory=list)
    recorded_only: list[str] = field(default_factory=list)
    seconds_total: float = 0.0

    def system(self, name: str) -> SystemResult:
        return next(s for s in self.systems if s.system == name)

    def bucket(self, name: str) -> BucketResult:
        return next(b for b in self.buckets if b.bucket == name)

    @property
    def worst(self) -> Optional[SystemResult]:
        """The system whose writes came back last; one that never resumed counts as the worst."""
        if not self.systems:
            return None
        return max(self.systems, key=lambda s: float("inf") if s.rto_from_kill_s is None else s.rto_from_kill_s)

    @property
    def rto_from_kill_s(self) -> Optional[float]:
        """The headline RTO: the worst system's."""
        return self.worst.rto_from_kill_s if self.worst else None

    @property
    def rto_from_command_s(self) -> Optional[float]:
        failed_over = [s.rto_from_command_s for s in self.systems if s.failed_over]
        return None if not failed_over or None in failed_over else max(failed_over)

    @property
    def rpo_commits(self) -> dict[str, int]:
        return {s.system: s.rpo_commits for s in self.systems}

    @property
    def fenced_refuses_writes(self) -> bool:
        """Every killed old primary refused writes on restart."""
        return all(s.fenced_refuses_writes for s in self.systems if s.fenced_refuses_writes is not None)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for item, system in zip(data["systems"], self.systems):
            item["rpo_commits"] = system.rpo_commits
        worst = self.worst
        return {**data, "rto_from_kill_s": self.rto_from_kill_s, "rto_from_command_s": self.rto_from_command_s,
                "worst_system": worst.system if worst else None, "rpo_commits": self.rpo_commits,
                "fenced_refuses_writes": self.fenced_refuses_writes}

    def __rich__(self) -> Table:
        worst = self.worst
        headline = ("-" if worst is None else f"{_ms(worst.rto_from_kill_s)} (worst: {worst.system})"
                    if worst.rto_from_kill_s is not None else f"none: {worst.system}'s writes did not resume")
        table = Table(title=f"Drill {self.stack}: {self.from_site} killed, failover to {self.to_site} "
                            f"({self.trigger}); RTO {headline}")
        table.add_column("system")
        table.add_column("measure")
        table.add_column("value", justify="right")
        table.add_column("note")
        table.add_row("", "SIGKILL of the site's processes", _ms(self.kill_took_s),
                      "from the first signal until every process of the site was gone")
        table.add_row("", "detection", _ms(self.detection_s), self.decision)
        for s in self.systems:
            table.add_section()
            name = f"{s.system} ({s.mode})"
            if s.failed_over:
                rows = [
                    ("RTO from the kill", _ms(s.rto_from_kill_s),
                     f"to the first write acknowledged by the new primary in {s.standby_site}"),
                    ("RTO from the failover command", _ms(s.rto_from_command_s),
                     "declared by the operator" if self.trigger == "declared" else "watcher + witness decision"),
                ]
            else:
                relaxed = ("" if s.sync_relaxed_by_runbook is None else
                           "; the runbook relaxes synchronous replication" if s.sync_relaxed_by_runbook else
                           "; the runbook has no step relaxing synchronous replication")
                rows = [("writes after the kill", _ms(s.rto_from_kill_s) if s.writes_continued else "STOPPED",
                         f"primary in {s.primary_site} survived, standby in {s.standby_site} killed{relaxed}")]
            rows += [
                ("acknowledged commits before the kill", str(s.acknowledged), ""),
                ("RPO: acknowledged commits lost", str(s.missing_after_failover),
                 "must be 0 in sync mode" if s.mode == "sync" else "asynchronous: exact count"),
            ]
            if s.fenced_refuses_writes is not None:
                rows.append(("old primary refuses writes on restart", "yes" if s.fenced_refuses_writes else "NO",
                             s.fence_evidence[:80]))
            moved = (f" (NOT its home site {s.primary_site}: the failback runbook moved it)"
                     if s.failback_done and s.primary_after_failback != s.primary_site else "")
            rows.append(("failback done", "yes" if s.failback_done else "no",
                         f"{s.missing_after_failback} of {s.acknowledged_total} acknowledged commits missing; "
                         f"primary now in {s.primary_after_failback}{moved}" if s.failback_done else ""))
            for i, row in enumerate(rows):
                table.add_row(name if i == 0 else "", *row)
        for b in self.buckets:
            table.add_section()
            survivor = b.copy_site if b.failed_over else b.primary_site
            table.add_row(f"{b.bucket} (bucket)", "objects in the surviving bucket",
                          f"{b.objects_surviving} of {b.objects_acknowledged}",
                          f"in {survivor}; {b.objects_lost} written after the last scheduled copy are lost"
                          if b.failed_over else f"in {survivor}, its primary, which survived")
            if self.failback_done:
                moved = (f" (NOT its home site {b.primary_site}: the failback runbook moved it)"
                         if b.serving_after_failback != b.primary_site else "")
                table.add_row("", "surviving objects missing after failback", str(b.objects_missing_after_failback),
                              f"from the bucket taking writes, in {b.serving_after_failback}{moved}")
        table.add_section()
        table.add_row("", "only recorded", str(len(self.recorded_only)),
                      "DNS, Kubernetes, Pulumi, provider; engines without a local stand-in")
        return table


def _ms(seconds: Optional[float]) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


@dataclass(frozen=True)
class DrillPlan:
    """What the drill runs on: the sites, the PostgreSQL systems and the buckets between them."""

    from_site: str
    to_site: str
    databases: tuple[System, ...]
    buckets: tuple[System, ...]


def _between(system: System, sites: set[str]) -> bool:
    return system.topology is Topology.active_passive and set(system.sites[:2]) == sites


def drill_systems(platform: Platform) -> DrillPlan:
    """The primary site (killed), the site it fails over to, and every active-passive PostgreSQL
    system and replicated bucket between the two, whichever of them is their primary."""
    primary = platform.primary.name
    first = next((s for s in platform.systems if s.kind is Kind.postgres and s.topology is Topology.active_passive
                  and s.primary_site == primary), None)
    if first is None:
        raise DrillError(f"stack {platform.name}: no active-passive postgres system is served from {primary}; "
                         "the drill needs one (a system with kind: postgres, topology: active-passive)")
    pair = {primary, first.sites[1]}
    return DrillPlan(primary, first.sites[1],
                     tuple(s for s in platform.systems if s.kind is Kind.postgres and _between(s, pair)),
                     tuple(s for s in platform.systems if s.kind is Kind.bucket and _between(s, pair)))
class _Writer:
    """A client that inserts one row after another and remembers every acknowledged commit."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        # id, when acknowledged, port of the server that did, when the attempt began
        self.acks: list[tuple[int, float, int, float]] = []
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._next = 1

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        conn = None
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=1)
                begun = time.monotonic()
                conn.execute("INSERT INTO drill (id) VALUES (%s)", [self._next])
                self.acks.append((self._next, time.monotonic(), conn.info.port, begun))
                self._next += 1
            except psycopg.Error:
                # The attempt's id may or may not have committed: never reuse it.
                self._next += 1
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.01)
        if conn is not None:
            conn.close()

    def first_ack_after(self, moment: float, port: Optional[int] = None, *, begun: bool = False) -> Optional[float]:
        """When the first write after `moment` was acknowledged (with `begun`: of a write begun after it)."""
        return next((t for _, t, p, b in self.acks
                     if (b if begun else t) > moment and port in (None, p)), None)

    def acked_ids(self, port: Optional[int] = None) -> set[int]:
        return {i for i, _, p, _ in self.acks if port in (None, p)}

    def halt(self) -> None:
        self.stop.set()
        # Bounded short: a commit waiting for a lost synchronous standby never returns; closing
        # the server (later in the drill's cleanup) ends it.
        self._thread.join(timeout=5)


class _ObjectWriter:
    """Puts one object after another into the primary site's bucket until stopped."""

    def __init__(self, location: S3Location) -> None:
        self.location, self.acked = location, []
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        s3 = s3_client(self.location)
        n = 0
        while not self.stop.is_set():
            key = f"drill/{n:06d}"
            try:
                s3.put_object(Bucket=self.location.bucket, Key=key, Body=key.encode())
                self.acked.append(key)
            except Exception:  # noqa: BLE001 - the site may be dying; stop writing
                return
            n += 1
            time.sleep(0.02)

    def start(self) -> None:
        self._thread.start()

    def halt(self) -> None:
        self.stop.set()
        self._thread.join(timeout=15)


class _Copier:
    """The scheduled pull copy into the standby site: rclone every `interval` seconds."""

    def __init__(self, source: S3Location, destination: S3Location, interval: float) -> None:
        self.source, self.destination, self.interval = source, destination, interval
        self.stop = threading.Event()
        self.runs = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                run_copy(self.source, self.destination, mode=CopyMode.copy, timeout=5)
                self.runs += 1
            except Exception:  # noqa: BLE001 - the source site died mid-copy
                return

    def start(self) -> None:
        self._thread.start()

    def halt(self) -> None:
        self.stop.set()
        self._thread.join(timeout=60)


def _port_open(server: LocalPostgres) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            with psycopg.connect(server.dsn, connect_timeout=1) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False
    return probe


def _location(site: LocalS3, bucket: str) -> S3Location:
    return S3Location(endpoint=site.endpoint_url, bucket=bucket, region=site.region,
                      access_key=site.access_key, secret_key=site.secret_key)


class _RecordByKind:
    """Records db steps of systems without a local stand-in, each with the reason for its kind."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.recorders: dict[str, RecordingBackend] = {}

    def run(self, step: Step) -> str:
        system = self.platform.system(step.system) if step.system else None
        if system is None:
            why = "no local server stands in for this step"
        elif system.kind is Kind.postgres:
            why = "no local server stands in for this postgres system (not active-passive between the drilled sites)"
        else:
            why = NO_STAND_IN.format(kind=system.kind.value)
        return self.recorders.setdefault(why, RecordingBackend(why)).run(step)

    @property
    def records(self) -> list[str]:
        return [line for recorder in self.recorders.values() for line in recorder.records]


@dataclass
class _Pair:
    """One PostgreSQL system's servers, by site, and the client writing to it."""

    system: System
    mode: str
    primary_site: str
    standby_site: str
    servers: dict[str, LocalPostgres]
    writer: Optional[_Writer] = None

    @property
    def primary(self) -> LocalPostgres:
        return self.servers[self.primary_site]

    @property
    def standby(self) -> LocalPostgres:
        return self.servers[self.standby_site]


def _start_pair(system: System, mode: str, names: dict[str, str], auth: pg.ReplicationAuth,
                stack: list[Callable[[], None]]) -> _Pair:
    primary_site, standby_site = system.sites[0], system.sites[1]
    primary = LocalPostgres(f"{primary_site}-{system.name}")
    stack.append(primary.close)
    primary.start()
    standby = LocalPostgres(f"{standby_site}-{system.name}", initialize=False, password=primary.password)
    stack.append(standby.close)
    pg.configure_primary(primary, auth, [names[standby_site]])
    pg.create_standby(primary, standby, auth, name=names[standby_site])
    if mode == "sync":
        pg.set_replication_mode(primary, "sync", standby_names=[names[standby_site]])
    with primary.connect() as conn:
        conn.execute("CREATE TABLE drill (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())")
    pg.wait_for_replay(primary, standby)
    return _Pair(system, mode, primary_site, standby_site, {primary_site: primary, standby_site: standby})


def _relaxes_sync(steps: list[Step], system: str) -> bool:
    """Whether a runbook step turns off synchronous replication on this system's primary."""
    return any(step.system == system and step.action == "db.relax" for step in steps)


def run_drill(
    platform: Platform,
    graph: ResourceGraph,
    *,
    mode: Optional[str] = None,
    trigger: str = "declared",
    seed: Optional[int] = None,
    heartbeat_interval: float = 0.2,
    missed_heartbeats: int = 3,
    copy_interval: float = 1.0,
    failback: bool = True,
    journal_dir: Optional[Path] = None,
    log: Callable[[str], None] = lambda _: None,
) -> DrillResult:
    """One drill on real local services; everything it starts is stopped before it returns.

    `mode` ('sync' or 'async') replaces every system's own replication mode; None keeps each one's.
    """
    if trigger not in ("declared", "automatic"):
        raise DrillError(f"--trigger {trigger}: use 'declared' (an operator runs failover) or 'automatic'")
    if mode not in (None, "sync", "async"):
        raise DrillError(f"--mode {mode}: use 'sync' or 'async'")
    plan = drill_systems(platform)
    from_site, to_site = plan.from_site, plan.to_site
    if trigger == "automatic" and witness_problem(platform, (from_site, to_site)) is not None:
        raise DrillError(f"--trigger automatic on {platform.name}: {witness_problem(platform, (from_site, to_site))}")
    rng = random.Random(seed)
    result = DrillResult(platform.name, mode or "per system", trigger, from_site, to_site)
    started = time.monotonic()
    journal_dir = Path(journal_dir or tempfile.mkdtemp(prefix="multidc-drill-"))
    stack: list[Callable[[], None]] = []  # everything started, stopped in reverse order
    try:
        auth = pg.ReplicationAuth(password=secrets.token_urlsafe(16))
        names = {from_site: pg.slot_name(from_site), to_site: pg.slot_name(to_site)}
        modes = {s.name: mode or (s.replication.value if s.replication else "async") for s in plan.databases}
        log("starting PostgreSQL pairs: " + ", ".join(
            f"{s.name} ({modes[s.name]}, primary in {s.sites[0]})" for s in plan.databases))
        with ThreadPoolExecutor(max_workers=3) as pool:
            pairs = list(pool.map(lambda s: _start_pair(s, modes[s.name], names, auth, stack), plan.databases))

        site_s3: dict[str, LocalS3] = {}
        buckets: dict[tuple[str, str], S3Location] = {}
        if plan.buckets:
            log("starting an S3 endpoint per site for " + ", ".join(b.name for b in plan.buckets))
            for site in (from_site, to_site):
                site_s3[site] = LocalS3(name=f"{site}-s3").start()
                stack.append(site_s3[site].stop)
                for bucket in plan.buckets:
                    site_s3[site].client().create_bucket(Bucket=bucket.name)
                    buckets[(bucket.name, site)] = _location(site_s3[site], bucket.name)

        for pair in pairs:
            first, second = pair.primary, pair.standby
            pair.writer = _Writer(psycopg.conninfo.make_conninfo(
                host=f"{first.host},{second.host}", port=f"{first.port},{second.port}", user=first.user,
                password=first.password, dbname="postgres", target_session_attrs="read-write"))
            pair.writer.start()
            stack.append(pair.writer.halt)
        objects: dict[str, _ObjectWriter] = {}
        copiers: dict[str, _Copier] = {}
        for bucket in plan.buckets:
            home, copy = bucket.sites[0], bucket.sites[1]
            objects[bucket.name] = _ObjectWriter(buckets[(bucket.name, home)])
            copiers[bucket.name] = _Copier(buckets[(bucket.name, home)], buckets[(bucket.name, copy)], copy_interval)
            for worker in (objects[bucket.name], copiers[bucket.name]):
                worker.start()
                stack.append(worker.halt)

        # The watcher and the witness watch the first system failing over (the drill's anchor).
        anchor = next(p for p in pairs if p.primary_site == from_site)
        decision_box: dict[str, Any] = {}
        watcher_thread = None
        if trigger == "automatic":
            witness = WitnessServer({from_site: _port_open(anchor.primary)})
            witness.__enter__()
            stack.append(lambda: witness.__exit__(None, None, None))
            watcher = Watcher(from_site, _port_open(anchor.primary), lambda: ask_witness(witness.endpoint, from_site),
                              witness_problem=None, interval=heartbeat_interval, threshold=missed_heartbeats)

            def watch() -> None:
                decision_box["decision"] = watcher.watch(timeout=120)
                decision_box["at"] = time.monotonic()

            watcher_thread = threading.Thread(target=watch, daemon=True)
            watcher_thread.start()

        _wait_for(lambda: all(len(p.writer.acks) >= 100 for p in pairs) and all(c.runs >= 1 for c in copiers.values()),
                  60, "every writer's first 100 commits and every bucket's first copy")
        time.sleep(rng.uniform(0.2, 1.5))  # a random moment: the kill may land mid-commit or mid-copy

        killed = [p.servers[from_site] for p in pairs]
        log(f"SIGKILL to every process of {from_site}: {len(killed)} PostgreSQL servers"
            + (" and its S3 endpoint" if from_site in site_s3 else ""))
        kill_at = time.monotonic()
        for server in killed:
            server.kill()
        if from_site in site_s3:
            site_s3[from_site].kill()
        all_dead_at = time.monotonic()
        result.kill_took_s = all_dead_at - kill_at
        result.killed_after_s = kill_at - started
        for worker in (*objects.values(), *copiers.values()):
            # Only signalled here: a copy cut off mid-run waits out rclone's retries, which is
            # no part of the failover and must not be counted in its RTO. Joined below.
            worker.stop.set()

        if trigger == "automatic":
            watcher_thread.join(timeout=120)
            decision = decision_box.get("decision")
            if decision is None or decision.action != FAILOVER:
                why = decision.reason if decision else "no decision"
                raise DrillError(f"the watcher did not decide to fail over: {why}")
            command_at = decision_box["at"]
            result.decision, result.detection_s = decision.reason, command_at - kill_at
        else:
            command_at = time.monotonic()
            result.decision = "declared by the operator"

        recorders = {name: RecordingBackend(why) for name, why in CLOUD_ONLY.items()}
        db_fallback = _RecordByKind(platform)
        servers = {(p.system.name, site): server for p in pairs for site, server in p.servers.items()}
        db_backend = DatabaseBackend(servers, auth, names, fallback=db_fallback)
        storage = StorageBackend(buckets, fallback=RecordingBackend("no local endpoint stands in for this bucket"))
        backends = {**recorders, "db": db_backend, "storage": storage,
                    "decide": RecordingBackend(f"decision: {result.decision}")}
        book = build(platform, graph, RunbookKind.unplanned, to_site, from_site)
        journal = Journal(journal_dir / "failover.jsonl", book.fingerprint, f"drill failover to {to_site}")
        steps = Executor(book, backends, journal).run()
        result.failover_steps = [{"step": s.step, "seconds": round(s.seconds, 4), "detail": s.detail} for s in steps]
        book_steps = list(book.steps())

        for pair in pairs:
            failed_over = pair.primary_site == from_site
            serving = pair.standby if failed_over else pair.primary
            outcome = SystemResult(pair.system.name, pair.mode, pair.primary_site, pair.standby_site, failed_over)
            result.systems.append(outcome)
            if not failed_over and pair.mode == "sync":
                outcome.sync_relaxed_by_runbook = _relaxes_sync(book_steps, pair.system.name)
            # A surviving primary counts only writes begun once its standby was dead: a commit
            # in flight at the kill may have been confirmed by that standby just before it died.
            since = kill_at if failed_over else all_dead_at
            try:
                _wait_for(lambda: pair.writer.first_ack_after(since, serving.port, begun=not failed_over) is not None,
                          30 if failed_over else WRITES_CONTINUE_S, f"the first write on {pair.system.name}'s primary")
            except DrillError:
                if failed_over:
                    raise
                log(f"{pair.system.name}: no write acknowledged within {WRITES_CONTINUE_S:.0f}s of losing its standby")
            first = pair.writer.first_ack_after(since, serving.port, begun=not failed_over)
            outcome.writes_continued = first is not None
            if first is not None:
                outcome.rto_from_kill_s = first - kill_at
                outcome.rto_from_command_s = first - command_at if failed_over else None
            acked_by_old = pair.writer.acked_ids(pair.primary.port)
            outcome.acknowledged = len(acked_by_old)
            outcome.missing_after_failover = len(acked_by_old - _ids(serving))

        surviving: dict[str, set[str]] = {}
        for bucket in plan.buckets:
            objects[bucket.name].halt()
            copiers[bucket.name].halt()
            home, copy = bucket.sites[0], bucket.sites[1]
            failed_over = home == from_site
            outcome = BucketResult(bucket.name, home, copy, failed_over)
            result.buckets.append(outcome)
            acked = set(objects[bucket.name].acked)
            keys = _keys(buckets[(bucket.name, copy if failed_over else home)])
            surviving[bucket.name] = keys & acked
            outcome.objects_acknowledged = len(acked)
            outcome.objects_surviving = len(keys & acked)
            outcome.objects_lost = len(acked - keys)

        log(f"{from_site} comes back: its servers restart; each old primary must refuse writes")
        for pair in pairs:
            pair.servers[from_site].start()
        for pair, outcome in zip(pairs, result.systems):
            if outcome.failed_over:
                outcome.fenced_refuses_writes, outcome.fence_evidence = _refuses_writes(pair.primary)

        if failback:
            log(f"failback to {from_site}")
            if from_site in site_s3:
                # The site comes back empty, perhaps on another port; pulumi up declares its buckets again.
                site_s3[from_site].start()
                for bucket in plan.buckets:
                    site_s3[from_site].client().create_bucket(Bucket=bucket.name)
                    buckets[(bucket.name, from_site)] = _location(site_s3[from_site], bucket.name)
            back = build(platform, graph, RunbookKind.failback, from_site, to_site)
            Executor(back, backends, Journal(journal_dir / "failback.jsonl", back.fingerprint, "drill failback")).run()
            back_at = time.monotonic()
            for pair, outcome in zip(pairs, result.systems):
                serving_site = next((site for site, server in pair.servers.items() if pg.accepts_writes(server)), None)
                if serving_site is None:
                    raise DrillError(f"after failback no server of {pair.system.name} takes writes; "
                                     f"see the journal in {journal_dir}")
                serving = pair.servers[serving_site]
                _wait_for(lambda: pair.writer.first_ack_after(back_at, serving.port) is not None, 30,
                          f"writes on {pair.system.name} in {serving_site} after failback")
                pair.writer.halt()
                outcome.primary_after_failback = serving_site
                outcome.acknowledged_total = len(pair.writer.acked_ids())
                outcome.missing_after_failback = len(pair.writer.acked_ids() - _ids(serving))
                outcome.failback_done = True
            for bucket, outcome in zip(plan.buckets, result.buckets):
                serving_site = storage.writes_to.get(bucket.name, bucket.sites[0])
                outcome.serving_after_failback = serving_site
                outcome.objects_missing_after_failback = len(
                    surviving[bucket.name] - _keys(buckets[(bucket.name, serving_site)]))
            result.failback_done = True
        result.recorded_only = sorted({line for r in (*recorders.values(), db_fallback, storage.fallback)
                                       for line in r.records})
    finally:
        for stop in reversed(stack):
            try:
                stop()
            except Exception:  # noqa: BLE001 - cleanup must try every service
                pass
        result.seconds_total = time.monotonic() - started
    return result


def _keys(location: S3Location) -> set[str]:
    pages = s3_client(location).get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix="drill/")
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def _ids(server: LocalPostgres) -> set[int]:
    with server.connect() as conn:
        return {row[0] for row in conn.execute("SELECT id FROM drill")}


def _refuses_writes(server: LocalPostgres) -> tuple[bool, str]:
    """Try to write on `server` the hard way (explicit READ WRITE, superuser)."""
    try:
        with server.connect() as conn:
            with conn.transaction():
                conn.execute("SET TRANSACTION READ WRITE")
                conn.execute("INSERT INTO drill (id) VALUES (-1)")
    except psycopg.Error as error:
        return True, str(error).strip().splitlines()[0]
    return False, "an explicit READ WRITE insert committed on the old primary"


def _wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (psycopg.Error, pg.ReplicationError):
            pass
        time.sleep(0.02)
    raise DrillError(f"timed out after {timeout:.0f}s waiting for {what}")


def summary(results: list[DrillResult]) -> dict[str, Any]:
    """Median and worst RTO (the headline: each run's worst system), and per system the same and the RPO seen."""
    def figures(from_kill: list[Optional[float]], from_command: list[Optional[float]]) -> dict[str, Any]:
        kill = [s for s in from_kill if s is not None]
        command = [s for s in from_command if s is not None]
        return {
            "rto_from_kill_median_s": statistics.median(kill) if kill else None,
            "rto_from_kill_worst_s": max(kill) if kill else None,
            "rto_from_command_median_s": statistics.median(command) if command else None,
            "rto_from_command_worst_s": max(command) if command else None,
        }

    names = [s.system for s in results[0].systems] if results else []
    return {
        "runs": len(results),
        **figures([r.rto_from_kill_s for r in results], [r.rto_from_command_s for r in results]),
        "rpo_commits": [r.rpo_commits for r in results],
        "fenced_every_time": all(r.fenced_refuses_writes for r in results),
        "systems": {name: {**figures([r.system(name).rto_from_kill_s for r in results],
                                     [r.system(name).rto_from_command_s for r in results]),
                           "mode": results[0].system(name).mode,
                           "failed_over": results[0].system(name).failed_over,
                           "rpo_commits": [r.system(name).rpo_commits for r in results]}
                    for name in names},
    }
