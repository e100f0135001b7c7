"""Run a runbook: groups in order, the steps of a group in parallel, every step journalled.

Before a step runs, `start` is fsync'd to the journal; after it, `done` (or `failed`).
Run again with the same journal after a crash and the done steps are skipped; a step that
started and did not finish runs again, which is safe because every backend verb is
idempotent. A group whose step failed stops the run before the next group: nothing
downstream (a promotion after a failed fence) ever runs on a broken precondition.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Mapping, Optional

from .backends import Backend
from .journal import Journal
from .runbook import Runbook, Step


class StepFailed(RuntimeError):
    """One or more steps of a group failed; rerun the same command to resume."""


@dataclass(frozen=True)
class StepResult:
    step: str
    status: str  # done, skipped (done in an earlier run)
    detail: str
    seconds: float


def missing_backends(runbook: Runbook, backends: Mapping[str, Backend]) -> list[str]:
    """Actions of the runbook that no backend carries out."""
    return sorted({step.action for step in runbook.steps() if step.backend not in backends})


class Executor:
    """Carries out one runbook with the given backends, journalled in `journal`."""

    def __init__(self, runbook: Runbook, backends: Mapping[str, Backend], journal: Journal,
                 on_step: Optional[Callable[[Step, StepResult], None]] = None) -> None:
        missing = missing_backends(runbook, backends)
        if missing:
            raise ValueError(f"no backend for actions {', '.join(missing)}; give one per prefix "
                             f"({', '.join(sorted({a.split('.')[0] for a in missing}))})")
        self.runbook, self.backends, self.journal, self.on_step = runbook, backends, journal, on_step

    def _run_step(self, step: Step) -> StepResult:
        self.journal.append("start", step.id, action=step.action, system=step.system, site=step.site)
        started = time.monotonic()
        try:
            detail = self.backends[step.backend].run(step)
        except Exception as error:
            self.journal.append("failed", step.id, error=f"{type(error).__name__}: {error}")
            raise
        result = StepResult(step.id, "done", detail, time.monotonic() - started)
        self.journal.append("done", step.id, detail=detail, seconds=round(result.seconds, 4))
        return result

    def run(self) -> list[StepResult]:
        """Every step not yet done, group by group; returns what each step did."""
        done = self.journal.done()
        results: list[StepResult] = []
        for group in self.runbook.groups:
            pending = [step for step in group.steps if step.id not in done]
            results += [StepResult(s.id, "skipped", "done in an earlier run", 0.0)
                        for s in group.steps if s.id in done]
            if not pending:
                continue
            with ThreadPoolExecutor(max_workers=len(pending)) as pool:
                futures = [(step, pool.submit(self._run_step, step)) for step in pending]
                errors = []
                for step, future in futures:
                    try:
                        result = future.result()
                    except Exception as error:
                        errors.append(f"{step.id} ({step.action} {step.system or ''}@{step.site}): {error}")
                        continue
                    results.append(result)
                    if self.on_step:
                        self.on_step(step, result)
            if errors:
                raise StepFailed(f"group '{group.title}' failed; later groups were not started:\n  "
                                 + "\n  ".join(errors)
                                 + f"\nFix the cause and rerun the same command: done steps are skipped "
                                   f"(journal {self.journal.path}).")
        self.journal.append("finished")
        return results
