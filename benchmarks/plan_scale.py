"""How the offline plan scales: `multidc plan` against the bare Pulumi SDK floor.

For synthetic stacks of growing size (2 to 10 sites, up to at least 5,000 resources) it
prints, per size, the wall time of the plan (spec validation, the real program under
the capturing mocks, site attribution, the JSON graph) next to the time the bare
Pulumi SDK needs to register the same number of resources with the same mocks in the
same run (the SDK floor), and the ratio. Run: `.venv/bin/python benchmarks/plan_scale.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings
from pulumi.runtime.stack import run_pulumi_func

from multidc.plan.capture import PROJECT, PlanMocks, plan
from multidc.spec import parse_platform

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


def sdk_floor(count: int) -> float:
    """Register `count` resources with the bare SDK under the same mocks; seconds."""
    import pulumi_openstack as openstack

    def program() -> None:
        provider = openstack.Provider("floor", auth_url="https://floor.example.kz:5000/v3", region="kz")
        opts = pulumi.ResourceOptions(provider=provider)
        for i in range(count - 1):
            openstack.networking.Network(f"n{i}", name=f"n{i}", opts=opts)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    start = time.perf_counter()
    try:
        settings.reset_options(project=PROJECT, stack="floor", preview=False)
        settings.SETTINGS.rpc_manager.clear()
        settings.SETTINGS.outputs.clear()
        pulumi_mocks.set_mocks(PlanMocks(), project=PROJECT, stack="floor", preview=False)
        loop.run_until_complete(run_pulumi_func(program))
    finally:
        asyncio.set_event_loop(None)
        loop.close()
        settings.reset_options()
    return time.perf_counter() - start


def plan_time(spec: dict) -> tuple[float, int]:
    start = time.perf_counter()
    platform = parse_platform(spec, "synthetic")
    graph = plan(platform, spec["name"])
    json.dumps(graph.to_json(), default=str)
    return time.perf_counter() - start, len(graph)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; the median is printed")
    parser.add_argument("--max-resources", type=int, default=5000)
    args = parser.parse_args()
    # (sites, vm groups, VMs per group per site), chosen to land near 250 ... 5,000 resources.
    shapes = [(2, 4, 10), (2, 8, 20), (4, 10, 15), (6, 12, 20), (10, 16, 21)]
    print(f"{'sites':>5} {'resources':>9} {'plan s':>8} {'floor s':>8} {'ratio':>6} {'plan us/res':>11}")
    for sites, groups, vms in shapes:
        spec = synthetic_spec(sites, groups, vms)
        plans, floors, count = [], [], 0
        for _ in range(args.repeat):
            seconds, count = plan_time(spec)
            plans.append(seconds)
            floors.append(sdk_floor(count))
        p, f = statistics.median(plans), statistics.median(floors)
        print(f"{sites:>5} {count:>9} {p:>8.2f} {f:>8.2f} {p / f:>6.2f} {p / count * 1e6:>11.0f}", flush=True)
        if count >= args.max_resources:
            break


if __name__ == "__main__":
    main()
