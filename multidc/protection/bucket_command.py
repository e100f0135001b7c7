"""`multidc restore` of a bucket: plan from the live bucket's versions or the vault copy, then apply.

The restore itself is ``bucket_restore``'s tested library code; this module chooses the
source (``--from versions|vault|auto``), plans read-only and refuses when no copy is older than T.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from botocore.exceptions import BotoCoreError, ClientError

from multidc.protection.bucket_restore import (
    Action,
    NoCopyBeforeError,
    ObjectVersion,
    RestoreIncompleteError,
    RestorePlan,
    apply_restore,
    current_objects,
    list_versions,
    plan_restore,
)
from multidc.protection.locate import SystemData
from multidc.protection.restore_inputs import Endpoint, Refused, UsageError, connect, why_failed


def _present(plan: RestorePlan) -> set[str]:
    """Keys that existed at the plan's T (restored or already right)."""
    return {k.key for k in plan.keys if k.action is not Action.delete}


def choose_source(versions: Optional[RestorePlan], vault: Optional[RestorePlan]) -> tuple[str, str]:
    """Which copy ``--from auto`` restores from, and why; None means that source has no copy before T.

    The live bucket's own versions are preferred: they are in the same site and newer than
    the vault's last copy. But an attacker with the live site's keys may have deleted old
    versions of some keys; a key the vault held before T that has no version before T in
    the live bucket proves that, and then the vault is used.
    """
    if versions is None and vault is None:
        raise ValueError("choose_source needs at least one plan")
    if versions is None:
        return "vault", "the live bucket has no version older than T (deleted, or younger than T)"
    if vault is None:
        return "versions", "the live bucket has versions older than T and the vault has none to offer"
    lost = sorted(_present(vault) - _present(versions))
    if lost:
        return "vault", (f"{len(lost)} key(s) the vault held before T have no version before T in the live "
                         f"bucket (e.g. {lost[0]!r}): their history was deleted there")
    return "versions", "the live bucket has a version older than T of every key the vault held before T"


@dataclass(frozen=True)
class BucketRestore:
    """A planned bucket restore: the plan, its source and target, and why that source."""

    plan: RestorePlan
    source: str  # "versions" or "vault"
    reason: str
    target: Endpoint
    source_endpoint: Endpoint

    def changes(self) -> dict[str, int]:
        return {"restore": len(self.plan.with_action(Action.restore)),
                "delete_mark": len(self.plan.with_action(Action.delete)),
                "keep": len(self.plan.with_action(Action.keep)), "bytes": self.plan.bytes_to_copy}


def plan_bucket(data: SystemData, site: str, before: dt.datetime, source: str,
                endpoints: Mapping[str, str], env: Mapping[str, str]) -> BucketRestore:
    """List versions and plan the restore of ``site``'s live bucket; reads only.

    Raises ``Refused`` (naming the system, T and the oldest copy of each source) when the
    chosen source, or every source for ``auto``, has no copy older than T.
    """
    target = connect(data.live_bucket(site), endpoints, env)
    if source == "vault" and data.vault is None:
        raise UsageError(f"--from vault: system {data.system!r} has no backup policy, so no vault; "
                         "use --from versions, or add backup: to the system in the spec")
    vault = connect(data.vault, endpoints, env) if data.vault is not None and source != "versions" else None
    live_versions = _listing(target)
    listings = {"the live bucket": live_versions}
    plans: dict[str, Optional[RestorePlan]] = {"versions": None, "vault": None}
    if source in ("versions", "auto"):
        plans["versions"] = _plan_or_none(live_versions, before, None)
    if vault is not None:
        vault_versions = _listing(vault, "" if source == "vault" else " (pass --from versions to restore without it)")
        listings[f"the vault {vault}"] = vault_versions
        plans["vault"] = _plan_or_none(vault_versions, before, current_objects(live_versions))
    if plans["versions"] is None and plans["vault"] is None:
        oldest = "; ".join(
            f"oldest version in {where}: {min(v.last_modified for v in found).isoformat()}" if found
            else f"{where} is empty" for where, found in listings.items())
        raise Refused(f"system {data.system!r} in {site}: no copy older than {before.isoformat()} exists "
                      f"({oldest}); nothing was changed. Pick a later --before.")
    if source == "auto":
        chosen, reason = choose_source(plans["versions"], plans["vault"])
    else:
        chosen, reason = source, f"--from {source}"
    plan = plans[chosen]
    assert plan is not None  # --from X plans only X, refused above; auto never picks a source without one
    source_endpoint = target if chosen == "versions" else vault
    assert source_endpoint is not None
    return BucketRestore(plan, chosen, reason, target, source_endpoint)


def _listing(endpoint: Endpoint, hint: str = "") -> list[ObjectVersion]:
    try:
        return list_versions(endpoint.client, endpoint.location.bucket)
    except (BotoCoreError, ClientError) as error:
        raise Refused(f"cannot list the versions of {endpoint}: {why_failed(error, endpoint)}; "
                      f"nothing was changed{hint}") from None


def _plan_or_none(versions: list[ObjectVersion], before: dt.datetime,
                  target_current: Optional[dict[str, ObjectVersion]]) -> Optional[RestorePlan]:
    try:
        return plan_restore(versions, before, target_current=target_current)
    except NoCopyBeforeError:
        return None


def bucket_summary(restore: BucketRestore) -> str:
    source = ("its own object versions" if restore.source == "versions"
              else f"the vault copy {restore.source_endpoint}")
    return (f"target: {restore.target}\nsource: {source} ({restore.reason})\n"
            f"plan:   {restore.plan.summary()}")


def apply_bucket(restore: BucketRestore) -> dict[str, Any]:
    """Carry out the confirmed plan; every copied object's MD5 is verified by the library."""
    try:
        report = apply_restore(
            restore.plan,
            source_s3=restore.source_endpoint.client, source_bucket=restore.source_endpoint.location.bucket,
            target_s3=restore.target.client, target_bucket=restore.target.location.bucket)
    except RestoreIncompleteError as error:
        raise Refused(str(error)) from error
    return {"restored": report.restored, "delete_marked": report.deleted, "kept": report.kept,
            "bytes_copied": report.bytes_copied, "seconds": round(report.seconds, 3), "failures": report.failures}


