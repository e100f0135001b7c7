"""The drill: run the stack's failover runbook against real local services and measure RTO and RPO.

Each site of the stack gets real services on 127.0.0.1: a PostgreSQL server (the standby
streams from the primary in the system's mode, or `--mode`) and an S3 endpoint (a moto
server process) whose bucket is copied to the other site by rclone on a schedule. A
client writes continuously through the normal multi-host connection string
(`host=a,b port=pa,pb target_session_attrs=read-write`) and records every acknowledged
commit. At a random moment the primary site's processes get SIGKILL; the unplanned
failover runbook runs (at once, as an operator's declaration, or when the watcher and the
witness agree); then the drill measures:

- RTO: from the kill to the first write acknowledged by the new primary;
- RPO: acknowledged commits missing on the new primary (0 expected in sync mode);
- objects in the surviving bucket, and those written after its last copy (lost);
- fencing: the old primary, restarted, refuses writes;
- failback: re-protect, switch back, and every acknowledged commit checked again.

The DNS, Kubernetes and Pulumi steps need a real cloud: here they only record what they
would do, and the report lists them.
"""

from __future__ import annotations

import random
import secrets
import statistics
import tempfile
import threading
import time
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
from multidc.spec import Kind, Platform, Topology

from .backends import DatabaseBackend, RecordingBackend, StorageBackend, s3_client
from .executor import Executor
from .geography import witness_problem
from .journal import Journal
from .runbook import RunbookKind, build
from .watcher import FAILOVER, WitnessServer, Watcher, ask_witness

CLOUD_ONLY = {
    "dns": "needs a real OpenStack Designate",
    "k8s": "needs a real Kubernetes cluster",
    "pulumi": "needs a Pulumi CLI and a real cloud",
    "manual": "a person at the provider does it",
    "restore": "no local service stands in for this system",
    "net": "needs a real OpenStack network",
}


class DrillError(RuntimeError):
    """The drill could not run; the message says which system or service and why."""


@dataclass
class DrillResult:
    """What one drill measured."""

    stack: str
    mode: str
    trigger: str
    database: str
    bucket: Optional[str]
    from_site: str
    to_site: str
    killed_after_s: float = 0.0
    decision: str = ""
    detection_s: Optional[float] = None
    rto_from_kill_s: Optional[float] = None
    rto_from_command_s: Optional[float] = None
    acknowledged: int = 0
    missing_after_failover: int = -1
    objects_acknowledged: int = 0
    objects_in_surviving_bucket: int = 0
    objects_lost: int = 0
    fenced_refuses_writes: bool = False
    fence_evidence: str = ""
    failback_done: bool = False
    missing_after_failback: int = -1
    objects_missing_after_failback: int = -1
    acknowledged_total: int = 0
    failover_steps: list[dict[str, Any]] = field(default_factory=list)
    recorded_only: list[str] = field(default_factory=list)
    seconds_total: float = 0.0

    @property
    def rpo_commits(self) -> int:
        return self.missing_after_failover

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "rpo_commits": self.rpo_commits}

    def __rich__(self) -> Table:
        table = Table(title=f"Drill {self.stack}: {self.database} ({self.mode}), {self.bucket or 'no bucket'}; "
                            f"{self.from_site} killed, failover to {self.to_site} ({self.trigger})")
        table.add_column("measure")
        table.add_column("value", justify="right")
        table.add_column("note")
        ms = lambda s: "-" if s is None else f"{s * 1000:.0f} ms"  # noqa: E731
        rows = [
            ("RTO from the kill", ms(self.rto_from_kill_s), "to the first write acknowledged by the new primary"),
            ("RTO from the failover command", ms(self.rto_from_command_s),
             "declared by the operator" if self.trigger == "declared" else "watcher + witness decision"),
            ("detection", ms(self.detection_s), self.decision),
            ("acknowledged commits before the kill", str(self.acknowledged), ""),
            ("RPO: acknowledged commits lost", str(self.missing_after_failover),
             "must be 0 in sync mode" if self.mode == "sync" else "asynchronous: exact count"),
            ("objects acknowledged by the old bucket", str(self.objects_acknowledged), ""),
            ("objects in the surviving bucket", str(self.objects_in_surviving_bucket),
             f"{self.objects_lost} written after the last scheduled copy are lost"),
            ("old primary refuses writes on restart", "yes" if self.fenced_refuses_writes else "NO",
             self.fence_evidence[:80]),
            ("failback done", "yes" if self.failback_done else "no",
             f"{self.missing_after_failback} of {self.acknowledged_total} acknowledged commits missing after it"),
            ("only recorded (need a real cloud)", str(len(self.recorded_only)), "DNS, Kubernetes, Pulumi, provider"),
        ]
        for row in rows:
            table.add_row(*row)
        return table


def drill_systems(platform: Platform) -> tuple[str, Optional[str], str, str]:
    """The database and bucket the drill runs on: the first active-passive PostgreSQL system
    served from the primary site, and a bucket replicated between the same sites."""
    primary = platform.primary.name
    db = next((s for s in platform.systems if s.kind is Kind.postgres and s.topology is Topology.active_passive
               and s.primary_site == primary), None)
    if db is None:
        raise DrillError(f"stack {platform.name}: no active-passive postgres system is served from {primary}; "
                         "the drill needs one (a system with kind: postgres, topology: active-passive)")
    to_site = db.sites[1]
    bucket = next((s.name for s in platform.systems if s.kind is Kind.bucket
                   and s.topology is Topology.active_passive and s.sites[:2] == [primary, to_site]), None)
    return db.name, bucket, primary, to_site


class _Writer:
    """A client that inserts one row after another and remembers every acknowledged commit."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.acks: list[tuple[int, float, int]] = []  # id, when acknowledged, port of the server that did
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
                conn.execute("INSERT INTO drill (id) VALUES (%s)", [self._next])
                self.acks.append((self._next, time.monotonic(), conn.info.port))
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

    def first_ack_after(self, moment: float, port: Optional[int] = None) -> Optional[float]:
        return next((t for _, t, p in self.acks if t > moment and port in (None, p)), None)

    def acked_ids(self, port: Optional[int] = None) -> set[int]:
        return {i for i, _, p in self.acks if port in (None, p)}

    def halt(self) -> None:
        self.stop.set()
        self._thread.join(timeout=15)


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
    """One drill on real local services; everything it starts is stopped before it returns."""
    if trigger not in ("declared", "automatic"):
        raise DrillError(f"--trigger {trigger}: use 'declared' (an operator runs failover) or 'automatic'")
    db, bucket, from_site, to_site = drill_systems(platform)
    system = platform.system(db)
    mode = mode or (system.replication.value if system.replication else "async")
    if mode not in ("sync", "async"):
        raise DrillError(f"--mode {mode}: use 'sync' or 'async'")
    if trigger == "automatic" and witness_problem(platform, (from_site, to_site)) is not None:
        raise DrillError(f"--trigger automatic on {platform.name}: {witness_problem(platform, (from_site, to_site))}")
    rng = random.Random(seed)
    result = DrillResult(platform.name, mode, trigger, db, bucket, from_site, to_site)
    started = time.monotonic()
    journal_dir = Path(journal_dir or tempfile.mkdtemp(prefix="multidc-drill-"))
    stack = []  # everything started, stopped in reverse order
    try:
        log(f"starting PostgreSQL for {db} in {from_site} and {to_site} ({mode})")
        primary = LocalPostgres(f"{from_site}-{db}")
        stack.append(primary.close)
        primary.start()
        standby = LocalPostgres(f"{to_site}-{db}", initialize=False, password=primary.password)
        stack.append(standby.close)
        auth = pg.ReplicationAuth(password=secrets.token_urlsafe(16))
        names = {from_site: pg.slot_name(from_site), to_site: pg.slot_name(to_site)}
        pg.configure_primary(primary, auth, [names[to_site]])
        pg.create_standby(primary, standby, auth, name=names[to_site])
        if mode == "sync":
            pg.set_replication_mode(primary, "sync", standby_names=[names[to_site]])
        with primary.connect() as conn:
            conn.execute("CREATE TABLE drill (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())")
        pg.wait_for_replay(primary, standby)

        buckets: dict[tuple[str, str], S3Location] = {}
        site_s3: dict[str, LocalS3] = {}
        if bucket:
            log(f"starting S3 endpoints for {bucket}")
            for site in (from_site, to_site):
                site_s3[site] = LocalS3(name=f"{site}-{bucket}").start()
                stack.append(site_s3[site].stop)
                site_s3[site].client().create_bucket(Bucket=bucket)
                buckets[(bucket, site)] = _location(site_s3[site], bucket)

        conninfo = psycopg.conninfo.make_conninfo(
            host=f"{primary.host},{standby.host}", port=f"{primary.port},{standby.port}", user=primary.user,
            password=primary.password, dbname="postgres", target_session_attrs="read-write")
        writer = _Writer(conninfo)
        writer.start()
        stack.append(writer.halt)
        objects = copier = None
        if bucket:
            objects = _ObjectWriter(buckets[(bucket, from_site)])
            objects.start()
            stack.append(objects.halt)
            copier = _Copier(buckets[(bucket, from_site)], buckets[(bucket, to_site)], copy_interval)
            copier.start()
            stack.append(copier.halt)

        decision_box: dict[str, Any] = {}
        watcher_thread = None
        witness = None
        if trigger == "automatic":
            witness = WitnessServer({from_site: _port_open(primary)})
            witness.__enter__()
            stack.append(lambda: witness.__exit__(None, None, None))
            watcher = Watcher(from_site, _port_open(primary), lambda: ask_witness(witness.endpoint, from_site),
                              witness_problem=None, interval=heartbeat_interval, threshold=missed_heartbeats)

            def watch() -> None:
                decision_box["decision"] = watcher.watch(timeout=120)
                decision_box["at"] = time.monotonic()

            watcher_thread = threading.Thread(target=watch, daemon=True)
            watcher_thread.start()

        _wait_for(lambda: len(writer.acks) >= 100 and (copier is None or copier.runs >= 1), 60,
                  "the writer's first 100 commits and the first bucket copy")
        time.sleep(rng.uniform(0.2, 1.5))  # a random moment: the kill may land mid-commit or mid-copy

        log(f"SIGKILL to {from_site}")
        kill_at = time.monotonic()
        primary.kill()
        if bucket:
            site_s3[from_site].kill()
        result.killed_after_s = kill_at - started
        if objects:
            # Only signalled here: a copy cut off mid-run waits out rclone's retries, which is
            # no part of the failover and must not be counted in its RTO. Joined below.
            objects.stop.set()
            copier.stop.set()

        if trigger == "automatic":
            watcher_thread.join(timeout=120)
            decision = decision_box.get("decision")
            if decision is None or decision.action != FAILOVER:
                raise DrillError(f"the watcher did not decide to fail over: {decision.reason if decision else 'no decision'}")
            command_at = decision_box["at"]
            result.decision, result.detection_s = decision.reason, command_at - kill_at
        else:
            command_at = time.monotonic()
            result.decision = "declared by the operator"

        recorders = {name: RecordingBackend(why) for name, why in CLOUD_ONLY.items()}
        db_backend = DatabaseBackend({(db, from_site): primary, (db, to_site): standby}, auth, names,
                                     fallback=RecordingBackend("no local server stands in for this system"))
        storage = StorageBackend(buckets, fallback=RecordingBackend("no local endpoint stands in for this bucket"))
        backends = {**recorders, "db": db_backend, "storage": storage,
                    "decide": RecordingBackend(f"decision: {result.decision}")}
        book = build(platform, graph, RunbookKind.unplanned, to_site, from_site)
        journal = Journal(journal_dir / "failover.jsonl", book.fingerprint, f"drill failover to {to_site}")
        steps = Executor(book, backends, journal).run()
        result.failover_steps = [{"step": s.step, "seconds": round(s.seconds, 4), "detail": s.detail} for s in steps]

        _wait_for(lambda: writer.first_ack_after(kill_at, standby.port) is not None, 30,
                  "the first write on the new primary")
        first = writer.first_ack_after(kill_at, standby.port)
        result.rto_from_kill_s = first - kill_at
        result.rto_from_command_s = first - command_at
        acked_by_old = writer.acked_ids(primary.port)
        result.acknowledged = len(acked_by_old)
        result.missing_after_failover = len(acked_by_old - _ids(standby))

        if bucket:
            objects.halt()
            copier.halt()
            result.objects_acknowledged = len(objects.acked)
            surviving = {o["Key"] for o in s3_client(buckets[(bucket, to_site)]).list_objects_v2(
                Bucket=bucket, Prefix="drill/").get("Contents", [])}
            result.objects_in_surviving_bucket = len(surviving & set(objects.acked))
            result.objects_lost = len(set(objects.acked) - surviving)

        log(f"restarting the old primary in {from_site}: it must refuse writes")
        primary.start()
        result.fenced_refuses_writes, result.fence_evidence = _refuses_writes(primary)

        if failback:
            log(f"failback to {from_site}")
            if bucket:
                site_s3[from_site].start()  # the site comes back, empty, perhaps on another port
                buckets[(bucket, from_site)] = _location(site_s3[from_site], bucket)
            back = build(platform, graph, RunbookKind.failback, from_site, to_site)
            Executor(back, backends, Journal(journal_dir / "failback.jsonl", back.fingerprint, "drill failback")).run()
            back_at = time.monotonic()
            _wait_for(lambda: writer.first_ack_after(back_at, primary.port) is not None, 30,
                      f"writes on {from_site} after failback")
            writer.halt()
            result.acknowledged_total = len(writer.acked_ids())
            result.missing_after_failback = len(writer.acked_ids() - _ids(primary))
            if bucket:
                back_keys = {o["Key"] for o in s3_client(buckets[(bucket, from_site)]).list_objects_v2(
                    Bucket=bucket, Prefix="drill/").get("Contents", [])}
                result.objects_missing_after_failback = len(surviving - back_keys)
            result.failback_done = True
        result.recorded_only = sorted({line for r in (*recorders.values(), db_backend.fallback, storage.fallback)
                                       for line in r.records})
    finally:
        for stop in reversed(stack):
            try:
                stop()
            except Exception:  # noqa: BLE001 - cleanup must try every service
                pass
        result.seconds_total = time.monotonic() - started
    return result


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
    """Median and worst RTO, and the RPO seen, over several drills."""
    from_kill = [r.rto_from_kill_s for r in results if r.rto_from_kill_s is not None]
    from_command = [r.rto_from_command_s for r in results if r.rto_from_command_s is not None]
    return {
        "runs": len(results),
        "rto_from_kill_median_s": statistics.median(from_kill) if from_kill else None,
        "rto_from_kill_worst_s": max(from_kill) if from_kill else None,
        "rto_from_command_median_s": statistics.median(from_command) if from_command else None,
        "rto_from_command_worst_s": max(from_command) if from_command else None,
        "rpo_commits": [r.rpo_commits for r in results],
        "fenced_every_time": all(r.fenced_refuses_writes for r in results),
    }
