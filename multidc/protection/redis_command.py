"""`multidc restore --system <redis> --before TIME --to-new NAME`: the newest RDB snapshot before TIME, into a new server.

The deployed stack's outputs name the vault (``systems.<x>.backup.vault``) the ``redis-rdb`` job
fills and the offsite site's S3 keys; this module picks the snapshot (``redis_backup.choose``),
refuses a TIME before the oldest one, and starts a new redis-server on this host holding it,
never touching the damaged one. Its password is the system's, from the outputs, so clients
reconnect with what they hold. When the stack runs locally (``multidc local up``) the new
server is recorded in the local deployment, so ``multidc local down`` stops it too.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from multidc.protection import redis_backup
from multidc.protection.pitr_command import check_name
from multidc.protection.restore_inputs import Endpoint


@dataclass(frozen=True)
class RedisRestore:
    """A planned restore: the snapshot chosen, the vault it is in, the new server's name and password."""

    snapshot: redis_backup.Snapshot
    vault: Endpoint
    name: str
    password: str = field(repr=False)

    def changes(self) -> dict[str, Any]:
        return {"snapshot": self.snapshot.key, "taken_at": self.snapshot.taken_at.isoformat(),
                "size": self.snapshot.size, "new_server": self.name}


def plan(vault: Endpoint, before: dt.datetime, name: str, password: Optional[str]) -> RedisRestore:
    """List the vault's snapshots and pick the newest before TIME; reads only (TooEarlyError when none)."""
    snapshots = redis_backup.list_snapshots(vault.client, vault.location.bucket)
    chosen = redis_backup.choose(snapshots, before, str(vault))
    return RedisRestore(chosen, vault, check_name(name), password or secrets.token_urlsafe(16))


def apply(restore: RedisRestore, before: dt.datetime, keep: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Start the new server from the snapshot, hand its record to ``keep`` and report what came back."""
    done = redis_backup.restore_to_new(restore.vault.client, restore.vault.location.bucket, restore.snapshot,
                                       restore.name, restore.password)
    server = done.server  # a LocalRedis outlives this process (nothing stops it at exit)
    keep({"engine": "redis", "name": restore.name, "host": server.host, "port": server.port,
          "base_dir": str(server.base_dir), "password": restore.password})
    return {
        "new_server": {"name": restore.name, "host": server.host, "port": server.port, "engine": "redis"},
        "snapshot": restore.snapshot.key, "taken_at": restore.snapshot.taken_at.isoformat(),
        "keys": done.keys, "rpo_s": round((before - restore.snapshot.taken_at).total_seconds(), 3),
        "seconds": round(done.seconds, 3),
    }


def summary(restore: RedisRestore, before: dt.datetime) -> str:
    return (f"target: a new Redis server {restore.name!r} on this host (the damaged one is left alone)\n"
            f"source: snapshot {restore.snapshot.key} (taken by {restore.snapshot.taken_at.isoformat()}) in "
            f"the vault {restore.vault}\n"
            f"plan:   load it into the new server: its data set as it was before {before.isoformat()}")


def outcome(result: dict[str, Any]) -> str:
    server = result["new_server"]
    return (f"restored {result['keys']} key(s) into Redis {server['name']} at {server['host']}:{server['port']} from "
            f"{result['snapshot']} (taken by {result['taken_at']}), RPO {result['rpo_s']}s, in {result['seconds']}s")
