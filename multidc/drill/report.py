"""What a drill measured: per PostgreSQL system, per bucket, and the commands it ran."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from rich.table import Table


class DrillError(RuntimeError):
    """The drill could not run; the message says which system or service and why."""


@dataclass
class SystemResult:
    """What the drill measured on one replicated database system (PostgreSQL, Redis)."""

    system: str
    mode: str
    primary_site: str
    standby_site: str
    mechanism: str  # how the standby is kept current in the drilled deployment (from its outputs)
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
    lag_at_kill_bytes: Optional[int] = None  # asynchronous mechanisms: how far the replica was behind

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
    detection_s: Optional[float] = None  # automatic: from the kill until the standby's watcher held the lease
    fencing_token: Optional[int] = None  # automatic: the lease's create revision the failover ran with
    failback_done: bool = False
    failover_steps: list[dict[str, Any]] = field(default_factory=list)
    confirmed_by_drill: list[str] = field(default_factory=list)  # needs-operator steps the drill confirmed
    commands: list[dict[str, Any]] = field(default_factory=list)  # every production command the drill ran
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
                     "declared by the operator" if self.trigger == "declared" else
                     f"the standby's watcher took the lease (fencing token {self.fencing_token})"),
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
        table.add_row("", "confirmed by the drill, not done", str(len(self.confirmed_by_drill)),
                      "needs-operator steps: provider isolation, DNS, Kubernetes; engines without a local stand-in")
        for ran in self.commands:
            table.add_row("", "ran", f"exit {ran['exit_code']}", f"{ran['command']} ({ran['seconds']:.1f}s)")
        return table


def _ms(seconds: Optional[float]) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"



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

