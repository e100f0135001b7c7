"""The metrics the generated rules read, and what exports each one.

Names are the exporters' own (postgres_exporter, redis_exporter, mysqld_exporter,
kube-state-metrics, blackbox_exporter), except the two multidc reads from PostgreSQL
through postgres_exporter's custom-query file (`POSTGRES_QUERIES`): the primary's view of
each standby's last reply, which outlives the standby in Prometheus's memory and so shows
a stopped standby as a lag that grows.

Every scraped series carries the labels ``system``, ``site`` and ``role`` (the scrape
configuration adds them from the spec), which is how one rule group selects one system.
"""

from __future__ import annotations

# --- PostgreSQL (postgres_exporter, with --extend.query-path=<POSTGRES_QUERIES file>) -------------
PG_REPLY_TIMESTAMP = "multidc_replication_reply_timestamp_seconds"
"""On the primary, per standby (label ``standby``): when that standby last confirmed WAL (epoch s)."""
PG_ARCHIVE_AGE = "pg_stat_archiver_last_archive_age"
"""On the primary: seconds since the last WAL segment was archived (postgres_exporter's own)."""
PG_UP = "pg_up"

# postgres_exporter's custom-query format: <prefix>: {query, metrics: [{column: {usage, description}}]}.
POSTGRES_QUERIES = {
    "multidc_replication": {
        "query": ("SELECT application_name AS standby, EXTRACT(EPOCH FROM reply_time)::float8 AS reply_timestamp_seconds "
                  "FROM pg_stat_replication WHERE reply_time IS NOT NULL"),
        "metrics": [
            {"standby": {"usage": "LABEL", "description": "the standby's application_name"}},
            {"reply_timestamp_seconds": {"usage": "GAUGE",
                                         "description": "when the standby last confirmed WAL, epoch seconds"}},
        ],
    },
}

# --- Redis (redis_exporter) and MySQL (mysqld_exporter), read on the standby ---------------------
REDIS_LINK_UP = "redis_master_link_up"
REDIS_LAST_IO = "redis_master_last_io_seconds_ago"
MYSQL_IO_RUNNING = "mysql_slave_status_slave_io_running"
MYSQL_BEHIND = "mysql_slave_status_seconds_behind_master"

# --- Jobs (kube-state-metrics): backups and bucket copies run as CronJobs -------------------------
CRONJOB_LAST_SUCCESS = "kube_cronjob_status_last_successful_time"

# --- Cluster backups (Velero's own metrics): one schedule `<system>-regular` per system ------------
VELERO_LAST_SUCCESS = "velero_backup_last_successful_timestamp"
VELERO_REGULAR_SCHEDULE = "{system}-regular"

# --- Reachability and certificates (blackbox_exporter) --------------------------------------------
PROBE_SUCCESS = "probe_success"
CERT_EXPIRY = "probe_ssl_earliest_cert_expiry"
