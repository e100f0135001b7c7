"""The scheduled bucket copy of a local deployment: what the BucketCopy CronJob does in a cluster.

`python -m multidc.local.copier --source URL/BUCKET --destination URL/BUCKET --interval S`
runs rclone (the same `run_copy` the CronJob's arguments come from) every S seconds, in the
destination site, until SIGTERM. A failed copy (the source site is gone) is retried at the
next tick, as the CronJob's next run would. S3 keys come from the environment
(`MULTIDC_COPY_ACCESS_KEY`, `MULTIDC_COPY_SECRET_KEY`), never from the command line.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time

from multidc.protection.rclone import CopyMode, S3Location, run_copy

ACCESS_KEY_ENV = "MULTIDC_COPY_ACCESS_KEY"
SECRET_KEY_ENV = "MULTIDC_COPY_SECRET_KEY"


def _location(text: str) -> S3Location:
    endpoint, _, bucket = text.rpartition("/")
    return S3Location(endpoint=endpoint, bucket=bucket, access_key=os.environ.get(ACCESS_KEY_ENV),
                      secret_key=os.environ.get(SECRET_KEY_ENV))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m multidc.local.copier")
    parser.add_argument("--source", required=True, help="ENDPOINT/BUCKET")
    parser.add_argument("--destination", required=True, help="ENDPOINT/BUCKET")
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--status", help="file to write the time of the last successful copy into")
    args = parser.parse_args(argv)
    source, destination = _location(args.source), _location(args.destination)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(args.interval):
        started = time.time()
        try:
            run_copy(source, destination, mode=CopyMode.copy, timeout=max(5.0, args.interval * 10))
        except Exception as error:  # noqa: BLE001 - a lost source is retried at the next tick
            print(f"copy failed: {type(error).__name__}: {str(error)[:200]}", file=sys.stderr, flush=True)
            continue
        if args.status:
            # The start of the copy: every object written before it is in the destination now.
            with open(args.status + ".tmp", "w") as status:
                status.write(f"{started}\n")
            os.replace(args.status + ".tmp", args.status)
    return 0


if __name__ == "__main__":
    sys.exit(main())
