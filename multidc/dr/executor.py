"""Run a runbook: groups in order, the steps of a group in parallel, every step journalled.

Before a step runs, `start` is fsync'd to the journal; after it, its state (multidc.dr.states):
`done`, `skipped`, `confirmed`, `needs-operator` or `failed`. Run again with the same journal
after a crash or a stop and the performed steps are not repeated; a step that started and
did not finish runs again, which is safe because every backend verb is idempotent. A group
with a step that failed or needs an operator stops the run before the next group: nothing
downstream (a promotion after a fence nobody did) ever runs on a broken precondition.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Collection, Mapping, Optional

from .backends import Backend
from .journal import Journal
from .runbook import Runbook, Step
from .states import NeedsOperator, NotApplicable, StepState


class StepFailed(RuntimeError):
    """One or more steps of a group failed; rerun the same command to resume."""

    def __init__(self, message: str, results: list["StepResult"]) -> None:
        super().__init__(message)
        self.results = results


@dataclass(frozen=True)
class StepResult:
    step: str
    status: StepState
    detail: str
    seconds: float
    earlier: bool = False  # performed in an earlier run of the same journal


def missing_backends(runbook: Runbook, backends: Mapping[str, Backend]) -> list[str]:
    """Actions of the runbook that no backend carries out."""
    return sorted({step.action for step in runbook.steps() if step.backend not in backends})


class Executor:
    """Carries out one runbook with the given backends, journalled in `journal`.

    `confirmed` are the ids of steps the operator says were done by hand: such a step still
    goes to its backend first, and counts as `confirmed` only if the backend cannot act
    (raises NeedsOperator): a confirmation never stands in for a step a backend can do.
    """

    def __init__(self, runbook: Runbook, backends: Mapping[str, Backend], journal: Journal,
                 on_step: Optional[Callable[[Step, StepResult], None]] = None,
                 confirmed: Collection[str] = ()) -> None:
        missing = missing_backends(runbook, backends)
        if missing:
            raise ValueError(f"no backend for actions {', '.join(missing)}; give one per prefix "
                             f"({', '.join(sorted({a.split('.')[0] for a in missing}))})")
        unknown = sorted(set(confirmed) - {step.id for step in runbook.steps()})
        if unknown:
            raise ValueError(f"--confirm {', '.join(unknown)}: no such step in this runbook; the step ids are in "
                             "the first column of the report (e.g. 2.manual.isolate.<site>)")
        self.runbook, self.backends, self.journal, self.on_step = runbook, backends, journal, on_step
        self.confirmed = frozenset(confirmed)
        self.waiting: list[StepResult] = []  # steps that stopped the run as needs-operator

    def _run_step(self, step: Step) -> StepResult:
        self.journal.append("start", step.id, action=step.action, system=step.system, site=step.site)
        started = time.monotonic()
        try:
            state, detail = StepState.done, self.backends[step.backend].run(step)
        except NotApplicable as reason:
            state, detail = StepState.skipped, str(reason)
        except NeedsOperator as instructions:
            if step.id in self.confirmed:
                state, detail = StepState.confirmed, f"confirmed by the operator: {instructions}"
            else:
                state, detail = StepState.needs_operator, str(instructions)
        except Exception as error:
            state, detail = StepState.failed, f"{type(error).__name__}: {error}"
        result = StepResult(step.id, state, detail, time.monotonic() - started)
        self.journal.append(state.value, step.id, detail=detail, seconds=round(result.seconds, 4))
        return result

    def run(self) -> list[StepResult]:
        """Every step not yet performed, group by group; returns what each step came to.

        Stops after a group with a step that needs an operator (those are in `waiting`) and
        raises StepFailed after a group with a failed step.
        """
        performed = self.journal.performed()
        results: list[StepResult] = []
        for group in self.runbook.groups:
            pending = [step for step in group.steps if step.id not in performed]
            for step in group.steps:
                if step.id in performed:
                    record = performed[step.id]
                    # The time it took when it was performed (journaled), not this run's zero.
                    results.append(StepResult(step.id, StepState(record["event"]), record.get("detail", ""),
                                              float(record.get("seconds") or 0.0), earlier=True))
            if not pending:
                continue
            with ThreadPoolExecutor(max_workers=len(pending)) as pool:
                futures = [(step, pool.submit(self._run_step, step)) for step in pending]
                ran = [(step, future.result()) for step, future in futures]
            for step, result in ran:
                results.append(result)
                if self.on_step:
                    self.on_step(step, result)
            failed = [(step, r) for step, r in ran if r.status is StepState.failed]
            if failed:
                raise StepFailed(f"group '{group.title}' failed; later groups were not started:\n  "
                                 + "\n  ".join(f"{s.id} ({s.action} {s.system or ''}@{s.site}): {r.detail}"
                                               for s, r in failed)
                                 + f"\nFix the cause and rerun the same command: performed steps are not repeated "
                                   f"(journal {self.journal.path}).", results)
            self.waiting = [r for _, r in ran if r.status is StepState.needs_operator]
            if self.waiting:
                return results
        self.journal.append("finished")
        return results
