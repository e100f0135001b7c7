"""Database backups into S3 per a backup policy, GFS retention, and restore to a point before a time.

Replication copies every change to the other site at once, including an attacker's
``UPDATE ... SET data = encrypt(data)``. Backups are the copy that does not follow:
``pg_dump -Fc`` archives, one per run, kept by a grandfather-father-son policy, optionally
write-once (S3 Object Lock) so that an attacker holding the credentials cannot delete or
overwrite them before their retention date.

Objects live under ``db/<system>/<YYYYmmddTHHMMSSZ>.dump``. The timestamp is UTC and is
never earlier than the dump's snapshot (see :func:`backup_database`), so "the newest
backup older than T" never holds a change committed at or after T.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable, Literal

from multidc.protection.postgres import pg_client_tool

KEY_PREFIX = "db"
TIME_FORMAT = "%Y%m%dT%H%M%SZ"
_SYSTEM_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_KEY = re.compile(r"^db/(?P<system>[^/]+)/(?P<stamp>\d{8}T\d{6}Z)\.dump$")


class BackupError(RuntimeError):
    """A backup or restore step failed; the message names the system, the object and the fix."""


class NoBackupBeforeError(BackupError):
    """There is no backup older than the requested time; nothing was restored."""


@dataclass(frozen=True)
class BackupRecord:
    """One backup object: which system, where, when (UTC), how big, its SHA-256 if recorded."""

    system: str
    bucket: str
    key: str
    taken_at: datetime
    size: int | None = None
    sha256: str | None = None


def _check_system(system: str) -> None:
    if not _SYSTEM_NAME.match(system):
        raise ValueError(
            f"system name {system!r} cannot name backups: use 1-63 characters of a-z, 0-9, '.', '_', '-', "
            "starting with a letter or digit"
        )


def _as_utc(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(
            f"{what} {moment.isoformat()} has no timezone; give one (e.g. 2026-03-01T10:00:00+00:00)"
        )
    return moment.astimezone(timezone.utc)


def backup_key(system: str, taken_at: datetime) -> str:
    """``db/<system>/<YYYYmmddTHHMMSSZ>.dump`` for a backup taken at ``taken_at`` (UTC)."""
    _check_system(system)
    return f"{KEY_PREFIX}/{system}/{_as_utc(taken_at, 'taken_at').strftime(TIME_FORMAT)}.dump"


def parse_backup_key(key: str) -> tuple[str, datetime] | None:
    """``(system, taken_at)`` of a backup key, or None for any other object."""
    match = _KEY.match(key)
    if not match:
        return None
    taken_at = datetime.strptime(match["stamp"], TIME_FORMAT).replace(tzinfo=timezone.utc)
    return match["system"], taken_at


# -- retention ----------------------------------------------------------------------------------


def _day(t: datetime) -> Hashable:
    return t.date()


def _iso_week(t: datetime) -> Hashable:
    return t.isocalendar()[:2]


def _month(t: datetime) -> Hashable:
    return (t.year, t.month)


def select_retained(
    backup_times: Iterable[datetime], daily: int, weekly: int, monthly: int
) -> set[datetime]:
    """The backups a grandfather-father-son policy keeps.

    Keeps the newest backup of each of the ``daily`` most recent UTC days that have a
    backup, of each of the ``weekly`` most recent ISO weeks, and of each of the
    ``monthly`` most recent months; the union of the three. Periods without a backup do
    not use up a count (a week of outage does not erase older weeklies). The newest
    backup is always kept when any count is positive. Pure function; times must be
    timezone-aware.
    """
    if min(daily, weekly, monthly) < 0:
        raise ValueError(f"retention counts must be >= 0, got daily={daily} weekly={weekly} monthly={monthly}")
    if daily == weekly == monthly == 0:
        raise ValueError("retention daily=0 weekly=0 monthly=0 keeps no backup; keep at least one period")
    newest_first = sorted({_as_utc(t, "backup time") for t in backup_times}, reverse=True)
    retained: set[datetime] = set()
    rules: list[tuple[int, Callable[[datetime], Hashable]]] = [(daily, _day), (weekly, _iso_week), (monthly, _month)]
    for count, period_of in rules:
        periods_seen: set[Hashable] = set()
        for moment in newest_first:
            period = period_of(moment)
            if period in periods_seen:
                continue  # an older backup in a period already represented by a newer one
            if len(periods_seen) == count:
                break
            periods_seen.add(period)
            retained.add(moment)
    return retained


# -- S3 ---------------------------------------------------------------------------------------------


def list_backups(s3: Any, bucket: str, system: str) -> list[BackupRecord]:
    """All backups of ``system`` in ``bucket``, oldest first. Read-only."""
    _check_system(system)
    records = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{KEY_PREFIX}/{system}/"):
        for obj in page.get("Contents", []):
            parsed = parse_backup_key(obj["Key"])
            if parsed and parsed[0] == system:
                records.append(BackupRecord(system, bucket, obj["Key"], parsed[1], size=obj.get("Size")))
    return sorted(records, key=lambda r: r.taken_at)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _password_off_the_command_line(dsn: str) -> tuple[str, dict[str, str]]:
    """``dsn`` without its password, and the environment that carries the password instead.

    A command line is readable by every user of the machine (``ps``, ``/proc/<pid>/cmdline``);
    the environment of a process only by its owner. libpq reads ``PGPASSWORD``.
    """
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    parts = conninfo_to_dict(dsn)
    password = parts.pop("password", None)
    if password is None:
        return dsn, {}
    return make_conninfo("", **parts), {"PGPASSWORD": str(password)}


def _run(command: list[str], *, timeout: float, what: str, env: dict[str, str] | None = None) -> None:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                env={**os.environ, **env} if env else None)
    except subprocess.TimeoutExpired as exc:
        raise BackupError(f"{what} did not finish within {timeout:.0f}s") from exc
    if result.returncode != 0:
        raise BackupError(f"{what} failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}")


def backup_database(
    source_dsn: str,
    bucket: str,
    system: str,
    s3: Any,
    *,
    immutable_days: int | None = None,
    lock_mode: Literal["COMPLIANCE", "GOVERNANCE"] = "COMPLIANCE",
    taken_at: datetime | None = None,
    timeout: float = 3600.0,
) -> BackupRecord:
    """Dump one database with ``pg_dump -Fc`` and upload it to ``bucket``.

    The key's time is when the dump *finished*, rounded up to the next second, so it is
    never earlier than the dump's snapshot; pass ``taken_at`` only to import a dump made
    elsewhere at a known time. With ``immutable_days`` the object is written with
    ``ObjectLockMode=lock_mode`` and ``ObjectLockRetainUntilDate`` = now + that many
    days (the bucket must have Object Lock enabled): until then nobody, with any
    credentials, can delete or overwrite that version (COMPLIANCE). The SHA-256 of the
    archive is stored in the object's metadata and checked on restore.

    Atomic: the object appears whole or not at all (S3 PUT / completed multipart upload).
    Not idempotent: each call makes a new backup. Timeout: ``timeout`` seconds for the
    dump; the upload is bounded by the client's own timeouts.
    """
    _check_system(system)
    if immutable_days is not None and immutable_days <= 0:
        raise ValueError(f"immutable_days must be positive, got {immutable_days}")
    with tempfile.TemporaryDirectory(prefix="multidc-backup-") as tmp:
        archive = Path(tmp) / "db.dump"
        dsn, password = _password_off_the_command_line(source_dsn)
        _run([pg_client_tool("pg_dump"), "-Fc", "-f", str(archive), "-d", dsn],
             timeout=timeout, what=f"pg_dump of system {system!r}", env=password)
        if taken_at is None:
            finished = datetime.now(timezone.utc)
            taken_at = finished.replace(microsecond=0) + timedelta(seconds=math.ceil(finished.microsecond / 1e6))
        record = BackupRecord(system, bucket, backup_key(system, taken_at), _as_utc(taken_at, "taken_at"),
                              size=archive.stat().st_size, sha256=_sha256(archive))
        extra: dict[str, Any] = {
            "Metadata": {"sha256": record.sha256 or "", "system": system,
                         "taken-at": record.taken_at.strftime(TIME_FORMAT)},
            "ContentType": "application/x-pg-dump",
        }
        if immutable_days is not None:
            extra["ObjectLockMode"] = lock_mode
            extra["ObjectLockRetainUntilDate"] = datetime.now(timezone.utc) + timedelta(days=immutable_days)
        try:
            s3.upload_file(str(archive), bucket, record.key, ExtraArgs=extra)
        except Exception as exc:  # boto3 raises several unrelated types here
            hint = (" Object Lock needs a bucket created with ObjectLockEnabledForBucket=True."
                    if immutable_days is not None else "")
            raise BackupError(f"uploading backup of {system!r} to s3://{bucket}/{record.key} failed: {exc}.{hint}") from exc
    return record


def apply_retention(
    s3: Any, bucket: str, system: str, *, daily: int, weekly: int, monthly: int, dry_run: bool = False
) -> list[str]:
    """Delete the backups of ``system`` that :func:`select_retained` does not keep.

    Returns the deleted keys (or, with ``dry_run``, those it would delete). On a
    versioned, object-locked bucket a delete only adds a delete marker: the locked
    version stays until its retention date, which is the point of locking it.
    Idempotent. Not atomic: deletes one object at a time; a failure leaves the rest.
    """
    backups = list_backups(s3, bucket, system)
    kept = select_retained([b.taken_at for b in backups], daily, weekly, monthly) if backups else set()
    doomed = [b.key for b in backups if b.taken_at not in kept]
    if not dry_run:
        for key in doomed:
            s3.delete_object(Bucket=bucket, Key=key)
    return doomed


def restore_database_before(
    target_dsn: str,
    bucket: str,
    system: str,
    before: datetime,
    s3: Any,
    *,
    no_owner: bool = True,
    timeout: float = 3600.0,
) -> BackupRecord:
    """Restore into ``target_dsn`` the newest backup of ``system`` taken strictly before ``before``.

    Picks the backup, downloads it, checks its SHA-256 against the one recorded at
    upload and that ``pg_restore`` can read it, and only then touches the target:
    ``pg_restore --clean --if-exists --single-transaction`` (objects in the archive are
    dropped and recreated; objects only in the target are left alone). With
    ``no_owner`` objects are owned by the restoring role (roles of the source need not
    exist in the target).

    If no backup is older than ``before``, raises :class:`NoBackupBeforeError` naming the
    system, the time and the oldest backup, without connecting to the target.

    Atomic: yes, one transaction; a failed restore leaves the target as it was.
    Idempotent: restoring the same backup twice gives the same contents.
    Timeout: ``timeout`` seconds for the restore.
    """
    cutoff = _as_utc(before, "before")
    backups = list_backups(s3, bucket, system)
    older = [b for b in backups if b.taken_at < cutoff]
    if not older:
        oldest = (f"the oldest is {backups[0].taken_at.isoformat()} (s3://{bucket}/{backups[0].key})"
                  if backups else f"there are none under s3://{bucket}/{KEY_PREFIX}/{system}/")
        raise NoBackupBeforeError(
            f"no backup of system {system!r} was taken before {cutoff.isoformat()}: {oldest}. "
            "Nothing was restored and the target was not touched. Pick a later time or another bucket."
        )
    chosen = older[-1]
    with tempfile.TemporaryDirectory(prefix="multidc-restore-") as tmp:
        archive = Path(tmp) / "db.dump"
        s3.download_file(bucket, chosen.key, str(archive))
        recorded = s3.head_object(Bucket=bucket, Key=chosen.key).get("Metadata", {}).get("sha256")
        actual = _sha256(archive)
        if recorded and recorded != actual:
            raise BackupError(
                f"backup s3://{bucket}/{chosen.key} is corrupt: SHA-256 {actual} differs from {recorded} "
                "recorded at upload. The target was not touched; restore an older backup (pass an earlier time)."
            )
        _run([pg_client_tool("pg_restore"), "--list", str(archive)], timeout=timeout,
             what=f"reading backup s3://{bucket}/{chosen.key}")
        dsn, password = _password_off_the_command_line(target_dsn)
        command = [pg_client_tool("pg_restore"), "--clean", "--if-exists", "--single-transaction",
                   "--exit-on-error", "-d", dsn, str(archive)]
        if no_owner:
            command[1:1] = ["--no-owner", "--no-privileges"]
        _run(command, timeout=timeout, env=password,
             what=f"pg_restore of s3://{bucket}/{chosen.key} (rolled back, target unchanged)")
    return BackupRecord(chosen.system, bucket, chosen.key, chosen.taken_at, size=chosen.size, sha256=actual)
