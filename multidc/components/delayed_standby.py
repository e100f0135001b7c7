"""A delayed standby of one PostgreSQL system: a VM in the vault's site replaying the vault's WAL D behind.

``backup.delayed_standby: D`` in the spec. The VM (the system's flavor, a data volume of its
``volume_gb``) holds S3 keys of a user of its own that may read the vault and change nothing (the
vault's bucket policy denies it every write and delete, ``contract.ARCHIVE_READER_DENIED``) and no
connection to the primary. Its cloud-init is the shared PostgreSQL host's (``pg_cloud_init``:
PostgreSQL of the system's ``engine_version`` and barman-cli-cloud on the data volume, the keys'
file) with the settings of ``multidc.protection.delayed.standby_settings``, the same function the
local deployment uses (its ``restore_command`` fetches WAL from the vault, ``recovery_min_apply_delay``
holds each commit D), then ``restore_script``: wait for the first base backup, restore the newest
(``barman-cloud-restore``) over the fresh cluster and start it as a standby.

What it is not: a copy an attacker with the platform's keys cannot touch. It is a live VM in the
same project; the vault (COMPLIANCE object lock) is the guarantee, the standby only makes the
way back fast when the attack is found within D (docs/ransomware.md).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, Optional

import pulumi

from multidc import spec
from multidc.components.archive_access import s3_user
from multidc.components.pg_host import pg_server
from multidc.components.pg_cloud_init import (CLUSTER, CONFIG_DIR, TOOL_HOST, CloudFile, PgHost, cloud_config,
                                              cluster_dir)
from multidc.components.site import Site
from multidc.contract import ARCHIVE_PREFIX, DELAYED_STANDBY, TAG_BACKUP_OF, TAG_ROLE, TAG_SITE, TAG_SYSTEM
from multidc.protection.barman_cloud import ArchiveTarget, restore_command, tool_command

PORT = 5432
ROLE = "delayed-standby"
RESTORE_SCRIPT = f"{CONFIG_DIR}/delayed-standby.sh"


def restore_script(version: str, target: ArchiveTarget) -> str:
    """After the shared base install (a fresh cluster on the data volume, the standby's settings in its
    ``conf.d``): wait for the first base backup, replace the fresh cluster by the newest base backup, and start
    it as a standby. Once: a host replaced by a later `pulumi up` finds its standby on the volume."""
    data = cluster_dir(version)
    env = " ".join(f"{key}={shlex.quote(value)}" for key, value in TOOL_HOST.environment().items())
    listing = " ".join(shlex.quote(a) for a in tool_command("backup-list", target, TOOL_HOST,
                                                             options=["--format", "json"]))
    restore = " ".join(shlex.quote(a) for a in tool_command("restore", target, TOOL_HOST, "latest", data))
    return f"""#!/bin/bash
# multidc: the delayed standby of {target.system}: the newest base backup in the vault, replaying it behind.
set -euo pipefail
DATA={data}
[ -f "$DATA/standby.signal" ] && exit 0
systemctl stop "postgresql@{version}-{CLUSTER}"
# The archive host takes the first base backup; wait for it.
until runuser -u postgres -- env {env} {listing} \\
    | python3 -c 'import json, sys; sys.exit(not any(b["status"] == "DONE" for b in json.load(sys.stdin)["backups_list"]))'
do
  sleep 60
done
find "$DATA" -mindepth 1 -delete
runuser -u postgres -- env {env} {restore}
# The primary's own archive settings must never make the standby write into the vault.
sed -i -E '/^[[:space:]]*archive_(mode|command|timeout)[[:space:]]*=/d' "$DATA/postgresql.auto.conf" || true
runuser -u postgres -- touch "$DATA/standby.signal"
systemctl start "postgresql@{version}-{CLUSTER}"
"""


def cloud_init(system: str, version: str, endpoint: str, bucket: str, delay_s: int, volume_id: str,
               access_key: str, secret_key: str) -> str:
    """The VM's cloud-config: the shared PostgreSQL host (``pg_cloud_init``) with the reader's keys and the
    standby's settings (``protection.delayed.standby_settings``, as the local standby), then ``restore_script``."""
    from multidc.protection.delayed import standby_settings

    target = ArchiveTarget(endpoint, bucket, system, ARCHIVE_PREFIX)
    settings = {**standby_settings(restore_command(target, TOOL_HOST), delay_s), "listen_addresses": "'*'",
                "port": str(PORT)}
    host = PgHost(version=version, data_volume_id=volume_id, access_key=access_key, secret_key=secret_key,
                  settings=settings)
    return cloud_config(host, files=[CloudFile(RESTORE_SCRIPT, restore_script(version, target), executable=True)],
                        scripts=[RESTORE_SCRIPT])


@dataclass(frozen=True)
class DelayedStandbyArgs:
    """The system, the vault's site (the VM runs there), and the vault it replays."""

    platform: spec.Platform
    system: spec.System
    site: Site
    vault: str
    endpoint: str


class DelayedStandby(pulumi.ComponentResource):
    """A VM with a data volume replaying one system's vault D behind, and its read-only vault keys."""

    address: pulumi.Output[str]
    """The VM's address on the site network."""
    reader_principal: pulumi.Output[str]
    """The reader as the vault's bucket policy names it (allowed reads, denied every change)."""
    delay_s: int

    def __init__(self, name: str, args: DelayedStandbyArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        system, site, size = args.system, args.site, args.system.size
        assert system.backup is not None and system.backup.delayed_standby is not None
        delay_s = int(system.backup.delayed_standby.total_seconds())
        version = size.engine_version or "16"
        contract: dict[str, Any] = {
            "system": system.name, "site": site.name, "delay_s": delay_s, "flavor": size.flavor,
            "volume_gb": size.volume_gb, "node_count": 1, "engine_version": version, "vault": args.vault,
        }
        super().__init__(DELAYED_STANDBY, name, contract, opts)
        self.delay_s = delay_s  # after super().__init__, which sets one Output attribute per prop key
        reader = s3_user(name, "reader", f"{args.platform.name}-{system.name}-archive-reader",
                         f"multidc: reads {system.name}'s WAL archive in {args.vault} for its delayed standby; "
                         "may change nothing", site, args.platform.site(site.name).cloud.project, self)
        self.reader_principal = reader.principal
        tags = {TAG_SYSTEM: system.name, TAG_SITE: site.name, TAG_ROLE: ROLE, TAG_BACKUP_OF: system.primary_site}
        host = pg_server(
            name, platform=args.platform, system=system, site=site, parent=self, tags=tags,
            what=f"delayed standby (the vault's WAL replayed {delay_s}s behind)",
            render=lambda volume_id: pulumi.Output.all(reader.access_key, reader.secret_key).apply(
                lambda keys: cloud_init(system.name, version, args.endpoint, args.vault, delay_s, volume_id, keys[0],
                                        keys[1])))
        self.address = host.address
        self.register_outputs({**contract, "address": self.address, "reader_principal": self.reader_principal})
