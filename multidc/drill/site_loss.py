"""The site-loss drill: the production commands, run against a local deployment whose primary site burns.

The drill is a user of the operations, never a second implementation of them:

1. `multidc local up` starts the stack's data systems as real processes and writes the stack
   outputs document (a PostgreSQL pair per replicated PostgreSQL system, an S3 endpoint per
   site, a copy job per bucket copy);
2. one client per PostgreSQL system writes continuously through the endpoints of that
   document (`host=a,b target_session_attrs=read-write`, as an application's connection
   string does) and records every acknowledged commit; one per bucket puts objects;
3. at a random moment every process of the primary site gets SIGKILL;
4. `multidc failover --outputs FILE --yes --json` runs as a subprocess at once (`declared`: an
   operator's declaration), or (`--trigger automatic`) nobody runs it: the `multidc watch` of
   every site was started after `local up` (multidc.drill.automatic), the primary's died with its
   site, and the standby's takes the expired lease and runs the failover itself, with the
   lease's fencing token as the evidence that the lost site is isolated; where the failover
   stops at a step that needs an operator, the drill confirms that step and resumes
   (`--resume --confirm STEP`, multidc.drill.confirm) and lists it as not done;
5. the drill measures, per system, RTO from the kill to the first write acknowledged by the
   new primary and the acknowledged commits the new primary lacks; per bucket, the objects
   the surviving copy lacks;
6. `multidc local start` brings the site back: each old primary must refuse writes;
7. `multidc failback --outputs FILE --yes --json` runs as a subprocess; every acknowledged
   commit is checked again;
8. `multidc local down` stops everything.

The report lists every command it ran, with its exit code and duration.
"""

from __future__ import annotations

import os
import json
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import psycopg

from multidc import project
from multidc.contract import LOGICAL
from multidc.dr.geography import witness_problem
from multidc.local import deployment
from multidc.dr.runbook import RunbookKind, build
from multidc.ops import wiring
from multidc.ops.deployed import deployed
from multidc.ops.outputs import OutputsError, StackOutputs, read_file
from multidc.protection import logical
from multidc.protection import postgres as pg
from multidc.protection.rclone import S3Location
from multidc.spec import Platform

from . import automatic
from .clients import ObjectWriter, Writer
from .confirm import ConfirmError, run_confirming
from .redis_pair import redis_pairs, stop_all
from .report import BucketResult, DrillError, DrillResult, SystemResult

# How long a system whose primary survived may go without an acknowledged write before
# the drill reports that its writes stopped (a synchronous standby lost and not relaxed).
WRITES_CONTINUE_S = 10.0
DRILL_TABLE = "CREATE TABLE IF NOT EXISTS drill (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())"
COMMAND_TIMEOUT_S = 600.0  # generous: `local up` of kz-prod took over 300 s on a 2-core machine at load 25


@dataclass
class _Pair:
    """One PostgreSQL system's two servers (by site, as the outputs give them) and its client."""

    system: str
    mode: str
    mechanism: str
    primary_site: str
    standby_site: str
    servers: dict[str, pg.PgEndpoint]
    writer: Optional[Writer] = None

    @property
    def primary(self) -> pg.PgEndpoint:
        return self.servers[self.primary_site]

    @property
    def standby(self) -> pg.PgEndpoint:
        return self.servers[self.standby_site]


class _Commands:
    """Runs `multidc` commands as subprocesses in this project, and remembers each one."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.ran: list[dict[str, Any]] = []
        self.log = log
        self.env = {**os.environ, project.PROJECT_DIR_ENV: str(project.root()), "COLUMNS": "160"}

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        line = "multidc " + " ".join(args)
        self.log(f"$ {line}")
        started = time.monotonic()
        try:
            done = subprocess.run([sys.executable, "-m", "multidc", *args], env=self.env, capture_output=True,
                                  text=True, timeout=COMMAND_TIMEOUT_S, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            self.ran.append({"command": line, "exit_code": None, "seconds": COMMAND_TIMEOUT_S})
            raise DrillError(f"`{line}` did not finish within {COMMAND_TIMEOUT_S:.0f}s") from None
        self.ran.append({"command": line, "exit_code": done.returncode,
                         "seconds": round(time.monotonic() - started, 3)})
        if check and done.returncode != 0:
            raise DrillError(f"`{line}` exited {done.returncode}:\n{done.stderr.strip()[-3000:]}")
        return done


def _endpoint(database: Any) -> pg.PgEndpoint:
    return pg.PgEndpoint(host=database.host, port=database.port, user=database.user or "postgres",
                         password=database.password.get_secret_value() if database.password else None,
                         dbname=database.database or "postgres")


def _pairs(platform: Platform, document: StackOutputs) -> tuple[str, str, list[_Pair]]:
    """The primary site (killed), the site it fails over to, and every PostgreSQL pair between them."""
    from_site = platform.primary.name
    pairs = []
    for name, system in document.systems.items():
        placed = {site: p for site, p in system.placements.items() if p.database is not None}
        if system.kind != "postgres" or len(placed) != 2:
            continue
        standby = next(site for site in placed if site != system.primary_site)
        pairs.append(_Pair(name, (placed[standby].replication_link or {}).get("mode") or system.replication
                           or "async", placed[standby].replication_mechanism or "", system.primary_site, standby,
                           {site: _endpoint(p.database) for site, p in placed.items()}))
    first = next((p for p in pairs if p.primary_site == from_site), None)
    if first is None:
        raise DrillError(f"stack {platform.name}: no replicated PostgreSQL system is served from {from_site} in "
                         "the local deployment; the drill needs one (kind: postgres, topology: active-passive)")
    to_site = first.standby_site
    return from_site, to_site, [p for p in pairs if {p.primary_site, p.standby_site} == {from_site, to_site}]


def _bucket_pairs(document: StackOutputs, sites: set[str]) -> list[tuple[str, str, str, dict[str, S3Location]]]:
    """(bucket system, primary site, copy site, locations by site) of every bucket copied between `sites`."""
    locations = wiring.buckets(document)
    found = []
    for name, system in document.systems.items():
        for copy in system.copies:
            if {copy.source_site, copy.destination_site} == sites and copy.source_site == system.primary_site:
                found.append((name, copy.source_site, copy.destination_site,
                              {site: locations[(name, site)] for site in sites}))
    return found


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


def _ids(server: pg.PgEndpoint) -> set[int]:
    with psycopg.connect(pg.conninfo(server), autocommit=True, connect_timeout=5) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM drill")}


def _has_table(server: pg.PgEndpoint) -> bool:
    with psycopg.connect(pg.conninfo(server), autocommit=True, connect_timeout=2) as conn:
        return conn.execute("SELECT to_regclass('drill') IS NOT NULL").fetchone()[0]


def _refuses_writes(server: pg.PgEndpoint) -> tuple[bool, str]:
    """Try to write on `server` the hard way (explicit READ WRITE, superuser)."""
    try:
        with psycopg.connect(pg.conninfo(server), autocommit=True, connect_timeout=5) as conn:
            with conn.transaction():
                conn.execute("SET TRANSACTION READ WRITE")
                conn.execute("INSERT INTO drill (id) VALUES (-1)")
    except psycopg.Error as error:
        return True, str(error).strip().splitlines()[0]
    return False, "an explicit READ WRITE insert committed on the old primary"


def _keys(location: S3Location) -> set[str]:
    from multidc.dr.backends import s3_client

    pages = s3_client(location).get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix="drill/")
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def _json(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    try:
        return json.loads(done.stdout)
    except ValueError:
        raise DrillError(f"`multidc` exited {done.returncode} without a JSON report:\n{done.stderr[-2000:]}") from None


def _confirming(run: Any, args: list[str], what: str) -> tuple[dict[str, Any], list[str]]:
    """The command run to the end, confirming its needs-operator steps (multidc.drill.confirm)."""
    try:
        return run_confirming(run, args, what)
    except ConfirmError as error:
        raise DrillError(str(error)) from None


def run_drill(platform: Platform, stack: str, *, mode: Optional[str] = None, trigger: str = "declared",
              seed: Optional[int] = None, lease_ttl: int = 3, copy_interval: float = 1.0, failback: bool = True, workdir: Optional[Path] = None,
              log: Callable[[str], None] = lambda _: None) -> DrillResult:
    """One drill of `stack` on its local deployment; everything it starts is stopped before it returns.

    `mode` ('sync' or 'async') replaces every system's own replication mode; None keeps each one's.
    """
    if trigger not in ("declared", "automatic"):
        raise DrillError(f"--trigger {trigger}: use 'declared' (an operator runs failover) or 'automatic'")
    if mode not in (None, "sync", "async"):
        raise DrillError(f"--mode {mode}: use 'sync' or 'async'")
    if trigger == "automatic":
        # Checked before anything starts, on the spec: the pair the drill fails over is the first
        # replicated PostgreSQL system served from the primary site.
        first = next((s for s in platform.systems if s.kind.value == "postgres" and len(s.sites) > 1
                      and s.sites[0] == platform.primary.name), None)
        problem = first and witness_problem(platform, (first.sites[0], first.sites[1]))
        if problem:
            raise DrillError(f"--trigger automatic on {platform.name}: {problem}")
    if (deployment.state_dir(stack) / deployment.STATE_FILE).exists():
        raise DrillError(f"stack {stack}: a local deployment is already up; the drill starts its own. Stop it with "
                         f"`multidc local down --stack {stack}` first")
    workdir = Path(workdir or tempfile.mkdtemp(prefix="multidc-drill-"))
    outputs = workdir / "outputs.json"
    run = _Commands(log)
    rng = random.Random(seed)
    started = time.monotonic()
    stoppers: list[Callable[[], None]] = []  # clients and watchers, stopped in reverse order
    result = DrillResult(stack, mode or "per system", trigger, platform.primary.name, "")
    try:
        run("local", "up", "--stack", stack, "--outputs", str(outputs), "--copy-interval", str(copy_interval),
            *(("--mode", mode) if mode else ()))
        try:
            document = read_file(outputs)
        except OutputsError as error:
            raise DrillError(str(error)) from None
        from_site, to_site, pairs = _pairs(platform, document)
        result.to_site = to_site
        buckets = _bucket_pairs(document, {from_site, to_site})

        for pair in pairs:
            if pair.mechanism == LOGICAL:  # logical replication carries no DDL: both ends, then refresh
                logical.apply_ddl(pair.primary, pair.standby, DRILL_TABLE, dbname=pair.primary.dbname,
                                  subscription=logical.names(pair.system, pair.standby_site)[1])
            else:
                with psycopg.connect(pg.conninfo(pair.primary), autocommit=True, connect_timeout=5) as conn:
                    conn.execute(DRILL_TABLE)
            _wait_for(lambda: _has_table(pair.standby), 30, f"{pair.system}'s standby to replay the drill table")
            first, second = pair.primary, pair.standby
            pair.writer = Writer(psycopg.conninfo.make_conninfo(
                host=f"{first.host},{second.host}", port=f"{first.port},{second.port}", user=first.user,
                password=first.password, dbname=first.dbname, target_session_attrs="read-write"))
            pair.writer.start()
            stoppers.append(pair.writer.halt)
        kv_pairs = redis_pairs(document, {from_site, to_site})
        for kv in kv_pairs:
            kv.start()
        stoppers.append(stop_all(kv_pairs))
        objects: dict[str, ObjectWriter] = {}
        for name, home, _, locations in buckets:
            objects[name] = ObjectWriter(locations[home])
            objects[name].start()
            stoppers.append(objects[name].halt)

        watchers = None
        if trigger == "automatic":
            watchers = automatic.Watchers(stack, outputs, document, workdir, run.env, lease_ttl, run.ran, log)
            stoppers.append(watchers.stop)
            armed = automatic.arm(watchers, from_site, [s for s in document.sites if s != from_site],
                                  lambda: _json(run("status", "--stack", stack, "--outputs", str(outputs), "--json",
                                                    check=False)))
            log(f"automatic failover armed: {armed['reason']}")

        _wait_for(lambda: all(len(p.writer.acks) >= 100 for p in [*pairs, *kv_pairs])
                  and all(_keys(locations[copy]) for _, _, copy, locations in buckets),
                  60, "every writer's first 100 commits and every bucket's first copy")
        time.sleep(rng.uniform(0.2, 1.5))  # a random moment: the kill may land mid-commit or mid-copy

        for kv in kv_pairs:
            kv.sample_lag()
        log(f"SIGKILL to every process of {from_site}")
        kill_at = time.monotonic()
        if watchers is not None:
            watchers.kill(from_site)  # the site's watcher burns with it; its etcd member is in kill_site
        deployment.kill_site(stack, from_site)
        all_dead_at = time.monotonic()
        run.ran.append({"command": f"multidc local kill --stack {stack} --site {from_site}", "exit_code": 0,
                        "seconds": round(all_dead_at - kill_at, 3),
                        "note": "in-process, so that the drill knows the moment of the kill"})
        result.kill_took_s, result.killed_after_s = all_dead_at - kill_at, kill_at - started
        for writer in objects.values():
            writer.stop.set()

        if watchers is not None:
            holder, command_at, journal, ended = automatic.take_over(watchers, from_site, to_site)
            result.fencing_token, result.detection_s = holder.token, command_at - kill_at
            result.decision = (f"{from_site}'s lease expired; the `multidc watch` in {to_site} took it (fencing token "
                               f"{holder.token}) and ran the failover")
            if ended.get("result") == "failed":
                raise DrillError(f"the failover `multidc watch` started failed; its journal: {journal}")
            watchers.stop()  # measured; the lease stays with the new primary's site (failback does not move it)
            # The watcher's failover stopped at the steps no local backend performs: the drill, as the
            # operator, confirms them (its journal names them) and resumes that run from its journal.
            stopped_at = automatic.waiting(journal, ended)
            report, confirmed = _confirming(run, ["failover", "--stack", stack, "--to", to_site, "--from", from_site,
                                                  "--outputs", str(outputs), "--yes", "--json", "--journal",
                                                  str(journal), "--resume", *(f"--confirm={s}" for s in stopped_at)],
                                            "multidc failover")
            confirmed = [f"{step}: {detail}" for step, detail in stopped_at.items()] + confirmed
        else:
            command_at = time.monotonic()
            result.decision = "declared by the operator"
            # The provider's isolation of the lost site is what the drill itself did (SIGKILL of every
            # process there): it confirms that step up front, as an operator who saw it done would.
            book = build(platform, deployed(document), RunbookKind.unplanned, to_site, from_site)
            isolated = [step.id for step in book.steps() if step.action == "manual.isolate" and step.site == from_site]
            report, confirmed = _confirming(run, ["failover", "--stack", stack, "--to", to_site, "--from", from_site,
                                                  "--outputs", str(outputs), "--yes", "--json", "--journal",
                                                  str(workdir / "failover.jsonl"),
                                                  *(f"--confirm={step}" for step in isolated)], "multidc failover")
            confirmed = [f"{step}: isolated by the drill (every process of {from_site} got SIGKILL)"
                         for step in isolated] + confirmed
        result.failover_steps = [{"step": s["step"], "status": s["status"], "seconds": s["seconds"],
                                  "detail": s["detail"]} for s in report["steps"]]
        recorded = set(confirmed)

        for pair in pairs:
            failed_over = pair.primary_site == from_site
            serving = pair.standby if failed_over else pair.primary
            outcome = SystemResult(pair.system, pair.mode, pair.primary_site, pair.standby_site, pair.mechanism,
                                   failed_over)
            result.systems.append(outcome)
            if not failed_over and pair.mode == "sync":
                outcome.sync_relaxed_by_runbook = any(
                    s["action"] == "db.relax" and s["system"] == pair.system for s in report["steps"])
            # A surviving primary counts only writes begun once its standby was dead: a commit
            # in flight at the kill may have been confirmed by that standby just before it died.
            since = kill_at if failed_over else all_dead_at
            try:
                _wait_for(lambda: pair.writer.first_ack_after(since, serving.port, begun=not failed_over) is not None,
                          30 if failed_over else WRITES_CONTINUE_S, f"the first write on {pair.system}'s primary")
            except DrillError:
                if failed_over:
                    raise
                log(f"{pair.system}: no write acknowledged within {WRITES_CONTINUE_S:.0f}s of losing its standby")
            first = pair.writer.first_ack_after(since, serving.port, begun=not failed_over)
            outcome.writes_continued = first is not None
            if first is not None:
                outcome.rto_from_kill_s = first - kill_at
                outcome.rto_from_command_s = first - command_at if failed_over else None
            acked_by_old = pair.writer.acked_ids(pair.primary.port)
            outcome.acknowledged = len(acked_by_old)
            outcome.missing_after_failover = len(acked_by_old - _ids(serving))

        result.systems += [kv.after_failover(from_site, kill_at, command_at) for kv in kv_pairs]

        surviving: dict[str, set[str]] = {}
        for name, home, copy, locations in buckets:
            objects[name].halt()
            failed_over = home == from_site
            outcome = BucketResult(name, home, copy, failed_over)
            result.buckets.append(outcome)
            acked = set(objects[name].acked)
            keys = _keys(locations[copy if failed_over else home])
            surviving[name] = keys & acked
            outcome.objects_acknowledged, outcome.objects_surviving = len(acked), len(keys & acked)
            outcome.objects_lost = len(acked - keys)

        log(f"{from_site} comes back: its servers restart; each old primary must refuse writes")
        run("local", "start", "--stack", stack, "--site", from_site)
        for pair, outcome in zip(pairs, result.systems):
            if outcome.failed_over:
                outcome.fenced_refuses_writes, outcome.fence_evidence = _refuses_writes(pair.primary)
        for kv in kv_pairs:
            if kv.result is not None and kv.result.failed_over:
                kv.result.fenced_refuses_writes, kv.result.fence_evidence = kv.old_primary_refuses_writes()

        if failback:
            back, confirmed = _confirming(run, ["failback", "--stack", stack, "--to", from_site, "--from", to_site,
                                                "--outputs", str(outputs), "--yes", "--json", "--journal",
                                                str(workdir / "failback.jsonl")], "multidc failback")
            recorded |= set(confirmed)
            back_at = time.monotonic()
            for pair, outcome in zip(pairs, result.systems):
                serving_site = next((site for site, server in pair.servers.items() if pg.accepts_writes(server)), None)
                if serving_site is None:
                    raise DrillError(f"after failback no server of {pair.system} takes writes; see the journal in "
                                     f"{workdir}")
                serving = pair.servers[serving_site]
                _wait_for(lambda: pair.writer.first_ack_after(back_at, serving.port) is not None, 30,
                          f"writes on {pair.system} in {serving_site} after failback")
                pair.writer.halt()
                outcome.primary_after_failback = serving_site
                outcome.acknowledged_total = len(pair.writer.acked_ids())
                outcome.missing_after_failback = len(pair.writer.acked_ids() - _ids(serving))
                outcome.failback_done = True
            for kv in kv_pairs:
                kv.after_failback(back_at)
            switched = {s["system"]: s["site"] for s in back["steps"] if s["action"] == "storage.switch"
                        and s["status"] == "done"}
            for (name, home, _, locations), outcome in zip(buckets, result.buckets):
                serving_site = switched.get(name, home)
                outcome.serving_after_failback = serving_site
                outcome.objects_missing_after_failback = len(surviving[name] - _keys(locations[serving_site]))
            result.failback_done = True
        result.confirmed_by_drill = sorted(recorded)
    finally:
        for stop in reversed(stoppers):
            try:
                stop()
            except Exception:  # noqa: BLE001 - cleanup must try every client
                pass
        run("local", "down", "--stack", stack, check=False)
        result.commands = run.ran
        result.seconds_total = time.monotonic() - started
    return result
