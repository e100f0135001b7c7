"""The host that archives a managed PostgreSQL's WAL: a logical subscriber in the vault's site.

Trove keeps ``archive_command`` to itself, so the archive runs on a replica the customer
controls. One Nova server per archived PostgreSQL system, in the vault's (offsite) site, with:

- a Cinder data volume of the system's ``volume_gb`` (kept when the server is replaced), on the
  site's network (the cardholder segment and the encrypted volume type for card data), in a
  security group of its own that admits nothing: the host only connects out, to the primary
  and to the vault;
- cloud-init (``pg_cloud_init``) installing PostgreSQL of the system's version and
  barman-cli-cloud, the cluster on the data volume, with ``archive_mode``/``archive_command``/
  ``archive_timeout`` from ``barman_cloud.archive_settings``, the function ``multidc local up``
  uses too, and the writer's keys (``ArchiveAccess``) in a file only ``postgres`` reads;
- a logical subscription of its own (``contract.archive_subscription_name``, ``copy_data =
  true``) to the primary's publication (``contract.publication_name``, the one the
  ReplicationLink of a standby publishes; created here when the system has no standby), the
  schema copied first, as the system's login; the password sits in a passfile on the host, so
  it never enters the subscription's catalogue row and with it the archive;
- a systemd service and timer running ``barman-cloud-backup`` (``barman_cloud.backup_command``)
  on the spec's backup schedule (``on_calendar``), ``Persistent=true``, one base backup at first
  boot. ``barman-cloud-backup-delete`` is never run: the vault's COMPLIANCE lock and lifecycle
  rule expire backups, and the writer's keys may not delete anyway.

The user data carries keys and the primary's password: it is a Pulumi secret. What only a real
cloud proves (the boot itself, Trove accepting the replication login) is in docs/ransomware.md.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, Optional

import psycopg.conninfo
import pulumi

from multidc import spec
from multidc.components.archive_access import ArchiveAccess
from multidc.components.database import ENGINES, ManagedDatabase, holds_card_data
from multidc.components.on_calendar import on_calendar
from multidc.components.pg_cloud_init import CONFIG_DIR, TOOL_HOST, CloudFile, PgHost, cloud_config
from multidc.components.pg_host import BOOT_VOLUME_GB, pg_server
from multidc.components.site import Site
from multidc.contract import (ARCHIVE_HOST, ARCHIVE_RUNS_ON_HOST, ARCHIVE_TIMEOUT_S, TAG_ROLE, TAG_SITE, TAG_SYSTEM,
                              archive_subscription_name, publication_name)
from multidc.protection.barman_cloud import ArchiveTarget, archive_settings, backup_command


SERVICE = "multidc-base-backup"
PASSFILE = f"{CONFIG_DIR}/primary.pgpass"
SCRIPT = f"{CONFIG_DIR}/archive-host.sh"
# The local server alone: nothing connects in (its security group admits nothing either).
SERVER_SETTINGS = {"listen_addresses": "localhost"}
LOCAL_SOCKET = "/var/run/postgresql"


@dataclass(frozen=True)
class ArchiveHostArgs:
    """An archived PostgreSQL system, its vault's site, its primary placement, the vault and the writer's keys."""

    platform: spec.Platform
    system: spec.System
    site: Site
    primary: ManagedDatabase
    access: ArchiveAccess
    target: ArchiveTarget


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _pgpass_field(text: str) -> str:
    return text.replace("\\", "\\\\").replace(":", "\\:")


def primary_conninfo(system: spec.System, primary: dict[str, Any]) -> str:
    """How the host reaches the primary: the system's login, its password from ``PASSFILE``; TLS for card data."""
    return psycopg.conninfo.make_conninfo(
        host=primary["host"], port=str(primary["port"]), dbname=primary["database"], user=primary["user"],
        passfile=PASSFILE, sslmode="require" if holds_card_data(system) else "prefer", connect_timeout="10")


def subscription_sql(system: spec.System, conninfo: str) -> str:
    """psql input on the host's database: the archive's subscription, once (``copy_data = true``, a slot of its own)."""
    name = archive_subscription_name(system.name)
    return f"""\\set ON_ERROR_STOP on
SELECT NOT EXISTS (SELECT 1 FROM pg_subscription WHERE subname = {_sql_literal(name)}) AS missing \\gset
\\if :missing
CREATE SUBSCRIPTION {name} CONNECTION {_sql_literal(conninfo)} PUBLICATION {publication_name(system.name)}
  WITH (copy_data = true, slot_name = {_sql_literal(name)});
\\endif
"""


def publication_sql(system: spec.System) -> str:
    """psql input on the primary: its publication of all tables, unless the standby's link made it already."""
    name = publication_name(system.name)
    return f"""\\set ON_ERROR_STOP on
SELECT NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = {_sql_literal(name)}) AS missing \\gset
\\if :missing
CREATE PUBLICATION {name} FOR ALL TABLES;
\\endif
"""


def host_script(system: spec.System, database: str, conninfo: str) -> str:
    """Bash run after the base install: the publication, the schema, the subscription, the backup timer."""
    return f"""#!/bin/bash
# multidc: {system.name}'s archive host: subscribe to the primary, archive WAL, base backups on schedule.
set -euo pipefail
chown postgres:postgres {PASSFILE}
chmod 0600 {PASSFILE}
export PGPASSFILE={PASSFILE}
PRIMARY={shlex.quote(conninfo)}
DATABASE={shlex.quote(database)}

# The primary may still be booting or its replication login not yet granted: bounded retries.
for attempt in $(seq 1 60); do
  psql "$PRIMARY" -X -q -f {CONFIG_DIR}/publication.sql && break
  if [ "$attempt" = 60 ]; then echo "multidc: the primary refused the publication for 30 min" >&2; exit 1; fi
  sleep 30
done

# The schema first (logical replication copies rows, not DDL), once.
if [ -z "$(runuser -u postgres -- psql -X -tAc "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")" ]; then
  runuser -u postgres -- createdb "$DATABASE"
  pg_dump --schema-only --no-publications --no-subscriptions --no-owner --no-privileges -d "$PRIMARY" \\
    | runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 --single-transaction -d "$DATABASE"
fi
runuser -u postgres -- psql -X -q -d "$DATABASE" < {CONFIG_DIR}/subscription.sql

systemctl daemon-reload
systemctl enable --now {SERVICE}.timer
# The first base backup now: WAL alone cannot be replayed without one.
systemctl start --no-block {SERVICE}.service
"""


def _systemd_quote(argv: list[str]) -> str:
    return " ".join(shlex.quote(arg).replace("%", "%%") for arg in argv)


def backup_units(system: spec.System, target: ArchiveTarget, version: str) -> tuple[str, str]:
    """(service, timer): ``barman-cloud-backup`` of the local cluster on the spec's schedule."""
    assert system.backup is not None
    command = backup_command(target, TOOL_HOST, pg_host=LOCAL_SOCKET, pg_port=5432, pg_user="postgres")
    environment = " ".join(f'"{key}={value}"' for key, value in TOOL_HOST.environment().items())
    service = f"""[Unit]
Description=multidc: base backup of {system.name} into {target}
Requires=postgresql@{version}-main.service
After=postgresql@{version}-main.service network-online.target

[Service]
Type=oneshot
User=postgres
Environment={environment}
# Never barman-cloud-backup-delete: the vault's COMPLIANCE lock and lifecycle rule expire backups.
ExecStart={_systemd_quote(command)}
"""
    timer = f"""[Unit]
Description=multidc: base backups of {system.name} on '{system.backup.schedule}'

[Timer]
OnCalendar={on_calendar(system.backup.schedule)}
Persistent=true
Unit={SERVICE}.service

[Install]
WantedBy=timers.target
"""
    return service, timer


def user_data(system: spec.System, target: ArchiveTarget, version: str, values: dict[str, Any]) -> str:
    """The host's whole cloud-config; ``values`` are the resolved outputs (volume ID, keys, primary's login)."""
    primary = {key: values[key] for key in ("host", "port", "database", "user")}
    conninfo = primary_conninfo(system, primary)
    service, timer = backup_units(system, target, version)
    passfile = ":".join(_pgpass_field(str(v)) for v in (primary["host"], primary["port"], primary["database"],
                                                         primary["user"], values["password"])) + "\n"
    files = [
        CloudFile(PASSFILE, passfile, secret=True),
        CloudFile(f"{CONFIG_DIR}/publication.sql", publication_sql(system)),
        CloudFile(f"{CONFIG_DIR}/subscription.sql", subscription_sql(system, conninfo)),
        CloudFile(f"/etc/systemd/system/{SERVICE}.service", service),
        CloudFile(f"/etc/systemd/system/{SERVICE}.timer", timer),
        CloudFile(SCRIPT, host_script(system, primary["database"], conninfo), executable=True),
    ]
    host = PgHost(version=version, data_volume_id=values["volume_id"], access_key=values["access_key"],
                  secret_key=values["secret_key"], settings={**archive_settings(target, TOOL_HOST), **SERVER_SETTINGS})
    return cloud_config(host, files=files, scripts=[SCRIPT])


class ArchiveHost(pulumi.ComponentResource):
    """A server in the vault's site subscribed to the managed primary, archiving WAL and taking base backups."""

    address: pulumi.Output[str]
    """The host's fixed IPv4 address on the site network."""
    user_data: pulumi.Output[str]
    """Its cloud-config (a secret: keys and the primary's password)."""

    def __init__(self, name: str, args: ArchiveHostArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        system, site, size = args.system, args.site, args.system.size
        assert system.backup is not None and args.primary.password is not None
        version = size.engine_version or ENGINES[spec.Kind.postgres].default_version
        contract = {
            "system": system.name, "site": site.name, "primary_site": system.primary_site, "role": ARCHIVE_RUNS_ON_HOST,
            "flavor": size.flavor, "volume_gb": size.volume_gb, "boot_volume_gb": BOOT_VOLUME_GB, "node_count": 1,
            "full_node_count": 1, "image": size.image, "engine_version": version,
            "subscription": archive_subscription_name(system.name), "publication": publication_name(system.name),
            "schedule": system.backup.schedule, "on_calendar": on_calendar(system.backup.schedule),
            "archive_timeout_s": ARCHIVE_TIMEOUT_S, "vault": args.target.bucket,
        }
        super().__init__(ARCHIVE_HOST, name, contract, opts)
        tags = {TAG_SYSTEM: system.name, TAG_SITE: site.name, TAG_ROLE: ARCHIVE_RUNS_ON_HOST}
        primary = args.primary

        def render(volume_id: str) -> pulumi.Output[str]:
            return pulumi.Output.all(
                volume_id=volume_id, access_key=args.access.access_key, secret_key=args.access.secret_key,
                host=primary.endpoint, port=primary.port, database=primary.database, user=primary.user,
                password=primary.password,
            ).apply(lambda values: user_data(system, args.target, version, values))

        host = pg_server(name, platform=args.platform, system=system, site=site, parent=self, tags=tags,
                         what="archive host cluster (a logical copy of its primary)", render=render,
                         depends_on=primary.instances)
        self.user_data = host.user_data
        server = host.server
        self.address = server.access_ip_v4
        self.register_outputs({**contract, "address": self.address})
