"""Put a bucket back the way it was before a time T: the ransomware path.

Two sources of the "before" state:

(a) the bucket's own object versions (``restore_bucket``): the live bucket is versioned, so
    an attacker's overwrites and deletes leave the old bytes as noncurrent versions, for as
    long as the bucket's ``noncurrent_days`` keeps them. Useless if the attacker holds keys
    that can delete versions, or waited longer than ``noncurrent_days``.
(b) the immutable offsite copy in another site (``restore_from_copy``): a bucket under
    COMPLIANCE object lock, fed by ``write_immutable_copy`` (or by the rclone copy job). Its
    versions cannot be deleted by anyone, stolen keys included, until their retention ends.

Both go the same way: list versions, compute a ``RestorePlan`` with the pure function
``plan_restore`` (which refuses, before anything is touched, when no copy older than T
exists), then ``apply_restore`` copies in parallel and verifies every object's MD5 end to end.

Keys that did not exist at T (an attacker's ransom notes, or legitimate objects written after
T) are *delete-marked*, not destroyed: in a versioned bucket a plain DeleteObject hides the
key and keeps its bytes as a noncurrent version, so nothing written after T is lost for good
and a restore to the wrong T can itself be undone. Restored objects become new current
versions; the attacker's versions stay behind as noncurrent versions (evidence) until the
lifecycle expires them.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Iterable, Mapping, Optional

from botocore.exceptions import ClientError

# Objects up to this size are copied in one PutObject; larger ones in parts of PART_SIZE.
SINGLE_PUT_LIMIT = 16 * 1024 * 1024
PART_SIZE = 16 * 1024 * 1024
# S3's server-side CopyObject limit.
COPY_OBJECT_LIMIT = 5 * 1024 ** 3


class RestoreError(RuntimeError):
    """A restore could not be planned or did not complete."""


class NoCopyBeforeError(RestoreError):
    """No object version older than T exists, so there is nothing to restore from."""


class RestoreIncompleteError(RestoreError):
    """Some keys were not restored or failed verification; ``report`` says which."""

    def __init__(self, message: str, report: "RestoreReport") -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class ObjectVersion:
    """One entry of ListObjectVersions: an object version or a delete marker."""

    key: str
    version_id: str
    last_modified: dt.datetime
    is_latest: bool
    is_delete_marker: bool = False
    etag: Optional[str] = None
    size: int = 0


class Action(str, Enum):
    keep = "keep"  # the target already holds the bytes the key had at T
    restore = "restore"  # copy the version from T over the key
    delete = "delete"  # the key did not exist at T: delete-mark it


@dataclass(frozen=True)
class KeyPlan:
    key: str
    action: Action
    version_id: Optional[str] = None  # the source version to restore (restore and keep)
    etag: Optional[str] = None
    size: int = 0


@dataclass(frozen=True)
class RestorePlan:
    """What a restore to ``before`` will do, key by key. Computing it changes nothing."""

    before: dt.datetime
    keys: tuple[KeyPlan, ...]

    def with_action(self, action: Action) -> list[KeyPlan]:
        return [k for k in self.keys if k.action is action]

    @property
    def bytes_to_copy(self) -> int:
        return sum(k.size for k in self.with_action(Action.restore))

    def summary(self) -> str:
        counts = {a.value: len(self.with_action(a)) for a in Action}
        return (f"restore to before {self.before.isoformat()}: {counts['restore']} objects to copy "
                f"({self.bytes_to_copy / 2**20:.1f} MiB), {counts['delete']} to delete-mark, "
                f"{counts['keep']} already right")


@dataclass
class RestoreReport:
    """What ``apply_restore`` did. ``failures`` maps key to reason; empty means all verified."""

    plan: RestorePlan
    restored: int = 0
    deleted: int = 0
    kept: int = 0
    bytes_copied: int = 0
    seconds: float = 0.0
    failures: dict[str, str] = field(default_factory=dict)


def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError(f"restore time {moment.isoformat()} has no time zone; pass an aware "
                         "datetime, e.g. datetime(..., tzinfo=timezone.utc)")
    return moment.astimezone(dt.timezone.utc)


def list_versions(s3: Any, bucket: str, prefix: str = "") -> list[ObjectVersion]:
    """Every version and delete marker under ``prefix``, in S3's order (per key, newest first)."""
    found: list[ObjectVersion] = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Versions", []):
            found.append(ObjectVersion(
                key=entry["Key"], version_id=entry.get("VersionId") or "null",
                last_modified=entry["LastModified"], is_latest=entry.get("IsLatest", False),
                etag=entry.get("ETag", "").strip('"') or None, size=entry.get("Size", 0),
            ))
        for entry in page.get("DeleteMarkers", []):
            found.append(ObjectVersion(
                key=entry["Key"], version_id=entry.get("VersionId") or "null",
                last_modified=entry["LastModified"], is_latest=entry.get("IsLatest", False),
                is_delete_marker=True,
            ))
    return found


def current_objects(versions: Iterable[ObjectVersion]) -> dict[str, ObjectVersion]:
    """The live object of each key (latest version, unless that is a delete marker)."""
    return {v.key: v for v in versions if v.is_latest and not v.is_delete_marker}


def plan_restore(
    source_versions: Iterable[ObjectVersion],
    before: dt.datetime,
    *,
    target_current: Optional[Mapping[str, ObjectVersion]] = None,
) -> RestorePlan:
    """For each key, the newest source version older than ``before``; pure, changes nothing.

    ``target_current`` is what the bucket being restored holds now; leave it None when the
    source *is* that bucket (case a), and "already right" is then judged by version ID. For a
    restore from another bucket it is judged by ETag and size. Keys present in the target but
    absent at ``before`` in the source are planned for delete-marking.

    Raises ``NoCopyBeforeError`` when no object version older than ``before`` exists at all:
    a restore from nothing would only delete-mark everything.
    """
    before = _utc(before)
    versions = list(source_versions)
    same_bucket = target_current is None
    current = current_objects(versions) if same_bucket else dict(target_current or {})

    by_key: dict[str, list[ObjectVersion]] = {}
    for version in versions:
        by_key.setdefault(version.key, []).append(version)

    at_t: dict[str, ObjectVersion] = {}
    for key, key_versions in by_key.items():
        # Stable sort: versions with the same LastModified (S3 keeps whole seconds on some
        # stores) keep S3's listing order, which is newest first.
        ordered = sorted(key_versions, key=lambda v: v.last_modified, reverse=True)
        older = [v for v in ordered if v.last_modified < before]
        if older and not older[0].is_delete_marker:
            at_t[key] = older[0]

    if not at_t:
        oldest = min((v.last_modified for v in versions), default=None)
        raise NoCopyBeforeError(
            f"no object version older than {before.isoformat()} exists"
            + (f" (the oldest version is from {oldest.isoformat()})" if oldest else " (no versions at all)")
            + "; nothing was changed. Pick a later time, or restore from the immutable offsite "
            "copy in another site (restore_from_copy)."
        )

    keys: list[KeyPlan] = []
    for key in sorted(set(at_t) | set(current)):
        source = at_t.get(key)
        now = current.get(key)
        if source is None:
            keys.append(KeyPlan(key, Action.delete))
        elif now is not None and _same_object(source, now, same_bucket):
            keys.append(KeyPlan(key, Action.keep, source.version_id, source.etag, source.size))
        else:
            keys.append(KeyPlan(key, Action.restore, source.version_id, source.etag, source.size))
    return RestorePlan(before=before, keys=tuple(keys))


def _same_object(source: ObjectVersion, now: ObjectVersion, same_bucket: bool) -> bool:
    if same_bucket:
        return source.version_id == now.version_id
    return source.etag is not None and source.etag == now.etag and source.size == now.size


def apply_restore(
    plan: RestorePlan,
    *,
    source_s3: Any,
    source_bucket: str,
    target_s3: Any,
    target_bucket: str,
    workers: int = 16,
) -> RestoreReport:
    """Carry out ``plan`` with ``workers`` threads and verify each copied object's MD5.

    Same client and bucket: server-side CopyObject of the old version (new current version).
    Otherwise each object streams from source to target (GET, then PUT or multipart upload),
    its MD5 computed on the way; the target's returned ETag must match it, and the MD5 must
    match the source version's ETag when that is a plain MD5. Not atomic: on failure the keys
    already restored stay restored, the others are listed in the raised
    ``RestoreIncompleteError``; rerunning the restore with the same T is idempotent.
    Clients must allow ``workers`` connections (botocore ``max_pool_connections``).
    """
    report = RestoreReport(plan=plan, kept=len(plan.with_action(Action.keep)))
    same_place = source_s3 is target_s3 and source_bucket == target_bucket
    started = time.monotonic()

    def restore_one(item: KeyPlan) -> tuple[KeyPlan, Optional[str]]:
        try:
            if item.action is Action.delete:
                target_s3.delete_object(Bucket=target_bucket, Key=item.key)
            elif same_place and item.size <= COPY_OBJECT_LIMIT:
                _copy_in_place(target_s3, target_bucket, item)
            else:
                _stream_copy(source_s3, source_bucket, target_s3, target_bucket, item)
            return item, None
        except Exception as error:  # one key's failure must not stop the others
            return item, f"{type(error).__name__}: {error}"

    work = plan.with_action(Action.restore) + plan.with_action(Action.delete)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for item, failure in pool.map(restore_one, work):
            if failure:
                report.failures[item.key] = failure
            elif item.action is Action.delete:
                report.deleted += 1
            else:
                report.restored += 1
                report.bytes_copied += item.size
    report.seconds = time.monotonic() - started
    if report.failures:
        first = next(iter(report.failures.items()))
        raise RestoreIncompleteError(
            f"restore of {target_bucket!r} to before {plan.before.isoformat()} left "
            f"{len(report.failures)} of {len(work)} keys unrestored (e.g. {first[0]!r}: {first[1]}); "
            "the rest were restored and verified. Rerun the restore with the same time.",
            report,
        )
    return report


def _copy_in_place(s3: Any, bucket: str, item: KeyPlan) -> None:
    response = s3.copy_object(
        Bucket=bucket, Key=item.key,
        CopySource={"Bucket": bucket, "Key": item.key, "VersionId": item.version_id},
    )
    etag = response.get("CopyObjectResult", {}).get("ETag", "").strip('"')
    if item.etag and etag != item.etag:
        # A multipart source gets a new ETag when copied whole: compare the bytes instead.
        if _md5_of(s3, bucket, item.key, None) != _md5_of(s3, bucket, item.key, item.version_id):
            raise RestoreError(f"{item.key!r}: restored bytes differ from version {item.version_id}")


def _md5_of(s3: Any, bucket: str, key: str, version_id: Optional[str]) -> str:
    kwargs = {"Bucket": bucket, "Key": key}
    if version_id:
        kwargs["VersionId"] = version_id
    digest = hashlib.md5()
    for chunk in s3.get_object(**kwargs)["Body"].iter_chunks(1024 * 1024):
        digest.update(chunk)
    return digest.hexdigest()


def _stream_copy(
    source_s3: Any, source_bucket: str, target_s3: Any, target_bucket: str, item: KeyPlan,
    **put_extra: Any,
) -> None:
    """GET one version and write it to the target, verifying MD5s end to end."""
    got = source_s3.get_object(Bucket=source_bucket, Key=item.key, VersionId=item.version_id)
    body = got["Body"]
    extra = {k: got[k] for k in ("ContentType", "ContentEncoding", "Metadata") if got.get(k)}
    extra.update(put_extra)
    if item.size <= SINGLE_PUT_LIMIT:
        data = body.read()
        md5 = hashlib.md5(data)
        _check_source(item, md5.hexdigest(), len(data))
        response = target_s3.put_object(
            Bucket=target_bucket, Key=item.key, Body=data,
            ContentMD5=base64.b64encode(md5.digest()).decode(), **extra,
        )
        stored = response["ETag"].strip('"')
        if stored != md5.hexdigest():
            raise RestoreError(f"{item.key!r}: target stored ETag {stored}, sent MD5 {md5.hexdigest()}")
        return
    whole = hashlib.md5()
    part_digests: list[bytes] = []
    upload = target_s3.create_multipart_upload(Bucket=target_bucket, Key=item.key, **extra)
    try:
        parts = []
        number = 0
        size = 0
        while True:
            chunk = body.read(PART_SIZE)
            if not chunk:
                break
            number += 1
            size += len(chunk)
            whole.update(chunk)
            part_md5 = hashlib.md5(chunk)
            part_digests.append(part_md5.digest())
            response = target_s3.upload_part(
                Bucket=target_bucket, Key=item.key, UploadId=upload["UploadId"], PartNumber=number,
                Body=chunk, ContentMD5=base64.b64encode(part_md5.digest()).decode(),
            )
            parts.append({"PartNumber": number, "ETag": response["ETag"]})
        _check_source(item, whole.hexdigest(), size)
        response = target_s3.complete_multipart_upload(
            Bucket=target_bucket, Key=item.key, UploadId=upload["UploadId"],
            MultipartUpload={"Parts": parts},
        )
    except Exception:
        target_s3.abort_multipart_upload(Bucket=target_bucket, Key=item.key, UploadId=upload["UploadId"])
        raise
    expected = f"{hashlib.md5(b''.join(part_digests)).hexdigest()}-{len(part_digests)}"
    stored = response["ETag"].strip('"')
    if stored != expected:
        raise RestoreError(f"{item.key!r}: target stored ETag {stored}, expected {expected} from the parts sent")


def _check_source(item: KeyPlan, md5_hex: str, size: int) -> None:
    """The bytes read must be the version listed: same size, and same MD5 if the ETag is one."""
    if size != item.size:
        raise RestoreError(f"{item.key!r}: read {size} bytes of version {item.version_id}, listed {item.size}")
    if item.etag and "-" not in item.etag and item.etag != md5_hex:
        raise RestoreError(f"{item.key!r}: version {item.version_id} read back with MD5 {md5_hex}, "
                           f"its ETag is {item.etag}")


def restore_bucket(
    s3: Any,
    bucket: str,
    before: dt.datetime,
    *,
    prefix: str = "",
    workers: int = 16,
    dry_run: bool = False,
) -> RestoreReport:
    """Restore ``bucket`` to its state before ``before`` from its own versions (case a).

    Refuses with ``NoCopyBeforeError``, changing nothing, when no version older than T exists.
    ``dry_run`` returns the report of an unapplied plan (see ``report.plan.summary()``).
    """
    plan = plan_restore(list_versions(s3, bucket, prefix), before)
    if dry_run:
        return RestoreReport(plan=plan)
    return apply_restore(plan, source_s3=s3, source_bucket=bucket, target_s3=s3,
                         target_bucket=bucket, workers=workers)


def restore_from_copy(
    copy_s3: Any,
    copy_bucket: str,
    target_s3: Any,
    target_bucket: str,
    before: dt.datetime,
    *,
    prefix: str = "",
    workers: int = 16,
    dry_run: bool = False,
) -> RestoreReport:
    """Restore ``target_bucket`` from the offsite copy's versions written before ``before`` (case b).

    The copy's LastModified is when the copy was written, so a version older than T holds the
    source's bytes from before T; versions copied after the attack began (encrypted data) are
    ignored. The target can be the attacked bucket or a fresh one in any site.
    """
    plan = plan_restore(
        list_versions(copy_s3, copy_bucket, prefix), before,
        target_current=current_objects(list_versions(target_s3, target_bucket, prefix)),
    )
    if dry_run:
        return RestoreReport(plan=plan)
    return apply_restore(plan, source_s3=copy_s3, source_bucket=copy_bucket, target_s3=target_s3,
                         target_bucket=target_bucket, workers=workers)


@dataclass
class ImmutableCopyReport:
    """What ``write_immutable_copy`` did; every current source object is locked until ``retain_until``."""

    retain_until: dt.datetime
    written: int = 0
    extended: int = 0
    bytes_written: int = 0
    seconds: float = 0.0
    failures: dict[str, str] = field(default_factory=dict)


def write_immutable_copy(
    source_s3: Any,
    source_bucket: str,
    copy_s3: Any,
    copy_bucket: str,
    *,
    immutable_days: int,
    mode: str = "COMPLIANCE",
    prefix: str = "",
    workers: int = 16,
    now: Optional[dt.datetime] = None,
) -> ImmutableCopyReport:
    """Copy the source's current objects into the object-locked offsite bucket.

    New or changed objects (by ETag and size) are written with ``ObjectLockMode=mode`` and
    retain-until ``now + immutable_days``; unchanged ones already in the copy get their
    retention *extended* to that date (allowed under COMPLIANCE, unlike shortening), so every
    object that is current in the source stays locked, however long ago it last changed.
    Deletions are never propagated. Idempotent; not atomic (a failed run leaves what it wrote,
    locked). The copy bucket must have been created with object lock (``Bucket`` with
    ``object_lock_mode``). Raises ``RestoreError`` listing failed keys after trying them all.
    """
    if immutable_days < 1:
        raise ValueError("immutable_days must be >= 1: an immutable copy with no retention is not immutable")
    now = _utc(now or dt.datetime.now(dt.timezone.utc))
    retain_until = now + dt.timedelta(days=immutable_days)
    report = ImmutableCopyReport(retain_until=retain_until)
    started = time.monotonic()
    already = current_objects(list_versions(copy_s3, copy_bucket, prefix))
    sources = [v for v in current_objects(list_versions(source_s3, source_bucket, prefix)).values()]

    def copy_one(source: ObjectVersion) -> tuple[str, str, Optional[str], int]:
        try:
            held = already.get(source.key)
            if held is not None and held.etag == source.etag and held.size == source.size:
                copy_s3.put_object_retention(
                    Bucket=copy_bucket, Key=source.key, VersionId=held.version_id,
                    Retention={"Mode": mode, "RetainUntilDate": retain_until},
                )
                return source.key, "extended", None, 0
            item = KeyPlan(source.key, Action.restore, source.version_id, source.etag, source.size)
            # Content-MD5, which object lock requires on every write, is sent by _stream_copy.
            _stream_copy(source_s3, source_bucket, copy_s3, copy_bucket, item,
                         ObjectLockMode=mode, ObjectLockRetainUntilDate=retain_until)
            return source.key, "written", None, source.size
        except Exception as error:
            return source.key, "failed", f"{type(error).__name__}: {error}", 0

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for key, outcome, failure, size in pool.map(copy_one, sources):
            if failure:
                report.failures[key] = failure
            elif outcome == "extended":
                report.extended += 1
            else:
                report.written += 1
                report.bytes_written += size
    report.seconds = time.monotonic() - started
    if report.failures:
        first = next(iter(report.failures.items()))
        raise RestoreError(
            f"immutable copy {source_bucket!r} -> {copy_bucket!r}: {len(report.failures)} of "
            f"{len(sources)} objects not locked (e.g. {first[0]!r}: {first[1]}); rerun to retry them"
        )
    return report


def locked_until(s3: Any, bucket: str, key: str, version_id: str) -> Optional[dt.datetime]:
    """The retain-until date of one version, or None when it is not locked."""
    try:
        return s3.head_object(Bucket=bucket, Key=key, VersionId=version_id).get("ObjectLockRetainUntilDate")
    except ClientError:
        return None
