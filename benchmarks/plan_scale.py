"""How the offline plan scales: `multidc plan` against the bare Pulumi SDK floor.

For synthetic stacks of growing size (2 to 10 sites, up to at least 5,000 resources) it
prints, per size, the wall time of the plan (spec validation, the real program under
the capturing mocks, site attribution, the JSON graph) next to two SDK floors measured
in the same run with the same mocks: the bare Pulumi SDK running the same program (what
`multidc plan` adds on top of the SDK), and the bare SDK registering the same resources
flat as generic resources (what the program's components, Outputs and typed classes cost
too); and the ratios. Run: `.venv/bin/python benchmarks/plan_scale.py`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import pulumi
from pulumi.runtime import mocks as pulumi_mocks

from multidc.plan.capture import PlanMocks, plan, run_under_mocks
from multidc.plan.graph import ResourceGraph
from multidc.spec import CONFIG_KEY, parse_platform

CITIES = [("astana", 51.17, 71.45), ("almaty", 43.22, 76.85), ("shymkent", 42.34, 69.59),
          ("karaganda", 49.80, 73.10), ("aktobe", 50.28, 57.21), ("pavlodar", 52.29, 76.97),
          ("atyrau", 47.09, 51.92), ("kostanay", 53.21, 63.63), ("oral", 51.23, 51.37), ("taraz", 42.90, 71.37)]


def synthetic_spec(sites: int, groups: int, vms: int) -> dict:
    """A valid platform: `sites` sites, `groups` active-active VM groups of `vms` VMs, one
    replicated database and one cluster per pair so every component kind is present."""
    site_specs = [{
        "name": name, "role": "primary" if i == 0 else "secondary",
        "cloud": {"auth_url": f"https://{name}.example.kz:5000/v3", "region": f"kz-{i}", "project": "bench"},
        "location": {"city": name.title(), "country": "KZ", "latitude": lat, "longitude": lon},
        "cidr": f"10.{i}.0.0/16", "s3_endpoint": f"https://s3.{name}.example.kz",
    } for i, (name, lat, lon) in enumerate(CITIES[:sites])]
    names = [s["name"] for s in site_specs]
    systems = []
    for i in range(sites - 1):
        pair = [names[i], names[i + 1]]
        systems.append({"name": f"k8s-{i}", "kind": "kubernetes", "sites": pair, "topology": "active-active",
                        "size": {"count": 3, "min_count": 1, "max_count": 5}})
        systems.append({"name": f"db-{i}", "kind": "postgres", "sites": pair, "topology": "active-passive",
                        "replication": "async", "rpo": "5m",
                        "backup": {"offsite_site": names[i + 1]}})
    for g in range(groups):
        systems.append({"name": f"vms-{g}", "kind": "vm-group", "sites": names, "topology": "active-active",
                        "size": {"count": vms}})
    return {"name": f"bench-{sites}", "sites": site_specs, "systems": systems}


def _bare_sdk(program, config: dict | None = None) -> float:
    """Run a program with the stock Pulumi mock monitor and the plan's mocks; seconds."""
    start = time.perf_counter()
    run_under_mocks(program, "floor", config or {}, pulumi_mocks.MockMonitor(PlanMocks()))
    return time.perf_counter() - start


def sdk_floor(spec: dict) -> float:
    """The bare SDK running the same program (same resources, classes and inputs) with the
    same mocks, without multidc's capture, site attribution, spec loading or JSON graph."""
    from multidc import program

    return _bare_sdk(program.main, {CONFIG_KEY: spec})


def flat_floor(graph: ResourceGraph) -> float:
    """The bare SDK registering the same resources (type, name, inputs) flat, as generic
    resources: no components, no Outputs between resources, no typed SDK classes."""

    def program() -> None:
        for i, node in enumerate(graph):
            if node.custom:
                pulumi.CustomResource(node.type, f"{node.name}-{i}", dict(node.inputs))
            else:
                pulumi.ComponentResource(node.type, f"{node.name}-{i}", dict(node.inputs))

    return _bare_sdk(program)


def plan_time(spec: dict) -> tuple[float, ResourceGraph]:
    start = time.perf_counter()
    platform = parse_platform(spec, "synthetic")
    graph = plan(platform, spec["name"])
    json.dumps(graph.to_json(), default=str)
    return time.perf_counter() - start, graph


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; the median is printed")
    parser.add_argument("--max-resources", type=int, default=5000)
    args = parser.parse_args()
    # (sites, vm groups, VMs per group per site), chosen to land near 250 ... 5,000 resources.
    shapes = [(2, 4, 10), (2, 8, 20), (4, 10, 15), (6, 12, 20), (10, 16, 21)]
    print("floor: the same program on the bare SDK and the same mocks (multidc plan's own overhead);")
    print("flat: the same resources registered flat as generic resources (the program's structure too)")
    print(f"{'sites':>5} {'resources':>9} {'plan s':>8} {'floor s':>8} {'ratio':>6} {'flat s':>8} {'ratio':>6} "
          f"{'plan us/res':>11}")
    plan_time(synthetic_spec(2, 1, 1))  # imports and first-use caches are not part of any size
    for sites, groups, vms in shapes:
        spec = synthetic_spec(sites, groups, vms)
        plans, floors, flats, count = [], [], [], 0
        for _ in range(args.repeat):
            seconds, graph = plan_time(spec)
            plans.append(seconds)
            floors.append(sdk_floor(spec))
            flats.append(flat_floor(graph))
            count = len(graph)
        p, f, g = statistics.median(plans), statistics.median(floors), statistics.median(flats)
        print(f"{sites:>5} {count:>9} {p:>8.2f} {f:>8.2f} {p / f:>6.2f} {g:>8.2f} {p / g:>6.2f} "
              f"{p / count * 1e6:>11.0f}", flush=True)
        if count >= args.max_resources:
            break


if __name__ == "__main__":
    main()
