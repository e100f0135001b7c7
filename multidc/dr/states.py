"""What a runbook step's run came to, in words that mean what they say.

`done`: the backend acted and its verification passed. `skipped`: not applicable here,
with the reason. `confirmed`: no backend can act here, and the operator did it by hand and
confirmed it (`--confirm STEP`). `needs-operator`: nothing acted; the executor stopped
and says what to do. `failed`: the backend raised. `not run`: a later group, never reached.
Only done, skipped and confirmed steps count as performed.
"""

from __future__ import annotations

from enum import Enum


class StepState(str, Enum):
    done = "done"
    skipped = "skipped"
    confirmed = "confirmed"
    needs_operator = "needs-operator"
    failed = "failed"
    not_run = "not run"

    @property
    def performed(self) -> bool:
        return self in (StepState.done, StepState.skipped, StepState.confirmed)


class NeedsOperator(Exception):
    """Raised by a backend that cannot carry a step out here: the message says what to do by hand."""


class NotApplicable(Exception):
    """Raised by a backend when a step does not apply (e.g. its source site is lost); the message says why."""
