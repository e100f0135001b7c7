"""How the plan shows what clients reach and what watches the stack: service names per system and
site, load balancers, alert rules per system, and each site's capacity now and after each failover."""

from __future__ import annotations

from typing import Any, Optional, Sequence

from rich.console import Group
from rich.markup import escape
from rich.table import Table

from multidc.contract import LOAD_BALANCER, SERVICE_NAMES
from multidc.monitoring.rules import RuleGroup
from multidc.plan.graph import ResourceGraph

RECORD_SET = "openstack:dns/recordSet:RecordSet"
CAPACITY_COLUMNS = (("vcpus", "vCPUs"), ("ram_gb", "RAM GB"), ("instances", "instances"), ("volume_gb", "volume GB"),
                    ("floating_ips", "floating IPs"), ("gpus", "GPUs"))


def names_table(graph: ResourceGraph) -> Optional[Table]:
    """Each service name in each site's zone: visibility, TTL against the RTO, where it points."""
    components = graph.components(SERVICE_NAMES)
    if not components:
        return None
    table = Table(title="Service names per system and site (Designate record sets)")
    for column in ("name", "site", "visibility", "TTL / RTO", "points at"):
        table.add_column(column, overflow="fold")
    for component in components:
        described = {entry["name"]: entry for entry in component.inputs.get("records", [])}
        for record in graph.descendants(component.urn):
            if record.type != RECORD_SET:
                continue
            entry = described.get(record.inputs.get("name"), {})
            table.add_row(record.inputs.get("name", ""), component.inputs.get("site", ""),
                          entry.get("visibility", ""), f"{_n(record.inputs.get('ttl'))}s / {_n(entry.get('rto_seconds'))}s",
                          ", ".join(record.inputs.get("records") or []))
    return table


def load_balancers_table(graph: ResourceGraph) -> Optional[Table]:
    balancers = graph.components(LOAD_BALANCER)
    if not balancers:
        return None
    table = Table(title="Load balancers (Octavia) in front of the VM groups")
    for column in ("system", "site", "listener", "members", "health check", "VIP", "floating IP"):
        table.add_column(column, overflow="fold")
    for node in balancers:
        out = node.outputs or node.inputs
        table.add_row(out.get("system", ""), out.get("site", ""), f"TCP {_n(out.get('listener_port'))}",
                      _n(out.get("members")), f"HTTPS {out.get('health_path', '')}", str(out.get("vip_address") or "-"),
                      str(out.get("floating_ip") or "-"))
    return table


def alerts_table(groups: Sequence[RuleGroup]) -> Optional[Table]:
    """The generated alert rules, per system, with what each watches and its threshold."""
    if not groups:
        return None
    table = Table(title="Alert rules per system (Prometheus, routed by tier)")
    for column in ("system", "alert", "watches", "threshold", "for", "severity"):
        table.add_column(column, overflow="fold")
    for group in groups:
        for alert in group.alerts:
            table.add_row(group.system or "(stack)", alert.name, alert.watches,
                          "-" if alert.threshold_s is None else f"{alert.threshold_s}s", alert.for_,
                          alert.labels.get("severity", ""))
    return table


def capacity_table(verdicts: Sequence[dict[str, Any]]) -> Optional[Table]:
    """Per site, usage now and after each failover, against the declared quota or the one read from the
    site's cloud (the assessment's JSON)."""
    if not verdicts:
        return None
    read = any(v.get("quota_source") == "cloud" for v in verdicts)
    table = Table(title="Capacity per site: now and after each failover (used / quota"
                        + (", read from each site's cloud)" if read else ")"))
    table.add_column("site")
    table.add_column("when")
    for _, label in CAPACITY_COLUMNS:
        table.add_column(label, justify="right")
    table.add_column("verdict", overflow="fold")
    for verdict in verdicts:
        quota = verdict.get("quota") or {}
        cells = [f"{_n(verdict['used'][key])}" + (f" / {quota[key]}" if quota.get(key) is not None else "")
                 for key, _ in CAPACITY_COLUMNS]
        when = "now" if verdict["lost_site"] is None else f"{verdict['lost_site']} lost"
        mark = ("[red]✗ " + ", ".join(verdict["over"]) + "[/red]" if verdict["misses"]
                else "[green]✓ fits[/green]" if quota else "[dim]no quota declared[/dim]")
        if verdict["misses"] and not verdict["over"]:
            mark = f"[red]✗ {escape(verdict['reason'])}[/red]"
        if verdict.get("declared_differs") and verdict["lost_site"] is None:
            mark += "[yellow]; " + escape("; ".join(verdict["declared_differs"])) + "[/yellow]"
        table.add_row(verdict["site"], when, *cells, mark)
    return table


def operations_renderable(groups: Sequence[RuleGroup], capacity: Sequence[dict[str, Any]]) -> Group:
    """The alert rules and the capacity table (what `multidc plan` prints after the assessment)."""
    return Group(*(t for t in (alerts_table(groups), capacity_table(capacity)) if t is not None))


def entrypoints_renderables(graph: ResourceGraph) -> list[Table]:
    """The service names and load balancers of a plan (empty when it declares none)."""
    return [t for t in (names_table(graph), load_balancers_table(graph)) if t is not None]


def _n(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "-" if value is None else str(value)
