"""The `db.*` steps for PostgreSQL replicated logically (managed endpoints: no files, no pg_rewind).

- fence, unfence, relax: as for streaming (`DatabaseBackend`): SQL settings on the server;
- promote: the subscription is detached (it forgets its slot, so the lost publisher is not
  needed), every owned sequence is advanced past its column's highest value, and the
  server is made writable; refuses while the old primary still takes writes;
- wait_replay: the subscription's slot on the (fenced) primary confirmed its current LSN;
- reprotect: a reverse subscription from the new primary after an initial sync; the old
  primary's rows are replaced by the copy (never pg_rewind).

Atomic: none of the multi-statement verbs is (each statement is); every verb is idempotent
and rerunnable after a crash. Timeout: `timeout` per statement, longer for the initial copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from multidc.dr.backends import BackendError, DatabaseBackend
from multidc.dr.runbook import Step
from multidc.protection import logical
from multidc.protection import postgres as pg
from multidc.protection.link_health import REPLICATING

COPY_TIMEOUT_S = 300.0


@dataclass
class LogicalDatabaseBackend(DatabaseBackend):
    """`db.*` for logical replication; each server's own `dbname` is the replicated database."""

    def _promote(self, step: Step, server: Any) -> str:
        old = self._peer(step)
        if old is not None and pg.accepts_writes(old, timeout=2):
            # Split brain: the old primary still takes writes; detaching now would let both sites
            # commit rows the other never sees (logical replication has no timeline to tell them
            # apart later). Fence it first (db.fence) or make sure it is down.
            raise pg.SplitBrainRisk(f"refusing to promote {pg.address(server)}: the old primary {pg.address(old)} "
                                    "still accepts writes; fence it first")
        _, subscription = logical.names(step.system or "", step.site)
        logical.detach(server, dbname=server.dbname, subscription=subscription, timeout=self.timeout)
        moved = logical.advance_sequences(server, dbname=server.dbname, timeout=self.timeout)
        # A stale setting from when it last published would make every write here wait for a subscriber.
        pg.set_replication_mode(server, "async", timeout=self.timeout)
        logical.make_writable(server, dbname=server.dbname, timeout=self.timeout)
        if not pg.accepts_writes(server, timeout=5):
            raise BackendError(f"{step.system}@{step.site}: detached but {pg.address(server)} still refuses writes; "
                               "check default_transaction_read_only and pg_is_in_recovery() on it")
        return (f"{pg.address(server)} detached from subscription {subscription}, {len(moved)} sequence(s) advanced, "
                "takes writes")

    def _wait_replay(self, step: Step, server: Any) -> str:
        _, subscription = logical.names(step.system or "", step.site)
        logical.wait_caught_up(self._peer(step), subscription, timeout=self.timeout)
        return f"subscription {subscription} on {pg.address(server)} confirmed the primary's last LSN"

    def _reprotect(self, step: Step, server: Any) -> str:
        new_primary = self._peer(step)
        if getattr(server, "data_dir", None) is not None and not server.is_running():
            server.start()  # a local stand-in of a managed endpoint coming back with its site
        if pg.is_in_recovery(server):
            # The fence made the killed primary start read-only as a standby; it must leave recovery
            # to subscribe. It stays fenced (default_transaction_read_only) until it is promoted again.
            pg.fence(server, method="read_only", timeout=self.timeout)
            pg.promote(server, timeout=self.timeout)
        publication, subscription = logical.names(step.system or "", step.site)
        mode = step.param("mode") or "async"
        current = logical.link_health(new_primary, server, dbname=server.dbname, subscription=subscription)
        if current.state == REPLICATING:
            # A standby whose site came back (its primary never moved): its subscription resumed by itself.
            logical.set_mode(new_primary, subscription, mode, subscriber=server, dbname=server.dbname,
                             timeout=self.timeout)
            return f"{pg.address(server)} already subscribes to {pg.address(new_primary)} ({mode}); nothing copied"
        health = logical.reprotect(new_primary, server, dbname=server.dbname, publication=publication,
                                   subscription=subscription, mode=mode, timeout=max(self.timeout, COPY_TIMEOUT_S))
        logical.lift_fence(server, timeout=self.timeout)  # the database-level read-only of a subscriber stays
        return (f"{pg.address(server)} subscribes to {pg.address(new_primary)} again after an initial copy "
                f"({mode}, {health.state}; no pg_rewind)")
