"""Continuous WAL archiving in a local deployment: each PostgreSQL system with a backup policy
archives into its locked vault on the offsite site's local S3 endpoint, as the program declares.

`multidc local up` calls ``start`` once the servers and S3 endpoints run. Per archived system:
the vault gets its default COMPLIANCE retention (``immutable_days``), the primary and its
standby get the archive settings through ``ALTER SYSTEM`` (kept in the data directory, so a
restart by `local start` keeps them; the standby archives once promoted), a restart applies
``archive_mode``, and one base backup is taken. The database host's keys live in a credentials
file next to each server's data, readable by the server's user only. ``schedule`` then keeps taking
base backups of each primary on the spec's schedule with BusyBox's crond (a kept scheduler; the
production archive host uses a systemd timer), the same ``barman-cloud-backup`` command.

What the local S3 endpoint does not do: it does not check IAM policies (moto's default), so
here the database host's keys are the site's keys; the write-only policy is proven in
tests/protection/test_archive.py on an endpoint that checks it.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Optional

from multidc.contract import ARCHIVE_RUNS_ON_PRIMARY
from multidc.local.postgres import LocalPostgres, as_server_user
from multidc.local.s3 import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY
from multidc.protection import archive
from multidc.protection.barman_cloud import ToolHost, archive_settings, backup_command, conf_assignments

CREDENTIALS_FILE = "archive.credentials"
PASSFILE = "archive.pgpass"
BACKUP_LOG = "base-backups.log"


def _lock_vault(endpoint: str, bucket: str, days: int) -> None:
    _vault_client(endpoint).put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": days}}})


def lock_like_s3(client: Any, bucket: str, prefix: str, days: int) -> int:
    """Give every version under ``prefix`` without a lock the vault's default COMPLIANCE retention.

    S3 applies a bucket's default retention to multipart uploads too; moto applies it to single
    PUTs only, and barman-cloud uploads a base backup's tar in parts. This restores, on the local
    stand-in, what the real endpoint does by itself (as the vault's owner would). Returns how many
    versions it locked.
    """
    import datetime as dt

    until = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days)
    locked = 0
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for version in page.get("Versions", []):
            head = client.head_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
            if head.get("ObjectLockMode"):
                continue
            client.put_object_retention(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"],
                                        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until})
            locked += 1
    return locked


def _vault_client(endpoint: str) -> Any:
    from multidc.dr.backends import s3_client
    from multidc.protection.rclone import S3Location

    return s3_client(S3Location(endpoint=endpoint, bucket="-", access_key=DUMMY_ACCESS_KEY,
                                secret_key=DUMMY_SECRET_KEY))


def server_settings(target: archive.ArchiveTarget, host: ToolHost) -> list[tuple[str, str]]:
    """What a local server is given through ``ALTER SYSTEM``: ``barman_cloud.archive_settings``, the function the
    production archive host's cloud-init renders its ``conf.d`` file from; only the ToolHost differs."""
    return conf_assignments(archive_settings(target, host))


def _archive_server(record: dict[str, Any], target: archive.ArchiveTarget) -> LocalPostgres:
    server = LocalPostgres.attach(f"{record['site']}-{record['system']}", Path(record["base_dir"]),
                                  port=record["port"], password=record["password"])
    credentials = archive.write_credentials(Path(record["base_dir"]) / CREDENTIALS_FILE, DUMMY_ACCESS_KEY,
                                            DUMMY_SECRET_KEY)
    with server.connect() as conn:
        for key, value in server_settings(target, archive.local_host(credentials)):
            conn.execute(f"ALTER SYSTEM SET {key} = {value}")
    server.stop()
    server.start()
    return server


def _start_one(name: str, backup: dict[str, Any], records: list[dict[str, Any]], endpoint: str) -> dict[str, Any]:
    target = archive.ArchiveTarget(endpoint, backup["vault"]["bucket"], backup["archive"]["server_name"],
                                   backup["archive"]["prefix"])
    primary_record = next(r for r in records if r["role"] == "primary")
    # The standby first: the primary's restart must find it ready to stream again.
    for record in (r for r in records if r["role"] != "primary"):
        _archive_server(record, target)
    primary = _archive_server(primary_record, target)
    archive.flush_to_archive(primary)
    base = archive.base_backup(primary, target, Path(primary_record["base_dir"]) / CREDENTIALS_FILE)
    if backup.get("object_lock_mode") == "COMPLIANCE" and backup.get("immutable_days"):
        lock_like_s3(_vault_client(endpoint), target.bucket, f"{target.prefix}/{target.system}/base/",
                     int(backup["immutable_days"]))
    return {"system": name, "target": str(target), "base_backup": base.backup_id,
            "base_backup_finished": base.end_time.isoformat(),
            "cron": crontab_line(backup["schedule"], target, primary, Path(primary_record["base_dir"]))}


def crontab_line(schedule: str, target: archive.ArchiveTarget, server: LocalPostgres, base_dir: Path) -> str:
    """The crontab entry taking ``server``'s base backups on ``schedule``: the command ``archive.base_backup`` runs
    (``barman_cloud.backup_command``), its password from a passfile only the server user reads."""
    credentials = base_dir / CREDENTIALS_FILE
    passfile = archive.write_private(base_dir / PASSFILE, f"{server.host}:{server.port}:*:{server.user}:"
                                                          f"{server.password}\n")
    command = backup_command(target, archive.local_host(credentials), pg_host=server.host, pg_port=server.port,
                             pg_user=server.user)
    environment = {**archive.tool_env(credentials), "PGPASSFILE": str(passfile)}
    # As the server's user, as archive_command runs (crond itself runs the line as the crontab's owner).
    argv = as_server_user(["/usr/bin/env", *(f"{key}={value}" for key, value in environment.items()), *command])
    line = shlex.join(argv) + f" >> {shlex.quote(str(base_dir / BACKUP_LOG))} 2>&1"
    return f"{schedule} " + line.replace("%", "\\%")  # cron reads a bare % as a newline


def _crond() -> Optional[str]:
    """BusyBox's crond (Debian busybox-static; the busybox package is built without it), or None."""
    busybox = shutil.which("busybox")
    if busybox is None:
        return None
    try:
        listed = subprocess.run([busybox, "--list"], capture_output=True, text=True, timeout=30).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    return busybox if "crond" in listed else None


def schedule(folder: Path, archives: list[dict[str, Any]], log: Callable[[str], None] = lambda _: None
             ) -> Optional[dict[str, Any]]:
    """Keep taking each archived primary's base backups on the spec's schedule: BusyBox crond, one crontab.

    Run as root, as the local servers are (they run as an unprivileged user; each line drops to it);
    without root or without crond the deployment keeps the one base backup of ``start`` and says so
    (returns None).
    """
    lines = [a["cron"] for a in archives if a.get("cron")]
    if not lines:
        return None
    crond = _crond()
    if crond is None or os.geteuid() != 0:
        why = "BusyBox crond is missing (apt-get install busybox-static)" if crond is None else "not root"
        log(f"base backups: one at start only ({why})")
        return None
    crontabs = folder / "crontabs"
    crontabs.mkdir(parents=True, exist_ok=True, mode=0o700)
    # crond runs a crontab's lines as the user it is named after, from that user's home: root's, whose lines
    # drop to the server's user themselves (``as_server_user``; the server user's home does not exist).
    crontab = crontabs / pwd.getpwuid(os.geteuid()).pw_name
    fd = os.open(crontab, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("".join(f"{line}\n" for line in lines))
    with open(folder / "crond.log", "ab") as out:
        process = subprocess.Popen([crond, "crond", "-f", "-l", "8", "-c", str(crontabs)], stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    log(f"base backups on the spec's schedule: BusyBox crond (pid {process.pid}), {len(lines)} job(s)")
    return {"pid": process.pid, "crontab": str(crontab), "jobs": len(lines)}


def start(planned: dict[str, Any], postgres: list[dict[str, Any]], endpoints: dict[str, str],
          log: Callable[[str], None] = lambda _: None) -> list[dict[str, Any]]:
    """Archive every local PostgreSQL system that has a backup policy; returns what was started.

    ``postgres`` are the deployment's server records (system, site, base_dir, port, password),
    the first of each system its primary.
    """
    jobs = []
    for name, system in planned["systems"].items():
        backup = system.get("backup")
        records = [r for r in postgres if r["system"] == name]
        if not backup or not backup.get("archive") or not records:
            continue
        roles = [{**r, "role": "primary" if r["site"] == records[0]["site"] else "standby"} for r in records]
        if backup.get("object_lock_mode") == "COMPLIANCE" and backup.get("immutable_days"):
            _lock_vault(endpoints[backup["site"]], backup["vault"]["bucket"], int(backup["immutable_days"]))
        jobs.append((name, backup, roles, endpoints[backup["site"]]))
    if jobs:
        log("archiving WAL with barman-cloud and taking a base backup: " + ", ".join(j[0] for j in jobs))
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda job: _start_one(*job), jobs))


def describe(document: dict[str, Any], archives: list[dict[str, Any]], *, kind: str = "postgres",
             runs_on: str = ARCHIVE_RUNS_ON_PRIMARY) -> None:
    """The local document's archives of ``kind``'s systems: run where ``runs_on`` says (each self-managed
    primary), with the keys it holds; none for a system not archived."""
    archived = {a["system"] for a in archives}
    for name, system in document["systems"].items():
        backup = system.get("backup")
        if system["kind"] == kind and backup and backup.get("archive"):
            if name in archived:
                backup["archive"]["runs_on"] = runs_on
                backup["archive"]["host"] = None  # no archive host: each self-managed primary archives itself
                backup["archive"]["writer"] = {"access_key": DUMMY_ACCESS_KEY, "secret_key": DUMMY_SECRET_KEY}
            else:
                backup["archive"] = None
