"""DR runbooks as data: ordered groups of steps, generated from the spec and the planned graph.

Like Azure Site Recovery's recovery plans: groups run in order, the steps inside a group
run in parallel. Each step names its action (what the executor calls), target site,
system, precondition, verification, rollback and owner (customer or provider, after the
shared-responsibility split: the provider answers for the DC, hardware and its own
infrastructure; the customer for data, applications, databases and identity).

Four runbooks per target site: planned switchover (both sites up, zero loss), unplanned
failover (the primary site is lost), failback (re-protect the old primary, then switch
back) and test failover (into an isolated network, production untouched).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from typing import Any, Iterator, Optional, Union

from multidc.plan.graph import ResourceGraph
from multidc.spec import DATABASE_KINDS, Kind, Platform, System

from .assumptions import DNS_TTL_S
from .geography import witness_problem
from .inventory import Deployed, read
from .mechanism_steps import PROMOTE, REPROTECT, texts as mechanism_texts

CUSTOMER, PROVIDER = "customer", "provider"


class RunbookKind(str, Enum):
    planned = "planned-switchover"
    unplanned = "unplanned-failover"
    failback = "failback"
    test = "test-failover"


@dataclass(frozen=True)
class Step:
    """One action on one system in one site, with how to check it and how to undo it."""

    id: str
    action: str  # '<backend>.<verb>', e.g. 'db.promote'
    title: str
    site: str
    system: Optional[str]
    precondition: str
    verification: str
    rollback: str
    owner: str = CUSTOMER
    params: tuple[tuple[str, Any], ...] = ()

    def param(self, name: str, default: Any = None) -> Any:
        return dict(self.params).get(name, default)

    @property
    def backend(self) -> str:
        return self.action.split(".", 1)[0]


@dataclass(frozen=True)
class Group:
    """Steps that may run at the same time; the next group starts when all are done."""

    title: str
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Runbook:
    """One runbook of one stack."""

    stack: str
    kind: RunbookKind
    from_site: str
    to_site: str
    groups: tuple[Group, ...]
    automatic: Optional[str]  # None: the watcher may run it with the witness; else why not
    notes: tuple[str, ...] = field(default_factory=tuple)

    def steps(self) -> Iterator[Step]:
        for group in self.groups:
            yield from group.steps

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack, "kind": self.kind.value, "from_site": self.from_site, "to_site": self.to_site,
            "automatic": {"allowed": self.automatic is None, "reason": self.automatic},
            "notes": list(self.notes),
            "groups": [{"title": g.title, "steps": [{**asdict(s), "params": dict(s.params)} for s in g.steps]}
                       for g in self.groups],
        }

    @property
    def fingerprint(self) -> str:
        """A hash of the plan: a journal written for another plan is never resumed by this one."""
        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True, default=str).encode()).hexdigest()[:16]


class RunbookError(ValueError):
    """A runbook cannot be built for the sites asked; the message names the fix."""


# --- what moves --------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Move:
    """One system whose service moves from one site to another."""

    system: System
    from_site: str
    to_site: str
    how: str  # replica (a standby in to_site), active (already serving there), restore (from a backup there)


def _moves(platform: Platform, deployed: Deployed, from_site: str, to_site: str) -> list[_Move]:
    moves = []
    for system in platform.systems:
        primary = deployed.primary_of(system.name, system.sites)
        target = deployed.placement(system.name, to_site)
        if primary is None or primary.site != from_site:
            if primary is not None and primary.role == "active" and target is not None \
                    and deployed.placement(system.name, from_site) is not None:
                moves.append(_Move(system, from_site, to_site, "active"))
            continue
        if target is not None and target.role == "standby":
            moves.append(_Move(system, from_site, to_site, "replica"))
        elif target is not None and target.role == "active":
            moves.append(_Move(system, from_site, to_site, "active"))
        elif any(b.site == to_site for b in deployed.backups_of(system.name)):
            moves.append(_Move(system, from_site, to_site, "restore"))
    return moves


def _dns_name(platform: Platform, system: System, site: str) -> Optional[str]:
    zone = platform.site(site).cloud.dns_zone
    return f"{system.name}.{zone}" if zone else None


def _is_db(move: _Move) -> bool:
    return move.system.kind in DATABASE_KINDS and move.how == "replica"


def _is_bucket(move: _Move) -> bool:
    return move.system.kind is Kind.bucket and move.how == "replica"


def _is_cluster(move: _Move) -> bool:
    # A warm-standby VM group reaches its full count through the pulumi.flip step.
    return move.system.kind in (Kind.kubernetes, Kind.ml_platform) and move.how == "replica"


def _step(group: int, action: str, move_or_site: Any, **fields: Any) -> Step:
    params = dict(fields.pop("params", {}))
    if isinstance(move_or_site, _Move):
        system, site = move_or_site.system.name, fields.pop("site", move_or_site.to_site)
        params.update(from_site=move_or_site.from_site, to_site=move_or_site.to_site)
    else:
        system, site = fields.pop("system", None), move_or_site
    params = tuple(sorted(params.items()))
    return Step(id=f"{group}.{action}.{system or site}", action=action, site=site, system=system, params=params,
                **fields)


def _texts(table: dict[str, dict[str, str]], deployed: Optional[Deployed], move: _Move, site: str,
           new: str = "") -> dict[str, str]:
    """Title, verification and rollback of a database step for the mechanism the system is deployed with."""
    mechanisms = [p.mechanism for p in (deployed.placements if deployed else ()) if p.system == move.system.name
                  and p.mechanism]
    return mechanism_texts(table, mechanisms[0] if mechanisms else None, system=move.system.name, site=site,
                           new=new)


def _groups(*groups: tuple[str, list[Step]]) -> tuple[Group, ...]:
    return tuple(Group(title, tuple(steps)) for title, steps in groups if steps)


# --- the groups every runbook shares ------------------------------------------------------------

def _scale_dns_pulumi(platform: Platform, moves: list[_Move], first: int, from_site: str, to_site: str,
                      stack: str, only: Optional[frozenset[str]] = None) -> list[tuple[str, list[Step]]]:
    scale = [_step(first, "k8s.scale", m, title=f"Scale {m.system.name} in {m.to_site} to full size",
                   precondition="the data stores it uses are writable in this site (previous groups done)",
                   verification="every node group and deployment reports its full ready count",
                   rollback=f"scale {m.system.name} in {m.to_site} back to its warm-standby size",
                   params={"kind": m.system.kind.value, "count": m.system.size.count})
             for m in moves if _is_cluster(m)]
    dns = []
    for m in moves:
        name = _dns_name(platform, m.system, m.to_site)
        if name is None:
            continue
        dns.append(_step(first + 1, "dns.switch", m, title=f"Point {name} at {m.to_site}",
                         precondition=f"{m.system.name} serves in {m.to_site}",
                         verification=f"Designate answers {name} with {m.to_site}'s address, TTL {DNS_TTL_S.value:.0f}s",
                         rollback=f"point {name} back at {m.from_site}",
                         params={"record": name, "ttl": int(DNS_TTL_S.value)}))
    flip = [_step(first + 2, "pulumi.flip", to_site,
                  title=f"Make {to_site} the active site of stack {stack} and run pulumi up",
                  precondition="every earlier group is done: the code must describe what now runs",
                  verification="pulumi up succeeds with no replacement of a data store (or the offline plan "
                               "diff shows only the role and scale changes)",
                  rollback="flip the active site back and run pulumi up",
                  params={"stack": stack, "from_site": from_site,
                          **({"systems": ",".join(sorted(only))} if only is not None else {})})]
    return [("Scale up the surviving site", scale), ("Re-point clients (DNS)", dns), ("Make the code match", flip)]


def _restore_steps(moves: list[_Move], group: int) -> list[Step]:
    return [_step(group, "restore.backup", m, title=f"Restore {m.system.name} in {m.to_site} from its backups",
                  precondition=f"an instance for {m.system.name} exists in {m.to_site} (pulumi up)",
                  verification="the restored data's newest record is no older than the backup interval",
                  rollback="drop the restored instance; production is unchanged") for m in moves if m.how == "restore"]


# --- the four runbooks -------------------------------------------------------------------------

def unplanned_failover(platform: Platform, deployed: Deployed, from_site: str, to_site: str) -> Runbook:
    """The primary site is lost: fence it, promote the standbys, scale up, re-point, flip the code."""
    moves = _moves(platform, deployed, from_site, to_site)
    automatic = witness_problem(platform, (from_site, to_site))
    declare = [_step(1, "decide.declare", from_site, title=f"Declare {from_site} lost",
                     precondition=(f"{from_site}'s etcd lease expired and `multidc watch` in {to_site} took it "
                                   f"through a quorum (with the witness {platform.witness.name}), or an operator "
                                   "declares it"
                                   if automatic is None else "an operator confirms the site is lost (no automatic "
                                   "failover: " + automatic + ")"),
                     verification="the decision and its reason are in the journal",
                     rollback="none needed: nothing has changed yet")]
    fence = [_step(2, "db.fence", m, site=from_site, title=f"Fence {m.system.name} in {from_site}",
                   precondition=f"the standby in {to_site} is healthy",
                   verification="the old primary refuses writes, or is unreachable and will start read-only",
                   rollback=f"unfence {m.system.name} in {from_site}") for m in moves if _is_db(m)]
    fence.append(_step(2, "manual.isolate", from_site, owner=PROVIDER,
                       title=f"Provider isolates {from_site}'s hosts from the interconnect (power/network fencing)",
                       precondition="the customer has declared the site lost",
                       verification="the provider confirms the isolation in writing",
                       rollback="the provider restores the site's network once it is safe"))
    fence += _relax_steps(platform, deployed, from_site, 2)
    promote = [_step(3, "db.promote", m, precondition=f"{m.system.name} in {from_site} is fenced (group 2)",
                     **_texts(PROMOTE, deployed, m, to_site)) for m in moves if _is_db(m)]
    promote += [_step(3, "storage.switch", m, title=f"Make {m.system.name} write to its bucket in {to_site}",
                      precondition="the pull copy into this site has stopped",
                      verification="a probe object is written and read back on the site's endpoint",
                      rollback=f"switch writes back to {from_site}'s bucket") for m in moves if _is_bucket(m)]
    promote += _restore_steps(moves, 3)
    return Runbook(platform.name, RunbookKind.unplanned, from_site, to_site, _groups(
        ("Declare the site lost", declare),
        ("Fence the old primary; release surviving primaries from their lost sync standby", fence),
        ("Promote and switch storage", promote),
        *_scale_dns_pulumi(platform, moves, 4, from_site, to_site, platform.name)),
        automatic, _notes(platform, deployed, moves, from_site, to_site, automatic))


def _relax_steps(platform: Platform, deployed: Deployed, lost: str, group: int) -> list[Step]:
    """Turn off synchronous replication on every surviving primary whose sync standby was in `lost`.

    Such a primary is not failed over, but with its only synchronous standby gone every
    commit waits for an acknowledgement that never comes: its writes hang until it is told
    to stop waiting. Available over zero-loss, until a standby streams again.
    """
    steps = []
    for system in platform.systems:
        primary, standby = deployed.primary_of(system.name, system.sites), deployed.placement(system.name, lost)
        if system.kind not in DATABASE_KINDS or primary is None or primary.role != "primary" \
                or primary.site == lost or standby is None or standby.role != "standby" \
                or "sync" not in (standby.replication, primary.replication):
            continue
        steps.append(_step(group, "db.relax", primary.site, system=system.name,
                           title=f"Relax synchronous replication of {system.name} in {primary.site}",
                           precondition=f"the standby site {lost} is declared lost (group 1)",
                           verification=f"a write on {system.name} in {primary.site} commits without waiting for "
                                        "a standby",
                           rollback=f"re-enable synchronous replication once a standby streams again (the "
                                    f"failback's re-protect of {system.name} in {lost} does)",
                           params={"standby_site": lost}))
    return steps


def planned_switchover(platform: Platform, deployed: Deployed, from_site: str, to_site: str,
                       *, first_group: int = 1, only: Optional[frozenset[str]] = None) -> Runbook:
    """Both sites are up: stop writes, let the standbys catch up, swap roles, keep protection.

    `only` limits the switchover to those systems (failback: the ones the failover moved).
    """
    moves = [m for m in _moves(platform, deployed, from_site, to_site) if only is None or m.system.name in only]
    g = first_group
    drain = [_step(g, "db.fence", m, site=from_site, title=f"Stop writes to {m.system.name} in {from_site}",
                   precondition=f"the standby in {to_site} streams",
                   verification="the primary refuses new writes", rollback=f"unfence {m.system.name} in {from_site}")
             for m in moves if _is_db(m)]
    drain += [_step(g, "storage.final_copy", m, title=f"Last copy of {m.system.name} from {from_site} to {to_site}",
                    precondition="writers to the bucket are stopped",
                    verification="every object of the source is in the destination with the same checksum",
                    rollback="none needed: a copy adds only") for m in moves if _is_bucket(m)]
    catch_up = [_step(g + 1, "db.wait_replay", m, title=f"Wait until {m.system.name} in {to_site} replayed everything",
                      precondition="writes are stopped in the old primary",
                      verification="the standby's replay LSN reached the old primary's last LSN",
                      rollback=f"unfence {m.system.name} in {from_site}") for m in moves if _is_db(m)]
    promote = [_step(g + 2, "db.promote", m, precondition="the standby replayed everything (previous group)",
                     **{**_texts(PROMOTE, deployed, m, to_site),
                        "rollback": "switch back with this runbook in the other direction"})
               for m in moves if _is_db(m)]
    promote += [_step(g + 2, "storage.switch", m, title=f"Make {m.system.name} write to its bucket in {to_site}",
                      precondition="the last copy is done",
                      verification="a probe object is written and read back on the site's endpoint",
                      rollback=f"switch writes back to {from_site}'s bucket") for m in moves if _is_bucket(m)]
    reprotect = _reprotect_steps(moves, g + 6, old_site=from_site, new_site=to_site, deployed=deployed)
    return Runbook(platform.name, RunbookKind.planned, from_site, to_site, _groups(
        ("Stop writes at the old primary", drain), ("Let the standbys catch up", catch_up),
        ("Promote and switch storage", promote),
        *_scale_dns_pulumi(platform, moves, g + 3, from_site, to_site, platform.name, only),
        ("Re-protect: the old primary becomes the standby", reprotect)),
        witness_problem(platform, (from_site, to_site)), _notes(platform, deployed, moves, from_site, to_site, None))


def _reprotect_steps(moves: list[_Move], group: int, *, old_site: str, new_site: str,
                     deployed: Optional[Deployed] = None) -> list[Step]:
    steps = [_step(group, "db.reprotect", m, site=old_site,
                   precondition=f"{m.system.name} in {new_site} is the primary; {old_site} is reachable again",
                   params={"mode": m.system.replication.value if m.system.replication else "async"},
                   **_texts(REPROTECT, deployed, m, old_site, new=new_site))
             for m in moves if _is_db(m)]
    steps += [_step(group, "storage.reverse_copy", m, site=old_site,
                    title=f"Copy {m.system.name} back from {new_site} into {old_site}",
                    precondition=f"{old_site}'s endpoint answers",
                    verification="every object of the new primary bucket is in the old one",
                    rollback="none needed: a copy adds only") for m in moves if _is_bucket(m)]
    return steps


def failback(platform: Platform, deployed: Deployed, original: str, interim: str) -> Runbook:
    """After a failover to `interim`: re-protect `original` from it, then switch back with zero loss.

    Only what the failover moved switches back. A system whose home primary is `interim`
    never moved: it stays there, and its standby in `original` is re-protected (streaming
    again, synchronous again if it was) like the others.
    """
    moves = _moves(platform, deployed, original, interim)
    stayed = [_Move(m.system, original, interim, m.how) for m in _moves(platform, deployed, interim, original)
              if m.how == "replica"]
    reprotect = _reprotect_steps(moves + stayed, 1, old_site=original, new_site=interim, deployed=deployed)
    back = planned_switchover(platform, _after_failover(deployed, moves), interim, original, first_group=2,
                              only=frozenset(m.system.name for m in moves))
    return Runbook(platform.name, RunbookKind.failback, interim, original,
                   (Group(f"Re-protect {original} from {interim}", tuple(reprotect)), *back.groups) if reprotect
                   else back.groups,
                   back.automatic, _notes(platform, deployed, moves, original, interim, None))


def _after_failover(deployed: Deployed, moves: list[_Move]) -> Deployed:
    """The deployment as it stands after a failover: moved systems have their primary in the other site."""
    moved = {(m.system.name, m.from_site): "standby" for m in moves if m.how == "replica"}
    moved.update({(m.system.name, m.to_site): "primary" for m in moves if m.how == "replica"})
    placements = tuple(replace(p, role=moved.get((p.system, p.site), p.role)) for p in deployed.placements)
    return replace(deployed, placements=placements)


def test_failover(platform: Platform, deployed: Deployed, from_site: str, to_site: str) -> Runbook:
    """Rehearse in an isolated network of `to_site`: clones of the standbys, production untouched."""
    moves = _moves(platform, deployed, from_site, to_site)
    net = [_step(1, "net.isolated", to_site, title=f"Create an isolated test network in {to_site}",
                 precondition="none", verification="the network has no route to the interconnect or the internet",
                 rollback="delete the test network")]
    clone = [_step(2, "db.clone_test", m, title=f"Clone {m.system.name}'s standby into the test network and promote "
                                               "the clone", precondition="the test network exists",
                   verification="the clone accepts writes; the production standby still streams",
                   rollback="delete the clone") for m in moves if _is_db(m)]
    clone += [_step(2, "storage.clone_test", m, title=f"Copy {m.system.name}'s replica bucket into a test bucket",
                    precondition="the test network exists",
                    verification="object counts and checksums match the replica",
                    rollback="delete the test bucket") for m in moves if _is_bucket(m)]
    clone += _restore_steps(moves, 2)
    apps = [_step(3, "k8s.scale", m, title=f"Start {m.system.name}'s workloads in a test namespace on the clones",
                  precondition="clones are up", verification="smoke tests pass against the clones",
                  rollback="delete the test namespace", params={"namespace": "dr-test", "kind": m.system.kind.value})
            for m in moves if _is_cluster(m)]
    cleanup = [_step(4, "net.teardown", to_site, title="Record RTO/RPO seen, then delete the test network and clones",
                     precondition="results recorded", verification="no test resource is left",
                     rollback="none needed")]
    return Runbook(platform.name, RunbookKind.test, from_site, to_site, _groups(
        ("Isolated network", net), ("Clone data", clone), ("Start applications", apps), ("Clean up", cleanup)),
        witness_problem(platform, (from_site, to_site)),
        ("Production is untouched: nothing is fenced, promoted or re-pointed; DNS is not switched.",))


def _notes(platform: Platform, deployed: Deployed, moves: list[_Move], from_site: str, to_site: str,
           automatic: Optional[str]) -> tuple[str, ...]:
    notes = []
    moved = {m.system.name for m in moves}
    for system in platform.systems:
        primary = deployed.primary_of(system.name, system.sites)
        if system.name not in moved and primary is not None and primary.site == from_site:
            notes.append(f"{system.name} has no standby, active copy or backup in {to_site}: it is not recovered "
                         "by this runbook.")
    return tuple(notes)


def build(platform: Platform, graph: Union[ResourceGraph, Deployed], kind: RunbookKind, to_site: str,
          from_site: Optional[str] = None) -> Runbook:
    """The runbook of `kind` that moves service to `to_site` (for failback: back to `to_site`).

    `graph` is the planned graph, or what is deployed (`multidc.ops.deployed.deployed`, read
    from the stack outputs): both give the same runbook (tests/ops/test_deployed.py).
    """
    names = [site.name for site in platform.sites]
    if to_site not in names:
        raise RunbookError(f"--to {to_site}: no such site in stack {platform.name}; sites: {', '.join(names)}")
    deployed = graph if isinstance(graph, Deployed) else read(graph)
    if kind is RunbookKind.failback:
        interim = from_site or next((s for s in names if s != to_site and any(
            m.how == "replica" for m in _moves(platform, deployed, to_site, s))), None)
        if interim is None:
            raise RunbookError(f"--to {to_site}: no system fails over from {to_site} to another site, so there is "
                               "nothing to fail back; name the site you failed over from with --from")
        return failback(platform, deployed, to_site, interim)
    source = from_site or platform.primary.name
    if source == to_site:
        others = ", ".join(n for n in names if n != to_site)
        raise RunbookError(f"--to {to_site}: it is already the primary site of stack {platform.name}; "
                           f"fail over to another site ({others}) or give --from")
    builder = {RunbookKind.planned: planned_switchover, RunbookKind.unplanned: unplanned_failover,
               RunbookKind.test: test_failover}[kind]
    return builder(platform, deployed, source, to_site)


def all_runbooks(platform: Platform, graph: ResourceGraph) -> list[Runbook]:
    """Every runbook of a stack: for each other site, the four kinds, from the primary site."""
    books = []
    for site in platform.sites:
        if site.name == platform.primary.name:
            continue
        moves = _moves(platform, read(graph), platform.primary.name, site.name)
        if not moves:
            continue
        books.append(build(platform, graph, RunbookKind.unplanned, site.name))
        if any(m.how == "replica" for m in moves):
            # Switchover, rehearsal and failback move replicas; a site holding only backups is restored into.
            for kind in (RunbookKind.planned, RunbookKind.test):
                books.append(build(platform, graph, kind, site.name))
            books.append(build(platform, graph, RunbookKind.failback, platform.primary.name, from_site=site.name))
    return books
