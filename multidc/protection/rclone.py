"""Cross-site bucket copies with rclone: the arguments, the CronJob container, a local runner.

One function, ``rclone_command``, decides what rclone is told to do. The Kubernetes CronJob
that pulls copies into the destination site (declared by the copy-job component) and
``run_copy`` (tests, the DR drill, benchmarks) both take their arguments and environment from
it, so what is rehearsed locally is what runs in the cluster.

Connection details go into rclone's on-the-fly remotes through ``RCLONE_CONFIG_<NAME>_*``
environment variables rather than ``:s3,endpoint=...:`` connection strings, so keys never
appear on a command line (``ps``, pod specs, shell history); in the CronJob they come from a
Kubernetes Secret.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Mapping, Optional, Sequence

RCLONE_IMAGE = "rclone/rclone:1.68.2"
SOURCE_REMOTE = "SRC"
DESTINATION_REMOTE = "DST"
SECRET_ACCESS_KEY_FIELD = "access_key"
SECRET_SECRET_KEY_FIELD = "secret_key"


# rclone's version_at keeps versions written at or before its time; a restore keeps versions strictly
# before T. S3 listings give times in whole seconds, so T minus a millisecond chooses the same version.
VERSION_AT_MARGIN = dt.timedelta(milliseconds=1)


def version_at(before: dt.datetime) -> str:
    """rclone's ``version_at`` (``--s3-version-at``) that shows a bucket as it was strictly before ``before``."""
    moment = (before - VERSION_AT_MARGIN).astimezone(dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class RcloneError(RuntimeError):
    """rclone is missing, failed, or ran out of time; the message says which and how to fix it."""


class CopyMode(str, Enum):
    """``copy`` adds and updates only; ``sync`` also deletes what the source no longer has."""

    copy = "copy"
    sync = "sync"


@dataclass(frozen=True)
class S3Location:
    """A bucket (and optional prefix) on one site's S3-compatible endpoint.

    Give ``access_key``/``secret_key`` to run rclone here; give ``secret_name`` (a Kubernetes
    Secret with keys ``access_key`` and ``secret_key`` in the job's namespace) for the CronJob.
    """

    endpoint: str
    bucket: str
    prefix: str = ""
    region: str = "us-east-1"
    access_key: Optional[str] = field(default=None, repr=False)
    secret_key: Optional[str] = field(default=None, repr=False)
    secret_name: Optional[str] = None

    @property
    def path(self) -> str:
        prefix = self.prefix.strip("/")
        return f"{self.bucket}/{prefix}" if prefix else self.bucket


def credential_env_names(remote: str) -> tuple[str, str]:
    """The environment variables that carry ``remote``'s access key and secret key."""
    return (f"RCLONE_CONFIG_{remote}_ACCESS_KEY_ID", f"RCLONE_CONFIG_{remote}_SECRET_ACCESS_KEY")


def rclone_command(
    source: S3Location,
    destination: S3Location,
    *,
    mode: CopyMode = CopyMode.copy,
    transfers: int = 16,
    checkers: int = 32,
    checksum: bool = True,
    max_delete: Optional[int] = None,
) -> tuple[list[str], dict[str, str]]:
    """rclone's arguments and environment for copying ``source`` into ``destination`` (S3 to S3).

    ``mode=copy`` (the default, and the only right choice for a backup or the immutable copy)
    adds new objects and new versions of changed objects and never deletes anything on the
    destination. A deletion on the source, whether by mistake, by a ransomware operator who
    deletes the originals after encrypting them, or by a wiper, must not reach the copy that
    exists to undo it: a ``sync`` run after the attack would faithfully mirror the empty
    bucket. Overwrites do reach the destination, as new versions; the previous versions stay
    (the backup bucket is versioned, the immutable copy is object-locked).

    ``mode=sync`` mirrors deletions too. Use it only for a replica meant to look exactly like
    the source at failover (an active-passive bucket's passive side), which is itself
    versioned; ``max_delete`` then caps how many deletions one run may propagate, so a mass
    deletion stops the job instead of emptying the replica.

    ``checksum=True`` compares size and MD5 instead of modification times, which differ
    between two endpoints for the same bytes. The returned env holds credentials only when the
    locations carry them; the argument list never does.
    """
    args = [
        mode.value,
        f"{SOURCE_REMOTE}:{source.path}",
        f"{DESTINATION_REMOTE}:{destination.path}",
        "--transfers", str(transfers),
        "--checkers", str(checkers),
        "--fast-list",
        "--retries", "3",
        "--low-level-retries", "10",
        "--stats", "30s",
        "--stats-one-line",
        "--stats-log-level", "NOTICE",
    ]
    if checksum:
        args.append("--checksum")
    if mode is CopyMode.sync and max_delete is not None:
        args += ["--max-delete", str(max_delete)]
    # /dev/null means an in-memory config: nothing read from or written to disk, so the
    # container runs with a read-only root filesystem and a developer's
    # ~/.config/rclone cannot change a local run.
    env: dict[str, str] = {"RCLONE_CONFIG": "/dev/null"}
    for remote, location in ((SOURCE_REMOTE, source), (DESTINATION_REMOTE, destination)):
        prefix = f"RCLONE_CONFIG_{remote}_"
        env.update({
            prefix + "TYPE": "s3",
            prefix + "PROVIDER": "Other",
            prefix + "ENDPOINT": location.endpoint,
            prefix + "REGION": location.region,
            prefix + "FORCE_PATH_STYLE": "true",
            # Buckets are declared by Pulumi; the copy job must never create one (and may
            # lack the right to).
            prefix + "NO_CHECK_BUCKET": "true",
            prefix + "ENV_AUTH": "false",
        })
        access_name, secret_name = credential_env_names(remote)
        if location.access_key is not None:
            env[access_name] = location.access_key
        if location.secret_key is not None:
            env[secret_name] = location.secret_key
    return args, env


def cronjob_container(
    source: S3Location,
    destination: S3Location,
    *,
    name: str = "rclone-copy",
    mode: CopyMode = CopyMode.copy,
    transfers: int = 16,
    checkers: int = 32,
    max_delete: Optional[int] = None,
    image: str = RCLONE_IMAGE,
    cpu: str = "500m",
    memory: str = "512Mi",
) -> dict[str, Any]:
    """The container of the pull CronJob in the destination site, as a ``ContainerArgsDict``.

    Pass it to ``pulumi_kubernetes.core.v1`` (``containers=[cronjob_container(...)]``). Both
    locations need ``secret_name``: the keys come from those Secrets through ``secretKeyRef``
    and never appear in the manifest. Args and plain env come from ``rclone_command``.
    """
    for role, location in (("source", source), ("destination", destination)):
        if not location.secret_name:
            raise ValueError(
                f"{role} {location.bucket!r} on {location.endpoint} has no secret_name: the CronJob "
                "reads S3 keys from a Kubernetes Secret (keys 'access_key' and 'secret_key'); "
                "create one in the job's namespace and pass its name"
            )
    plain_source = S3Location(source.endpoint, source.bucket, source.prefix, source.region)
    plain_destination = S3Location(destination.endpoint, destination.bucket, destination.prefix, destination.region)
    args, env = rclone_command(
        plain_source, plain_destination,
        mode=mode, transfers=transfers, checkers=checkers, max_delete=max_delete,
    )
    env_list: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in sorted(env.items())]
    for remote, location in ((SOURCE_REMOTE, source), (DESTINATION_REMOTE, destination)):
        access_name, secret_name = credential_env_names(remote)
        for env_name, key in ((access_name, SECRET_ACCESS_KEY_FIELD), (secret_name, SECRET_SECRET_KEY_FIELD)):
            env_list.append({
                "name": env_name,
                "value_from": {"secret_key_ref": {"name": location.secret_name, "key": key}},
            })
    return {
        "name": name,
        "image": image,
        "args": args,
        "env": env_list,
        "resources": {
            "requests": {"cpu": cpu, "memory": memory},
            "limits": {"memory": memory},
        },
        "security_context": {
            "run_as_non_root": True,
            "run_as_user": 65534,
            "allow_privilege_escalation": False,
            "read_only_root_filesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }


@dataclass(frozen=True)
class CopyResult:
    """What a local rclone run did: its wall time and rclone's log (never the credentials)."""

    seconds: float
    log: str


def run_copy(
    source: S3Location,
    destination: S3Location,
    *,
    mode: CopyMode = CopyMode.copy,
    transfers: int = 16,
    checkers: int = 32,
    max_delete: Optional[int] = None,
    timeout: float = 3600.0,
    rclone_binary: str = "rclone",
    extra_args: Sequence[str] = (),
    extra_env: Optional[Mapping[str, str]] = None,
) -> CopyResult:
    """Run the local rclone binary with ``rclone_command``'s arguments; block until done.

    ``extra_args``/``extra_env`` narrow one run (a restore's ``--files-from-raw`` and the
    source's ``VERSION_AT``); credentials never go into them.

    Not atomic: an interrupted run leaves some objects copied; rerunning is idempotent
    (``--checksum`` skips what already matches). Killed after ``timeout`` seconds.
    """
    binary = shutil.which(rclone_binary)
    if binary is None:
        raise RcloneError(
            f"rclone binary {rclone_binary!r} not found on PATH; install it with "
            "`apt-get install rclone` (Debian/Ubuntu) or from https://rclone.org/install/"
        )
    args, env = rclone_command(
        source, destination, mode=mode, transfers=transfers, checkers=checkers, max_delete=max_delete,
    )
    args = [*args, *extra_args]
    env = {**env, **(extra_env or {})}
    # The caller's AWS_* settings belong to other tools: AWS_CA_BUNDLE, for one, makes
    # rclone's S3 client fail ("unable to load custom CA bundle") on plain-HTTP endpoints.
    run_env = {k: v for k, v in os.environ.items() if not k.startswith(("RCLONE_", "AWS_"))}
    run_env.update(env)
    started = time.monotonic()
    try:
        completed = subprocess.run(
            [binary, *args],
            env=run_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise RcloneError(
            f"rclone {mode.value} {source.path} -> {destination.path} did not finish within "
            f"{timeout:.0f}s; rerun it (copies resume) or raise the timeout"
        ) from None
    seconds = time.monotonic() - started
    log = (completed.stdout + completed.stderr).strip()
    if completed.returncode != 0:
        raise RcloneError(
            f"rclone {mode.value} {source.endpoint}/{source.path} -> "
            f"{destination.endpoint}/{destination.path} failed with exit code "
            f"{completed.returncode}:\n{log[-3000:]}"
        )
    return CopyResult(seconds=seconds, log=log)
