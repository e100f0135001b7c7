"""The delayed standbys of a local deployment: one per PostgreSQL system with ``backup.delayed_standby``.

`multidc local up` (``archiving.start``) starts one after the system's first base backup, in the vault's
site: restored from that backup (``protection.delayed.start_local``: barman-cloud-restore, standby.signal,
the vault's WAL replayed D behind, no primary), as the unprivileged server user, on loopback, on a free
port. Its record sits with the system's archive in the local state, so that `multidc local down` stops
it (``stop``) and `multidc restore` can promote it; a restore that does takes it off the list
(``consume``) and off the local outputs document (``forget``): it became the new server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from multidc.contract import OUTPUTS_KEY
from multidc.local.postgres import LocalPostgres, LocalPostgresError
from multidc.local.s3 import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY
from multidc.protection import archive, delayed


def start(name: str, backup: dict[str, Any], target: archive.ArchiveTarget, base: archive.BaseBackup,
          password: str) -> dict[str, Any]:
    """The system's delayed standby in the vault's site, restored from ``base`` and fed only from the vault (the
    local endpoint checks no keys: it gets the site's); ``password`` is the primary's superuser's."""
    delay_s = int(backup["delayed_standby"]["delay_s"])
    server = delayed.start_local(target, (DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY), base,
                                 f"{backup['site']}-{name}-delayed", delay_s, password=password)
    return {"system": name, "site": backup["site"], "host": server.host, "port": server.port,
            "base_dir": str(server.data_dir.parent), "password": password, "delay_s": delay_s,
            "base_backup": base.backup_id, "base_backup_finished": base.end_time.isoformat()}


def running(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The delayed standbys a local deployment runs (a restore that promoted one took it off this list)."""
    return [a["delayed_standby"] for a in state.get("archives", []) if a.get("delayed_standby")]


def stop(state: dict[str, Any]) -> list[str]:
    """Stop the deployment's delayed standbys and delete their directories (`multidc local down`)."""
    stopped = []
    for record in running(state):
        try:
            LocalPostgres.attach(f"{record['system']}-delayed", Path(record["base_dir"]), port=record["port"],
                                 password=record["password"]).close()
        except LocalPostgresError:
            pass  # its directory is gone already
        stopped.append(f"delayed standby {record['system']}@{record['site']}")
    return stopped


def consume(state: dict[str, Any], system: str) -> Optional[dict[str, Any]]:
    """Take ``system``'s delayed standby off the deployment's list (a restore promoted it); returns its record."""
    for entry in state.get("archives", []):
        if entry["system"] == system and entry.get("delayed_standby"):
            return entry.pop("delayed_standby")
    return None


def entry(record: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """A local delayed standby as the outputs document names it (``systems.<x>.backup.delayed_standby``)."""
    if record is None:
        return None
    return {"site": record["site"], "host": record["host"], "port": record["port"], "delay_s": record["delay_s"],
            "user": "postgres", "password": record["password"], "base_backup": record["base_backup"],
            "base_backup_finished": record["base_backup_finished"], "local": {"base_dir": record["base_dir"]}}


def describe(document: dict[str, Any], archives: list[dict[str, Any]]) -> None:
    """Name each system's local delayed standby in the document; null where none runs."""
    standbys = {a["system"]: a["delayed_standby"] for a in archives if a.get("delayed_standby")}
    for name, system in document["systems"].items():
        backup = system.get("backup")
        if backup and "delayed_standby" in backup:
            backup["delayed_standby"] = entry(standbys.get(name))


def forget(path: Path, system: str) -> None:
    """A restore promoted ``system``'s delayed standby: the local outputs document at ``path`` no longer names it
    (a document `pulumi up` exported is left alone: the next `pulumi up` declares a new standby)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    document = data.get(OUTPUTS_KEY, data)
    backup = (document.get("systems", {}).get(system) or {}).get("backup") if document.get("local") else None
    if backup and backup.get("delayed_standby"):
        backup["delayed_standby"] = None
        from multidc.local.document import write_outputs

        write_outputs(document, path)
