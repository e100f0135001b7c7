"""Where a system's data lives, read from the deployed stack's outputs document.

A restore must act on what is deployed, so this module never rebuilds a bucket name or an
endpoint from the spec and never plans the stack again: it reads the outputs document
(`multidc.ops.outputs`) that `pulumi up` exports or `multidc local up` writes. The live
buckets are `systems.<system>.placements.<site>.bucket`, the vault is
`systems.<system>.backup.vault`, the S3 keys are `sites.<site>.s3` and the databases are
`systems.<system>.placements.<site>.database`. Pure functions over a ``StackOutputs``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from pydantic import SecretStr

from multidc.ops.outputs import Archive, Bucket, Database, DelayedStandby, StackOutputs


class LocateError(ValueError):
    """The outputs do not hold what a restore needs; the message names the input and the fix."""


def _reveal(value: Optional[SecretStr]) -> Optional[str]:
    return None if value is None else value.get_secret_value()


@dataclass(frozen=True)
class BucketLocation:
    """One deployed bucket: in which site, on which endpoint, with the site's keys from the outputs.

    The keys are None where the outputs hold none (printed without ``--show-secrets``).
    """

    site: str
    bucket: str
    endpoint: str
    region: str
    object_lock_mode: Optional[str] = None
    access_key: Optional[str] = field(default=None, repr=False)
    secret_key: Optional[str] = field(default=None, repr=False)


@dataclass(frozen=True)
class SystemData:
    """Where one system's data lives: its placements, live buckets, backup vault and databases."""

    system: str
    kind: str
    sites: tuple[str, ...]
    live_buckets: dict[str, BucketLocation]  # by site; bucket systems only
    vault: Optional[BucketLocation]  # None when the system has no backup policy
    backup_mechanism: Optional[str]  # pg-dump, rclone-copy, velero, ... (the backup's `mechanism`)
    databases: dict[str, Database] = field(default_factory=dict, repr=False)  # by site; may hold a password
    archive: Optional[Archive] = None  # PostgreSQL WAL archived continuously into the vault
    delayed_standby: Optional[DelayedStandby] = None  # PostgreSQL: a standby replaying the vault D behind

    def live_bucket(self, site: str) -> BucketLocation:
        """The live bucket in ``site``; a LocateError names the sites that have one."""
        if site not in self.live_buckets:
            raise LocateError(
                f"--site {site}: the outputs give system {self.system!r} no bucket there "
                f"(systems.{self.system}.placements.{site}.bucket); its buckets are in "
                f"{', '.join(sorted(self.live_buckets)) or 'no site'}")
        return self.live_buckets[site]

    def database(self, site: str) -> Database:
        """The database of ``site``; a LocateError names the sites that have one and the way around."""
        if site not in self.databases:
            raise LocateError(
                f"--site {site}: the outputs give system {self.system!r} no database there "
                f"(systems.{self.system}.placements.{site}.database); databases are in "
                f"{', '.join(sorted(self.databases)) or 'no site'}. Give the database to restore into "
                "with --target-dsn")
        return self.databases[site]


def _location(outputs: StackOutputs, site: str, bucket: Bucket,
              object_lock_mode: Optional[str] = None) -> BucketLocation:
    keys = outputs.sites[site].s3 if site in outputs.sites else None
    return BucketLocation(
        site=site, bucket=bucket.bucket, endpoint=bucket.endpoint, region=bucket.region or "us-east-1",
        object_lock_mode=object_lock_mode, access_key=_reveal(keys.access_key) if keys else None,
        secret_key=_reveal(keys.secret_key) if keys else None)


def locate(outputs: StackOutputs, system: str) -> SystemData:
    """Find where ``system``'s data lives in the deployed stack's outputs.

    Raises ``OutputsError`` when the stack has no such system (naming the systems it has).
    """
    found = outputs.system(system)
    live = {site: _location(outputs, site, placement.bucket)
            for site, placement in found.placements.items() if placement.bucket is not None}
    databases = {site: placement.database for site, placement in found.placements.items()
                 if placement.database is not None}
    backup = found.backup
    vault = _location(outputs, backup.site, backup.vault, backup.object_lock_mode) if backup is not None else None
    return SystemData(
        system=system, kind=found.kind, sites=tuple(found.sites), live_buckets=live, vault=vault,
        backup_mechanism=backup.mechanism if backup is not None else None, databases=databases,
        archive=backup.archive if backup is not None else None,
        delayed_standby=backup.delayed_standby if backup is not None else None)
