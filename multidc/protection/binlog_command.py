"""`multidc restore --system <mysql> --before TIME --to-new NAME`: point-in-time from the binlog archive.

The deployed stack's outputs name the archive (``systems.<x>.backup.archive``, tool
``mariadb-binlog``), the vault it lives in and the offsite site's S3 keys; this module picks the
base backup (``binlog_pitr.choose``), refuses what cannot be restored (a system without an archive, a
TIME before the oldest base backup), and recovers into a new server on this host
(``binlog_pitr.recover``), never into the damaged one. The new server gets the system's database and
application login from the outputs, so clients reconnect with what they hold. When the stack runs
locally (``multidc local up``) the new server is recorded in the local deployment, so ``multidc local
down`` stops it too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable

from multidc.contract import BINLOG_ARCHIVE_TOOL
from multidc.protection import binlog_archive, binlog_pitr
from multidc.protection.locate import SystemData
from multidc.protection.pitr_command import check_name
from multidc.protection.restore_inputs import Endpoint


@dataclass(frozen=True)
class BinlogRestore:
    """A planned restore: the vault, the archive's root in it, the base backup chosen, the new server."""

    vault: Endpoint
    root: str
    dump: binlog_archive.BaseDump
    name: str
    login: dict[str, str] = field(repr=False)

    def changes(self) -> dict[str, Any]:
        return {"archive": f"s3://{self.vault.location.bucket}/{self.root}", "base_backup": self.dump.key,
                "base_backup_finished": self.dump.finished.isoformat(), "new_server": self.name}


def is_binlog_archive(data: SystemData) -> bool:
    return data.archive is not None and data.archive.tool == BINLOG_ARCHIVE_TOOL


def plan(data: SystemData, site: str, vault: Endpoint, before: dt.datetime, name: str) -> BinlogRestore:
    """List the archive's base backups and pick the one to start from; reads only.

    Raises ValueError for a system without a binlog archive or a database login in the outputs,
    binlog_pitr.TooEarlyError for a TIME the archive cannot reach.
    """
    if data.archive is None or not is_binlog_archive(data):
        raise ValueError(f"--to-new: system {data.system!r} has no binlog archive in the outputs "
                         f"(systems.{data.system}.backup.archive with tool {BINLOG_ARCHIVE_TOOL}); "
                         "give it a backup policy in the spec and deploy it")
    database = data.databases.get(site)
    if database is None or not database.database or not database.user or database.password is None:
        raise ValueError(f"--site {site}: the outputs give system {data.system!r} no database login there "
                         f"(systems.{data.system}.placements.{site}.database, saved with --show-secrets?): the new "
                         "server is given the system's login")
    root = binlog_archive.system_prefix(data.archive.server_name, data.archive.prefix)
    dumps = binlog_archive.list_dumps(vault.client, vault.location.bucket, root)
    dump = binlog_pitr.choose(dumps, before, f"s3://{vault.location.bucket}/{root}")
    login = {"database": database.database, "user": database.user, "password": database.password.get_secret_value()}
    return BinlogRestore(vault, root, dump, check_name(name), login)


def apply(restore: BinlogRestore, before: dt.datetime, keep: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Recover into the new server, hand its record to ``keep`` and report what was restored."""
    recovery = binlog_pitr.recover(restore.vault.client, restore.vault.location.bucket, restore.root, before,
                                   restore.name, login=restore.login)
    server = recovery.server  # a LocalMariaDB outlives this process (nothing stops it at exit)
    keep({"engine": "mysql", "name": restore.name, "host": server.host, "port": server.port,
          "base_dir": str(server.base_dir), "password": server.password})
    applied = recovery.applied
    return {
        "new_server": {"name": restore.name, "host": server.host, "port": server.port, "engine": "mysql",
                       "database": restore.login["database"], "user": restore.login["user"]},
        "base_backup": recovery.dump.key, "base_backup_gtid": recovery.position.gtid,
        "binlog_range": [applied.first, applied.last],
        "last_transaction": applied.last_gtid,
        "last_transaction_time": applied.last_time.isoformat() if applied.last_time else None,
        "transactions_applied": applied.transactions,
        "stop_datetime": binlog_pitr.stop_datetime(before),
        "rpo_s": round(recovery.rpo_s(before), 3),
        "seconds": round(recovery.seconds, 3),
    }


def summary(restore: BinlogRestore, before: dt.datetime) -> str:
    return (f"target: a new MariaDB server {restore.name!r} on this host (the damaged one is left alone)\n"
            f"source: base backup {restore.dump.key} (finished by {restore.dump.finished.isoformat()}) and the "
            f"binlog after it, in {restore.vault}\n"
            f"plan:   apply every transaction whose commit began before {binlog_pitr.stop_datetime(before)} UTC "
            "(TIME cut to its second: the binlog's resolution)")


def outcome(result: dict[str, Any]) -> str:
    server = result["new_server"]
    first, last = result["binlog_range"]
    return (f"restored into {server['name']} at {server['host']}:{server['port']} from base backup "
            f"{result['base_backup']}, binlog {first} .. {last}; last transaction {result['last_transaction']} "
            f"at {result['last_transaction_time']}, RPO {result['rpo_s']}s, in {result['seconds']}s")
