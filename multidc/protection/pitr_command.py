"""`multidc restore --system <postgres> --before TIME --to-new NAME`: point-in-time from the WAL archive.

The deployed stack's outputs name the archive (``systems.<x>.backup.archive``), the vault it
lives in and the offsite site's S3 keys; this module turns them into a barman-cloud target,
refuses what cannot be restored (a system without an archive, a TIME before the oldest base
backup), and recovers into a new server on this host (``pitr.recover``), never into the
damaged one. When the stack runs locally (``multidc local up``) the new server is recorded in
the local deployment, so ``multidc local down`` stops it too.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from multidc.local.postgres import _must_drop_privileges, _run_as_ids
from multidc.protection import archive, pitr
from multidc.protection.locate import SystemData

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class PitrRestore:
    """A planned point-in-time restore: from which archive, to which base backup, into which new server."""

    target: archive.ArchiveTarget
    backup: archive.BaseBackup
    name: str
    keys: tuple[str, str]
    password: str

    def changes(self) -> dict[str, Any]:
        return {"archive": str(self.target), "base_backup": self.backup.backup_id,
                "base_backup_finished": self.backup.end_time.isoformat(), "new_server": self.name}


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"--to-new {name!r}: name the new server with 1-63 characters of a-z, 0-9 and '-', "
                         "starting with a letter or digit (e.g. core-db-restored)")
    return name


def _credentials(keys: tuple[str, str]) -> Path:
    """The keys in a file only the server user reads, in a folder of its own (removed after the restore)."""
    folder = Path(tempfile.mkdtemp(prefix="multidc-restore-keys-"))
    if _must_drop_privileges():
        os.chown(folder, *_run_as_ids())
    return archive.write_credentials(folder / "credentials", *keys)


def plan(data: SystemData, site: str, before: dt.datetime, name: str, endpoint: str,
         keys: tuple[str, str], password: Optional[str]) -> PitrRestore:
    """Read the archive's base backups and pick the one to start from; changes nothing.

    Raises ValueError for a system without an archive and pitr.TooEarlyError for a TIME the
    archive cannot reach.
    """
    if data.archive is None or data.vault is None:
        raise ValueError(f"--to-new: system {data.system!r} has no WAL archive in the outputs "
                         f"(systems.{data.system}.backup.archive); restore its pg_dump backups into an existing "
                         "database instead (drop --to-new)")
    target = archive.ArchiveTarget(endpoint, data.vault.bucket, data.archive.server_name, data.archive.prefix)
    credentials = _credentials(keys)
    try:
        backup = pitr.choose_backup(archive.list_base_backups(target, credentials), before, target)
    finally:
        shutil.rmtree(credentials.parent, ignore_errors=True)
    return PitrRestore(target, backup, check_name(name), keys, password or "")


def apply(restore: PitrRestore, before: dt.datetime, keep: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Recover into the new server, hand its record to ``keep`` and report what was restored."""
    credentials = _credentials(restore.keys)
    try:
        recovery = pitr.recover(restore.target, credentials, before, restore.name, password=restore.password)
    finally:
        shutil.rmtree(credentials.parent, ignore_errors=True)
    server = recovery.server.detach()
    record = {"name": restore.name, "host": server.host, "port": server.port, "base_dir": str(server.data_dir.parent),
              "password": server.password}
    keep(record)
    rpo = recovery.rpo_s(before)
    return {
        "new_server": {"name": restore.name, "host": server.host, "port": server.port, "database": "postgres",
                       "user": server.user},
        "base_backup": recovery.backup.backup_id,
        "wal_range": [recovery.first_wal, recovery.last_wal],
        "last_transaction": recovery.last_transaction.isoformat() if recovery.last_transaction else None,
        "stopped_before": recovery.stopped_before.isoformat() if recovery.stopped_before else None,
        "rpo_s": None if rpo is None else round(rpo, 3),
        "seconds": round(recovery.seconds, 3),
    }


def summary(restore: PitrRestore, before: dt.datetime) -> str:
    return (f"target: a new server {restore.name!r} on this host (the damaged one is left alone)\n"
            f"source: base backup {restore.backup.backup_id} (finished {restore.backup.end_time.isoformat()}) and the "
            f"WAL after it, in {restore.target}\n"
            f"plan:   replay every transaction committed before {before.isoformat()} (exclusive), then promote")


def outcome(result: dict[str, Any]) -> str:
    server = result["new_server"]
    first, last = result["wal_range"]
    return (f"restored into {server['name']} at {server['host']}:{server['port']} from base backup "
            f"{result['base_backup']}, WAL {first} .. {last}; last transaction {result['last_transaction']}, "
            f"RPO {result['rpo_s']}s, in {result['seconds']}s")
