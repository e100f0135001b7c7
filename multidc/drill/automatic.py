"""The drill's automatic trigger: the production `multidc watch`, one process per site, on the local etcd cluster.

`multidc local up` started one etcd member per site plus one in the witness location (their client
URLs are in the outputs document). The drill starts `multidc watch --stack S --site X --etcd <X's
member> --outputs F` for every site, the primary site's first; `multidc status --json` must then
report automatic failover `armed` (the primary's watcher holds the lease and the standby's has seen
it). At the kill, the primary site's watcher dies with its site (its etcd member is one of the
site's processes that `local kill` SIGKILLs). Nothing else is done for the failover: the standby's
watcher sees the lease expire, takes it, and runs `multidc failover --fencing-token T --etcd URL`
itself; the drill reads the lease (the new holder and the token) and that failover's journal (to
know that it stopped, and where) through what those commands leave, never their printed output.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

from multidc.local.process import terminate
from multidc.ops.lease import Etcd, EtcdUnavailable, Holder, current_holder, lease_key, present_watchers
from multidc.ops.outputs import StackOutputs
from multidc.ops.watch import journal_path

from .report import DrillError

# Generous: on a 2-core machine at load 20+, starting a `multidc watch` process alone took over a minute.
ARMED_TIMEOUT_S = 300.0
TAKE_OVER_TIMEOUT_S = 180.0
FAILOVER_TIMEOUT_S = 600.0


class Watchers:
    """The `multidc watch` processes of a drill, one per site; their output goes to `<workdir>/watch-<site>.log`."""

    def __init__(self, stack: str, outputs: Path, document: StackOutputs, workdir: Path, env: dict[str, str],
                 ttl: int, ran: list[dict[str, Any]], log: Callable[[str], None]) -> None:
        missing = [site for site, entry in document.sites.items() if not entry.etcd]
        if missing:
            raise DrillError(f"the outputs name no etcd member for {', '.join(missing)}: `multidc local up` starts "
                             "them only for a stack with a witness")
        self.stack, self.outputs, self.document, self.workdir, self.env = stack, outputs, document, workdir, env
        self.ttl, self.ran, self.log = ttl, ran, log
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.started: dict[str, float] = {}
        self.killed: set[str] = set()

    def member(self, site: str) -> Etcd:
        return Etcd(self.document.sites[site].etcd or "")

    def start(self, site: str) -> None:
        args = ["watch", "--stack", self.stack, "--site", site, "--etcd", self.document.sites[site].etcd or "",
                "--outputs", str(self.outputs), "--ttl", str(self.ttl)]
        self.log("$ multidc " + " ".join(args) + " &")
        with open(self.workdir / f"watch-{site}.log", "ab") as out:
            self.processes[site] = subprocess.Popen([sys.executable, "-m", "multidc", *args], env=self.env,
                                                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.started[site] = time.monotonic()

    def holder(self, site: str) -> Optional[Holder]:
        """The lease holder as `site`'s member sees it (None: nobody, or that member has no quorum now)."""
        try:
            return current_holder(self.member(site), lease_key(self.stack))
        except EtcdUnavailable:
            return None

    def wait_holder(self, through: str, site: str, timeout: float, what: str) -> Holder:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            holder = self.holder(through)
            if holder is not None and holder.site == site:
                return holder
            for name, process in self.processes.items():
                if name not in self.killed and process.poll() is not None:
                    raise DrillError(f"`multidc watch --site {name}` exited {process.returncode}:\n{self.tail(name)}")
            time.sleep(0.05)
        raise DrillError(f"timed out after {timeout:.0f}s waiting for {what}; watcher logs:\n"
                         + "\n".join(self.tail(name) for name in self.processes))

    def kill(self, site: str) -> None:
        """SIGKILL the watcher of `site` (it burns with its site)."""
        process = self.processes[site]
        self.killed.add(site)
        process.kill()
        process.wait(timeout=10)
        self._record(site, "SIGKILL with its site")

    def stop(self) -> None:
        """SIGTERM every watcher still running (after the failover was measured, before the site comes back)."""
        for site, process in self.processes.items():
            if process.poll() is None:
                terminate(process)
                self._record(site, "stopped by the drill once the failover was measured")

    def _record(self, site: str, note: str) -> None:
        self.ran.append({"command": f"multidc watch --stack {self.stack} --site {site} --etcd "
                                    f"{self.document.sites[site].etcd} --outputs {self.outputs} --ttl {self.ttl}",
                         "exit_code": self.processes[site].returncode,
                         "seconds": round(time.monotonic() - self.started[site], 3), "note": note})

    def tail(self, site: str) -> str:
        path = self.workdir / f"watch-{site}.log"
        return f"--- watch {site} ({path})\n" + (path.read_text(errors="replace")[-2000:] if path.exists() else "")


def arm(watchers: Watchers, primary: str, others: list[str], status: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Start the primary site's watcher, wait for its lease, start the others; returns `status --json`'s
    automatic_failover once it says `armed` (the other watchers have seen the holder)."""
    watchers.start(primary)
    watchers.wait_holder(primary, primary, ARMED_TIMEOUT_S, f"{primary}'s watcher to take the lease")
    for site in others:
        watchers.start(site)
    # Cheap polling of the watchers' presence keys first; then the operator's check, once.
    deadline = time.monotonic() + ARMED_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            seen_by = present_watchers(watchers.member(primary), watchers.stack)
        except EtcdUnavailable:
            seen_by = {}
        if all(seen_by.get(site) == primary for site in others):
            break
        time.sleep(0.1)
    seen = status().get("automatic_failover", {})
    if seen.get("state") != "armed":
        raise DrillError(f"`multidc status` does not say automatic failover is armed: {seen}; watcher logs:\n"
                         + "\n".join(watchers.tail(name) for name in watchers.processes))
    return seen


def failover_ended(journal: Path, timeout: float = FAILOVER_TIMEOUT_S) -> dict[str, Any]:
    """The last record of the watcher's failover once it ended (`stopped` or `finished` in its journal)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if journal.exists():
            for line in reversed(journal.read_text().splitlines()):
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line being written
                if record.get("event") in ("stopped", "finished"):
                    return record
        time.sleep(0.1)
    raise DrillError(f"the failover `multidc watch` started did not end within {timeout:.0f}s (journal {journal})")


def waiting(journal: Path, ended: dict[str, Any]) -> dict[str, str]:
    """The steps the watcher's failover stopped at (its `stopped` record), each with what to do by hand."""
    steps = set(ended.get("steps", []))
    found = {}
    for line in journal.read_text().splitlines():
        record = json.loads(line)
        if record.get("event") == "needs-operator" and record.get("step") in steps:
            found[record["step"]] = record.get("detail", "")
    return found


def take_over(watchers: Watchers, lost: str, to_site: str) -> tuple[Holder, float, Path, dict[str, Any]]:
    """Wait for `to_site`'s watcher to hold the lease, then for its failover to end: the new holder, the moment it
    was seen, the failover's journal and its last record."""
    holder = watchers.wait_holder(to_site, to_site, TAKE_OVER_TIMEOUT_S,
                                  f"{to_site}'s watcher to take the lease once {lost}'s expired")
    seen_at = time.monotonic()
    journal = journal_path(watchers.stack, to_site, holder.token, holder.lease)
    ended = failover_ended(journal)
    watchers.ran.append({"command": f"multidc failover --stack {watchers.stack} --to {to_site} --from {lost} --yes "
                                    f"--json --fencing-token {holder.token} --etcd {watchers.document.sites[to_site].etcd} "
                                    f"--journal {journal} --outputs {watchers.outputs}",
                         "exit_code": None, "seconds": round(time.monotonic() - seen_at, 3),
                         "result": ended.get("result", "success" if ended["event"] == "finished" else ""),
                         "note": f"run by `multidc watch` in {to_site}; its result read from its journal"})
    return holder, seen_at, journal, ended

