"""What a database step says per replication mechanism: its title, verification query and rollback.

The runbook is planned from what is deployed, and so is each step's wording: a system replicated
logically is promoted by detaching its subscription and re-protected by a reverse subscription
(no ``pg_rewind``: a managed endpoint gives no file access); a streaming one by ``pg_promote`` and
``pg_rewind``; Redis by ``REPLICAOF``; MariaDB by GTID. Each verification is a query of its engine.
"""

from __future__ import annotations

from typing import Optional

from multidc.contract import GTID, LOGICAL, REPLICAOF, STREAMING

# {system}, {site} (where the step runs), {new} (the new primary's site) are filled in by the runbook.
PROMOTE = {
    LOGICAL: dict(
        title="Detach {system}'s subscription in {site}, advance its sequences and take writes",
        verification="SELECT count(*) FROM pg_subscription WHERE subname LIKE 'multidc_%' returns 0; every "
                     "sequence owned by a column is past max(column); a test write commits",
        rollback="none: going back needs the failback runbook (a reverse subscription, not pg_rewind)"),
    STREAMING: dict(
        title="Promote {system} in {site}",
        verification="SELECT pg_is_in_recovery() returns false and a test write commits",
        rollback="none: going back needs the failback runbook (pg_rewind)"),
    REPLICAOF: dict(
        title="Promote {system} in {site} (REPLICAOF NO ONE)",
        verification="INFO replication shows role:master and a SET succeeds",
        rollback="none: going back needs the failback runbook (REPLICAOF, full resync)"),
    GTID: dict(
        title="Promote {system} in {site} (STOP SLAVE; RESET SLAVE ALL; read_only OFF)",
        verification="SHOW SLAVE STATUS returns no row, SELECT @@read_only returns 0 and a test write commits",
        rollback="none: going back needs the failback runbook (CHANGE MASTER with GTID)"),
}
REPROTECT = {
    LOGICAL: dict(
        title="Re-protect {system} in {site}: a subscription from {new} after an initial copy (no pg_rewind)",
        verification="on {new}: SELECT state FROM pg_stat_replication shows the subscription streaming; on "
                     "{site}: SELECT srsubstate FROM pg_subscription_rel returns only 'r'",
        rollback="drop the subscription in {site}; its tables are a copy and can be copied again"),
    STREAMING: dict(
        title="Rewind {system} in {site} into a standby of {new} (pg_rewind)",
        verification="{new} shows {site} streaming in pg_stat_replication; the old primary refuses writes",
        rollback="rebuild the standby from a fresh base backup"),
    REPLICAOF: dict(
        title="Re-protect {system} in {site}: REPLICAOF {new} (full resync)",
        verification="INFO replication in {site} shows role:slave and master_link_status:up",
        rollback="REPLICAOF NO ONE in {site}"),
    GTID: dict(
        title="Re-protect {system} in {site}: CHANGE MASTER TO {new} with MASTER_USE_GTID=slave_pos",
        verification="SHOW SLAVE STATUS in {site}: Slave_IO_Running and Slave_SQL_Running are Yes",
        rollback="STOP SLAVE; RESET SLAVE ALL in {site}"),
}


def texts(table: dict[str, dict[str, str]], mechanism: Optional[str], **names: str) -> dict[str, str]:
    """The step's title, verification and rollback for `mechanism` (streaming when none is deployed)."""
    chosen = table.get(mechanism or STREAMING, table[STREAMING])
    return {key: value.format(**names) for key, value in chosen.items()}
