"""Run `multidc failover`/`failback` to the end as an operator of a local deployment does.

The executor stops at every step no backend can act on here (the provider's isolation of a
site, DNS and Kubernetes of a local deployment, a system with no local stand-in) and exits
3. In a drill the lost site is a set of killed processes and the rest has no local
counterpart, so the drill confirms exactly the steps the report lists as needs-operator,
resumes with `--resume --confirm STEP ...`, and keeps their instructions for its report:
nothing is counted as done that was not done.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any, Callable

NEEDS_OPERATOR_EXIT = 3  # multidc.ops.commands.NEEDS_OPERATOR_EXIT (not imported: the drill reads what the CLI prints)
MAX_ROUNDS = 10  # more than the groups of any runbook: each round confirms at least one step or stops


class ConfirmError(RuntimeError):
    """The command failed or kept stopping at the same steps; the message has its output."""


def run_confirming(run: Callable[..., subprocess.CompletedProcess[str]], args: list[str],
                   what: str) -> tuple[dict[str, Any], list[str]]:
    """The final JSON report of `multidc <args> --json`, and '<step>: <what to do>' for every step confirmed."""
    confirmed: dict[str, str] = {}
    for _ in range(MAX_ROUNDS):
        resume = [] if "--resume" in args else ["--resume"]
        extra = [*resume, *(f"--confirm={step}" for step in confirmed)] if confirmed else []
        done = run(*args, *extra, check=False)
        try:
            report = json.loads(done.stdout)
        except json.JSONDecodeError:
            raise ConfirmError(f"{what} exited {done.returncode} and printed no JSON report:\n"
                               f"{done.stdout[-1000:]}\n{done.stderr[-2000:]}") from None
        if done.returncode == 0:
            return report, [f"{step}: {detail}" for step, detail in confirmed.items()]
        waiting = {s["step"]: s["detail"] for s in report.get("steps", []) if s["status"] == "needs-operator"}
        if done.returncode != NEEDS_OPERATOR_EXIT or not waiting or waiting.keys() <= confirmed.keys():
            raise ConfirmError(f"{what} exited {done.returncode} ({report.get('result')}): "
                               f"{report.get('error', '')}\n{done.stderr[-2000:]}")
        confirmed.update(waiting)
    raise ConfirmError(f"{what} still needs an operator after {MAX_ROUNDS} rounds of confirmation")
