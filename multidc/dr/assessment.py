"""How each system survives fire, earthquake, hardware failure, ransomware and partition.

Pure functions over the Platform spec and the planned ResourceGraph. The spec gives the
targets (RPO, RTO), sites and witness; the graph says what is really declared: a system
survives losing a site only if the graph holds its standby, copy or backup target in a
site that survives. For every system and scenario the assessment lists the ways it can
come back (stay up, fail over to a standby, restore a backup, rebuild from the spec),
keeps the best (smallest RPO, then RTO), and reports its RPO and RTO with the formula
they came from and a one-sentence reason. Every figure not in the spec or the graph is
a named figure of `multidc.dr.assumptions`, with the stack's own values where its spec
declares them (`assumptions:`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from multidc.contract import BACKUP_ONLY, REPLICAOF
from multidc.plan.graph import ResourceGraph
from multidc.spec import DATABASE_KINDS, Kind, Platform, System
from multidc.spec.capacity import Quota

from . import assumptions as A
from .capacity import CapacityVerdict, capacity
from .geography import earthquakes, witness_problem
from .inventory import Deployed, Placement, read
from .recovery import CLUSTER_KINDS, STATELESS_KINDS, Recovery, Scenario, dns_ttl, human, sum_terms as _sum
from .restore_paths import ransomware, restore


@dataclass(frozen=True)
class Outcome:
    """The verdict for one system in one scenario."""

    system: str
    scenario: str
    survives: bool
    rpo_s: Optional[float]
    rto_s: Optional[float]
    rpo_formula: str
    rto_formula: str
    rpo_target_s: float
    rto_target_s: float
    reason: str
    owner: str
    fallback_rto_s: Optional[float] = None
    fallback_rto_formula: str = ""

    @property
    def meets_rpo(self) -> bool:
        return self.survives and self.rpo_s is not None and self.rpo_s <= self.rpo_target_s

    @property
    def meets_rto(self) -> bool:
        return self.survives and self.rto_s is not None and self.rto_s <= self.rto_target_s

    @property
    def flagged(self) -> bool:
        """True when a target cannot be met (or the system does not survive at all)."""
        return not (self.meets_rpo and self.meets_rto)

    def to_json(self) -> dict[str, Any]:
        return {
            "system": self.system, "scenario": self.scenario, "survives": self.survives,
            "rpo_seconds": self.rpo_s, "rto_seconds": self.rto_s,
            "rpo_formula": self.rpo_formula, "rto_formula": self.rto_formula,
            "rpo_target_seconds": self.rpo_target_s, "rto_target_seconds": self.rto_target_s,
            "meets_rpo": self.meets_rpo, "meets_rto": self.meets_rto, "flagged": self.flagged,
            "reason": self.reason, "owner": self.owner,
            "fallback_rto_seconds": self.fallback_rto_s, "fallback_rto_formula": self.fallback_rto_formula or None,
        }


@dataclass(frozen=True)
class Assessment:
    """Every system × scenario verdict of one stack, and the assumptions behind them."""

    stack: str
    scenarios: tuple[Scenario, ...]
    outcomes: tuple[Outcome, ...]
    automatic_failover: Optional[str] = None  # None: allowed; else why not
    notes: tuple[str, ...] = field(default_factory=tuple)
    capacity: tuple[CapacityVerdict, ...] = ()
    """Each site's usage now and after each failover, against its declared quota."""
    figures: A.Figures = A.Figures()
    """The figures the verdicts used: the defaults, with what the stack declares."""

    @property
    def capacity_misses(self) -> list[CapacityVerdict]:
        return [verdict for verdict in self.capacity if verdict.misses]

    def outcome(self, system: str, scenario: str) -> Outcome:
        return next(o for o in self.outcomes if o.system == system and o.scenario == scenario)

    @property
    def flagged(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.flagged]

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "automatic_failover": {"allowed": self.automatic_failover is None, "reason": self.automatic_failover},
            "scenarios": [{"id": s.id, "kind": s.kind, "title": s.title, "lost_sites": sorted(s.lost_sites),
                           "pair": list(s.pair) if s.pair else None, "detail": s.detail} for s in self.scenarios],
            "outcomes": [o.to_json() for o in self.outcomes],
            "flagged": len(self.flagged),
            "notes": list(self.notes),
            "capacity": [verdict.to_json() for verdict in self.capacity],
            "assumptions": self.figures.to_json(),
        }

    def __rich__(self) -> Table:
        return self.renderable()

    def renderable(self) -> Table:
        """The system × scenario matrix as a rich Table (what `multidc plan` prints)."""
        table = Table(title=f"Resilience of {self.stack}: RPO / RTO achievable (✓ meets targets, ! misses, ✗ lost)")
        table.add_column("system")
        table.add_column("targets", style="dim")
        for scenario in self.scenarios:
            table.add_column(scenario.id, justify="center")
        systems = list(dict.fromkeys(o.system for o in self.outcomes))
        for name in systems:
            row = [o for o in self.outcomes if o.system == name]
            cells = []
            for outcome in row:
                if not outcome.survives:
                    cells.append(Text("✗ lost", style="bold red"))
                else:
                    mark, style = ("✓", "green") if not outcome.flagged else ("!", "yellow")
                    cells.append(Text(f"{mark} {human(outcome.rpo_s)}/{human(outcome.rto_s)}", style=style))
            targets = f"{human(row[0].rpo_target_s)}/{human(row[0].rto_target_s)}"
            table.add_row(name, targets, *cells)
        caption = [f"{len(self.flagged)} of {len(self.outcomes)} verdicts miss a target"]
        caption.append("automatic failover: " + ("allowed (witness)" if self.automatic_failover is None
                                                 else "refused: " + self.automatic_failover))
        caption += [f"[red]capacity: {escape(verdict.reason)}[/red]" for verdict in self.capacity_misses]
        table.caption = "; ".join(caption)
        return table


# --- scenarios -----------------------------------------------------------------------------------

def scenarios(platform: Platform, deployed: Deployed) -> list[Scenario]:
    """Fire in each site, each distinct earthquake, host and zone loss, ransomware, each link cut."""
    found = [Scenario(f"fire:{site.name}", "fire", f"Fire destroys {site.name} ({site.location.city})",
                      frozenset({site.name})) for site in platform.sites]
    found += [Scenario(f"earthquake:{quake.epicentre}", "earthquake",
                       f"Earthquake near {platform.site(quake.epicentre).location.city}", quake.lost, detail=quake.why)
              for quake in earthquakes(platform)]
    found += [
        Scenario("hardware:host", "hardware-host", "One hypervisor host of the system's primary site dies"),
        Scenario("hardware:az", "hardware-az", "One availability zone of the system's primary site is lost"),
        Scenario("ransomware", "ransomware",
                 "Ransomware encrypts every live copy; only immutable copies older than detection help"),
    ]
    found += [Scenario(f"partition:{a}-{b}", "partition", f"Interconnect {a}–{b} cut; both sites up", pair=(a, b))
              for a, b in deployed.interconnects]
    return found


# --- recovery options ----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Context:
    platform: Platform
    deployed: Deployed
    figures: A.Figures

    def volume_gb(self, system: System, placement: Placement | None) -> float:
        if placement is not None and placement.volume_gb:
            return float(placement.volume_gb)
        return float(system.size.volume_gb or self.figures.value("DEFAULT_VOLUME_GB"))

    def detection(self, lost: str, target: str) -> tuple[str, float]:
        """How long until failover starts: the watcher with a witness, or a human without one."""
        if witness_problem(self.platform, (lost, target)) is None:
            lease = A.LEASE_TTL_S.value + A.ETCD_ELECTION_S.value + A.WATCH_LOOP_S.value
            return (f"detect (LEASE_TTL_S + ETCD_ELECTION_S + WATCH_LOOP_S, witness {self.platform.witness.name} "
                    "in the etcd quorum)", lease)
        return "OPERATOR_DECLARATION_S (no qualified witness)", self.figures.value("OPERATOR_DECLARATION_S")


def _replica_rpo(ctx: _Context, system: System, target: Placement) -> tuple[Optional[float], str]:
    """How much data the copy in `target` may lack when the primary is lost."""
    if system.kind in STATELESS_KINDS:
        return 0.0, "stateless (a VM group holds no data the spec does not declare)"
    if system.kind is Kind.bucket:
        copy = ctx.deployed.copy_into(system.name, target.site)
        if copy is None:
            return None, f"no BucketCopy into {target.site} in the plan"
        interval = A.cron_interval_s(copy.schedule)
        return interval, f"copy schedule '{copy.schedule}' interval {human(interval)}"
    if system.kind in DATABASE_KINDS and target.mechanism == REPLICAOF:
        lag = ctx.figures.value("ASYNC_LAG_S")
        return lag, (f"Redis replicates asynchronously only (REPLICAOF): writes acknowledged but not "
                     f"yet streamed are lost, ASYNC_LAG_S {human(lag)}; WAIT where a write must reach the replica")
    if system.kind in DATABASE_KINDS and target.mechanism != BACKUP_ONLY:
        if target.replication == "sync":
            return 0.0, "synchronous replication: every acknowledged commit is on the standby"
        lag = ctx.figures.value("ASYNC_LAG_S")
        return lag, f"asynchronous replication: ASYNC_LAG_S {human(lag)}"
    backup = next((b for b in ctx.deployed.backups_of(system.name) if b.site == target.site), None)
    if backup is not None:
        interval = A.cron_interval_s(backup.schedule)
        return interval, f"persistent volumes from the {backup.mechanism} backup '{backup.schedule}', interval {human(interval)}"
    if target.role == "active":
        return 0.0, "each active site runs on its own state"
    return None, f"persistent volumes have no copy in {target.site}"


def _failover(ctx: _Context, system: System, lost_site: str, target: Placement) -> Recovery:
    rpo, rpo_formula = _replica_rpo(ctx, system, target)
    if target.role == "active":
        terms = [ctx.figures.term("HEALTH_CHECK_DETECTION_S"), dns_ttl(ctx, system)]
        how = f"{target.site} is already active and takes the traffic when health checks drop {lost_site}"
    else:
        terms = [ctx.detection(lost_site, target.site)]
        if system.kind in DATABASE_KINDS:
            terms += [ctx.figures.term("FENCE_S"), ctx.figures.term("PROMOTE_S")]
        if target.scale == "warm-standby" and system.kind in CLUSTER_KINDS:
            terms.append(ctx.figures.term("NODE_GROUP_SCALE_UP_S"))
        if target.scale == "warm-standby" and system.kind is Kind.vm_group:
            terms.append(ctx.figures.term("VM_BOOT_S"))
        terms.append(dns_ttl(ctx, system))
        how = f"fail over to the standby in {target.site}"
    rto, rto_formula = _sum(terms)
    if rpo is None:
        return Recovery(None, rpo_formula, None, rto_formula, f"a standby exists in {target.site} but {rpo_formula}")
    return Recovery(rpo, rpo_formula, rto, rto_formula, how)


def _rebuild(ctx: _Context, system: System, lost_site: str, into: str) -> Recovery:
    rto, rto_formula = _sum([ctx.detection(lost_site, into), ctx.figures.term("REBUILD_S")])
    return Recovery(0.0, "stateless: nothing to lose", rto, rto_formula, f"rebuild it from the spec in {into}")


def _best(options: list[Recovery], lost: str) -> Recovery:
    working = [o for o in options if o.works]
    if working:
        return min(working, key=lambda o: (o.rpo_s, o.rto_s))
    why = "; ".join(o.reason for o in options) or "no standby, copy or backup outside it in the plan"
    return Recovery(None, "data lost", None, "not recoverable", f"everything of it is in {lost}: {why}")


def _site_loss(ctx: _Context, system: System, lost: frozenset[str]) -> Recovery:
    placements = ctx.deployed.placements_of(system.name)
    if not placements:
        return Recovery(None, "data lost", None, "not recoverable", "the plan declares no placement of this system")
    serving = [p for p in placements if p.role in ("primary", "active")]
    if serving and not any(p.site in lost for p in serving):
        sync_standby_lost = any(p.site in lost and p.role == "standby" and p.replication == "sync"
                                for p in placements)
        if sync_standby_lost and system.kind in DATABASE_KINDS:
            primary = serving[0]
            lost_site = next(p.site for p in placements if p.site in lost)
            rto, formula = _sum([ctx.detection(lost_site, primary.site), ctx.figures.term("RELAX_SYNC_S")])
            return Recovery(0.0, "the primary keeps every commit", rto, formula,
                            f"the synchronous standby in {lost_site} is gone: writes block until sync is relaxed, "
                            "then the primary runs without a copy")
        gone = sorted({p.site for p in placements if p.site in lost}
                      | {b.site for b in ctx.deployed.backups_of(system.name) if b.site in lost})
        reason = "not served from the lost site(s)"
        if gone:
            reason = f"keeps serving; its copies in {', '.join(gone)} are gone until rebuilt"
        return Recovery(0.0, "not affected", 0.0, "not affected", reason)
    lost_site = next((p.site for p in serving if p.site in lost), next(iter(sorted(lost))))
    options = [_failover(ctx, system, lost_site, p) for p in placements
               if p.site not in lost and p.role in ("standby", "active")]
    options += [restore(ctx, system, lost_site, b) for b in ctx.deployed.backups_of(system.name)
                if b.site not in lost]
    if system.kind in STATELESS_KINDS:
        into = next((s.name for s in ctx.platform.sites if s.name not in lost), None)
        if into is not None:
            options.append(_rebuild(ctx, system, lost_site, into))
    return _best(options, ", ".join(sorted(lost)))


def _in_site(ctx: _Context, system: System, primary: Placement, what: str) -> Optional[Recovery]:
    """Survival inside the primary site: spare instances on other hosts or zones."""
    if system.kind is Kind.bucket and what == "host":
        return Recovery(0.0, "objects are replicated across storage hosts by the provider", 0.0, "not affected",
                        "object storage survives a host: the provider's replicated store (provider responsibility)",
                        owner="provider")
    spread = primary.instances >= 2 and (
        (what == "host" and (primary.anti_affinity or system.kind in CLUSTER_KINDS))
        or (what == "az" and len(primary.zones) >= 2))
    if spread:
        if system.kind in CLUSTER_KINDS:
            rto, formula = _sum([ctx.figures.term("POD_EVICTION_S")])
        elif system.kind in DATABASE_KINDS:
            rto, formula = _sum([ctx.figures.term("HEALTH_CHECK_DETECTION_S"), ctx.figures.term("PROMOTE_S")])
        else:
            rto, formula = _sum([ctx.figures.term("HEALTH_CHECK_DETECTION_S")])
        where = ("on distinct hosts" if what == "host" else f"across zones {', '.join(sorted(primary.zones))}")
        rpo_note = "replicas in the site hold every commit" if system.kind in DATABASE_KINDS else "no state lost"
        return Recovery(0.0, rpo_note, rto, formula, f"{primary.instances} instances {where} keep it up")
    if what == "host" and system.kind is not Kind.bucket:
        rto, formula = _sum([ctx.figures.term("HOST_EVACUATION_S")])
        return Recovery(0.0, "volumes are on network block storage and survive the host", rto, formula,
                        "the provider restarts the instance on another host (provider responsibility)",
                        owner="provider")
    return None


def _hardware(ctx: _Context, system: System, what: str) -> Recovery:
    primary = ctx.deployed.primary_of(system.name, system.sites)
    if primary is None:
        return Recovery(None, "data lost", None, "not recoverable", "the plan declares no placement of this system")
    in_site = _in_site(ctx, system, primary, what)
    if what == "az" and in_site is None:
        zones = ", ".join(sorted(primary.zones)) or "no zone stated in the plan (assumed one)"
        cross = _site_loss(ctx, system, frozenset({primary.site}))
        return Recovery(cross.rpo_s, cross.rpo_formula, cross.rto_s, cross.rto_formula,
                        f"all of it sits in one zone ({zones}); " + cross.reason)
    cross = _site_loss(ctx, system, frozenset({primary.site}))
    options = [o for o in (in_site, cross) if o is not None]
    return _best(options, primary.site)


def _partition(ctx: _Context, system: System, pair: tuple[str, str]) -> Recovery:
    placements = ctx.deployed.placements_of(system.name)
    sites = {p.site for p in placements} | {b.site for b in ctx.deployed.backups_of(system.name)}
    if not set(pair) <= sites:
        return Recovery(0.0, "not affected", 0.0, "not affected", "does not span this link")
    primary = ctx.deployed.primary_of(system.name, system.sites)
    across = [p for p in placements if p.site in pair and primary and p.site != primary.site]
    no_auto = "" if witness_problem(ctx.platform, pair) is None else "; no automatic failover without a witness"
    if primary and any(p.role == "standby" and p.replication == "sync" for p in across) \
            and system.kind in DATABASE_KINDS:
        standby = next(p.site for p in across)
        rto, formula = _sum([ctx.detection(standby, primary.site), ctx.figures.term("RELAX_SYNC_S")])
        return Recovery(0.0, "the primary keeps every commit", rto, formula,
                        f"synchronous commits wait for {standby} across the cut link: writes block until sync is "
                        "relaxed, then the primary runs without a copy" + no_auto)
    if any(p.role == "active" for p in placements):
        return Recovery(0.0, "each side keeps its own writes", 0.0, "not affected",
                        "both sides keep serving; copies reconcile when the link returns" + no_auto)
    return Recovery(0.0, "not affected", 0.0, "not affected",
                    "the primary keeps serving; replication, copies and backups catch up when the link returns"
                    + no_auto)


def _evaluate(ctx: _Context, system: System, scenario: Scenario) -> Recovery:
    if scenario.kind in ("fire", "earthquake"):
        return _site_loss(ctx, system, scenario.lost_sites)
    if scenario.kind == "hardware-host":
        return _hardware(ctx, system, "host")
    if scenario.kind == "hardware-az":
        return _hardware(ctx, system, "az")
    if scenario.kind == "ransomware":
        return ransomware(ctx, system)
    return _partition(ctx, system, scenario.pair)


def assess(platform: Platform, graph: ResourceGraph, quotas: Optional[Mapping[str, Quota]] = None) -> Assessment:
    """Every system × scenario verdict of the platform as the graph declares it; capacity against the declared
    quotas, or those `quotas` read from the sites' clouds."""
    deployed = read(graph)
    ctx = _Context(platform, deployed, A.figures(platform))
    found = scenarios(platform, deployed)
    outcomes = []
    for system in platform.systems:
        for scenario in found:
            recovery = _evaluate(ctx, system, scenario)
            outcomes.append(Outcome(
                system=system.name, scenario=scenario.id, survives=recovery.works,
                rpo_s=recovery.rpo_s, rto_s=recovery.rto_s,
                rpo_formula=recovery.rpo_formula, rto_formula=recovery.rto_formula,
                rpo_target_s=system.rpo.total_seconds(), rto_target_s=system.rto.total_seconds(),
                reason=recovery.reason, owner=recovery.owner, fallback_rto_s=recovery.fallback_rto_s,
                fallback_rto_formula=recovery.fallback_rto_formula))
    notes = tuple(f"{urn} declares no resources and protects nothing" for urn in deployed.hollow)
    return Assessment(graph.stack, tuple(found), tuple(outcomes), witness_problem(platform), notes,
                      capacity(platform, graph, quotas), ctx.figures)
