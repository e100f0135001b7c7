"""The local deployment's scheduled base backups: BusyBox crond reads the crontab `multidc local up` writes,
on the spec's schedule, running the command `archive.base_backup` runs."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from types import SimpleNamespace

import pytest
from croniter import croniter

from multidc.local import archiving
from multidc.protection import archive
from multidc.protection.barman_cloud import ArchiveTarget, backup_command

SCHEDULE = "30 */6 * * *"  # kz-prod's cards-db
crond = archiving._crond()
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="crond runs the backups as the server's user: needs root")


@pytest.fixture(autouse=True)
def crond_installed():
    """`make system-deps` installs busybox-static when the busybox found has no crond; without it these fail."""
    assert crond is not None, "BusyBox crond not found: run `make system-deps` (or apt-get install busybox-static)"


def crond_reads(folder, timeout: float = 20.0) -> list[list[str]]:
    """The bitmaps (minute, hour, day, month, weekday) crond logs for each entry it parsed (log level 0)."""
    log = folder / "crond.log"
    process = subprocess.Popen([crond, "crond", "-f", "-l", "0", "-L", str(log), "-c", str(folder / "crontabs")],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = log.read_text().splitlines() if log.exists() else []
            entry = next((i for i, line in enumerate(lines) if "entry:" in line), None)
            if entry is not None and len(lines) >= entry + 6:
                return [lines[entry + 1: entry + 6]]
            time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=10)
    raise AssertionError(f"crond logged no entry within {timeout}s: {log.read_text() if log.exists() else ''}")


def expected_bitmaps(schedule: str) -> list[str]:
    """What crond's log shows for ``schedule``: a bit per minute, hour, day (0-31), month (Jan first), weekday (Sun
    first), from croniter's own reading of the schedule."""
    minutes, hours, days, months, weekdays = croniter(schedule).expanded
    def bits(values, size, first=0):
        chosen = set(range(size)) if values == ["*"] else {int(v) - first for v in values}
        return "".join("1" if index in chosen else "0" for index in range(size))
    return [bits(minutes, 60), bits(hours, 24), bits(days, 32), bits(months, 12, first=1), bits(weekdays, 7)]


def test_local_up_schedules_the_same_backup_command_on_the_specs_schedule(tmp_path):
    base = tmp_path / "core-db"
    base.mkdir()
    archive.write_credentials(base / archiving.CREDENTIALS_FILE, "key", "secret")
    server = SimpleNamespace(host="127.0.0.1", port=54321, user="postgres", password="pw")
    target = ArchiveTarget("http://127.0.0.1:9000", "kz-prod-cards-db-vault-almaty", "cards-db")
    line = archiving.crontab_line(SCHEDULE, target, server, base)
    command = backup_command(target, archive.local_host(base / archiving.CREDENTIALS_FILE), pg_host="127.0.0.1",
                             pg_port=54321, pg_user="postgres")
    assert line.startswith(SCHEDULE + " ") and shlex.join(command) in line and " /usr/bin/env " in line
    assert "pw" not in line.split("PGPASSFILE=")[0] and (base / archiving.PASSFILE).read_text() == \
        "127.0.0.1:54321:*:postgres:pw\n"  # the password sits in a passfile the server user alone reads

    record = archiving.schedule(tmp_path / "cron", [{"system": "cards-db", "cron": line}])
    try:
        assert record is not None and record["jobs"] == 1
        assert (tmp_path / "cron" / "crontabs" / "root").read_text() == line + "\n"
    finally:
        os.kill(record["pid"], 15)
    [bitmaps] = crond_reads(tmp_path / "cron")
    assert bitmaps == expected_bitmaps(SCHEDULE), re.escape(str(bitmaps))
