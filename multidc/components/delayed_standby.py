"""A delayed standby of one PostgreSQL system: a VM in the vault's site replaying the vault's WAL D behind.

``backup.delayed_standby: D`` in the spec. The VM (the system's flavor, a data volume of its
``volume_gb``) holds S3 keys of a user of its own that may read the vault and change nothing (the
vault's bucket policy denies it every write and delete, ``contract.ARCHIVE_READER_DENIED``) and no
connection to the primary. Cloud-init installs PostgreSQL of the system's ``engine_version`` and
barman-cli-cloud from the image's package sources, waits for the first base backup in the vault,
restores the newest one (``barman-cloud-restore``) and starts it as a standby with the settings of
``multidc.protection.delayed.standby_settings``, the same function the local deployment uses: its
``restore_command`` fetches WAL from the vault and ``recovery_min_apply_delay`` holds each commit D.

What it is not: a copy an attacker with the platform's keys cannot touch. It is a live VM in the
same project; the vault (COMPLIANCE object lock) is the guarantee, the standby only makes the
way back fast when the attack is found within D (docs/ransomware.md).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Optional

import pulumi
import pulumi_openstack as openstack

from multidc import spec
from multidc.components.archive_access import s3_user
from multidc.components.site import Site
from multidc.contract import ARCHIVE_PREFIX, DELAYED_STANDBY, TAG_BACKUP_OF, TAG_ROLE, TAG_SITE, TAG_SYSTEM

# Where cloud-init puts things on the VM.
CREDENTIALS = PurePosixPath("/etc/multidc/vault-reader.credentials")
SETTINGS_FILE = "multidc-delayed-standby.conf"
CLUSTER = "delayed"
DATA_DEVICE = "/dev/vdb"
PORT = 5432
ROLE = "delayed-standby"


def cloud_init(system: str, version: str, endpoint: str, bucket: str, delay_s: int, access_key: str,
               secret_key: str) -> str:
    """The VM's cloud-config: PostgreSQL ``version`` and barman-cli-cloud, the newest base backup of ``system``
    restored from the vault, started as a standby replaying the vault ``delay_s`` behind."""
    from multidc.protection.archive import ArchiveTarget, restore_command
    from multidc.protection.delayed import standby_settings

    target = ArchiveTarget(endpoint, bucket, system, ARCHIVE_PREFIX)
    settings = standby_settings(restore_command(target, CREDENTIALS, installed=True), delay_s)  # type: ignore[arg-type]
    settings.update({"listen_addresses": "'*'", "port": str(PORT)})
    conf = "".join(f"{key} = {value}\n" for key, value in settings.items())
    data = f"/var/lib/postgresql/{version}/{CLUSTER}"
    env = f"AWS_SHARED_CREDENTIALS_FILE={CREDENTIALS}"
    url = shlex.quote(target.url)
    barman = f"--endpoint-url {shlex.quote(endpoint)} {url} {shlex.quote(system)}"
    script = f"""#!/bin/sh
set -eu
blkid {DATA_DEVICE} >/dev/null 2>&1 || mkfs.ext4 -q {DATA_DEVICE}
mkdir -p /var/lib/postgresql
grep -q '^{DATA_DEVICE} ' /etc/fstab || echo '{DATA_DEVICE} /var/lib/postgresql ext4 defaults,nofail 0 2' >> /etc/fstab
mountpoint -q /var/lib/postgresql || mount /var/lib/postgresql
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q postgresql-{version} barman-cli-cloud
pg_dropcluster --stop {version} main 2>/dev/null || true
chown -R postgres:postgres /var/lib/postgresql
chown postgres:postgres {CREDENTIALS} && chmod 0600 {CREDENTIALS}
# The archive host takes the first base backup; wait for it.
until [ -n "$(runuser -u postgres -- env {env} barman-cloud-backup-list --format json {barman} \\
      | python3 -c 'import json,sys; print(*[b["backup_id"] for b in json.load(sys.stdin)["backups_list"] if b["status"] == "DONE"])')" ]; do
  sleep 60
done
if [ ! -f {data}/PG_VERSION ]; then
  runuser -u postgres -- env {env} barman-cloud-restore {barman} latest {data}
  sed -i '/^[[:space:]]*archive_\\(mode\\|command\\|timeout\\)[[:space:]]*=/d' {data}/postgresql.auto.conf
  runuser -u postgres -- touch {data}/standby.signal
  pg_createcluster {version} {CLUSTER} -d {data}
fi
cp /etc/multidc/{SETTINGS_FILE} /etc/postgresql/{version}/{CLUSTER}/conf.d/{SETTINGS_FILE}
pg_ctlcluster {version} {CLUSTER} start
"""
    credentials = f"[default]\naws_access_key_id = {access_key}\naws_secret_access_key = {secret_key}\n"
    files = [
        {"path": str(CREDENTIALS), "permissions": "0600", "content": credentials},
        {"path": f"/etc/multidc/{SETTINGS_FILE}", "permissions": "0644", "content": conf},
        {"path": "/usr/local/sbin/multidc-delayed-standby", "permissions": "0755", "content": script},
    ]
    import json

    # JSON is YAML: cloud-init reads this document as its cloud-config.
    return "#cloud-config\n" + json.dumps({"write_files": files, "runcmd": [["/usr/local/sbin/multidc-delayed-standby"]]},
                                          indent=1)


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
        on_site = pulumi.ResourceOptions(parent=self, provider=site.provider)
        reader = s3_user(name, "reader", f"{args.platform.name}-{system.name}-archive-reader",
                         f"multidc: reads {system.name}'s WAL archive in {args.vault} for its delayed standby; "
                         "may change nothing", site, args.platform.site(site.name).cloud.project, self)
        self.reader_principal = reader.principal
        user_data = pulumi.Output.secret(pulumi.Output.all(reader.access_key, reader.secret_key).apply(
            lambda keys: cloud_init(system.name, version, args.endpoint, args.vault, delay_s, keys[0], keys[1])))
        image = openstack.images.get_image_output(
            name=size.image, most_recent=True, opts=pulumi.InvokeOutputOptions(parent=self, provider=site.provider))
        zone = site.availability_zones[0]
        volume = openstack.blockstorage.Volume(
            f"{name}-data", name=f"{args.platform.name}-{name}-data", size=size.volume_gb or 20,
            availability_zone=zone, metadata={TAG_SYSTEM: system.name, TAG_ROLE: ROLE}, opts=on_site)
        server = openstack.compute.Instance(
            f"{name}-server", name=f"{args.platform.name}-{name}", flavor_name=size.flavor, image_id=image.id,
            availability_zone=zone, networks=[{"uuid": site.network_id}],
            security_groups=[site.internal_security_group], user_data=user_data,
            metadata={TAG_SYSTEM: system.name, TAG_SITE: site.name, TAG_ROLE: ROLE,
                      TAG_BACKUP_OF: system.primary_site},
            opts=pulumi.ResourceOptions.merge(on_site, pulumi.ResourceOptions(additional_secret_outputs=["user_data"])))
        openstack.compute.VolumeAttach(f"{name}-attach", instance_id=server.id, volume_id=volume.id, opts=on_site)
        self.address = server.access_ip_v4
        self.register_outputs({**contract, "address": self.address, "reader_principal": self.reader_principal})
