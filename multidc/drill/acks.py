"""What the partition drill's writers recorded, and what it proves: overlap of primaries, lost writes, stalls.

Each writer appends one line per acknowledged commit: `id acknowledged begun`, both CLOCK_MONOTONIC
seconds (one clock for every network namespace of the machine: namespaces do not virtualise it).
A commit was acknowledged by its server at some instant between `begun` (the client sent it) and
`acknowledged` (the client heard back), so a side's acknowledgements all lie within
[first begun, last acknowledged]; two sides whose such intervals do not intersect never had two
primaries acknowledging writes at once. The test is conservative: it may call an overlap that was
none (an attempt begun just before the other side's last answer), never the reverse.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional


@dataclass(frozen=True)
class Ack:
    """One acknowledged commit: the row id, when the answer came, when the attempt began."""

    id: int
    acked: float
    begun: float


def read(path: Path) -> list[Ack]:
    """The acknowledgements a writer recorded so far (a line being written is skipped)."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    acks = []
    for line in lines:
        fields = line.split()
        if len(fields) == 3:
            acks.append(Ack(int(fields[0]), float(fields[1]), float(fields[2])))
    return acks


def within(acks: Iterable[Ack], start: float, end: float) -> list[Ack]:
    """The acknowledgements that came between `start` and `end`."""
    return [a for a in acks if start <= a.acked <= end]


def interval(acks: list[Ack]) -> Optional[tuple[float, float]]:
    """The span in which the server acknowledged these commits: (first begun, last acknowledged)."""
    if not acks:
        return None
    return min(a.begun for a in acks), max(a.acked for a in acks)


def overlap(first: list[Ack], second: list[Ack]) -> bool:
    """True when the two sides' acknowledgement intervals intersect (two primaries at once)."""
    a, b = interval(first), interval(second)
    if a is None or b is None:
        return False
    return a[0] <= b[1] and b[0] <= a[1]


def gap(before: list[Ack], after: list[Ack]) -> Optional[float]:
    """Seconds from the last answer of the side `before` to the first attempt the side `after` had
    acknowledged (negative: they overlap); None when either side acknowledged nothing."""
    a, b = interval(before), interval(after)
    if a is None or b is None:
        return None
    return b[0] - a[1]


def lost(acked: Iterable[Ack], present: set[int]) -> list[int]:
    """Ids acknowledged to a client but missing on the surviving primary."""
    return sorted({a.id for a in acked} - present)


def longest_stall(acks: Iterable[Ack], start: float, end: float) -> float:
    """The longest time between `start` and `end` with no acknowledgement (the whole span if there was none)."""
    times = sorted(a.acked for a in acks if start <= a.acked <= end)
    marks = [start, *times, end]
    return max(later - earlier for earlier, later in zip(marks, marks[1:]))


def first_after(acks: Iterable[Ack], moment: float) -> Optional[float]:
    """When the first acknowledgement after `moment` came (None: none yet)."""
    return min((a.acked for a in acks if a.acked > moment), default=None)
