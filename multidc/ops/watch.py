"""`multidc watch`: one per site; automatic failover on the primary site's etcd lease.

Each site's watcher talks to its own etcd member (the sites and the witness location form a
three-member cluster). The primary site's watcher holds the lease (multidc.ops.lease) and, if it
cannot renew it, fences its own databases before the lease can expire anywhere. The standby
site's watcher takes the lease only once it saw it held and then expire, through a member with a
quorum, and then runs `multidc failover --fencing-token T --etcd URL` in the background (its loop
goes on renewing the new lease): the failover journals the token and does its `manual.isolate`
step on it (multidc.ops.isolation). Every watcher keeps a presence key naming the holder it saw
(`multidc status` reports automatic failover armed from both). Without a qualified witness
(multidc.dr.geography.witness_problem) there is no third member to break a tie, and automatic
failover is refused."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import typer

from .lease import EtcdUnavailable, Presence, SiteLease, lease_key

RENEW, FENCE, TAKE_OVER, WAIT = "renew", "fence", "take-over", "wait"


@dataclass(frozen=True)
class View:
    """What one site's watcher knows at one moment."""

    now: float
    holds: bool  # this site took the lease and its last renewal was answered
    quorum: bool  # this site's etcd member answered this round
    holder: Optional[str]  # the site holding the key (known only with a quorum)
    fence_by: Optional[float]  # when this site must stop writes unless renewed (None: never held it)
    fenced: bool
    seen_holder: Optional[str] = None  # the last holder this watcher saw (None: it never saw the key held)


def decide(view: View) -> tuple[str, str]:
    """The action of this round and why (pure: tests assert on both)."""
    if view.holds and view.quorum:
        return RENEW, "this site holds the lease and renewed it"
    if view.fence_by is not None and not view.fenced:
        # Split brain, step by step: the holder is cut off from the quorum; the other side's lease
        # timer runs from the last renewal etcd received, which is later than the last one this
        # site sent. Fencing by `sent + ttl - margin` stops writes here before the other side can
        # take the key, so two primaries never acknowledge writes at the same time.
        if view.now >= view.fence_by:
            return FENCE, "the lease could not be renewed through a quorum before its deadline: stop writes here"
        return WAIT, "renewal failing; fencing at the deadline unless it is answered"
    if view.quorum and view.holder is None and not view.holds:
        if view.seen_holder is None:
            # A standby started before the primary's watcher took the lease (a fresh deployment, a
            # restart) sees no key: that is not an expiry, and failing over then would move a
            # healthy primary. Only a lease seen held and then gone counts as the primary lost.
            return WAIT, "nobody holds the lease yet: a standby takes over only a lease it saw held and expire"
        return TAKE_OVER, f"{view.seen_holder}'s lease expired and this site's etcd member has a quorum"
    if not view.quorum:
        return WAIT, "this site's etcd member has no quorum: nothing is decided from here"
    return WAIT, f"{view.holder} holds the lease"


class Watcher:
    """One site's loop. `fence()` stops this site's writes; `take_over(token)` runs the failover."""

    def __init__(self, lease: SiteLease, fence: Callable[[], None], take_over: Callable[[int], None],
                 primary: bool, log: Callable[[str], None] = lambda _: None,
                 presence: Optional[Presence] = None) -> None:
        self.lease, self.fence, self.take_over, self.primary, self.log = lease, fence, take_over, primary, log
        self.presence = presence  # tells `multidc status` this watcher runs and which holder it saw
        self.fenced = False
        self.fence_by: Optional[float] = None
        self.seen_holder: Optional[str] = None

    def step(self) -> tuple[str, str]:
        """One round: talk to etcd, decide, act."""
        quorum, holder, holds = True, None, False
        try:
            self._bound_etcd_calls()
            if self.primary and self.lease.lease is None and self.fence_by is None:
                holds = self.lease.acquire() is not None
            elif self.lease.lease is not None:
                holds = self.lease.renew()
            if holds:
                self.fence_by = self.lease.must_fence_by()
                self._bound_etcd_calls()
            current = self.lease.holder()
            holder = current.site if current else None
            if holder is not None and holder != self.lease.site:
                self.seen_holder = holder
            if self.presence is not None:
                self.presence.beat(holder or "")
        except EtcdUnavailable as error:
            quorum = False
            self.log(f"etcd: {error}")
        action, reason = decide(View(time.monotonic(), holds, quorum, holder, self.fence_by if not holds else None,
                                     self.fenced, self.seen_holder))
        if action == FENCE:
            self.fence()
            self.fenced = True
        elif action == TAKE_OVER and not self.primary:
            token = self.lease.acquire()
            if token is not None:
                self.take_over(token)
                self.primary = True
                self.fence_by = self.lease.must_fence_by()
        return action, reason

    def _bound_etcd_calls(self) -> None:
        """While this site must fence by a deadline, no etcd call waits past it (multidc.ops.lease.Etcd)."""
        self.lease.etcd.deadline = self.fence_by if self.fence_by is not None and not self.fenced else None

    def pause(self) -> float:
        """The sleep before the next round: never past the fencing deadline, so the fence lands on time."""
        pause = max(0.1, self.lease.ttl / 6)
        if self.fence_by is not None and not self.fenced:
            pause = min(pause, max(0.0, self.fence_by - time.monotonic()))
        return pause

    def run(self, stop: Callable[[], bool]) -> None:
        said = None
        while not stop():
            action, reason = self.step()
            if (action, reason) != said:  # each change once, not every round
                self.log(f"{action}: {reason}")
                said = (action, reason)
            time.sleep(self.pause())


def watch_command(
    stack: str = typer.Option(..., "--stack", "-s"),
    site: str = typer.Option(..., "--site", help="the site this watcher runs in"),
    etcd: str = typer.Option(..., "--etcd", help="this site's etcd member, e.g. http://10.10.0.9:2379"),
    outputs: Optional[Path] = typer.Option(None, "--outputs", help="the deployed stack's outputs"),
    ttl: int = typer.Option(3, "--ttl", help="lease TTL in seconds (automatic RTO is at most about this plus "
                                             "the failover's own time)"),
) -> None:
    """Watch the primary site's lease in etcd; fail over automatically when it expires (needs a witness)."""
    from multidc.dr.geography import witness_problem
    from multidc.protection import postgres as pg

    from multidc.dr.runbook import RunbookKind

    from .commands import _deployed_state, _fail, errors, execute
    from .lease import Etcd
    from .wiring import servers

    platform, document = _deployed_state(stack, outputs)
    problem = witness_problem(platform)
    if problem is not None:
        _fail(f"stack {stack}: automatic failover is refused: {problem}; fail over by hand (multidc failover)")
    if site not in {s.name for s in platform.sites}:
        _fail(f"--site {site}: stack {stack} has no such site; its sites: {', '.join(s.name for s in platform.sites)}")
    primary = platform.primary.name
    lease = SiteLease(Etcd(etcd), lease_key(stack), site, ttl)

    def fence() -> None:
        for (system, where), server in servers(document).items():
            if where == site and pg.accepts_writes(server, timeout=1):
                pg.fence(server, method="read_only", timeout=5)
                errors.print(f"fenced {system} in {site}", highlight=False)

    def take_over(token: int) -> None:
        # `multidc failover` itself (ops.commands.execute, already imported here: no interpreter start-up
        # in the RTO), in a thread: this loop must go on renewing the lease it just took while the failover
        # runs, or the lease would expire under the new primary. The failover verifies the token in etcd
        # through this site's member (its `manual.isolate` step rests on it) and journals into a file of its own.
        ledger = journal_path(stack, site, token, lease.lease or 0)
        errors.print(f"took the lease (fencing token {token}): failover --stack {stack} --to {site} --from {primary} "
                     f"--yes --json --fencing-token {token} --etcd {etcd} --journal {ledger}",
                     highlight=False, markup=False)

        def run() -> None:
            code = 0
            try:
                execute(stack, RunbookKind.unplanned, site, primary, True, False, ledger, outputs, True,
                        fencing_token=token, etcd=etcd)
            except typer.Exit as exit_:
                code = exit_.exit_code
            except Exception as error:  # reported, never a traceback: the loop goes on holding the lease
                code = 1
                errors.print(f"failover to {site} failed: {error}", highlight=False, markup=False)
            sys.stdout.flush()
            errors.print(f"failover to {site} (fencing token {token}) exited {code}; journal {ledger}",
                         highlight=False, markup=False)

        threading.Thread(target=run, daemon=True).start()

    Watcher(lease, fence, take_over, primary=(site == primary),
            log=lambda line: errors.print(line, highlight=False, markup=False),
            presence=Presence(lease.etcd, stack, site, ttl)).run(lambda: False)


def journal_path(stack: str, site: str, token: int, lease: int) -> Path:
    """The journal of the failover `multidc watch` in `site` starts with fencing token `token` under etcd lease
    `lease`: one per take-over. A revision alone repeats when the etcd cluster is built anew (a fresh cluster
    counts from 1 again), and resuming an earlier take-over's finished journal would skip every step; the
    lease ID, which etcd draws afresh, tells them apart."""
    from multidc import project

    return project.state_dir() / "journal" / f"{stack}-unplanned-{site}-token-{token}-lease-{lease:x}.jsonl"


def register(app: typer.Typer) -> None:
    app.command("watch")(watch_command)
