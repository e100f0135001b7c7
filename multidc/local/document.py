"""The outputs document of a local deployment: the planned document with each endpoint replaced by its
local stand-in (servers, S3 endpoints, etcd members), in the production format (`multidc.ops.outputs`),
and the systems a machine cannot run listed under `not_realised` with the reason.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

from multidc.contract import OUTPUTS_KEY
from multidc.local import replicated
from multidc.local.etcd import LocalEtcd
from multidc.local.s3 import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY
from multidc.protection import postgres as pg
from multidc.spec import Platform

# The streaming pair a self-managed deployment clones itself (`local up`), not the provider `pulumi up` runs.
LOCAL_MECHANISM = "physical-streaming"


def s3_url(s3: dict[str, Any]) -> str:
    return f"http://127.0.0.1:{s3['port']}"


def local_document(platform: Platform, planned: dict[str, Any], state: dict[str, Any], auth: pg.ReplicationAuth,
              modes: dict[str, str]) -> dict[str, Any]:
    """The planned outputs document with every endpoint replaced by its local stand-in."""
    document = copy.deepcopy(planned)
    document["local"] = True
    document["not_realised"] = {}
    endpoints = {r["site"]: s3_url(r) for r in state["s3"]}
    servers = {(r["system"], r["site"]): r for r in state["postgres"]}
    engines = {(r["system"], r["site"]): r for r in state.get("engines", [])}
    etcd = LocalEtcd.attach(state["etcd"]) if state.get("etcd") else None
    if etcd is not None and document.get("witness"):
        document["witness"]["etcd"] = etcd.endpoint(document["witness"]["name"])
    for name, site in document["sites"].items():
        site["etcd"] = etcd.endpoint(name) if etcd is not None else None
        site["s3_endpoint"] = endpoints.get(name)
        site["dns_zone"] = None
        site["s3"] = {"access_key": DUMMY_ACCESS_KEY, "secret_key": DUMMY_SECRET_KEY}
    for name, system in document["systems"].items():
        kind = system["kind"]
        realised = False
        system["service_names"] = []  # no DNS server in a local deployment: the planned addresses are the mocks'
        for site, placement in system["placements"].items():
            placement["dns_record"] = None  # no DNS server in a local deployment
            placement["cluster"] = None
            server = servers.get((name, site))
            if placement["database"] is not None:
                placement["database"] = None if server is None else {
                    "engine": "postgresql", "host": server.get("host", "127.0.0.1"), "port": server["port"],
                    "database": "postgres", "user": "postgres", "password": server["password"],
                    "local": {"base_dir": server["base_dir"], **({"netns": server["netns"]} if "netns" in server
                                                                  else {})},
                }
            engine = engines.get((name, site))
            if engine is not None:
                placement["database"] = replicated.database_entry(engine)
                server = engine
            if server is not None and placement["role"] == "standby":
                mechanism = server.get("mechanism", LOCAL_MECHANISM)
                placement["replication_mechanism"] = mechanism
                # Realised by the provider `pulumi up` runs (ReplicationLinkProvider.create), except the
                # streaming pair of a self-managed deployment, which `local up` clones itself.
                placement["replication_link"] = {"mechanism": mechanism, "mode": modes[name] if kind != "redis"
                                                 else "async", "primary": system["primary_site"],
                                                 "realised_by_pulumi": mechanism != LOCAL_MECHANISM}
            if placement["bucket"] is not None and site not in endpoints:
                placement["bucket"] = None  # no S3 endpoint runs here (a deployment with --netns)
            if placement["bucket"] is not None:
                placement["bucket"]["endpoint"] = endpoints[site]
                placement["bucket"]["region"] = "us-east-1"
            realised = realised or server is not None or placement["bucket"] is not None
        if system["backup"] is not None:
            system["backup"]["vault"]["endpoint"] = endpoints.get(system["backup"]["site"])
            system["backup"]["vault"]["region"] = "us-east-1"
        if kind == "postgres" and any(k[0] == name and "mechanism" not in r for k, r in servers.items()):
            system["replication_auth"] = {"user": auth.user, "password": auth.password}
        if not realised:
            document["not_realised"][name] = (f"no local stand-in for {kind}: a local deployment runs PostgreSQL, "
                                              "Redis, MariaDB, S3 endpoints and bucket copies only")
    return document


def write_outputs(document: dict[str, Any], path: Path) -> None:
    """Write the document as `pulumi stack output --json --show-secrets` would (owner-only: it holds credentials)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({OUTPUTS_KEY: document}, out, indent=2)
        out.write("\n")
