"""`multidc restore` of a PostgreSQL database from its `pg_dump` backups in the vault, into an existing database.

``db_backup`` does the restore (the newest dump strictly older than T); the database restored
into is ``--target-dsn`` when given, else the site's database in the outputs. Point-in-time
recovery into a new server is ``pitr_command``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from botocore.exceptions import BotoCoreError, ClientError

from multidc.protection.db_backup import BackupError, BackupRecord, list_backups, restore_database_before
from multidc.protection.locate import SystemData
from multidc.protection.restore_inputs import Endpoint, Refused, UsageError, connect, why_failed


@dataclass(frozen=True)
class DatabaseRestore:
    """A planned database restore: which backup, from which vault, into which database."""

    backup: BackupRecord
    vault: Endpoint
    target_dsn: str = field(repr=False)  # may hold a password
    target: dict[str, str]  # host, port, dbname, user: never the password

    def changes(self) -> dict[str, Any]:
        return {"backup": self.backup.key, "taken_at": self.backup.taken_at.isoformat(), "size": self.backup.size}


def deployed_dsn(data: SystemData, site: str) -> str:
    """The connection string of ``site``'s database as the outputs give it (its password, if any, included)."""
    from psycopg.conninfo import make_conninfo

    database = data.database(site)
    password = database.password.get_secret_value() if database.password is not None else None
    # Without a password (outputs saved without --show-secrets) libpq falls back to PGPASSWORD or ~/.pgpass.
    return make_conninfo(host=database.host, port=str(database.port), dbname=database.database or "postgres",
                         user=database.user or "postgres", password=password, connect_timeout="10")


def describe_dsn(dsn: str) -> dict[str, str]:
    """Where a DSN points (host, port, database, user) without its password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(dsn)
    except Exception as error:  # psycopg raises ProgrammingError with the bad fragment, not the password
        raise UsageError(f"--target-dsn is not a PostgreSQL connection string ({type(error).__name__}); "
                         "write e.g. 'host=db.example port=5432 dbname=core user=restore'") from None
    return {key: str(parts[key]) for key in ("host", "port", "dbname", "user") if parts.get(key)}


def plan_database(data: SystemData, site: str, before: dt.datetime, target_dsn: Optional[str],
                  endpoints: Mapping[str, str], env: Mapping[str, str]) -> DatabaseRestore:
    """Pick the newest backup strictly older than T in the system's vault; reads only.

    The database restored into is ``target_dsn`` when given, else ``site``'s database in the outputs.
    """
    if data.vault is None:
        raise UsageError(f"--system {data.system}: it has no backup policy, so there is no backup to restore; "
                         "add backup: to the system in the spec")
    target_dsn = target_dsn or deployed_dsn(data, site)
    target = describe_dsn(target_dsn)
    vault = connect(data.vault, endpoints, env)
    try:
        backups = list_backups(vault.client, vault.location.bucket, data.system)
    except (BotoCoreError, ClientError) as error:
        raise Refused(f"cannot list the backups of {data.system!r} in {vault}: {why_failed(error, vault)}; "
                      "nothing was changed") from None
    older = [b for b in backups if b.taken_at < before]
    if not older:
        oldest = (f"the oldest is from {backups[0].taken_at.isoformat()} ({backups[0].key})" if backups
                  else "there are none")
        raise Refused(f"system {data.system!r}: no backup older than {before.isoformat()} in {vault}: {oldest}; "
                      "nothing was changed. Pick a later --before.")
    return DatabaseRestore(older[-1], vault, target_dsn, target)


def database_summary(restore: DatabaseRestore) -> str:
    where = ", ".join(f"{k}={v}" for k, v in restore.target.items())
    return (f"target: database {where}\n"
            f"source: backup {restore.backup.key} taken {restore.backup.taken_at.isoformat()}, "
            f"in the vault {restore.vault}\n"
            "plan:   every object in the backup is dropped and recreated in one transaction "
            "(objects only in the target are left alone)")


def apply_database(restore: DatabaseRestore, system: str, before: dt.datetime) -> dict[str, Any]:
    try:
        record = restore_database_before(restore.target_dsn, restore.vault.location.bucket, system, before,
                                         restore.vault.client)
    except BackupError as error:
        raise Refused(str(error)) from error
    return {"backup": record.key, "taken_at": record.taken_at.isoformat(), "sha256": record.sha256}


