"""The partition drill: each site in its own network namespace, links cut for real, automatic failover judged.

1. `multidc local up --netns` (a project directory of the drill's own, so nothing else's deployment or
   journals are touched) starts every PostgreSQL system in its sites' namespaces, on the site
   addresses, with the mechanism the stack deploys (logical replication, synchronous for kz-prod's
   core-db and cards-db), and an etcd member in each site and in the witness location;
2. a `multidc watch` runs in each site's namespace against its own etcd member: the primary site's
   takes the lease; a writer (multidc.drill.netwriter) in each site's namespace writes to its own
   site's databases and records every acknowledged commit with a CLOCK_MONOTONIC timestamp;
3. three cases, one after the other on the same deployment, each from a healed network, with the
   etcd leader in the primary site (see `_LEADER`):
   - `witness-lost`: the witness cut from both sites: nothing may change;
   - `sites-cut`: only the link between the sites: no failover, no lost write; synchronous commits
     stall while the link is cut (reported as `writes_stalled_s`);
   - `primary-isolated`: the primary site cut from both: the standby site's watcher takes the
     lease once it expired and runs `multidc failover` itself; the old primary's watcher fences
     it at its lease deadline. Reported: RTO from the cut to the first write acknowledged by the
     new primary, whether the two primaries' acknowledgements overlap, what was lost;
4. everything is stopped and removed (`multidc local down` removes the namespaces), also on an error
   or Ctrl-C.

Where namespaces cannot be made (not root, no `ip`, `ip netns add` refused) the drill stops before
anything starts, with PartitionNotPermitted: never a pass.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import psycopg

from multidc import project
from multidc.contract import LOGICAL
from multidc.local import deployment
from multidc.local.etcd import LocalEtcd, LocalEtcdError, leader, move_leader
from multidc.local.netns import NetnsUnavailable, Topology, check_permitted
from multidc.ops.lease import Etcd, EtcdUnavailable, current_holder, lease_key
from multidc.ops.outputs import OutputsError, read_file
from multidc.protection import logical
from multidc.protection import postgres as pg
from multidc.spec import Platform

from . import acks as ack
from .report import DrillError
from .site_loss import DRILL_TABLE, _Commands, _ids, _has_table, _Pair, _pairs, _wait_for

CASES = ("witness-lost", "sites-cut", "primary-isolated")
STANDBY_FIRST_ID = 1_000_000_000  # the standby site's writer's ids: never the primary's
FAILOVER_WAIT_S = 90.0
RESUME_WAIT_S = 60.0
# The etcd leader is moved into the primary site before each case. With the leader in the standby
# site, cutting the two sites apart would leave the primary's member without its leader: the
# primary could not renew, would fence itself and the standby would take over; safe (no overlap, no
# loss with synchronous replication) but a failover the witness could have spared.
_LEADER = "the etcd leader was moved into the primary site before the cut (etcd leadership transfer)"


class PartitionNotPermitted(DrillError):
    """Network namespaces cannot be made here: the drill cannot run (never a pass)."""


@dataclass
class CaseResult:
    """One case: what was cut, and what the writers, the watchers and the servers showed."""

    name: str
    links_cut: list[list[str]]
    expect_failover: bool
    overlap: bool = False
    lost: int = 0
    rto_s: Optional[float] = None
    writes_stalled_s: Optional[float] = None
    failed_over: bool = False
    cut_for_s: float = 0.0
    leader_at_cut: Optional[str] = None
    lease_holder_after: Optional[str] = None
    systems: list[dict[str, Any]] = field(default_factory=list)
    failover: Optional[dict[str, Any]] = None
    problems: list[str] = field(default_factory=list)
    watchers: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "overlap": self.overlap, "lost": self.lost, "rto_s": _round(self.rto_s),
                "writes_stalled_s": _round(self.writes_stalled_s), "failed_over": self.failed_over,
                "expected_failover": self.expect_failover, "links_cut": self.links_cut,
                "cut_for_s": _round(self.cut_for_s), "etcd_leader_at_cut": self.leader_at_cut,
                "lease_holder_after": self.lease_holder_after, "ok": self.ok, "problems": self.problems,
                "systems": self.systems, "failover": self.failover,
                **({"watchers_last_lines": self.watchers} if self.watchers else {})}


def _round(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value, 3)


@contextlib.contextmanager
def _own_project(workdir: Path) -> Iterator[Path]:
    """A project directory of the drill's own (the stack files linked in): its local deployment and the
    failover journals live there and go with it; every command the drill runs uses it."""
    folder = workdir / "project"
    folder.mkdir()
    root = project.root()
    for name in (project.PROJECT_FILE, "stacks"):
        (folder / name).symlink_to(root / name)
    before = os.environ.get(project.PROJECT_DIR_ENV)
    os.environ[project.PROJECT_DIR_ENV] = str(folder)
    try:
        yield folder
    finally:
        if before is None:
            os.environ.pop(project.PROJECT_DIR_ENV, None)
        else:
            os.environ[project.PROJECT_DIR_ENV] = before


class _Site:
    """What runs in one site's namespace on the drill's behalf: its watcher and its writer."""

    def __init__(self, name: str, topology: Topology, workdir: Path) -> None:
        self.name, self.topology = name, topology
        self.dir = workdir / name
        self.dir.mkdir()
        self.processes: list[subprocess.Popen[bytes]] = []
        self.lines: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def spawn(self, args: list[str], stdout: Path, stdin: Optional[bytes] = None) -> None:
        with open(stdout, "ab") as out:
            process = subprocess.Popen([*self.topology.launcher(self.name), sys.executable, *args], stdout=out,
                                       stderr=subprocess.PIPE,
                                       stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL)
        if stdin is not None:
            process.stdin.write(stdin)
            process.stdin.close()
        threading.Thread(target=self._stamp, args=(process.stderr,), daemon=True).start()
        self.processes.append(process)

    def _stamp(self, stream: Any) -> None:
        """Each line the process writes on stderr, with the moment it came (CLOCK_MONOTONIC)."""
        for line in stream:
            moment = time.monotonic()
            with self._lock:
                self.lines.append((moment, line.decode(errors="replace").rstrip()))

    def first_line(self, text: str, after: float) -> Optional[float]:
        """When the watcher first said `text` after `after` (None: not yet)."""
        with self._lock:
            return next((t for t, line in self.lines if t > after and text in line), None)

    def acks(self, system: str) -> list[ack.Ack]:
        return ack.read(self.dir / "acks" / f"{system}.acks")

    def failover_reports(self) -> list[dict[str, Any]]:
        """The JSON reports of the `multidc failover` runs the watcher started (they print on its stdout)."""
        text, reports, decoder, at = (self.dir / "watch.out").read_text(), [], json.JSONDecoder(), 0
        while True:
            at = text.find("{", at)
            if at < 0:
                return reports
            try:
                report, at = decoder.raw_decode(text, at)
            except ValueError:
                return reports  # still being written
            reports.append(report)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _conninfo(server: pg.PgEndpoint) -> str:
    return psycopg.conninfo.make_conninfo(host=server.host, port=server.port, user=server.user,
                                          password=server.password, dbname=server.dbname, connect_timeout=2)


def run_partition(platform: Platform, stack: str, *, ttl: int = 3, hold_s: Optional[float] = None,
                  cases: tuple[str, ...] = CASES, log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """The three cases on one local deployment with namespaces; everything is removed before it returns."""
    try:
        check_permitted()
    except NetnsUnavailable as error:
        raise PartitionNotPermitted(f"the partition drill cannot run here: {error}") from None
    if platform.witness is None:
        raise DrillError(f"stack {stack} has no witness: the partition drill cuts the links between the sites and "
                         "the witness location; declare a witness in the spec")
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        raise DrillError(f"unknown case(s) {', '.join(unknown)}; the cases are {', '.join(CASES)}")
    # Longer than the lease TTL plus an etcd election (1 s) and a margin: had the cut moved the lease, it would have.
    hold_s = hold_s if hold_s is not None else ttl + 3
    workdir = Path(tempfile.mkdtemp(prefix="multidc-partition-"))
    started = time.monotonic()
    result: dict[str, Any] = {"stack": stack, "scenario": "partition", "ttl_s": ttl, "hold_s": hold_s,
                              "leader": _LEADER, "cases": []}
    state: Optional[dict[str, Any]] = None
    sites: dict[str, _Site] = {}
    try:
        with _own_project(workdir):
            run = _Commands(log)
            try:
                outputs = workdir / "outputs.json"
                run("local", "up", "--stack", stack, "--outputs", str(outputs), "--netns")
                state = deployment.load_state(stack)
                try:
                    document = read_file(outputs)
                except OutputsError as error:
                    raise DrillError(str(error)) from None
                topology = Topology.from_record(state["netns"])
                etcd = LocalEtcd.attach(state["etcd"])
                members = {name: etcd.endpoint(name) for name in topology.locations}
                primary, standby, pairs = _pairs(platform, document)
                pairs = [p for p in pairs if p.primary_site == primary and p.mechanism == LOGICAL]
                result.update(primary_site=primary, standby_site=standby, witness=platform.witness.name,
                              addresses=topology.addresses, systems=[p.system for p in pairs],
                              modes={p.system: p.mode for p in pairs})
                for pair in pairs:
                    logical.apply_ddl(pair.primary, pair.standby, DRILL_TABLE, dbname=pair.primary.dbname,
                                      subscription=logical.names(pair.system, pair.standby_site)[1])
                    _wait_for(lambda: _has_table(pair.standby), 30, f"{pair.system}'s standby to have the drill table")
                sites = {name: _Site(name, topology, workdir) for name in (primary, standby)}
                for name, site in sites.items():
                    site.spawn(["-m", "multidc", "watch", "--stack", stack, "--site", name, "--etcd", members[name],
                                "--outputs", str(outputs), "--ttl", str(ttl)], site.dir / "watch.out")
                key = lease_key(stack)
                _wait_for(lambda: _holder(members, key) == primary, 60, f"{primary}'s watcher to take the lease")
                for name, site in sites.items():
                    (site.dir / "acks").mkdir()
                    config = {"first_id": 1 if name == primary else STANDBY_FIRST_ID,
                              "systems": {p.system: _conninfo(p.servers[name]) for p in pairs}}
                    site.spawn(["-m", "multidc.drill.netwriter", str(site.dir / "acks")], site.dir / "writer.out",
                               stdin=json.dumps(config).encode())
                _wait_for(lambda: all(len(sites[primary].acks(p.system)) >= 50 for p in pairs), 60,
                          "the first 50 acknowledged writes of every system in the primary site")
                for name in cases:
                    log(f"case {name}")
                    case = _run_case(name, topology, members, key, primary, standby, platform.witness.name, pairs,
                                     sites, hold_s, log)
                    result["cases"].append(case.to_json())
            except (NetnsUnavailable, LocalEtcdError, psycopg.Error, pg.ReplicationError, OSError) as error:
                raise DrillError(f"the partition drill stopped: {type(error).__name__}: {error}") from None
            finally:
                for site in sites.values():
                    site.stop()
                run("local", "down", "--stack", stack, check=False)
                result["commands"] = run.ran
    finally:
        if state is not None and state.get("netns"):
            Topology.from_record(state["netns"]).remove()  # `local down` did; again in case it could not
        shutil.rmtree(workdir, ignore_errors=True)
    result["ok"] = all(c["ok"] for c in result["cases"]) and len(result["cases"]) == len(cases)
    result["seconds_total"] = round(time.monotonic() - started, 3)
    return result


def _holder(members: dict[str, str], key: str) -> Optional[str]:
    for endpoint in members.values():
        try:
            held = current_holder(Etcd(endpoint), key)
            return held.site if held else None
        except EtcdUnavailable:
            continue
    return None


def _run_case(name: str, topology: Topology, members: dict[str, str], key: str, primary: str, standby: str,
              witness: str, pairs: list[_Pair], sites: dict[str, _Site], hold_s: float,
              log: Callable[[str], None]) -> CaseResult:
    links = {"witness-lost": [(witness, primary), (witness, standby)], "sites-cut": [(primary, standby)],
             "primary-isolated": [(primary, standby), (primary, witness)]}[name]
    case = CaseResult(name, [sorted(link) for link in links], expect_failover=name == "primary-isolated")
    try:
        move_leader(members, primary)
    except LocalEtcdError as error:
        case.problems.append(f"not run as intended: {error}")
    case.leader_at_cut = leader(members)
    reports_before = len(sites[standby].failover_reports())
    cut_at, cut_wall = time.monotonic(), time.time()
    for a, b in links:
        topology.cut(a, b)
    log(f"cut {', '.join(f'{a}-{b}' for a, b in links)}")
    try:
        if case.expect_failover:
            # Until the new primary acknowledged a write on every system, and its failover reported.
            _wait_for(lambda: all(ack.first_after(sites[standby].acks(p.system), cut_at) for p in pairs)
                      and len(sites[standby].failover_reports()) > reports_before, FAILOVER_WAIT_S,
                      f"the watcher in {standby} to fail over and writes to be acknowledged there")
        else:
            time.sleep(hold_s)
    except DrillError as error:
        case.problems.append(str(error))
    healed_at = time.monotonic()
    topology.heal_all()
    case.cut_for_s = healed_at - cut_at
    log("healed")
    serving = standby if case.expect_failover else primary
    try:
        # Writes resume where they are now served (a stalled synchronous commit returns once the link is back).
        _wait_for(lambda: all(ack.first_after(sites[serving].acks(p.system), healed_at) for p in pairs),
                  RESUME_WAIT_S, f"writes to be acknowledged in {serving} after the link came back")
    except DrillError as error:
        case.problems.append(str(error))
    reports = sites[standby].failover_reports()[reports_before:]
    case.failover = _summary(reports[-1], cut_wall) if reports else None
    if case.failover is not None:
        took = sites[standby].first_line("took the lease", cut_at)
        case.failover["lease_taken_after_cut_s"] = _round(took - cut_at) if took is not None else None
        fenced = sites[primary].first_line("fenced ", cut_at)
        case.failover["old_primary_fenced_itself_after_cut_s"] = _round(fenced - cut_at) if fenced is not None else None
        # The design's promise: the holder cut off stops its writes before the lease can move (multidc.ops.lease).
        if fenced is None or (took is not None and fenced > took):
            case.problems.append("the old primary's watcher did not fence it before the standby took the lease "
                                 f"(fenced {case.failover['old_primary_fenced_itself_after_cut_s']} s, lease taken "
                                 f"{case.failover['lease_taken_after_cut_s']} s after the cut)")
    _judge(case, pairs, sites, primary, standby, serving, cut_at)
    case.lease_holder_after = _holder(members, key)
    if case.problems:  # what each watcher said last, for whoever reads the failed case
        case.watchers = {name: [line for _, line in site.lines[-15:]] for name, site in sites.items()}
    return case


def _summary(report: dict[str, Any], cut_wall: float) -> dict[str, Any]:
    """The failover the watcher ran: its result and, from its journal, when it started and promoted (s after the cut)."""
    events = []
    with contextlib.suppress(OSError, KeyError, ValueError):
        events = [json.loads(line) for line in Path(report["journal"]).read_text().splitlines() if line.strip()]
    started = next((e["time"] for e in events if e.get("event") == "plan"), None)
    promoted = max((e["time"] for e in events if e.get("event") == "done" and ".db.promote." in e.get("step", "")),
                   default=None)
    return {"result": report.get("result"), "fencing_token": report.get("fencing_token"),
            "started_after_cut_s": _round(started - cut_wall) if started else None,
            "promoted_after_cut_s": _round(promoted - cut_wall) if promoted else None,
            "not_performed": report.get("not_performed"), "counts": report.get("counts"),
            "db_steps": [{"step": s["step"], "status": s["status"], "seconds": s["seconds"]}
                         for s in report.get("steps", []) if s["action"].startswith(("db.", "manual."))]}


def _judge(case: CaseResult, pairs: list[_Pair], sites: dict[str, _Site], primary: str, standby: str,
           serving: str, cut_at: float) -> None:
    """Overlap, loss, RTO and stalls per system, from the writers' records and the serving servers."""
    ended_at = time.monotonic()
    for pair in pairs:
        old, new = sites[primary].acks(pair.system), sites[standby].acks(pair.system)
        new_in = ack.within(new, cut_at, ended_at)
        failed_over = bool(new_in)
        try:
            present = _ids(pair.servers[serving])
        except psycopg.Error as error:
            case.problems.append(f"{pair.system}: cannot read the rows of {serving}: {error}")
            present = set()
        missing = ack.lost([a for a in old + new if a.acked <= ended_at], present)
        first_new = ack.first_after(new, cut_at)
        system: dict[str, Any] = {
            "system": pair.system, "mode": pair.mode, "serving": serving, "failed_over": failed_over,
            "acknowledged": {primary: len(old), standby: len(new)}, "lost": len(missing), "lost_ids": missing[:20],
            "overlap": ack.overlap([a for a in old if a.acked <= ended_at], new),
            "gap_s": _round(ack.gap(ack.within(old, 0, ended_at), new_in)),
            "rto_s": _round(first_new - cut_at) if first_new is not None else None,
            # Failed over: writes stopped from the cut to the new primary's first answer (the RTO).
            "writes_stalled_s": _round(first_new - cut_at if failed_over and first_new is not None
                                       else ack.longest_stall(old, cut_at, ended_at)),
        }
        if case.expect_failover:
            # A commit acknowledged just after the cut may have been confirmed by the standby just before it;
            # what the old primary must never do is answer while the new one does (the overlap test).
            last_old = max((a.acked for a in old), default=None)
            system["old_primary_last_ack_after_cut_s"] = _round(last_old - cut_at) if last_old is not None else None
            refuses = not pg.accepts_writes(pair.servers[primary], timeout=5)
            system["old_primary_refuses_writes"] = refuses
            if not refuses:
                case.problems.append(f"{pair.system}: the old primary in {primary} still accepts writes")
        case.systems.append(system)
        case.failed_over = case.failed_over or failed_over
        case.overlap = case.overlap or system["overlap"]
        case.lost += len(missing)
        if system["rto_s"] is not None:
            case.rto_s = max(case.rto_s or 0.0, system["rto_s"])
        case.writes_stalled_s = max(case.writes_stalled_s or 0.0, system["writes_stalled_s"] or 0.0)
    if case.failed_over != case.expect_failover:
        case.problems.append("a failover happened that the case does not call for" if case.failed_over
                             else "no failover happened")
    if case.overlap:
        case.problems.append("two primaries acknowledged writes at the same time")
    if case.lost:
        case.problems.append(f"{case.lost} acknowledged write(s) missing on the primary in {serving}")
    if not case.expect_failover:
        case.rto_s = None


def render(report: dict[str, Any]) -> str:
    """The report as text: one line per case, then its problems."""
    lines = [f"partition drill of {report['stack']}: primary {report.get('primary_site')}, standby "
             f"{report.get('standby_site')}, witness {report.get('witness')}; lease TTL {report['ttl_s']} s; "
             f"systems {', '.join(report.get('systems', []))}"]
    for case in report["cases"]:
        rto = "-" if case["rto_s"] is None else f"{case['rto_s']:.2f} s"
        lines.append(f"  {case['name']:<17} {'ok' if case['ok'] else 'FAILED':<6} failover: "
                     f"{'yes' if case['failed_over'] else 'no':<3}  RTO {rto:<8}  writes stalled "
                     f"{case['writes_stalled_s']:.2f} s  lost {case['lost']}  overlap {'YES' if case['overlap'] else 'no'}")
        lines += [f"      - {problem}" for problem in case["problems"]]
    lines.append(f"{'every case held' if report['ok'] else 'NOT every case held'} "
                 f"({report['seconds_total']:.0f} s in all)")
    return "\n".join(lines)
