"""The binlog archive of one MySQL/MariaDB system, run where the customer controls it: the offsite site's
runner cluster.

A managed server (Trove) gives no shell, so nothing runs beside it. The archive is a replication
client instead, in the offsite site (the site that keeps the vault):

- a **Deployment** (one replica, ``Recreate``: never two streamers at once) with two containers
  sharing a scratch volume: the streamer (``mariadb-binlog``/``mysqlbinlog --read-from-remote-server
  --raw --stop-never``, the engine's own image) and the uploader (rclone, every
  ``BINLOG_UPLOAD_INTERVAL_S`` seconds, the new bytes of each file as an append-only piece). Their
  programs are ``protection.binlog_archive``'s, the ones a local deployment runs;
- a **CronJob** on the spec's schedule taking the base backup: a dump (``mariadb-dump``/``mysqldump
  --single-transaction`` with the binlog position). mariadb-backup would need the server's data
  directory, which a managed server does not give: on Trove a base backup is a dump;
- the uploads use the **archive writer's keys** (``ArchiveAccess``: may put and read, the vault's bucket
  policy denies it every delete and unlock), in a Secret of their own;
- the server login both use is ``BINLOG_ARCHIVER_LOGIN`` with a generated password (a secret, in a
  Secret here). Trove creates only database-scoped users: the login itself is created once by an
  operator with the instance's root (docs/ransomware.md gives the statements); until then the
  streamer retries every 2 s and the CronJob fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from multidc.components import k8s_workloads as kw
from multidc.components.common import bounded_name, cron_job, k8s_name, s3_credentials_secret
from multidc.contract import (
    BINLOG_ARCHIVE,
    BINLOG_ARCHIVE_LAG_S,
    BINLOG_ARCHIVE_TOOL,
    BINLOG_ARCHIVER_LOGIN,
    BINLOG_BASE_DIR,
    BINLOG_LOG_DIR,
    BINLOG_UPLOAD_INTERVAL_S,
)
from multidc.protection import binlog_archive as programs
from multidc.protection.rclone import DESTINATION_REMOTE, RCLONE_IMAGE

# The engine's own client image per version: its binlog streamer and dump know its binlog format.
IMAGES = {
    "8.0": "mysql:8.0.39", "8.4": "mysql:8.4.2",
    "10.6": "mariadb:10.6.20", "10.11": "mariadb:10.11.10", "11.4": "mariadb:11.4.4",
}
DEFAULT_IMAGE = IMAGES["8.0"]  # Trove's `mysql` datastore default (components/database.py)
BINLOG_VOLUME, BINLOG_PATH = "binlog", "/binlog"
BACKUP_VOLUME, BACKUP_PATH = "backup", "/backup"


def image_and_tools(version: str) -> tuple[str, programs.Tools]:
    """The client image of an engine version and its tools' names (MariaDB's or MySQL's)."""
    image = IMAGES.get(version, DEFAULT_IMAGE)
    return image, programs.MARIADB if image.startswith("mariadb:") else programs.MYSQL


@dataclass(frozen=True)
class BinlogArchiveArgs:
    """Where the archive runs and what it reads and writes."""

    system: str
    engine_version: str
    namespace: pulumi.Input[str]
    """The backup namespace in the offsite site's runner cluster."""
    db_host: pulumi.Input[str]
    db_port: int
    endpoint: str
    """The vault's S3 endpoint (offsite site)."""
    vault: str
    prefix: str
    writer_access_key: pulumi.Input[str]
    writer_secret_key: pulumi.Input[str]
    schedule: str
    volume_gb: int
    provider: pulumi.ProviderResource
    """The runner cluster's Kubernetes provider."""
    random_provider: pulumi.ProviderResource


class BinlogArchive(pulumi.ComponentResource):
    """The streamer and uploader Deployment, the base-backup CronJob, and their Secrets."""

    deployment: k8s.apps.v1.Deployment
    base_backup: k8s.batch.v1.CronJob
    login_password: pulumi.Output[str]
    """The generated password of ``BINLOG_ARCHIVER_LOGIN`` (a secret), which the operator sets on the server."""

    def __init__(self, name: str, args: BinlogArchiveArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        root = programs.system_prefix(args.system, args.prefix)
        contract: dict[str, Any] = {"system": args.system, "tool": BINLOG_ARCHIVE_TOOL, "vault": args.vault,
                                    "prefix": args.prefix, "lag_s": BINLOG_ARCHIVE_LAG_S,
                                    "login": BINLOG_ARCHIVER_LOGIN}
        super().__init__(BINLOG_ARCHIVE, name, contract, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        image, tools = image_and_tools(args.engine_version)
        password = random.RandomPassword(f"{name}-login-password", length=32, special=False,
                                         opts=pulumi.ResourceOptions(parent=self, provider=args.random_provider,
                                                                     additional_secret_outputs=["result"]))
        self.login_password = pulumi.Output.secret(password.result)
        login = k8s.core.v1.Secret(
            f"{name}-login", metadata={"name": k8s_name("binlog", args.system, "login"), "namespace": args.namespace},
            string_data={"password": self.login_password}, opts=child).metadata.name
        writer = s3_credentials_secret(f"{name}-writer-keys", args.namespace,
                                       args.writer_access_key, args.writer_secret_key, child).metadata.name
        database_env = [
            {"name": "DB_HOST", "value": args.db_host}, {"name": "DB_PORT", "value": str(args.db_port)},
            {"name": "DB_USER", "value": BINLOG_ARCHIVER_LOGIN},
            {"name": "MYSQL_PWD", "value_from": {"secret_key_ref": {"name": login, "key": "password"}}},
        ]
        directory = {"name": "BINLOG_DIR", "value": BINLOG_PATH}
        streamer = _shell(kw.container("streamer", image, args=[programs.streamer_script(tools)], cpu="200m",
                                       memory="256Mi", env=[*database_env, directory]), "sh")
        destination = f"{DESTINATION_REMOTE}:{args.vault}/{root}/{BINLOG_LOG_DIR}"
        uploader = _shell(kw.container("uploader", RCLONE_IMAGE, args=[programs.uploader_script()], cpu="200m",
                                       memory="256Mi", env=[
                                           *rclone_env(args.endpoint, args.vault, writer), directory,
                                           {"name": "DEST", "value": destination},
                                           {"name": "INTERVAL", "value": str(BINLOG_UPLOAD_INTERVAL_S)}]), "sh")
        binlog_mount = {"name": BINLOG_VOLUME, "mount_path": BINLOG_PATH}
        for container in (streamer, uploader):
            container["volume_mounts"] = [*container["volume_mounts"], binlog_mount]
        # Streaming (the streamer's marker exists; 5 minutes of retries allowed) and uploading (a round within
        # three intervals and a minute): otherwise the container is restarted.
        streamer.update(_probes(f"test -e {BINLOG_PATH}/.streaming", failures=30))
        uploader.update(_probes(f'test $(( $(date +%s) - $(stat -c %Y {BINLOG_PATH}/.alive) )) -lt '
                                f"{3 * BINLOG_UPLOAD_INTERVAL_S + 60}", failures=6))
        pod = kw.pod_spec([streamer, uploader])
        pod["volumes"] = [*pod["volumes"], {"name": BINLOG_VOLUME, "empty_dir": {"size_limit": "20Gi"}}]
        object_name = bounded_name(63, k8s_name("binlog-archive", args.system))
        labels = kw.labels(object_name, "binlog-archive", args.system)
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-streamer",
            metadata={"name": object_name, "namespace": args.namespace, "labels": labels},
            spec={"replicas": 1, "strategy": {"type": "Recreate"}, "selector": {"match_labels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": pod}},
            opts=child)

        dump = _shell(kw.container("dump", image, args=[programs.dump_script(tools)], cpu="500m", memory="1Gi",
                                   env=[*database_env, {"name": "BACKUP_DIR", "value": BACKUP_PATH}]), "bash")
        upload = _shell(kw.container("upload", RCLONE_IMAGE, args=[
            f"exec rclone copy {BACKUP_PATH} {DESTINATION_REMOTE}:{args.vault}/{root}/{BINLOG_BASE_DIR} --retries 3"],
            cpu="500m", memory="512Mi", env=rclone_env(args.endpoint, args.vault, writer)), "sh")
        backup_mount = {"name": BACKUP_VOLUME, "mount_path": BACKUP_PATH}
        for container in (dump, upload):
            container["volume_mounts"] = [*container["volume_mounts"], backup_mount]
        scratch = {"name": BACKUP_VOLUME, "empty_dir": {"size_limit": f"{args.volume_gb}Gi"}}
        self.base_backup = cron_job(f"{name}-base", args.namespace, args.schedule, [upload], child,
                                    init_containers=[dump], volumes=[scratch])
        self.register_outputs({**contract, "login_password": self.login_password})


def _probes(check: str, *, failures: int) -> dict[str, Any]:
    probe = {"exec": {"command": ["sh", "-c", check]}, "period_seconds": 10, "timeout_seconds": 5,
             "failure_threshold": failures}
    return {"readiness_probe": probe, "liveness_probe": probe,
            "startup_probe": {**probe, "failure_threshold": 30}}


def _shell(container: dict[str, Any], shell: str) -> dict[str, Any]:
    """The container runs its program through ``shell -c`` (whatever the image's entrypoint)."""
    if shell == "bash":
        container["command"] = ["bash", "-o", "pipefail", "-c"]
    else:
        container["command"] = [shell, "-c"]
    return container


def rclone_env(endpoint: str, vault: str, keys_secret: pulumi.Input[str]) -> list[dict[str, Any]]:
    """rclone's DST remote on the vault, its keys from ``keys_secret`` (``access_key``, ``secret_key``)."""
    plain = [{"name": k, "value": v} for k, v in sorted(programs.rclone_destination_env(endpoint, vault).items())]
    return [*plain,
            {"name": f"RCLONE_CONFIG_{DESTINATION_REMOTE}_ACCESS_KEY_ID",
             "value_from": {"secret_key_ref": {"name": keys_secret, "key": "access_key"}}},
            {"name": f"RCLONE_CONFIG_{DESTINATION_REMOTE}_SECRET_ACCESS_KEY",
             "value_from": {"secret_key_ref": {"name": keys_secret, "key": "secret_key"}}}]
