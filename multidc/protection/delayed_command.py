"""`multidc restore --system <postgres> --before T --to-new NAME`, from the delayed standby when it can reach T.

The outputs name a system's delayed standby (``systems.<x>.backup.delayed_standby``). ``choose``
decides, read-only, whether this restore promotes it or restores the vault (``pitr_command``):

- ``--from vault``: the vault, whatever the standby;
- ``--from delayed-standby``: the standby, or a refusal saying why it cannot;
- ``--from auto`` (the default): the standby when it reaches T, else the vault, with why.

It reaches T when it is still a standby and has replayed no transaction committed at or after T
(``delayed.reaches``). This command acts on a standby whose directory it reaches, as the operator
of a self-managed server does (a local deployment: ``delayed_standby.local.base_dir``); a standby on
a VM is left to the operator, and auto takes the vault, saying so. Promoted, the standby becomes
the new server NAME: it is no longer the system's delayed standby (`pulumi up` or `multidc local
up` declares a new one).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from multidc.local.postgres import LocalPostgres, LocalPostgresError
from multidc.protection import archive, delayed, pitr_command
from multidc.protection.locate import SystemData

AUTO, VAULT, DELAYED = "auto", "vault", "delayed-standby"


@dataclass(frozen=True)
class DelayedRestore:
    """A planned promotion of the delayed standby at T into the new server ``name``."""

    system: str
    name: str
    site: str
    server: LocalPostgres
    base_backup: Optional[str]
    base_finished: dt.datetime
    position: delayed.Position
    delay_s: int

    def changes(self) -> dict[str, Any]:
        return {"delayed_standby": f"{self.server.host}:{self.server.port} in {self.site}",
                "delay_s": self.delay_s, "base_backup": self.base_backup,
                "replayed_to": self.position.to_json(), "new_server": self.name}


@dataclass(frozen=True)
class Choice:
    """The standby to promote (None: restore the vault) and why the vault, when it is the vault."""

    restore: Optional[DelayedRestore]
    why_not: Optional[str]


def _standby(data: SystemData, endpoint: str, password: Optional[str]) -> tuple[Optional[LocalPostgres], str]:
    entry = data.delayed_standby
    assert entry is not None and data.archive is not None and data.vault is not None
    if entry.local is None:
        return None, (f"the delayed standby runs on a VM ({entry.host}:{entry.port} in {entry.site}); this command "
                      "promotes one whose directory it reaches (a local deployment): on the VM, pause it, set "
                      "recovery_target_time to TIME (exclusive) and promote (docs/ransomware.md)")
    base_dir = Path(entry.local.base_dir)
    target = archive.ArchiveTarget(endpoint, data.vault.bucket, data.archive.server_name, data.archive.prefix)
    secret = entry.password.get_secret_value() if entry.password is not None else password
    try:
        return LocalPostgres.attach(f"{data.system}-delayed", base_dir, port=entry.port, password=secret or "",
                                    host=entry.host or "127.0.0.1",
                                    settings=delayed.local_settings(target, base_dir, entry.delay_s)), ""
    except LocalPostgresError as error:
        return None, f"the delayed standby is gone: {error}"


def choose(data: SystemData, before: dt.datetime, name: str, source: str, endpoint: str,
           password: Optional[str]) -> Choice:
    """Read-only: promote the delayed standby, or restore the vault, and why (see the module docstring)."""
    entry = data.delayed_standby
    if source == VAULT:
        return Choice(None, "--from vault" if entry is not None else None)
    if entry is None:
        if source == DELAYED:
            raise ValueError(f"--from delayed-standby: system {data.system!r} has no delayed standby in the outputs "
                             f"(systems.{data.system}.backup.delayed_standby); declare backup.delayed_standby in the "
                             "spec, or restore the vault (--from vault)")
        return Choice(None, None)
    server, why = _standby(data, endpoint, password)
    if server is not None:
        try:
            at = delayed.position(server)
        except Exception as error:  # noqa: BLE001 - any failure to read it means: do not rely on it
            server, why = None, f"the delayed standby at {server.address} does not answer: {error}"
    if server is not None:
        finished = dt.datetime.fromisoformat(entry.base_backup_finished) if entry.base_backup_finished else before
        reason = delayed.reaches(at, finished, before)
        if reason is None:
            return Choice(DelayedRestore(data.system, name, entry.site, server, entry.base_backup, finished, at,
                                         entry.delay_s), None)
        why = f"the delayed standby cannot reach it: {reason}"
    if source == DELAYED:
        raise delayed.TooLateError(f"--from delayed-standby: {why}; restore the vault instead (--from vault)")
    return Choice(None, why)


def apply(restore: DelayedRestore, before: dt.datetime,
          keep: Callable[[dict[str, Any], Optional[str]], None]) -> dict[str, Any]:
    """Promote the standby at T; hand the new server's record to ``keep`` (with the system it no longer
    serves as delayed standby) and report what was restored."""
    done = delayed.promote_at(restore.server, before, restore.base_finished)
    server = restore.server
    keep({"name": restore.name, "host": server.host, "port": server.port, "base_dir": str(server.data_dir.parent),
          "password": server.password}, restore.system)
    rpo = done.rpo_s(before)
    last = done.last_transaction or done.paused_at.last_transaction
    return {
        "source": DELAYED,
        "new_server": {"name": restore.name, "host": server.host, "port": server.port, "database": "postgres",
                       "user": server.user},
        "base_backup": restore.base_backup,
        "base_position": done.paused_at.to_json(),
        "wal_range": [done.first_wal, done.last_wal],
        "wal_replayed_lsn": [done.paused_at.lsn, done.end_lsn],
        "last_transaction": last.isoformat() if last else None,
        "stopped_before": done.stopped_before.isoformat() if done.stopped_before else None,
        "rpo_s": None if rpo is None else round(rpo, 3),
        "seconds": round(done.seconds, 3),
        "consumed": (f"the delayed standby of {restore.system} is now the server {restore.name}: it no longer "
                     f"replays the vault; `pulumi up` (or `multidc local up`) declares a new one"),
    }


def summary(restore: DelayedRestore, before: dt.datetime) -> str:
    replayed = restore.position.last_transaction or restore.base_finished
    return (f"target: the delayed standby of {restore.system} at {restore.server.address} in {restore.site} becomes "
            f"the new server {restore.name!r} (the damaged one is left alone)\n"
            f"source: it replays the vault {restore.delay_s}s behind; replayed up to {replayed.isoformat()} "
            f"(WAL {restore.position.lsn}), base backup {restore.base_backup}\n"
            f"plan:   pause it, replay every transaction committed before {before.isoformat()} (exclusive), promote; "
            "no volume is copied")


def outcome(result: dict[str, Any]) -> str:
    return (f"the delayed standby, paused at WAL {result['base_position']['lsn']}, promoted: "
            f"{pitr_command.outcome(result)}. {result['consumed']}")
