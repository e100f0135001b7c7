"""The spec's cron as systemd OnCalendar: same runs as croniter's, and a clear refusal of what systemd cannot say."""

import re
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from croniter import croniter

from multidc.components.on_calendar import ScheduleError, on_calendar

ROOT = Path(__file__).resolve().parents[2]
# Every backup schedule the example stacks declare, and the edge cases cron users write.
STACK_SCHEDULES = sorted(set(re.findall(r'schedule: "([^"]+)"', "".join(
    path.read_text() for path in (ROOT / "stacks").glob("Pulumi.*.yaml")))))
EDGES = ["*/15 * * * *", "30 */6 * * *", "0 9-17 * * 1-5", "0,30 8 1,15 * *", "5/10 * * * *", "0 0 1 */3 *",
         "0-30/10 3 * * 0", "0 3 * * 7", "15 4 * jan,jul *", "0 2 * * sun", "0 22 * * 5-7", "45 23 31 * *",
         "0 12 * 2 *", "*/7 1-3 * * *"]
# Hand-checked translations, for machines without systemd-analyze.
EXPECTED = {
    "0 */6 * * *": "*-*-* 00/6:00:00 UTC",
    "30 */6 * * *": "*-*-* 00/6:30:00 UTC",
    "*/15 * * * *": "*-*-* *:00/15:00 UTC",
    "0 2 * * *": "*-*-* 02:00:00 UTC",
    "0 9-17 * * 1-5": "Mon,Tue,Wed,Thu,Fri *-*-* 09..17:00:00 UTC",
    "0,30 8 1,15 * *": "*-*-01,15 08:00,30:00 UTC",
    "0-30/10 3 * * 0": "Sun *-*-* 03:00,10,20,30:00 UTC",
    "0 0 1 */3 *": "*-01/3-01 00:00:00 UTC",
}
BASE = datetime(2026, 1, 1, 0, 0, tzinfo=timezone.utc)
RUNS = 12


def test_stack_schedules_are_found():
    assert {"0 */6 * * *", "30 */6 * * *", "*/15 * * * *", "0 * * * *"} <= set(STACK_SCHEDULES)


@pytest.mark.parametrize("schedule", sorted(EXPECTED))
def test_translation_is_the_hand_checked_one(schedule):
    assert on_calendar(schedule) == EXPECTED[schedule]


def _systemd_runs(expressions):
    """The next RUNS elapses of each expression after BASE, as systemd-analyze computes them (one process)."""
    result = subprocess.run(
        ["systemd-analyze", "calendar", f"--iterations={RUNS}", f"--base-time={BASE:%Y-%m-%d %H:%M:%S} UTC",
         *expressions], capture_output=True, text=True, timeout=60, env={"TZ": "UTC", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    blocks = [b for b in re.split(r"\n\s*\n", result.stdout.strip()) if b]
    assert len(blocks) == len(expressions), result.stdout
    return [[datetime.strptime(m, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
             for m in re.findall(r"(?:Next elapse|Iter\. #\d+): \w{3} (\S+ \S+) UTC", block)] for block in blocks]


def test_systemd_runs_each_schedule_when_cron_would():
    assert shutil.which("systemd-analyze"), "systemd-analyze not found: run `make system-deps` (Debian package systemd)"
    schedules = sorted(set(STACK_SCHEDULES) | set(EDGES))
    runs = _systemd_runs([on_calendar(s) for s in schedules])
    for schedule, systemd in zip(schedules, runs):
        cron = croniter(schedule, BASE)
        expected = [cron.get_next(datetime) for _ in range(RUNS)]
        assert systemd == expected, f"{schedule} -> {on_calendar(schedule)}"


@pytest.mark.parametrize("schedule,why", [
    ("0 2 1 * 1", "day of month OR the weekday"),
    ("0 2 * * */2", "step over weekdays"),
    ("0 2 L * *", "L, W, # or ?"),
    ("0 25 * * *", "'25' is not a valid hour"),
    ("0 2 * *", "not five fields"),
    ("0 5-2 * * *", "runs backwards"),
])
def test_what_systemd_cannot_say_is_refused_with_the_reason(schedule, why):
    with pytest.raises(ScheduleError, match=re.escape(why)):
        on_calendar(schedule)
