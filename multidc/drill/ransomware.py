"""The ransomware drill: encrypt a local deployment through its normal credentials, restore it to before T.

Like the site-loss drill, a user of the production commands, never a second implementation:

1. `multidc local up` starts the stack (PostgreSQL pairs archiving WAL into the locked vaults,
   the S3 endpoints, the bucket copies) and writes the outputs document;
2. a client per archived PostgreSQL system inserts rows and records every acknowledged commit;
   a client per versioned bucket puts objects and records each one;
3. at T the drill notes the time; the clients go on writing for a moment, then the attacker, with
   the application's own credentials, overwrites every row with garbage, drops a table,
   overwrites and deletes objects; replication carries all of it to the standbys and copies;
4. with the database host's archive keys, the attacker tries to delete every archived version
   (``archive_delete_refused``: every attempt must fail);
5. `multidc restore --before T --to-new NAME` per database (which promotes the system's delayed
   standby at T when it has one that reaches T, else restores the vault: the report's ``source``),
   `multidc restore --before T` per bucket, as subprocesses;
6. checks, byte for byte: every commit acknowledged before T minus the achieved RPO is in the
   restored server with its original content and nothing begun after T is; every object put
   before T is back with its hash and nothing put after T is;
7. `multidc local down`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional

import psycopg

from multidc.dr.backends import s3_client
from multidc.local.deployment import is_up
from multidc.local.s3 import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY
from multidc.ops.outputs import OutputsError, StackOutputs, read_file
from multidc.contract import LOGICAL
from multidc.protection import logical
from multidc.protection.archive import ARCHIVE_PREFIX
from multidc.protection.rclone import S3Location
from multidc.spec import Platform

from .clients import ObjectWriter, Writer
from .report import DrillError
from .site_loss import _Commands, _endpoint

WRITE_BEFORE_S = 4.0
WRITE_AFTER_T_S = 1.0
FLUSH_TIMEOUT_S = 120.0


TABLES = ("CREATE TABLE IF NOT EXISTS drill (id bigint PRIMARY KEY, note text NOT NULL DEFAULT 'acknowledged')",
          "CREATE TABLE IF NOT EXISTS customers (id bigint PRIMARY KEY, name text NOT NULL)")


def _create(name: str, system: Any, statement: str) -> None:
    """A table on the primary and, where a standby subscribes (logical replication carries no DDL), on it
    first, as a migration would (``logical.apply_ddl``); a synchronous primary's commits wait for it."""
    primary = system.placements[system.primary_site].database
    standbys = [(site, p) for site, p in system.placements.items()
                if site != system.primary_site and p.database is not None and p.replication_mechanism == LOGICAL]
    for site, placement in standbys:
        logical.apply_ddl(_endpoint(primary), _endpoint(placement.database), statement,
                          dbname=primary.database or "postgres", subscription=logical.names(name, site)[1])
    if not standbys:
        with psycopg.connect(_conninfo(primary), autocommit=True) as conn:
            conn.execute(statement)


def _conninfo(database: Any, **extra: str) -> str:
    return psycopg.conninfo.make_conninfo(
        host=database.host, port=str(database.port), user=database.user or "postgres",
        password=database.password.get_secret_value() if database.password else None,
        dbname=database.database or "postgres", connect_timeout="5", **extra)


def _flush(conninfo: str) -> None:
    """Close the damaged primary's WAL segment and wait until it is archived: the archive then holds T."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        segment = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()[0]
        deadline = time.monotonic() + FLUSH_TIMEOUT_S
        while time.monotonic() < deadline:
            if (conn.execute("SELECT last_archived_wal FROM pg_stat_archiver").fetchone()[0] or "") >= segment:
                return
            time.sleep(0.2)
    raise DrillError(f"WAL segment {segment} was not archived within {FLUSH_TIMEOUT_S:.0f}s")


def _whole_second() -> tuple[dt.datetime, float]:
    """The next whole second as T, in wall-clock and monotonic time, once it has passed.

    S3 listings give a version's time to the second, so a restore "before T" is exact only for a
    T on a whole second: a put in the second after T then carries a time >= T.
    """
    now = dt.datetime.now(dt.timezone.utc)
    t_wall = now.replace(microsecond=0) + dt.timedelta(seconds=1)
    while True:
        mono, now = time.monotonic(), dt.datetime.now(dt.timezone.utc)
        if now >= t_wall:
            return t_wall, mono - (now - t_wall).total_seconds()
        time.sleep(min(0.01, (t_wall - now).total_seconds()))


def _table_digest(rows: list[tuple[int, str]]) -> str:
    return hashlib.sha256("\n".join(f"{i}:{note}" for i, note in rows).encode()).hexdigest()


def _archive_delete_refused(document: StackOutputs, systems: list[str]) -> bool:
    """The attacker on the database host: delete every archived version with its keys. True when all fail."""
    attempts = refused = 0
    for name in systems:
        backup = document.systems[name].backup
        assert backup is not None and backup.archive is not None
        writer = backup.archive.writer  # the keys the archive host holds, as the outputs hand them over
        if writer is None or writer.access_key is None or writer.secret_key is None:
            raise DrillError(f"{name}: the outputs hold no archive writer keys (systems.{name}.backup.archive.writer)")
        location = S3Location(endpoint=backup.vault.endpoint, bucket=backup.vault.bucket,
                              access_key=writer.access_key.get_secret_value(),
                              secret_key=writer.secret_key.get_secret_value())
        client = s3_client(location)
        listing = client.list_object_versions(Bucket=location.bucket, Prefix=f"{ARCHIVE_PREFIX}/{name}/")
        for version in listing.get("Versions", []):
            attempts += 1
            try:
                client.delete_object(Bucket=location.bucket, Key=version["Key"], VersionId=version["VersionId"])
            except Exception:  # noqa: BLE001 - any refusal counts; a success is what must not happen
                refused += 1
    return attempts > 0 and refused == attempts


def _locked(system: Any) -> bool:
    backup = system.backup
    return backup is not None and backup.object_lock_mode == "COMPLIANCE" and backup.immutable_days > 0


def run_ransomware(platform: Platform, stack: str, *, log: Callable[[str], None] = lambda _: None,
                   workdir: Optional[Path] = None) -> dict[str, Any]:
    """Run the drill on a fresh local deployment of `stack`; returns the report (see module docstring)."""
    if is_up(stack):
        raise DrillError(f"stack {stack}: a local deployment is already up; stop it with "
                         f"`multidc local down --stack {stack}` first")
    workdir = Path(workdir or tempfile.mkdtemp(prefix="multidc-ransomware-"))
    outputs = workdir / "outputs.json"
    run = _Commands(log)
    report: dict[str, Any] = {"stack": stack, "scenario": "ransomware", "systems": [], "commands": run.ran}
    writers: list[Any] = []
    try:
        run("local", "up", "--stack", stack, "--outputs", str(outputs))
        try:
            document = read_file(outputs)
        except OutputsError as error:
            raise DrillError(str(error)) from None
        databases = {name: s for name, s in document.systems.items()
                     if s.kind == "postgres" and _locked(s) and s.backup.archive is not None
                     and s.placements[s.primary_site].database is not None}
        buckets = {name: s for name, s in document.systems.items()
                   if s.kind == "bucket" and _locked(s) and s.placements[s.primary_site].bucket is not None}
        report["not_drilled"] = {
            name: "its backup is not object-locked: an attacker with the platform's keys deletes it"
            for name, s in document.systems.items()
            if s.kind in ("postgres", "bucket") and name not in databases and name not in buckets}
        clients: dict[str, Writer] = {}
        for name, system in databases.items():
            conninfo = _conninfo(system.placements[system.primary_site].database)
            for table in TABLES:
                _create(name, system, table)
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute("INSERT INTO customers SELECT g, md5(g::text) FROM generate_series(1, 100) g")
            clients[name] = Writer(conninfo)
        objects: dict[str, ObjectWriter] = {}
        for name, system in buckets.items():
            bucket = system.placements[system.primary_site].bucket
            keys = document.sites[system.primary_site].s3
            objects[name] = ObjectWriter(S3Location(
                endpoint=bucket.endpoint, bucket=bucket.bucket,
                access_key=keys.access_key.get_secret_value() if keys and keys.access_key else DUMMY_ACCESS_KEY,
                secret_key=keys.secret_key.get_secret_value() if keys and keys.secret_key else DUMMY_SECRET_KEY))
        for client in [*clients.values(), *objects.values()]:
            client.start()
            writers.append(client)
        time.sleep(WRITE_BEFORE_S)
        t_wall, t_mono = _whole_second()
        log(f"T = {t_wall.isoformat()}")
        time.sleep(WRITE_AFTER_T_S)
        for client in writers:
            client.halt()
        copy_lag = {name: _copy_lag(document, name, objects[name], t_mono) for name in buckets}
        log("the attack: rows overwritten with garbage, a table dropped, objects overwritten and deleted")
        for name, system in databases.items():
            with psycopg.connect(_conninfo(system.placements[system.primary_site].database), autocommit=True) as conn:
                conn.execute("UPDATE drill SET note = md5(random()::text)")
                conn.execute("DROP TABLE customers")
        for name in buckets:
            _encrypt_bucket(objects[name])
        time.sleep(2.0)  # replication and the copy jobs carry the damage to the other site
        report["archive_delete_refused"] = _archive_delete_refused(document, list(databases))
        for name, system in databases.items():
            _flush(_conninfo(system.placements[system.primary_site].database))
            report["systems"].append(_restore_database(run, stack, outputs, name, system, clients[name], t_wall,
                                                       t_mono))
        for name, system in buckets.items():
            report["systems"].append(_restore_bucket(run, stack, outputs, name, system, objects[name], t_wall,
                                                     t_mono, copy_lag[name]))
    finally:
        for client in writers:
            client.halt()
        run("local", "down", "--stack", stack, check=False)
    report["ok"] = bool(report.get("archive_delete_refused")) and all(
        s["missing_before_t"] == 0 and s["present_after_t"] == 0 for s in report["systems"])
    return report


def _restore_database(run: _Commands, stack: str, outputs: Path, name: str, system: Any, writer: Writer,
                      t_wall: dt.datetime, t_mono: float) -> dict[str, Any]:
    done = run("restore", "--stack", stack, "--system", name, "--site", system.primary_site, "--before",
               t_wall.isoformat(), "--to-new", f"{name}-restored", "--outputs", str(outputs), "--yes", "--json")
    answer = json.loads(done.stdout)
    result = answer["result"]
    server = result["new_server"]
    database = system.placements[system.primary_site].database
    conninfo = psycopg.conninfo.make_conninfo(
        host=server["host"], port=str(server["port"]), user=server["user"], dbname=server["database"],
        password=database.password.get_secret_value() if database.password else None, connect_timeout="5")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute("SELECT id, note FROM drill ORDER BY id").fetchall()
        customers = conn.execute("SELECT count(*) FROM customers").fetchone()[0]
    restored = {i for i, _ in rows}
    rpo_s = float(result["rpo_s"] or 0.0)
    before = sorted(i for i, acked, _, _ in writer.acks if acked < t_mono - rpo_s)
    after = {i for i, _, _, begun in writer.acks if begun > t_mono}
    expected = [(i, "acknowledged") for i in before]
    kept = [(i, note) for i, note in rows if i in set(before)]
    return {
        "system": name, "kind": "postgres", "source": answer["source"],
        "why_not_delayed_standby": answer.get("delayed_standby"), "rpo_s": rpo_s, "restore_s": result["seconds"],
        "acknowledged_before_t": len(before), "missing_before_t": len(set(before) - restored),
        "present_after_t": len(restored & after),
        "checksum_matches": _table_digest(kept) == _table_digest(expected),
        "dropped_table_back": customers == 100,
        "base_backup": result["base_backup"], "wal_range": result["wal_range"],
        "last_transaction": result["last_transaction"],
    }


def _copy_lag(document: StackOutputs, name: str, writer: ObjectWriter, t_mono: float) -> Optional[float]:
    """Seconds between T and the newest object acknowledged before T that the other site's copy holds."""
    system = document.systems[name]
    others = [s for s, p in system.placements.items() if s != system.primary_site and p.bucket is not None]
    if not others:
        return None
    copy = system.placements[others[0]].bucket
    client = s3_client(S3Location(endpoint=copy.endpoint, bucket=copy.bucket, access_key=DUMMY_ACCESS_KEY,
                                  secret_key=DUMMY_SECRET_KEY))
    present = {o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=copy.bucket)
               for o in page.get("Contents", [])}
    copied = [t for key, t in zip(writer.acked, writer.acked_at) if key in present and t < t_mono]
    acked = [t for t in writer.acked_at if t < t_mono]
    if not acked:
        return None
    return round(t_mono - max(copied), 3) if copied else round(t_mono - min(acked), 3)


def _encrypt_bucket(writer: ObjectWriter) -> None:
    client = s3_client(writer.location)
    for n, key in enumerate(writer.acked):
        if n % 2:
            client.delete_object(Bucket=writer.location.bucket, Key=key)
        else:
            client.put_object(Bucket=writer.location.bucket, Key=key, Body=b"ENCRYPTED" + key.encode()[::-1])


def _restore_bucket(run: _Commands, stack: str, outputs: Path, name: str, system: Any, writer: ObjectWriter,
                    t_wall: dt.datetime, t_mono: float, copy_lag: Optional[float]) -> dict[str, Any]:
    done = run("restore", "--stack", stack, "--system", name, "--site", system.primary_site, "--before",
               t_wall.isoformat(), "--outputs", str(outputs), "--yes", "--json")
    result = json.loads(done.stdout)["result"]
    client = s3_client(writer.location)
    present: dict[str, str] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=writer.location.bucket, Prefix="drill/"):
        for item in page.get("Contents", []):
            body = client.get_object(Bucket=writer.location.bucket, Key=item["Key"])["Body"].read()
            present[item["Key"]] = hashlib.sha256(body).hexdigest()
    before = [k for k, t in zip(writer.acked, writer.acked_at) if t < t_mono]
    # Puts are sequential: a put began after T when the one before it was acknowledged after T.
    after = {key for key, previous in zip(writer.acked[1:], writer.acked_at) if previous > t_mono}
    wrong = [k for k in before if present.get(k) != hashlib.sha256(k.encode()).hexdigest()]
    return {
        "system": name, "kind": "bucket", "source": json.loads(done.stdout)["source"], "rpo_s": 0.0,
        "restore_s": result["seconds"],
        "acknowledged_before_t": len(before), "missing_before_t": len(wrong),
        "present_after_t": len(after & set(present)),
        "copy_lag_s": copy_lag, "rpo_target_s": system.rpo_s,
    }


def render(report: dict[str, Any]) -> str:
    """The report as lines for a terminal."""
    lines = [f"ransomware drill of {report['stack']}: archive delete with the database host's keys "
             f"{'refused' if report.get('archive_delete_refused') else 'NOT refused'}"]
    for s in report["systems"]:
        extra = f", copy lag {s['copy_lag_s']}s (RPO target {s['rpo_target_s']}s)" if s["kind"] == "bucket" else ""
        lines.append(f"  {s['system']}: RPO {s['rpo_s']}s, restored from {s['source']} in {s['restore_s']}s; "
                     f"{s['missing_before_t']} of {s['acknowledged_before_t']} acknowledged before T missing, "
                     f"{s['present_after_t']} written after T present{extra}")
    lines.append("passed" if report.get("ok") else "FAILED")
    return "\n".join(lines)
