"""cloud-init of a self-managed PostgreSQL host: the server on its data volume, barman-cli-cloud, the vault's keys.

Shared by the hosts the components boot next to a managed database (the archive host,
``archive_host.py``; a delayed standby). ``cloud_config`` renders one ``#cloud-config``
document whose ``runcmd`` runs, as root, once, at first boot:

1. ``pg-host.sh`` (``base_script``): waits for the data volume (a Cinder volume attached at
   boot, found by its ID under ``/dev/disk/by-id``), makes a file system on it only when it has
   none, mounts it on ``/var/lib/postgresql``; installs PostgreSQL of the system's major version
   from the PostgreSQL project's own apt repository (``postgresql-common``'s ``pgdg`` script:
   Ubuntu and Debian ship one version each) and ``barman-cli-cloud``; creates the cluster on
   the volume, or takes in the one already there (a host replaced by a later `pulumi up` finds
   its data again); writes the caller's settings into ``conf.d``; hands the keys' file to
   ``postgres``; starts the server.
2. the caller's own scripts, in order.

Every file holding a key or a password is written root-only (0600) and is a Pulumi secret in
the server's ``user_data``. Only a real boot proves the script (docs/ransomware.md); the
tests check it parses (``bash -n``) and the document is YAML under its header.
"""

from __future__ import annotations

from dataclasses import dataclass
from io import StringIO
from typing import Mapping, Sequence

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import LiteralScalarString

from multidc.protection.barman_cloud import ToolHost, conf_text, credentials_text

HEADER = "#cloud-config\n"
CONFIG_DIR = "/etc/multidc"
CREDENTIALS = f"{CONFIG_DIR}/archive.credentials"
"""The archive writer's keys (AWS shared credentials format), readable by ``postgres`` only."""
SETTINGS = f"{CONFIG_DIR}/postgresql.conf"
"""The caller's server settings, copied into the cluster's ``conf.d`` once it exists."""
DATA_MOUNT = "/var/lib/postgresql"
CLUSTER = "main"
# How the barman-cloud tools run on such a host: the package's scripts, the keys' file above.
TOOL_HOST = ToolHost(CREDENTIALS)


@dataclass(frozen=True)
class CloudFile:
    """A file cloud-init writes before any script runs (root-owned; ``secret`` files 0600)."""

    path: str
    content: str
    secret: bool = False
    executable: bool = False

    @property
    def permissions(self) -> str:
        return "0700" if self.executable else "0600" if self.secret else "0644"


@dataclass(frozen=True)
class PgHost:
    """A PostgreSQL host: the major version, its data volume's ID, the vault writer's keys, server settings."""

    version: str
    data_volume_id: str
    access_key: str
    secret_key: str
    settings: Mapping[str, str]
    region: str = "us-east-1"


def cluster_dir(version: str) -> str:
    return f"{DATA_MOUNT}/{version}/{CLUSTER}"


def base_script(host: PgHost) -> str:
    """The bash script that installs PostgreSQL and barman-cli-cloud and starts the cluster on the data volume."""
    version, volume = host.version, host.data_volume_id
    return f"""#!/bin/bash
# multidc: PostgreSQL {version} on the data volume {volume}, barman-cli-cloud, the vault's keys.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
VERSION={version}
VOLUME_ID={volume}

# The data volume, attached at boot: virtio names it by the first 20 characters of its ID.
disk=""
for attempt in $(seq 1 60); do
  disk=$(ls /dev/disk/by-id/*"${{VOLUME_ID:0:20}}"* 2>/dev/null | head -n 1 || true)
  [ -n "$disk" ] && break
  sleep 5
done
if [ -z "$disk" ]; then
  echo "multidc: data volume $VOLUME_ID is not attached after 300 s" >&2
  exit 1
fi
# A file system only on a blank volume: a replaced host keeps the cluster it finds there.
blkid "$disk" >/dev/null || mkfs.ext4 -q -L pgdata "$disk"
mkdir -p {DATA_MOUNT}
grep -q " {DATA_MOUNT} " /etc/fstab || echo "$disk {DATA_MOUNT} ext4 defaults,nofail 0 2" >> /etc/fstab
mountpoint -q {DATA_MOUNT} || mount {DATA_MOUNT}

# PostgreSQL $VERSION from the PostgreSQL project's apt repository; no cluster on the boot disk.
apt-get update -q
apt-get install -y -q postgresql-common
sed -i -E 's/^#? *create_main_cluster *=.*/create_main_cluster = false/' /etc/postgresql-common/createcluster.conf
/usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y
apt-get install -y -q "postgresql-$VERSION" barman-cli-cloud
chown postgres:postgres {DATA_MOUNT}
if [ ! -d "/etc/postgresql/$VERSION/{CLUSTER}" ]; then
  # Creates the cluster on the volume, or takes in the one a previous host left there.
  pg_createcluster "$VERSION" {CLUSTER} -d "{DATA_MOUNT}/$VERSION/{CLUSTER}"
fi
install -o postgres -g postgres -m 0644 {SETTINGS} "/etc/postgresql/$VERSION/{CLUSTER}/conf.d/multidc.conf"
chown postgres:postgres {CREDENTIALS}
chmod 0600 {CREDENTIALS}
systemctl enable "postgresql@$VERSION-{CLUSTER}"
systemctl restart "postgresql@$VERSION-{CLUSTER}"
"""


def _literal(text: str) -> LiteralScalarString:
    return LiteralScalarString(text)


def cloud_config(host: PgHost, *, files: Sequence[CloudFile] = (), scripts: Sequence[str] = ()) -> str:
    """The ``#cloud-config`` user data: the base install, then each of ``scripts`` (paths among ``files``)."""
    written = [
        CloudFile(CREDENTIALS, credentials_text(host.access_key, host.secret_key, host.region), secret=True),
        CloudFile(SETTINGS, conf_text(host.settings)),
        CloudFile(f"{CONFIG_DIR}/pg-host.sh", base_script(host), executable=True),
        *files,
    ]
    document = {
        "write_files": [{"path": f.path, "owner": "root:root", "permissions": f.permissions,
                         "content": _literal(f.content)} for f in written],
        "runcmd": [["bash", f"{CONFIG_DIR}/pg-host.sh"], *(["bash", script] for script in scripts)],
    }
    out = StringIO()
    yaml = YAML()
    yaml.width = 4096
    yaml.dump(document, out)
    return HEADER + out.getvalue()
