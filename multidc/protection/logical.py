"""PostgreSQL logical replication as a link: create, health, mode, failover moves, teardown.

For managed endpoints (Trove) where the toolkit has SQL access only. The link is one publication
on the primary and one subscription on the standby; the subscription's apply worker connects
with ``application_name`` = the subscription's name, so ``synchronous_standby_names`` can name it
for ``sync``. What logical replication does not carry (docs/replication.md): DDL (schema changes
are applied to both sides by the migration tool, subscriber first), sequence values (advanced on
the new primary at failover: ``advance_sequences``), large objects (``pg_largeobject``).

Every function takes servers as connection info (``multidc.protection.postgres.PgServer``).
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from psycopg import sql

from multidc.contract import publication_name, subscription_name, synchronous_standby_names
from multidc.protection import postgres as pg
from multidc.protection.link_health import (ABSENT, DISABLED, DISCONNECTED, REPLICATING, LinkHealth)

Mode = Literal["sync", "async"]
# A subscriber's database, and a fenced server, start sessions read-only (make_read_only, fence):
# the toolkit's own session says what it does, as an operator's would.
_WRITABLE_SESSION = "SET default_transaction_read_only = off"


def names(system: str, standby_site: str) -> tuple[str, str]:
    """(publication, subscription) of a system's link into ``standby_site``: SQL identifiers."""
    return publication_name(system), subscription_name(system, standby_site)


def create_link(publisher: pg.PgServer, subscriber: pg.PgServer, *, dbname: str, publication: str,
                subscription: str, mode: Mode, publisher_conninfo: Optional[str] = None,
                timeout: float = 120.0) -> LinkHealth:
    """Publication + subscription (schema copied first), initial copy waited for, then ``mode``.

    Idempotent: an existing publication or subscription is kept (a disabled one is enabled
    again). ``sync`` is set only after the initial copy, so that the copy's own commits never
    wait on a subscriber that is still copying. Returns the link's health once caught up.
    """
    pg.setup_logical_replication(publisher, subscriber, dbname=dbname, publication=publication,
                                 subscription=subscription, publisher_conninfo=publisher_conninfo, timeout=timeout)
    with pg._connect(subscriber, timeout=timeout, dbname=dbname) as conn:
        conn.execute(_WRITABLE_SESSION)
        enabled = conn.execute("SELECT subenabled FROM pg_subscription WHERE subname = %s", [subscription]).fetchone()
        if enabled is not None and not enabled[0]:
            conn.execute(sql.SQL("ALTER SUBSCRIPTION {} ENABLE").format(sql.Identifier(subscription)))
    make_read_only(subscriber, dbname=dbname, timeout=timeout)
    set_mode(publisher, subscription, mode, subscriber=subscriber, dbname=dbname, timeout=timeout)
    wait_caught_up(publisher, subscription, timeout=timeout)
    return link_health(publisher, subscriber, dbname=dbname, subscription=subscription)


def make_read_only(subscriber: pg.PgServer, *, dbname: str, timeout: float = 30.0) -> None:
    """New sessions on the subscriber's database start read-only, so clients that look for a writable
    server (``target_session_attrs=read-write``) never pick it; the apply worker still writes.

    ``ALTER DATABASE ... SET``: what the database owner may do on a managed endpoint (no ALTER SYSTEM).
    """
    with pg._connect(subscriber, timeout=timeout, dbname=dbname) as conn:
        conn.execute(_WRITABLE_SESSION)
        conn.execute(sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on").format(sql.Identifier(dbname)))


def lift_fence(server: pg.PgServer, *, timeout: float = 30.0) -> None:
    """Undo a read-only fence (``ALTER SYSTEM``) and keep the database-level read-only of a subscriber.

    Not ``multidc.protection.postgres.unfence``: that one waits until sessions start writable,
    which a subscriber's never do. One ``ALTER SYSTEM RESET`` + reload; idempotent.
    """
    with pg._connect(server, timeout=timeout) as conn:
        conn.execute("ALTER SYSTEM RESET default_transaction_read_only")
        conn.execute("SELECT pg_reload_conf()")


def make_writable(server: pg.PgServer, *, dbname: str, timeout: float = 30.0) -> None:
    """Undo ``make_read_only`` and a read-only fence (``multidc.protection.postgres.unfence``)."""
    with pg._connect(server, timeout=timeout, dbname=dbname) as conn:
        conn.execute(_WRITABLE_SESSION)
        conn.execute(sql.SQL("ALTER DATABASE {} RESET default_transaction_read_only").format(sql.Identifier(dbname)))
    pg.unfence(server, timeout=timeout)


def set_mode(publisher: pg.PgServer, subscription: str, mode: Mode, *, subscriber: Optional[pg.PgServer] = None,
             dbname: str = "postgres", timeout: float = 30.0) -> None:
    """``sync``: commits on the publisher wait until the subscriber has flushed them (it is named in
    ``synchronous_standby_names``); ``async``: they do not. No re-copy either way. Idempotent.

    With ``subscriber``, its apply worker commits with ``synchronous_commit`` on in sync mode: it
    reports a flush position only once its own WAL is flushed, so with the subscription's default
    (off) every publisher commit would wait for the subscriber's WAL writer (``wal_writer_delay``,
    200 ms), which benchmarks/replication_lag.py measured.
    """
    current = pg._scalar(publisher, "SHOW synchronous_standby_names", timeout=timeout) or ""
    if mode == "sync":
        if current != synchronous_standby_names([subscription]):
            # On Trove the configuration group sets it already (ALTER SYSTEM needs a superuser, which
            # the customer is not there): nothing to do then.
            pg.set_replication_mode(publisher, "sync", standby_names=[subscription], timeout=timeout)
    elif subscription in current:
        pg.set_replication_mode(publisher, "async", timeout=timeout)
    if subscriber is not None:
        with pg._connect(subscriber, timeout=timeout, dbname=dbname) as conn:
            conn.execute(_WRITABLE_SESSION)
            conn.execute(sql.SQL("ALTER SUBSCRIPTION {} SET (synchronous_commit = {})").format(
                sql.Identifier(subscription), sql.Literal("on" if mode == "sync" else "off")))


def wait_caught_up(publisher: pg.PgServer, subscription: str, *, timeout: float = 60.0) -> None:
    """Wait until the subscription's slot has confirmed everything the publisher had written when called."""
    target = pg.lsn_to_int(pg.current_wal_lsn(publisher))

    def confirmed() -> bool:
        lsn = pg._scalar(publisher, "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
                         [subscription])
        return lsn is not None and pg.lsn_to_int(lsn) >= target

    pg._wait(confirmed, timeout=timeout, interval=0.2,
             what=f"subscription {subscription!r} to confirm the current LSN of {pg.address(publisher)}")


def link_health(publisher: Optional[pg.PgServer], subscriber: pg.PgServer, *, dbname: str,
                subscription: str, timeout: float = 10.0) -> LinkHealth:
    """State from the subscriber; lag and mode from the publisher (None if it is not given or unreachable).

    Read-only. PostgreSQL keeps no text of apply errors in its catalogs: ``last_error`` counts
    them (``pg_stat_subscription_stats``); their text is in the subscriber's log.
    """
    with pg._connect(subscriber, timeout=timeout, dbname=dbname) as conn:
        row = conn.execute(
            "SELECT s.subenabled, w.pid, coalesce(e.apply_error_count, 0) + coalesce(e.sync_error_count, 0) "
            "FROM pg_subscription s "
            "LEFT JOIN pg_stat_subscription w ON w.subid = s.oid AND w.relid IS NULL "
            "LEFT JOIN pg_stat_subscription_stats e ON e.subid = s.oid "
            "WHERE s.subname = %s", [subscription]).fetchone()
    if row is None:
        return LinkHealth(ABSENT)
    enabled, worker, errors = row
    last_error = f"{errors} apply/sync errors; their text is in the log of {pg.address(subscriber)}" if errors else None
    lag_bytes = lag_seconds = mode = None
    connected = False
    if publisher is not None:
        try:
            with pg._connect(publisher, timeout=timeout, dbname=dbname) as conn:
                slot = conn.execute(
                    "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint, active "
                    "FROM pg_replication_slots WHERE slot_name = %s", [subscription]).fetchone()
                standby_names = conn.execute("SHOW synchronous_standby_names").fetchone()[0] or ""
            mode = "sync" if subscription in standby_names else "async"
            if slot is not None:
                lag_bytes, connected = max(0, int(slot[0] or 0)), bool(slot[1])
            status = [s for s in pg.replication_status(publisher, timeout=timeout)
                      if s.application_name == subscription]
            if status:
                # PostgreSQL shows NULL lag once a caught-up walsender has been idle a while.
                lag_seconds = status[0].replay_lag_s if status[0].replay_lag_s is not None else (
                    0.0 if lag_bytes == 0 else None)
        except pg.ReplicationError as error:
            last_error = str(error)
    if not enabled:
        state = DISABLED
    elif worker is None or (publisher is not None and not connected):
        state = DISCONNECTED
    else:
        state = REPLICATING
    return LinkHealth(state, lag_bytes, lag_seconds, last_error, mode)


def drop_link(publisher: Optional[pg.PgServer], subscriber: pg.PgServer, *, dbname: str, publication: str,
              subscription: str, timeout: float = 60.0) -> None:
    """Tear the link down and leave both databases with their data.

    On the publisher first the subscription leaves ``synchronous_standby_names`` (else every
    commit there would wait for ever), then the subscription is dropped on the subscriber (with
    its slot on the publisher when that is reachable; detached from it when it is not: then
    drop the slot ``<subscription>`` on the publisher later), then the publication. Idempotent.
    """
    if publisher is not None:
        set_mode(publisher, subscription, "async", timeout=timeout)
    detach(subscriber, dbname=dbname, subscription=subscription, drop_slot=publisher is not None, timeout=timeout)
    if publisher is not None:
        with pg._connect(publisher, timeout=timeout, dbname=dbname) as conn:
            conn.execute(sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(publication)))
            conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                         "WHERE slot_name = %s AND NOT active", [subscription])


def detach(subscriber: pg.PgServer, *, dbname: str, subscription: str, drop_slot: bool = False,
           timeout: float = 60.0) -> None:
    """Stop applying and drop the subscription on the subscriber (idempotent).

    Without ``drop_slot`` the subscription forgets its slot first, so this works while the
    publisher is gone (failover); the slot left there is dropped at re-protect.
    """
    ident = sql.Identifier(subscription)
    with pg._connect(subscriber, timeout=timeout, dbname=dbname) as conn:
        conn.execute(_WRITABLE_SESSION)
        if not conn.execute("SELECT 1 FROM pg_subscription WHERE subname = %s", [subscription]).fetchone():
            return
        conn.execute(sql.SQL("ALTER SUBSCRIPTION {} DISABLE").format(ident))
        if not drop_slot:
            conn.execute(sql.SQL("ALTER SUBSCRIPTION {} SET (slot_name = NONE)").format(ident))
        conn.execute(sql.SQL("DROP SUBSCRIPTION {}").format(ident))


def apply_ddl(publisher: pg.PgServer, subscriber: pg.PgServer, statement: str, *, dbname: str, subscription: str,
              timeout: float = 60.0) -> None:
    """A schema change on both ends: subscriber first (so it can take the new rows), then publisher,
    then the subscription learns the new tables (``REFRESH PUBLICATION``) and copies them.

    Logical replication carries no DDL: this is what a migration tool must do for each change.
    Not atomic across the two servers; ``statement`` should be idempotent (``IF NOT EXISTS``) so
    that a rerun after a failure between them finishes the job.
    """
    with pg._connect(subscriber, timeout=timeout, dbname=dbname) as conn:
        conn.execute(_WRITABLE_SESSION)
        conn.execute(statement)
    with pg._connect(publisher, timeout=timeout, dbname=dbname) as conn:
        conn.execute(statement)
    with pg._connect(subscriber, timeout=timeout, dbname=dbname) as conn:
        conn.execute(_WRITABLE_SESSION)
        conn.execute(sql.SQL("ALTER SUBSCRIPTION {} REFRESH PUBLICATION").format(sql.Identifier(subscription)))
    pg.wait_for_initial_copy(subscriber, subscription, dbname=dbname, timeout=timeout)


def advance_sequences(server: pg.PgServer, *, dbname: str, gap: int = 1000, timeout: float = 60.0) -> dict[str, int]:
    """Before the new primary takes writes: every sequence moves past the rows it has, plus ``gap``.

    Logical replication copies rows but not sequence positions, so the subscriber's sequences
    are where the initial schema copy left them: the first insert would reuse a key. For each
    sequence owned by a column (``serial``/``identity``) the new value is max(column, current) +
    ``gap``. Idempotent in effect (values only grow). Returns the new value per sequence.
    """
    moved: dict[str, int] = {}
    with pg._connect(server, timeout=timeout, dbname=dbname) as conn:
        conn.execute(_WRITABLE_SESSION)
        owned = conn.execute(
            "SELECT s.oid::regclass::text, t.oid::regclass::text, a.attname "
            "FROM pg_class s JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i') "
            "JOIN pg_class t ON t.oid = d.refobjid JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid "
            "WHERE s.relkind = 'S'").fetchall()
        for sequence, table, column in owned:
            highest = conn.execute(sql.SQL("SELECT max({})::bigint FROM {}").format(
                sql.Identifier(column), sql.SQL(table))).fetchone()[0] or 0
            current = conn.execute(sql.SQL("SELECT last_value FROM {}").format(sql.SQL(sequence))).fetchone()[0]
            value = max(int(highest), int(current)) + gap
            conn.execute("SELECT setval(%s::regclass, %s)", [sequence, value])
            moved[sequence] = value
    return moved


def reprotect(new_primary: pg.PgServer, old_primary: pg.PgServer, *, dbname: str, publication: str,
              subscription: str, mode: Mode, timeout: float = 300.0, **options: Any) -> LinkHealth:
    """Re-protect after failover: the old primary becomes the subscriber of the new one.

    Not ``pg_rewind``: there is no file access on a managed endpoint. The old primary's tables
    are emptied (rows it took after the fork never reached the new primary and would collide
    with the copy) and filled again by the subscription's initial copy; its own publication,
    slots and subscription are dropped first.
    """
    # It published to a subscriber that has detached: if it still waited for it, every write here,
    # the toolkit's own included, would hang.
    pg.set_replication_mode(old_primary, "async", timeout=min(timeout, 30))
    with pg._connect(old_primary, timeout=timeout, dbname=dbname) as conn:
        conn.execute(_WRITABLE_SESSION)
        conn.execute(sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(publication)))
        conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                     "WHERE slot_type = 'logical' AND NOT active AND database = current_database()")
        tables = [row[0] for row in conn.execute(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')").fetchall()]
        if tables:
            conn.execute(sql.SQL("TRUNCATE {} CASCADE").format(sql.SQL(", ").join(sql.SQL(t) for t in tables)))
    detach(new_primary, dbname=dbname, subscription=subscription, timeout=timeout)
    pg.setup_logical_replication(new_primary, old_primary, dbname=dbname, publication=publication,
                                 subscription=subscription, copy_schema=False, timeout=timeout, **options)
    make_read_only(old_primary, dbname=dbname, timeout=timeout)
    set_mode(new_primary, subscription, mode, subscriber=old_primary, dbname=dbname, timeout=timeout)
    wait_caught_up(new_primary, subscription, timeout=timeout)
    return link_health(new_primary, old_primary, dbname=dbname, subscription=subscription)
