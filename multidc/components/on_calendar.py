"""A spec's five-field cron schedule as a systemd timer's ``OnCalendar=`` expression.

Hosts the components boot run their schedules with systemd timers (``Persistent=true``: a run
missed while the host was down happens at boot), so the spec's cron must mean the same there.
``on_calendar`` translates field by field into ``DOW YYYY-MM-DD HH:MM:SS UTC`` and refuses what
systemd cannot say with the same meaning:

- a day of month and a weekday both restricted: cron runs when *either* matches, systemd only
  when both do;
- a step over weekdays (``*/2`` in the fifth field): systemd repeats numbers, not weekdays;
- the non-standard ``L``, ``W``, ``#`` and ``?``.

Times are UTC, as the spec's other schedules (Kubernetes CronJobs) run. Ranges with a step are
written as the list they stand for, and weekdays as a list of names, which every systemd reads
(``a..b/n`` and weekday ranges across Sunday read differently between versions).
tests/components/test_on_calendar.py checks each translation against ``systemd-analyze calendar``
where it exists: the next runs systemd computes are croniter's.
"""

from __future__ import annotations

import re

# (name, lowest, highest) of cron's five fields.
_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("weekday", 0, 7))
_MONTHS = {name: i for i, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
_CRON_DAYS = {name: i for i, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_SYSTEMD_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_ITEM = re.compile(r"^(\*|\w+(?:-\w+)?)(?:/(\d+))?$")


class ScheduleError(ValueError):
    """A cron schedule systemd's calendar cannot express with the same meaning; the message says why."""


def _number(token: str, field: int, schedule: str) -> int:
    name, low, high = _FIELDS[field]
    names = _MONTHS if field == 3 else _CRON_DAYS if field == 4 else {}
    value = names.get(token.lower()) if not token.isdigit() else int(token)
    if value is None or not low <= value <= high:
        raise ScheduleError(f"schedule '{schedule}': {token!r} is not a valid {name} ({low}-{high})")
    return value


def _field(text: str, field: int, schedule: str) -> str:
    """One cron field as its systemd form (two-digit numbers; weekdays as a list of names)."""
    name, low, high = _FIELDS[field]
    if any(c in text for c in "LW#?"):
        raise ScheduleError(f"schedule '{schedule}': {name} {text!r} uses L, W, # or ?, which systemd's "
                            "OnCalendar cannot express; write the days out")
    if text == "*":
        return "*"
    parts: list[str] = []
    for item in text.split(","):
        match = _ITEM.match(item)
        if not match:
            raise ScheduleError(f"schedule '{schedule}': {name} {item!r} is not a cron item")
        span, step = match.group(1), int(match.group(2)) if match.group(2) else None
        if step is not None and field == 4:
            raise ScheduleError(f"schedule '{schedule}': a step over weekdays ({item!r}) has no systemd form; "
                                "list the days instead (e.g. 1,3,5)")
        if step == 0:
            raise ScheduleError(f"schedule '{schedule}': {name} step 0 in {item!r}")
        if span == "*":
            first, last = (1 if field in (2, 3) else 0), high
        elif "-" in span:
            first, last = (_number(t, field, schedule) for t in span.split("-"))
        else:
            first = _number(span, field, schedule)
            last = high if step is not None else first  # cron's "a/n": from a to the field's end
        if first > last:
            raise ScheduleError(f"schedule '{schedule}': {name} range {item!r} runs backwards")
        if field == 4:
            parts.extend(_SYSTEMD_DAYS[v] for v in range(first, last + 1))  # 0 and 7 are both Sunday
        elif step is None:
            parts.append(f"{first:02d}" if first == last else f"{first:02d}..{last:02d}")
        elif span == "*" or ("-" not in span):
            parts.append(f"{first:02d}/{step}")  # systemd repeats to the field's end, as cron does
        else:
            parts.extend(f"{v:02d}" for v in range(first, last + 1, step))
    if field == 4:  # each day once, in systemd's week order
        parts = [day for day in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun") if day in parts]
    return ",".join(parts)


def on_calendar(schedule: str) -> str:
    """``schedule`` (minute hour day-of-month month weekday, UTC) as a systemd ``OnCalendar=`` value."""
    fields = schedule.split()
    if len(fields) != 5:
        raise ScheduleError(f"schedule '{schedule}': not five fields (minute hour day-of-month month weekday)")
    minute, hour, day, month, weekday = (_field(text, i, schedule) for i, text in enumerate(fields))
    if day != "*" and weekday != "*":
        raise ScheduleError(f"schedule '{schedule}': cron runs when the day of month OR the weekday matches, "
                            "systemd's OnCalendar only when both do; restrict one of them and leave the other '*'")
    prefix = "" if weekday == "*" else f"{weekday} "
    return f"{prefix}*-{month}-{day} {hour}:{minute}:00 UTC"
