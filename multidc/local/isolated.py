"""`multidc local up --netns`: each site, and the witness, in its own network namespace.

What a partition drill needs and nothing else (multidc.drill.partition):

- the namespaces and their links (multidc.local.netns): every location has its site address;
- every PostgreSQL and Redis system, with the mechanism the stack deploys (logical replication,
  REPLICAOF; set up by the same `ReplicationLinkProvider.create` that `pulumi up` runs): each server
  runs inside its site's namespace and listens on the site address, so replication crosses the
  inter-site link (and a failover's fence of the lost site's servers meets the cut);
- the etcd cluster `multidc watch` needs (started by `local up` for any stack with a witness):
  here one member in each site's namespace and one in the witness's, on its location's address.

The S3 endpoints, bucket copies and the archives are not run inside namespaces: the outputs
document lists the buckets under `not_realised` and no backups, so a failover reports their steps
as not performed (needs-operator), never as done.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from multidc.contract import LOGICAL
from multidc.spec import Platform

from . import replicated
from .netns import NetnsUnavailable, Topology

NOT_IN_NAMESPACES = ("not run inside network namespaces: a local deployment with --netns runs the PostgreSQL "
                     "and Redis systems and the etcd cluster only (what the partition drill needs)")


class IsolatedError(RuntimeError):
    """The namespaced deployment cannot be made; the message says why and the fix."""


def locations(platform: Platform) -> list[str]:
    """The sites, then the witness location: one namespace each."""
    if platform.witness is None:
        raise IsolatedError(f"stack {platform.name} has no witness: --netns puts the sites and the witness location "
                            "in namespaces of their own (three etcd members); declare a witness in the spec")
    return [site.name for site in platform.sites] + [platform.witness.name]


def start(platform: Platform, stack: str, pairs: list[tuple[str, list[str]]], redis: list[tuple[str, list[str]]],
          modes: dict[str, str],
          mechanisms: dict[str, Any], state: dict[str, Any], save: Callable[[], None],
          log: Callable[[str], None], link_errors: Callable[[str, Callable[[], Any]], Any]) -> None:
    """Namespaces, PostgreSQL and Redis pairs; each recorded in `state` (then `save()`d) as it starts."""
    names = locations(platform)
    unsupported = sorted(name for name, _ in pairs if mechanisms[name] != LOGICAL)
    if unsupported:
        raise IsolatedError(f"--netns runs PostgreSQL with logical replication (what the stack deploys on Trove); "
                            f"{', '.join(unsupported)} would need another mechanism: drop --postgres-mechanism")
    log(f"creating network namespaces for {', '.join(names)}")
    try:
        topology = Topology.create(names)
    except NetnsUnavailable as error:
        raise IsolatedError(str(error)) from None
    state["netns"] = topology.to_record()
    save()
    clients = [f"{address}/32" for address in [*topology.addresses.values(), topology.host_address]]

    def placed(site: str) -> dict[str, Any]:
        return {"host": topology.addresses[site], "launcher": topology.launcher(site), "clients": clients}

    def start_pair(pair: tuple[str, list[str]]) -> list[dict[str, Any]]:
        name, sites = pair
        records = link_errors(name, lambda: replicated.start_logical_postgres(stack, name, sites, modes[name],
                                                                               placed=placed))
        for record in records:
            record.update(host=topology.addresses[record["site"]], netns=topology.namespace(record["site"]))
        return records

    log("starting PostgreSQL in the sites' namespaces: " + ", ".join(
        f"{name} ({' -> '.join(sites)}, {modes[name]})" for name, sites in pairs))
    with ThreadPoolExecutor(max_workers=3) as pool:
        for records in pool.map(start_pair, pairs):
            state["postgres"] += records
            save()
    for name, sites in redis:
        log(f"starting Redis in the sites' namespaces: {name} ({' -> '.join(sites)}, REPLICAOF)")
        records = link_errors(name, lambda: replicated.start_redis(stack, name, sites, placed=placed))
        for record in records:
            record.update(host=topology.addresses[record["site"]], netns=topology.namespace(record["site"]))
        state["engines"] += records
        save()


def etcd_placement(state: dict[str, Any]) -> dict[str, Any]:
    """Where each etcd member runs (multidc.local.etcd.LocalEtcd's `hosts` and `launchers`)."""
    topology = Topology.from_record(state["netns"])
    return {"hosts": dict(topology.addresses),
            "launchers": {name: topology.launcher(name) for name in topology.locations}}


def describe(document: dict[str, Any], state: dict[str, Any]) -> None:
    """The document of a namespaced deployment: no backups, and why the other systems are not run."""
    for name, system in document["systems"].items():
        system["backup"] = None
        if name in document["not_realised"] and system["kind"] in ("bucket", "mysql"):
            document["not_realised"][name] = NOT_IN_NAMESPACES


def stop(state: dict[str, Any]) -> list[str]:
    """The namespaces (what still runs inside is killed); idempotent. The caller stops the servers first."""
    stopped = []
    if state.get("netns"):
        Topology.from_record(state["netns"]).remove()
        stopped.append("network namespaces " + ", ".join(state["netns"]["locations"]))
    return stopped
