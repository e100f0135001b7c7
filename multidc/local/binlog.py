"""Continuous binlog archiving in a local deployment: each MySQL/MariaDB system with a backup policy
streams its primary's binary log into its locked vault on the offsite site's local S3 endpoint.

`multidc local up` calls ``start`` once the servers and S3 endpoints run. Per archived system: the
vault gets its default COMPLIANCE retention (``immutable_days``), the primary gets the archiver's
login (``BINLOG_ARCHIVER_LOGIN``: REPLICATION SLAVE, BINLOG MONITOR and what a dump reads; not
binlogged), the streamer and the uploader start as processes of their own (the shell programs the
production Deployment runs, ``protection.binlog_archive``), recorded in the deployment's state so that
`multidc local down` stops them, and one base backup is taken and uploaded (the CronJob's program).

As for the WAL archive (``local/archiving.py``), the local S3 endpoint does not check IAM policies, so
the writer's keys here are the site's keys.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable

from multidc.contract import BINLOG_ARCHIVER_LOGIN, BINLOG_BASE_DIR, BINLOG_LOG_DIR, BINLOG_UPLOAD_INTERVAL_S
from multidc.local import archiving
from multidc.local.mariadb import HOSTS
from multidc.local.postgres import _pid_alive
from multidc.local.s3 import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY
from multidc.protection import binlog_archive
from multidc.protection.mariadb import Server, _cursor
from multidc.protection.rclone import DESTINATION_REMOTE

# What the archiver's login may do: stream the binlog (REPLICATION SLAVE), see the binlog files and
# position (BINLOG MONITOR: SHOW BINARY LOGS, SHOW MASTER STATUS) and take a consistent dump.
GRANTS = "REPLICATION SLAVE, BINLOG MONITOR, SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES"


class BinlogArchiveStartError(RuntimeError):
    """The local binlog archive could not start; the message says which step and why."""


def rclone_env(endpoint: str, bucket: str, keys: tuple[str, str]) -> dict[str, str]:
    """rclone's DST remote on the vault's endpoint with ``keys`` (as the production containers get it)."""
    return binlog_archive.rclone_destination_env(endpoint, bucket, keys)


def _base_env() -> dict[str, str]:
    # The caller's AWS_* and RCLONE_* settings belong to other tools (multidc.protection.rclone.run_copy).
    return {k: v for k, v in os.environ.items() if not k.startswith(("RCLONE_", "AWS_", "MYSQL_"))}


def _create_login(primary: Server, password: str) -> None:
    with _cursor(primary) as cursor:
        cursor.execute("SET SESSION sql_log_bin = 0")
        for host in HOSTS:
            cursor.execute(f"CREATE USER IF NOT EXISTS '{BINLOG_ARCHIVER_LOGIN}'@'{host}' IDENTIFIED BY %s", [password])
            cursor.execute(f"GRANT {GRANTS} ON *.* TO '{BINLOG_ARCHIVER_LOGIN}'@'{host}'")


def base_backup(db_env: dict[str, str], endpoint: str, bucket: str, root: str, keys: tuple[str, str], *,
                timeout: float = 600) -> str:
    """Dump the primary with the CronJob's program and upload it under ``<root>/base/``; returns the key."""
    folder = Path(tempfile.mkdtemp(prefix="multidc-binlog-base-"))
    try:
        done = subprocess.run(["bash", "-c", binlog_archive.dump_script()], env={**db_env, "BACKUP_DIR": str(folder)},
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        dumps = sorted(folder.glob("dump-*.sql.gz"))
        if done.returncode != 0 or not dumps:
            raise BinlogArchiveStartError(f"the base backup of {root} failed: {done.stderr.strip()[-1500:]}")
        key = f"{root}/{BINLOG_BASE_DIR}/{dumps[-1].name}"
        upload = subprocess.run(["rclone", "copyto", str(dumps[-1]), f"{DESTINATION_REMOTE}:{bucket}/{key}"],
                                env={**_base_env(), **rclone_env(endpoint, bucket, keys)}, capture_output=True,
                                text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if upload.returncode != 0:
            raise BinlogArchiveStartError(f"uploading the base backup of {root} failed: "
                                          f"{upload.stderr.strip()[-1500:]}")
        return key
    except subprocess.TimeoutExpired:
        raise BinlogArchiveStartError(f"the base backup of {root} did not finish within {timeout:.0f}s") from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _spawn(program: list[str], env: dict[str, str], log: Path) -> int:
    with open(log, "ab") as out:
        return subprocess.Popen(program, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd="/", start_new_session=True).pid


def _start_one(name: str, backup: dict[str, Any], primary: dict[str, Any], endpoint: str,
               folder: Path) -> dict[str, Any]:
    archive = backup["archive"]
    bucket, root = backup["vault"]["bucket"], binlog_archive.system_prefix(archive["server_name"], archive["prefix"])
    keys = (DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY)
    password = secrets.token_urlsafe(16)
    _create_login(Server("127.0.0.1", primary["port"], primary["admin_user"], primary["password"]), password)
    binlogs = folder / name
    binlogs.mkdir(parents=True, exist_ok=True)
    db_env = {**_base_env(), "DB_HOST": "127.0.0.1", "DB_PORT": str(primary["port"]),
              "DB_USER": BINLOG_ARCHIVER_LOGIN, "MYSQL_PWD": password}
    record = {"system": name, "site": backup["site"], "dir": str(binlogs), "bucket": bucket, "root": root,
              "pids": []}
    record["pids"].append(_spawn(["sh", "-c", binlog_archive.streamer_script()], {**db_env, "BINLOG_DIR": str(binlogs)},
                                 folder / f"{name}.streamer.log"))
    record["pids"].append(_spawn(
        ["sh", "-c", binlog_archive.uploader_script()],
        {**_base_env(), **rclone_env(endpoint, bucket, keys), "BINLOG_DIR": str(binlogs),
         "DEST": f"{DESTINATION_REMOTE}:{bucket}/{root}/{BINLOG_LOG_DIR}", "INTERVAL": str(BINLOG_UPLOAD_INTERVAL_S)},
        folder / f"{name}.uploader.log"))
    try:
        record["base_backup"] = base_backup(db_env, endpoint, bucket, root, keys)
    except BinlogArchiveStartError:
        stop([record])
        raise
    return record


def start(planned: dict[str, Any], engines: list[dict[str, Any]], endpoints: dict[str, str], folder: Path,
          log: Callable[[str], None] = lambda _: None) -> list[dict[str, Any]]:
    """Archive the binlog of every local MySQL/MariaDB system that has a backup policy; returns the archivers'
    records (``local down`` stops their processes through ``stop``)."""
    records = []
    for name, system in planned["systems"].items():
        backup = system.get("backup")
        primary = next((r for r in engines if r["system"] == name and r["engine"] == "mysql"), None)
        if not backup or not backup.get("archive") or primary is None:
            continue
        if backup.get("object_lock_mode") == "COMPLIANCE" and backup.get("immutable_days"):
            archiving._lock_vault(endpoints[backup["site"]], backup["vault"]["bucket"], int(backup["immutable_days"]))
        log(f"archiving the binlog of {name} with {binlog_archive.MARIADB.binlog} into {backup['vault']['bucket']} "
            "and taking a base backup")
        records.append(_start_one(name, backup, primary, endpoints[backup["site"]], folder))
    return records


def stop(records: list[dict[str, Any]]) -> list[str]:
    """Stop the archivers' processes (each a process group: the shell and the tools it runs). Idempotent."""
    stopped = []
    for record in records:
        for pid in record.get("pids", []):
            if _pid_alive(pid):
                try:
                    os.killpg(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        stopped.append(f"binlog archiver {record['system']}")
    return stopped


def describe(document: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """The local document's binlog archives: run here (``local``), with the keys the uploader holds; none for a
    system not archived."""
    archiving.describe(document, records, kind="mysql", runs_on="local")
