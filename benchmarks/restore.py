"""Restore throughput between two S3 endpoints on this machine, against a one-at-a-time copy.

    .venv/bin/python benchmarks/restore.py [--objects 2000] [--workers 16] [--seed 7]

Site A holds the (versioned) offsite copy, site B the bucket being restored; each site is
its own moto server process (multidc.local.s3.LocalS3). Three runs copy the same object set
from A to three empty buckets in B, in one process, one after the other:

  baseline   a sequential GetObject/PutObject loop, one object at a time
  restore    multidc.protection.bucket_restore.restore_from_copy (list, plan, parallel copy,
             MD5 verification of every object), ``--workers`` threads
  rclone     ``rclone copy`` with the args of multidc.protection.rclone, the source seen as it was
             before T (``--s3-version-at``, ``rclone.version_at``): rclone alone restoring to T

Then, unless ``--skip-database``, the database section (benchmarks/db_restore.py): barman-cloud's
point-in-time restore against pg_dump/pg_restore, and pgBackRest's answer on PostgreSQL 18.

Figures are for this machine and for moto, a single Python process per site: they compare the
three methods with each other, they do not predict a real S3 endpoint's throughput.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from multidc.local.s3 import LocalS3  # noqa: E402
from multidc.protection.bucket_restore import restore_from_copy  # noqa: E402
from multidc.protection.rclone import SOURCE_REMOTE, S3Location, run_copy, version_at  # noqa: E402

KIB = 1024
MIB = 1024 * KIB


def object_sizes(count: int, seed: int) -> list[int]:
    """Mostly small objects with a tail of large ones: 1 KiB to 20 MiB."""
    rng = random.Random(seed)
    sizes = []
    for n in range(count):
        bucket = n % 200
        if bucket < 190:  # 95 %: 1-64 KiB
            sizes.append(rng.randint(1 * KIB, 64 * KIB))
        elif bucket < 199:  # 4.5 %: 256 KiB - 4 MiB
            sizes.append(rng.randint(256 * KIB, 4 * MIB))
        else:  # 0.5 %: 8 - 20 MiB
            sizes.append(rng.randint(8 * MIB, 20 * MIB))
    return sizes


def populate(s3, bucket: str, sizes: list[int], workers: int) -> None:
    def put(item):
        n, size = item
        s3.put_object(Bucket=bucket, Key=f"data/{n:06d}", Body=os.urandom(size))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(put, enumerate(sizes)))


def sequential_copy(source_s3, source_bucket, target_s3, target_bucket) -> tuple[int, int]:
    count = size = 0
    for page in source_s3.get_paginator("list_objects_v2").paginate(Bucket=source_bucket):
        for entry in page.get("Contents", []):
            body = source_s3.get_object(Bucket=source_bucket, Key=entry["Key"])["Body"].read()
            target_s3.put_object(Bucket=target_bucket, Key=entry["Key"], Body=body)
            count += 1
            size += len(body)
    return count, size


def listing(s3, bucket: str) -> dict[str, int]:
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page.get("Contents", []):
            found[entry["Key"]] = entry["Size"]
    return found


def line(name: str, count: int, size: int, seconds: float, baseline: float | None) -> str:
    ratio = f"{baseline / seconds:5.2f}x" if baseline else "  1.00x"
    return (f"{name:<10} {count:>7} obj {size / MIB:>8.1f} MiB {seconds:>8.2f} s "
            f"{count / seconds:>9.1f} obj/s {size / MIB / seconds:>8.1f} MiB/s  {ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-rclone", action="store_true")
    parser.add_argument("--rows", type=int, default=400_000, help="rows of the database section (db_restore.py)")
    parser.add_argument("--skip-database", action="store_true")
    options = parser.parse_args()

    sizes = object_sizes(options.objects, options.seed)
    total = sum(sizes)
    print(f"{len(sizes)} objects, {total / MIB:.1f} MiB "
          f"(min {min(sizes) / KIB:.1f} KiB, max {max(sizes) / MIB:.1f} MiB); "
          f"{os.cpu_count()} CPUs; workers={options.workers}")

    with LocalS3(name="bench-copy-site") as site_a, LocalS3(name="bench-live-site") as site_b:
        a, b = site_a.client(), site_b.client()
        a.create_bucket(Bucket="offsite-copy")
        a.put_bucket_versioning(Bucket="offsite-copy", VersioningConfiguration={"Status": "Enabled"})
        for name in ("baseline", "restored", "rclone"):
            b.create_bucket(Bucket=name)
            b.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        started = time.monotonic()
        populate(a, "offsite-copy", sizes, options.workers)
        print(f"populated site A in {time.monotonic() - started:.1f} s")
        time.sleep(1.1)
        before = dt.datetime.now(dt.timezone.utc)

        started = time.monotonic()
        count, size = sequential_copy(a, "offsite-copy", b, "baseline")
        baseline_seconds = time.monotonic() - started

        started = time.monotonic()
        report = restore_from_copy(a, "offsite-copy", b, "restored", before, workers=options.workers)
        restore_seconds = time.monotonic() - started

        rclone_seconds = None
        if not options.skip_rclone:
            started = time.monotonic()
            # rclone alone restoring to T: the source as it was before T (version_at), every key.
            run_copy(
                S3Location(site_a.endpoint_url, "offsite-copy", access_key=site_a.access_key, secret_key=site_a.secret_key),
                S3Location(site_b.endpoint_url, "rclone", access_key=site_b.access_key, secret_key=site_b.secret_key),
                transfers=options.workers, extra_env={f"RCLONE_CONFIG_{SOURCE_REMOTE}_VERSION_AT": version_at(before)},
            )
            rclone_seconds = time.monotonic() - started

        expected = listing(a, "offsite-copy")
        for bucket in ("baseline", "restored") + (() if options.skip_rclone else ("rclone",)):
            got = listing(b, bucket)
            if got != expected:
                raise SystemExit(f"{bucket}: {len(got)} objects arrived, {len(expected)} expected, or sizes differ")

        print()
        print(line("baseline", count, size, baseline_seconds, None))
        print(line("restore", report.restored, report.bytes_copied, restore_seconds, baseline_seconds)
              + "  (list + plan + copy + MD5 verify)")
        if rclone_seconds is not None:
            print(line("rclone", len(expected), total, rclone_seconds, baseline_seconds) + "  (rclone copy of the copy as it was before T: --s3-version-at)")
        print(f"\nrestore vs one-at-a-time: {baseline_seconds / restore_seconds:.2f}x faster; "
              f"all three targets hold the same {len(expected)} keys and sizes")
        if rclone_seconds is not None:
            print(f"restore vs rclone restoring the same objects to T: {rclone_seconds / restore_seconds:.2f}x")

    if not options.skip_database:
        from db_restore import run as database_restore

        print("\ndatabases:")
        database_restore(options.rows)


if __name__ == "__main__":
    main()
