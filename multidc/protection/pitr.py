"""Point-in-time recovery of PostgreSQL from the locked archive into a NEW server, never over the damaged one.

A recovery takes the newest base backup that finished before T, replays archived WAL with
``recovery_target_time = T`` and ``recovery_target_inclusive = off`` (the target is exclusive:
a transaction committed at T or later is not replayed), and promotes. What it did is read
from the server's own log: the first and last WAL segments it restored, and the commit it
stopped before (or the last one it replayed).

The recovered server does not archive (``archive_mode = off``): its new timeline must not
mix with the archive of the server it replaces until an operator points it there.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from multidc.local.postgres import LocalPostgres, LocalPostgresError, _run_as_ids, _must_drop_privileges
from multidc.protection.archive import (
    ArchiveError,
    ArchiveTarget,
    BaseBackup,
    list_base_backups,
    restore_command,
    tool_command,
    tool_env,
    _run,
)
from multidc.protection.barman_cloud import conf_value

_RESTORED = re.compile(r'restored log file "([0-9A-F]{24})" from archive')
_STOPPED = re.compile(r"recovery stopping before commit of transaction (\d+), time (.+)$", re.M)
_LAST = re.compile(r"last completed transaction was at log time (.+)$", re.M)
_NOT_REACHED = "recovery ended before configured recovery target was reached"


class TooEarlyError(ArchiveError):
    """TIME is before the oldest base backup finished: the archive cannot reach it."""


class TargetNotArchivedError(ArchiveError):
    """The archive does not yet hold WAL up to TIME; it will after ``archive_timeout``."""


@dataclass(frozen=True)
class Recovery:
    """What a point-in-time recovery restored, and where the new server runs."""

    server: LocalPostgres
    backup: BaseBackup
    first_wal: Optional[str]
    last_wal: Optional[str]
    stopped_before: Optional[datetime]
    """Commit time of the first transaction NOT replayed (at or after T), when recovery met one."""
    last_transaction: Optional[datetime]
    """Commit time of the last transaction replayed: the restored state is as of this moment."""
    seconds: float

    def rpo_s(self, before: datetime) -> Optional[float]:
        """How much before T the restored state ends: T minus the last replayed commit."""
        if self.last_transaction is None:
            return None
        return max(0.0, (before - self.last_transaction).total_seconds())


def pg_time(moment: datetime) -> str:
    """A UTC time as recovery_target_time reads it, to the microsecond."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f+00")


def _parse_log_time(text: str) -> datetime:
    value = text.strip().replace(" UTC", "+00:00")
    if re.search(r"[+-]\d\d$", value):
        value += ":00"
    return datetime.fromisoformat(value).astimezone(timezone.utc)


def choose_backup(backups: list[BaseBackup], before: datetime, target: ArchiveTarget) -> BaseBackup:
    """The newest base backup that finished before T; TooEarlyError names the oldest when none did."""
    usable = [b for b in backups if b.end_time < before]
    if not usable:
        oldest = (f"the oldest finished at {backups[0].end_time.isoformat()} (backup {backups[0].backup_id})"
                  if backups else "it holds no base backup yet")
        raise TooEarlyError(f"--before {before.isoformat()}: the archive {target} cannot reach that time: {oldest}. "
                            "Pick a later --before, or restore an older copy from elsewhere")
    return usable[-1]


def recover(target: ArchiveTarget, credentials: Path, before: datetime, name: str, *, password: str,
            base_dir: Optional[Path] = None, timeout: float = 600) -> Recovery:
    """Recover ``target.system`` as of just before ``before`` into a new local server named ``name``.

    ``password`` is the superuser's password in the recovered cluster (the source's: a
    restore keeps its roles). The new server is started, promoted and returned; it is the
    caller's to keep (``detach()``) or close. On failure it is closed and ArchiveError says why.
    """
    started = time.monotonic()
    backup = choose_backup(list_base_backups(target, credentials), before, target)
    server = LocalPostgres(name, initialize=False, password=password, base_dir=base_dir, settings={
        "archive_mode": "off",
        "restore_command": conf_value(restore_command(target, credentials)),
        "recovery_target_time": conf_value(pg_time(before)),
        "recovery_target_inclusive": "off",
        "recovery_target_action": "promote",
    })
    try:
        restore_base(target, credentials, backup, server, signal="recovery.signal", timeout=timeout)
        server.start_timeout = timeout
        try:
            server.start()
        except LocalPostgresError as error:
            if _NOT_REACHED in server.log_tail(20000):
                raise TargetNotArchivedError(
                    f"the archive {target} does not yet hold WAL up to {before.isoformat()}: the server closes a "
                    "segment at most every archive_timeout; retry in a minute") from None
            raise ArchiveError(f"the recovered server did not start: {error}") from None
        _wait_promoted(server, time.monotonic() + timeout)
    except BaseException:
        server.close()
        raise
    log = server.log_tail(10_000_000)
    wals = _RESTORED.findall(log)
    stopped = _STOPPED.search(log)
    last = _LAST.search(log)
    return Recovery(server=server, backup=backup, first_wal=wals[0] if wals else None,
                    last_wal=wals[-1] if wals else None,
                    stopped_before=_parse_log_time(stopped.group(2)) if stopped else None,
                    last_transaction=_last_commit(server, last), seconds=time.monotonic() - started)


def restore_base(target: ArchiveTarget, credentials: Path, backup: BaseBackup, server: LocalPostgres, *,
                 signal: str, timeout: float) -> None:
    """Restore ``backup`` into ``server``'s empty data directory, ready to replay the archive when started.

    ``signal`` is ``recovery.signal`` (replay to a target, then promote) or ``standby.signal`` (keep
    replaying, a standby). The primary's own archive settings (``ALTER SYSTEM``, in the backup's
    ``postgresql.auto.conf``, which is read after every other file) are dropped: a server replaying the
    archive must never write into it.
    """
    _run(tool_command("restore", target, backup.backup_id, str(server.data_dir)), tool_env(credentials),
         timeout=timeout, what=f"restoring base backup {backup.backup_id} of {target.system} from {target}")
    auto_conf = server.data_dir / "postgresql.auto.conf"
    if auto_conf.exists():
        kept = [line for line in auto_conf.read_text().splitlines(keepends=True)
                if not re.match(r"\s*archive_(mode|command|timeout)\s*=", line)]
        auto_conf.write_text("".join(kept))
    signal_file = server.data_dir / signal
    signal_file.touch()
    if _must_drop_privileges():
        import os

        for path in (auto_conf, signal_file):
            if path.exists():
                os.chown(path, *_run_as_ids())


def _wait_promoted(server: LocalPostgres, deadline: float) -> None:
    while time.monotonic() < deadline:
        if _NOT_REACHED in server.log_tail(20000):
            raise TargetNotArchivedError("recovery ended before the target time: the archive does not yet hold "
                                         "WAL up to it; retry after archive_timeout")
        with server.connect() as conn:
            if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                return
        time.sleep(0.2)
    raise ArchiveError(f"{server.name}: still in recovery at the deadline; log:\n{server.log_tail()}")


def _last_commit(server: LocalPostgres, logged: Optional[re.Match[str]]) -> Optional[datetime]:
    if logged is not None:
        return _parse_log_time(logged.group(1))
    return None
