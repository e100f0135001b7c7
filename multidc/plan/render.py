"""How a plan reads in a terminal: a tree per site, and counts per resource type per site."""

from __future__ import annotations

from collections import Counter

from rich.console import Group
from rich.table import Table
from rich.tree import Tree

from multidc.plan.graph import Node, ResourceGraph
from multidc.plan.render_operations import entrypoints_renderables
from multidc.contract import ML_PLATFORM


def short_type(type_: str) -> str:
    """'openstack:networking/network:Network' -> 'openstack:Network'."""
    package, _, rest = type_.partition(":")
    if type_.startswith("pulumi:providers:"):
        return f"provider:{type_.rsplit(':', 1)[1]}"
    return f"{package}:{rest.rsplit(':', 1)[-1]}" if rest else type_


def default_provider_nodes(graph: ResourceGraph) -> list[Node]:
    """Custom resources that would fall back to a default provider under `pulumi up`.

    Dynamic resources run in the program's own process; Pulumi gives them no provider
    resource to pass, so they are bound to their site by their inputs instead.
    """
    return [node for node in graph if node.custom and not node.is_provider and node.provider is None
            and not node.type.startswith("pulumi-python:dynamic")]


def _label(node: Node) -> str:
    kind = "[bold cyan]" if node.is_component else ("[magenta]" if node.is_provider else "")
    close = "[/]" if kind else ""
    return f"{kind}{short_type(node.type)}{close} {node.name}"


def site_trees(graph: ResourceGraph) -> list[Tree]:
    """One tree per site: its components, and under each the resources it declared there."""
    sites = sorted({node.site for node in graph if node.site}, key=lambda s: [n.site for n in graph].index(s))
    children: dict[str | None, list[Node]] = {}
    for node in graph:
        children.setdefault(node.parent, []).append(node)
    trees = []
    for site in sites:
        tree = Tree(f"[bold]site {site}[/bold]")

        def add(branch: Tree, node: Node) -> None:
            sub = branch.add(_label(node))
            for child in children.get(node.urn, []):
                if child.site == site:
                    add(sub, child)

        for node in graph:
            parent_site = graph.by_urn(node.parent).site if node.parent in graph._index() else None
            if node.site == site and parent_site != site:
                add(tree, node)
        trees.append(tree)
    unsited = [node for node in graph if node.site is None and node.custom]
    if unsited:
        tree = Tree("[bold]not bound to a site[/bold]")
        for node in unsited:
            tree.add(_label(node))
        trees.append(tree)
    return trees


def counts_table(graph: ResourceGraph) -> Table:
    counts = graph.counts_by_site()
    sites = list(counts)
    table = Table(title=f"Resources per type per site ({graph.stack})")
    table.add_column("type")
    for site in sites:
        table.add_column(site, justify="right")
    types = sorted({t for c in counts.values() for t in c})
    for type_ in types:
        table.add_row(type_, *(str(counts[site].get(type_, 0) or "") for site in sites))
    totals = [sum(counts[site].values()) for site in sites]
    table.add_row("[bold]total[/bold]", *(f"[bold]{t}[/bold]" for t in totals))
    return table


def ml_table(graph: ResourceGraph) -> Table | None:
    """Each ML platform placement: where it runs, at what scale, and the endpoints it uses."""
    placements = sorted(graph.components(ML_PLATFORM), key=lambda node: node.name)
    if not placements:
        return None
    table = Table(title="ML platform per site: services and the endpoints they use")
    for column in ("placement", "site", "scale", "services", "MLflow backend", "artifacts", "training reads"):
        table.add_column(column, overflow="fold")
    for node in placements:
        out = node.outputs
        endpoints = out.get("endpoints") or {}
        services = [s for s in (out.get("jupyterhub"), out.get("mlflow") and "mlflow",
                                out.get("spark_operator")) if s]
        services += [f"model {m}" for m in out.get("models") or []]
        reads = "\n".join(f"{name}: {url}" for name, url in (endpoints.get("datasets") or {}).items()) or "-"
        table.add_row(node.name, out.get("site", ""), out.get("scale", ""), "\n".join(services),
                      endpoints.get("mlflow_backend") or "-", endpoints.get("artifact_store") or "-", reads)
    return table


def plan_renderable(graph: ResourceGraph) -> Group:
    defaults = default_provider_nodes(graph)
    kinds = Counter("component" if n.is_component else "provider" if n.is_provider else "resource" for n in graph)
    summary = (f"[bold]{graph.stack}[/bold]: {kinds['resource']} resources, {kinds['provider']} providers, "
               f"{kinds['component']} components; "
               + ("[green]no resource on a default provider[/green]" if not defaults else
                  f"[red]{len(defaults)} resource(s) on a default provider: "
                  f"{', '.join(n.urn for n in defaults[:5])}[/red]"))
    ml = ml_table(graph)
    return Group(*site_trees(graph), counts_table(graph), *([ml] if ml is not None else []),
                 *entrypoints_renderables(graph), summary)
