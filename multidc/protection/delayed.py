"""A delayed standby: a PostgreSQL server replaying the locked vault's WAL archive a delay D behind.

PostgreSQL's own mechanism: ``recovery_min_apply_delay`` holds every commit record until D after
it was committed, and it is honoured for WAL fetched by ``restore_command`` from an archive too
("honored in all cases except crash recovery", PostgreSQL's documentation of the setting). The
standby is fed only from the vault, with keys that can read it and nothing else, and has no
connection to the primary (no ``primary_conninfo``): an attacker who owns the primary cannot reach
it through replication, and the attack's commits reach it only D later.

An attack at T found within D is undone without copying a volume: ``promote_at`` pauses replay,
checks that the standby has not replayed a transaction committed at or after T, stops it, sets
``recovery_target_time = T`` (exclusive), ``recovery_target_action = promote`` and no delay, and
starts it: it replays the archive up to the last transaction before T and promotes. Found later
(the standby already replayed past T), ``TooLateError`` says so and the vault restore
(``pitr.recover``) is the way back.

``standby_settings`` is the one place the standby's settings are written: the local standby
(``start_local``) and the VM's cloud-init (``components/delayed_standby.py``) both take them.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from multidc.local.postgres import LocalPostgres, LocalPostgresError
from multidc.protection import pitr
from multidc.protection.archive import (ArchiveError, ArchiveTarget, BaseBackup, restore_command,
                                        write_credentials)
from multidc.protection.barman_cloud import conf_value

STANDBY_SIGNAL, RECOVERY_SIGNAL = "standby.signal", "recovery.signal"
CREDENTIALS_FILE = "vault-reader.credentials"
# How long to wait for 'paused' before reading the position anyway (see _pause: 'pause requested' is as still).
PAUSE_WAIT_S = 1.0


class TooLateError(ArchiveError):
    """The standby already replayed a transaction committed at or after T: the attack was found too late."""


class ConsumedError(ArchiveError):
    """The standby is no longer in recovery: an earlier restore promoted it."""


def standby_settings(restore_command: str, delay_s: int) -> dict[str, str]:
    """A standby replaying the archive ``delay_s`` behind: no primary, no archiving of its own."""
    return {
        "archive_mode": "off",
        "hot_standby": "on",
        "primary_conninfo": "''",
        "restore_command": conf_value(restore_command),
        "recovery_min_apply_delay": f"{int(delay_s)}s",
    }


def promote_settings(before: dt.datetime) -> dict[str, str]:
    """What turns the delayed standby into a server recovered to the last transaction before ``before``."""
    return {
        "recovery_target_time": conf_value(pitr.pg_time(before)),
        "recovery_target_inclusive": "off",
        "recovery_target_action": "promote",
        "recovery_min_apply_delay": "0",
    }


def local_settings(target: ArchiveTarget, base_dir: Path, delay_s: int) -> dict[str, str]:
    """The settings of a local delayed standby whose directory is ``base_dir`` (its vault keys are in it)."""
    return standby_settings(restore_command(target, base_dir / CREDENTIALS_FILE), delay_s)


def start_local(target: ArchiveTarget, keys: tuple[str, str], backup: BaseBackup, name: str, delay_s: int, *,
                password: str, timeout: float = 600) -> LocalPostgres:
    """A local delayed standby restored from ``backup`` (barman-cloud-restore), started and detached.

    ``keys`` read the vault (the reader's); they go into a file in the server's directory that
    only the server's user reads. ``password`` is the primary's superuser password (a restore
    keeps its roles).
    """
    server = LocalPostgres(name, initialize=False, password=password)
    base_dir = server.data_dir.parent
    server.settings.update(local_settings(target, base_dir, delay_s))
    credentials = write_credentials(base_dir / CREDENTIALS_FILE, *keys)
    try:
        pitr.restore_base(target, credentials, backup, server, signal=STANDBY_SIGNAL, timeout=timeout)
        server.start_timeout = timeout
        server.start()
    except BaseException:
        server.close()
        raise
    return server.detach()


@dataclass(frozen=True)
class Position:
    """Where the standby's replay stands: the WAL position and the commit time of the last transaction."""

    in_recovery: bool
    lsn: Optional[str]
    last_transaction: Optional[dt.datetime]

    def to_json(self) -> dict[str, Any]:
        return {"lsn": self.lsn,
                "last_transaction": self.last_transaction.isoformat() if self.last_transaction else None}


def position(server: Any) -> Position:
    """Read-only: the standby's replay position (``pg_last_wal_replay_lsn``, ``pg_last_xact_replay_timestamp``)."""
    with server.connect() as conn:
        row = conn.execute("SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, "
                           "pg_last_xact_replay_timestamp()").fetchone()
    return Position(bool(row[0]), row[1], row[2].astimezone(dt.timezone.utc) if row[2] else None)


def reaches(at: Position, base_finished: dt.datetime, before: dt.datetime) -> Optional[str]:
    """None when a standby at ``at`` can still be recovered to just before ``before``; else why not.

    It can when it has replayed no transaction committed at or after T: its last replayed commit
    (or, with none replayed since its base backup, the backup's end) is before T.
    """
    if not at.in_recovery:
        return "it is no longer a standby (an earlier restore promoted it)"
    replayed_to = at.last_transaction or base_finished
    if replayed_to >= before:
        return (f"it has already replayed up to {replayed_to.isoformat()}, at or after --before {before.isoformat()}: "
                "the attack was found later than its delay")
    return None


@dataclass(frozen=True)
class Promotion:
    """What promoting the delayed standby at T did."""

    paused_at: Position
    first_wal: Optional[str]
    last_wal: Optional[str]
    end_lsn: Optional[str]
    stopped_before: Optional[dt.datetime]
    last_transaction: Optional[dt.datetime]
    seconds: float

    def rpo_s(self, before: dt.datetime) -> Optional[float]:
        moment = self.last_transaction or self.paused_at.last_transaction
        return None if moment is None else max(0.0, (before - moment).total_seconds())


def _pause(server: LocalPostgres) -> Position:
    """Ask replay to pause and read where it stands.

    While the startup process waits out a commit's delay the state stays 'pause requested'
    (PostgreSQL pauses after the wait): that commit is not applied before then either, so the
    position read is as still as a paused one.
    """
    with server.connect() as conn:
        if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
            raise ConsumedError(f"{server.name}: it is no longer a standby (an earlier restore promoted it)")
        conn.execute("SELECT pg_wal_replay_pause()")
        deadline = time.monotonic() + PAUSE_WAIT_S
        while time.monotonic() < deadline:
            if conn.execute("SELECT pg_get_wal_replay_pause_state()").fetchone()[0] == "paused":
                break
            time.sleep(0.1)
    return position(server)


def _resume(server: LocalPostgres) -> None:
    with server.connect() as conn:
        conn.execute("SELECT pg_wal_replay_resume()")


def _swap_signal(server: LocalPostgres, remove: str, create: str) -> None:
    (server.data_dir / remove).unlink(missing_ok=True)
    created = server.data_dir / create
    created.touch()
    from multidc.local.postgres import _must_drop_privileges, _run_as_ids

    if _must_drop_privileges():
        import os

        os.chown(created, *_run_as_ids())


def promote_at(server: LocalPostgres, before: dt.datetime, base_finished: dt.datetime, *,
               timeout: float = 600) -> Promotion:
    """Recover the delayed standby to the last transaction before ``before`` and promote it, in place.

    TooLateError (replay resumed, nothing changed) when it already replayed past T; ConsumedError when
    it is no longer a standby; pitr.TargetNotArchivedError when the archive does not yet hold WAL up
    to T (the standby is put back as it was, replaying D behind).
    """
    started = time.monotonic()
    paused = _pause(server)
    why = reaches(paused, base_finished, before)
    if why is not None:
        _resume(server)
        raise TooLateError(f"the delayed standby {server.name}: {why}")
    standby = dict(server.settings)
    log_from = len(server.log_tail(100_000_000))
    server.stop()
    _swap_signal(server, STANDBY_SIGNAL, RECOVERY_SIGNAL)
    server.settings.update(promote_settings(before))
    server.start_timeout = timeout
    try:
        try:
            server.start()
        except LocalPostgresError as error:
            if pitr._NOT_REACHED in server.log_tail(100_000_000)[log_from:]:
                raise pitr.TargetNotArchivedError(
                    f"the archive does not yet hold WAL up to {before.isoformat()}: retry after archive_timeout") \
                    from None
            raise ArchiveError(f"the delayed standby did not start to recover to T: {error}") from None
        pitr._wait_promoted(server, time.monotonic() + timeout)
    except ArchiveError:
        _put_back(server, standby)
        raise
    log = server.log_tail(100_000_000)[log_from:]
    wals = pitr._RESTORED.findall(log)
    stopped = pitr._STOPPED.search(log)
    last = pitr._LAST.search(log)
    with server.connect() as conn:
        end_lsn = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
    return Promotion(paused_at=paused, first_wal=wals[0] if wals else None, last_wal=wals[-1] if wals else None,
                     end_lsn=end_lsn,
                     stopped_before=pitr._parse_log_time(stopped.group(2)) if stopped else None,
                     last_transaction=pitr._parse_log_time(last.group(1)) if last else None,
                     seconds=time.monotonic() - started)


def _put_back(server: LocalPostgres, standby: dict[str, str]) -> None:
    """After a failed promotion: the standby replaying D behind again, as before the attempt."""
    server.stop()
    _swap_signal(server, RECOVERY_SIGNAL, STANDBY_SIGNAL)
    server.settings.clear()
    server.settings.update(standby)
    server.start()
