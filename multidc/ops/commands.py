"""The operations: `status`, `failover`, `failback`, each on the deployed stack's outputs.

The deployed state comes from `--outputs FILE` (what `pulumi stack output --json
--show-secrets` prints, or what `multidc local up` wrote) or, with a Pulumi CLI on PATH,
from the stack itself. Exit codes: 0 done, 1 a step failed or a system is outside its
targets, 2 bad input (nothing was changed).
"""

from __future__ import annotations

import json
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from multidc import project
from multidc.console import print_error
from multidc.dr.executor import Executor, StepFailed, StepResult
from multidc.dr.states import StepState
from multidc.dr.journal import Journal, JournalError
from multidc.dr.runbook import Runbook, RunbookError, RunbookKind, Step, build
from multidc.spec import Platform, SpecError, load_stack

from .deployed import deployed
from .lease import lease_key
from .outputs import OutputsError, StackOutputs, load

OUTPUTS_HELP = ("the deployed stack's outputs: `pulumi stack output --json --show-secrets` saved to a file, or "
                "the file `multidc local up` wrote (default: read through the Pulumi CLI)")
# Piped output (CI logs) gets room for the tables; a terminal keeps its own width.
console = Console(width=None if sys.stdout.isatty() else 160)
errors = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
NEEDS_OPERATOR_EXIT = 3


def _fail(message: str, code: int = 2) -> None:
    print_error(errors, message)
    raise typer.Exit(code)


def _deployed_state(stack: str, outputs: Optional[Path]) -> tuple[Platform, StackOutputs]:
    try:
        platform = load_stack(stack, project.root())
        return platform, load(stack, outputs, project.root())
    except (SpecError, OutputsError) as error:
        _fail(str(error))


# --- status -------------------------------------------------------------------------------------

def status_command(
    stack: str = typer.Option(..., "--stack", "-s", help="stack name: stacks/Pulumi.<stack>.yaml"),
    outputs: Optional[Path] = typer.Option(None, "--outputs", help=OUTPUTS_HELP),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
    etcd: Optional[str] = typer.Option(None, "--etcd", help="an etcd member of the stack's cluster, to read the "
                                       "primary lease (default: the members the outputs name)"),
) -> None:
    """Live state per system and site: primary, reachability, replication lag, backup and copy age, and whether
    automatic failover is armed.

    Exits 1 when a system is outside its targets.
    """
    from .status import automatic_failover, stack_status

    platform, document = _deployed_state(stack, outputs)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=1) as pool:
        automatic = pool.submit(automatic_failover, platform, stack, document, etcd)
        results = stack_status(document)
        auto = automatic.result()
    ok = all(r.ok for r in results)
    if as_json:
        json.dump({"stack": stack, "ok": ok, "probed_in_s": round(time.monotonic() - started, 3),
                   "systems": [r.to_json() for r in results], "automatic_failover": auto.to_json()},
                  sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        table = Table(title=f"{stack}: live status ({'all within targets' if ok else 'OUTSIDE TARGETS'})")
        for column in ("system", "primary", "sites", "replication / copy lag", "backup age", "problems"):
            table.add_column(column)
        for r in results:
            sites = ", ".join(f"{s.site}: {s.role or 'DOWN'}" for s in r.sites) or "-"
            lag = "; ".join(f"{x['standby']} {x['sync_state']} {x['lag_bytes']}B" for x in r.replication)
            if r.copy_lag_s is not None:
                lag = f"copy {r.copy_lag_s:.1f}s"
            table.add_row(escape(r.system), r.primary or "-", sites, lag or "-",
                          "-" if r.backup_age_s is None else f"{r.backup_age_s:.0f}s",
                          escape("; ".join(r.problems) or ("ok" if r.probed else "not probed (see --json)")))
        console.print(table)
        token = f" (fencing token {auto.token})" if auto.token is not None else ""
        console.print(f"automatic failover: {auto.state}{token}: {escape(auto.reason)}", highlight=False)
    if not ok:
        raise typer.Exit(1)


# --- failover, failback --------------------------------------------------------------------------

def _show(book: Runbook, out: Console) -> None:
    table = Table(title=f"{book.kind.value} of {book.stack}: {book.from_site} → {book.to_site}")
    for column in ("group", "step", "action", "owner"):
        table.add_column(column)
    for number, group in enumerate(book.groups, 1):
        for step in group.steps:
            table.add_row(f"{number}. {escape(group.title)}", escape(step.title), step.action, step.owner)
    out.print(table)
    for note in book.notes:
        out.print(f"• {escape(note)}")


def unreachable(document: StackOutputs, sites: set[str], timeout: float = 2.0) -> list[str]:
    """Endpoints in `sites` that do not accept a TCP connection (databases and S3 endpoints)."""
    targets = set()
    for name, system in document.systems.items():
        for site, placement in system.placements.items():
            if site not in sites:
                continue
            if placement.database is not None:
                targets.add((f"{name} in {site}", placement.database.host, placement.database.port))
            if placement.bucket is not None:
                url = urlsplit(placement.bucket.endpoint)
                port = url.port or (443 if url.scheme == "https" else 80)
                targets.add((f"{name} in {site}", url.hostname or "", port))

    def probe(target: tuple[str, str, int]) -> Optional[str]:
        what, host, port = target
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            return None
        except OSError as error:
            return f"{what}: {host}:{port} ({error.strerror or error})"

    with ThreadPoolExecutor(max_workers=8) as pool:
        return sorted(filter(None, pool.map(probe, sorted(targets))))


def _journal(path: Optional[Path], stack: str, book: Runbook, resume: bool) -> Journal:
    """The given journal (resumed), or the default one; a finished default journal is kept aside
    and a new one started, so that the next failover never skips steps of the last one."""
    if path is None:
        path = project.state_dir() / "journal" / f"{stack}-{book.kind.value}-{book.to_site}.jsonl"
        if path.exists() and any(json.loads(line).get("event") == "finished"
                                 for line in path.read_text().splitlines() if line.strip()):
            if resume:
                _fail(f"--resume: the last {book.kind.value} to {book.to_site} of {stack} finished (journal {path}); "
                      "there is nothing to resume")
            path.rename(path.with_name(f"{path.stem}.{int(time.time())}.finished.jsonl"))
    if resume and not path.exists():
        _fail(f"--resume: no journal {path} to resume; run without --resume to start")
    return Journal(path, book.fingerprint, f"{book.kind.value} {book.stack} to {book.to_site}")


def _step_json(step: Step, result: Optional[StepResult]) -> dict[str, Any]:
    return {"step": step.id, "action": step.action, "system": step.system, "site": step.site,
            "owner": step.owner, "status": (result.status if result else StepState.not_run).value,
            "detail": result.detail if result else "", "earlier_run": bool(result and result.earlier),
            "seconds": round(result.seconds, 4) if result else None}


_COLOURS = {StepState.done: "green", StepState.skipped: "cyan", StepState.confirmed: "green",
            StepState.needs_operator: "yellow", StepState.failed: "red"}


def _resume_hint(stack: str, book: Runbook, steps: list[str]) -> str:
    verb = "failback" if book.kind is RunbookKind.failback else "failover"
    flag = {RunbookKind.planned: " --planned", RunbookKind.test: " --test"}.get(book.kind, "")
    return (f"multidc {verb} --stack {stack} --to {book.to_site} --from {book.from_site}{flag} --yes --resume "
            + " ".join(f"--confirm {step}" for step in steps))


def execute(stack: str, kind: RunbookKind, to: str, from_site: Optional[str], yes: bool, dry_run: bool,
            journal: Optional[Path], outputs: Optional[Path], as_json: bool,
            resume: bool = False, confirm: Optional[list[str]] = None, fencing_token: Optional[int] = None,
            etcd: Optional[str] = None) -> None:
    """Build the runbook from what is deployed, confirm, run it with backends on the deployed endpoints."""
    from .wiring import backends

    out = errors if as_json else console  # with --json, stdout carries only the report
    if (fencing_token is None) != (etcd is None):
        _fail("--fencing-token and --etcd go together: the token is verified in etcd (the lease key is held by the "
              "site taking over with that create revision) through the member --etcd names; `multidc watch` passes "
              "both")
    platform, document = _deployed_state(stack, outputs)
    try:
        book = build(platform, deployed(document), kind, to, from_site)
    except RunbookError as error:
        _fail(str(error))
    unknown = sorted(set(confirm or ()) - {step.id for step in book.steps()})
    if unknown:
        _fail(f"--confirm {', '.join(unknown)}: no such step in the {book.kind.value} to {book.to_site}; the step ids "
              f"are: {', '.join(step.id for step in book.steps())}")
    _show(book, out)
    if dry_run:
        out.print("dry run: nothing was changed")
        return
    if not yes:
        question = (f"{book.kind.value}: stack {stack}, from {book.from_site} to {book.to_site}; "
                    f"{sum(1 for _ in book.steps())} steps. Proceed?")
        if not sys.stdin.isatty() or not typer.confirm(question, default=False, err=True):
            _fail("not confirmed; nothing was changed (pass --yes to run without asking)")
    # The site taking over must answer before anything is changed (and for a planned move or a
    # failback, the site handing over too): a wrong outputs file or a cut VPN stops here, not
    # halfway through the runbook.
    needed = {book.to_site} | ({book.from_site} if kind is not RunbookKind.unplanned else set())
    silent = unreachable(document, needed)
    if silent:
        _fail("these endpoints of the outputs document do not answer; nothing was changed. Check that the "
              "outputs are of the deployed stack and that this machine reaches the sites (the inter-site VPN "
              "or a bastion):\n  " + "\n  ".join(silent))
    report: dict[str, Any] = {"stack": stack, "kind": book.kind.value, "from_site": book.from_site,
                              "to_site": book.to_site, "started_at": time.time()}
    results: dict[str, StepResult] = {}
    failure = ""

    def shown(step: Step, result: StepResult) -> None:
        colour = _COLOURS.get(result.status, "white")
        out.print(f"[{colour}]{result.status.value}[/{colour}] {step.id}: {escape(result.detail)}", highlight=False)

    executor: Optional[Executor] = None
    try:
        ledger = _journal(journal, stack, book, resume)
        report["journal"] = str(ledger.path)
        acting = backends(platform, document, project.root())
        if fencing_token is not None and etcd is not None:
            acting.update(_lease_backends(stack, book, fencing_token, etcd, acting))
            # The etcd lease revision `multidc watch` took over with: the journal proves which holder acted.
            ledger.append("lease", token=fencing_token, etcd=etcd, key=lease_key(stack))
            report["fencing_token"] = fencing_token
        executor = Executor(book, acting, ledger, on_step=shown, confirmed=confirm or ())
        results.update({r.step: r for r in executor.run()})
        if executor.waiting:
            ledger.append("stopped", result="needs-operator", steps=[r.step for r in executor.waiting])
    except StepFailed as error:
        results.update({r.step: r for r in error.results})
        failure = str(error)
        ledger.append("stopped", result="failed")
    except JournalError as error:
        failure = str(error)
    report["steps"] = [_step_json(step, results.get(step.id)) for step in book.steps()]
    counts = {state.value: sum(1 for s in report["steps"] if s["status"] == state.value) for state in StepState}
    report["counts"] = counts
    report["not_performed"] = sum(n for state, n in counts.items() if not StepState(state).performed)
    waiting = [s["step"] for s in report["steps"] if s["status"] == StepState.needs_operator.value]
    report["result"] = "failed" if failure else "needs-operator" if waiting else "success"
    if waiting:
        report["resume"] = _resume_hint(stack, book, waiting) + (
            f" --journal {journal}" if journal else "") + (f" --outputs {outputs}" if outputs else "")
    if failure:
        report["error"] = failure
    report["finished_at"] = time.time()
    if as_json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
    if failure:
        _fail(failure, code=1)
    summary = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    if waiting:
        out.print(f"[yellow]{book.kind.value} stopped: {report['not_performed']} step(s) not performed ({summary}).[/yellow] "
                  "Do each needs-operator step by hand (its line above says what), then confirm and resume:\n  "
                  f"{escape(report['resume'])}", highlight=False, soft_wrap=True)
        raise typer.Exit(NEEDS_OPERATOR_EXIT)
    out.print(f"{book.kind.value} succeeded: every step performed ({summary}); journal {report['journal']}")


def _lease_backends(stack: str, book: Runbook, token: int, etcd: str, acting: dict[str, Any]) -> dict[str, Any]:
    """The decision and the lost site's isolation, taken from the etcd lease `multidc watch` took over with."""
    from .isolation import LeaseDecision, LeaseIsolation
    from .lease import Etcd

    return {"decide": LeaseDecision(book.from_site, book.to_site, token),
            "manual": LeaseIsolation(Etcd(etcd, timeout=3.0), lease_key(stack), book.from_site, book.to_site, token,
                                     fallback=acting["manual"])}


RESUME_HELP = "resume the last unfinished run from its journal (an error if there is none)"
CONFIRM_HELP = ("STEP was done by hand (a needs-operator step: its id is in the report); repeat for several. "
                "A step a backend can carry out is never taken as confirmed")


def failover_command(
    stack: str = typer.Option(..., "--stack", "-s"),
    to: str = typer.Option(..., "--to", help="the site that takes over"),
    from_site: Optional[str] = typer.Option(None, "--from", help="the site that is lost (default: the primary)"),
    planned: bool = typer.Option(False, "--planned", help="planned switchover (both sites up, zero loss)"),
    test: bool = typer.Option(False, "--test", help="test failover into an isolated network"),
    outputs: Optional[Path] = typer.Option(None, "--outputs", help=OUTPUTS_HELP),
    yes: bool = typer.Option(False, "--yes", help="do not ask for confirmation"),
    dry_run: bool = typer.Option(False, "--dry-run", help="show the plan, change nothing"),
    journal: Optional[Path] = typer.Option(None, "--journal", help="journal file (resume: pass the same one)"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON report of every step on stdout"),
    resume: bool = typer.Option(False, "--resume", help=RESUME_HELP),
    confirm: Optional[list[str]] = typer.Option(None, "--confirm", metavar="STEP", help=CONFIRM_HELP),
    fencing_token: Optional[int] = typer.Option(None, "--fencing-token", hidden=True,
                                                help="the etcd lease revision `multidc watch` took over with"),
    etcd: Optional[str] = typer.Option(None, "--etcd", hidden=True,
                                       help="the etcd member through which --fencing-token is verified"),
) -> None:
    """Fail over a stack to another site: fence, promote, re-point, scale, flip the code.

    Exits 0 when every step was performed, 3 when it stopped at a step that needs an operator.
    """
    kind = RunbookKind.test if test else RunbookKind.planned if planned else RunbookKind.unplanned
    execute(stack, kind, to, from_site, yes, dry_run, journal, outputs, as_json, resume, confirm, fencing_token, etcd)


def failback_command(
    stack: str = typer.Option(..., "--stack", "-s"),
    to: str = typer.Option(..., "--to", help="the original primary site, back again"),
    from_site: Optional[str] = typer.Option(None, "--from", help="the site that took over"),
    outputs: Optional[Path] = typer.Option(None, "--outputs", help=OUTPUTS_HELP),
    yes: bool = typer.Option(False, "--yes"),
    dry_run: bool = typer.Option(False, "--dry-run"),
    journal: Optional[Path] = typer.Option(None, "--journal"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON report of every step on stdout"),
    resume: bool = typer.Option(False, "--resume", help=RESUME_HELP),
    confirm: Optional[list[str]] = typer.Option(None, "--confirm", metavar="STEP", help=CONFIRM_HELP),
) -> None:
    """Re-protect the original primary and switch back to it with zero loss.

    Exits 0 when every step was performed, 3 when it stopped at a step that needs an operator.
    """
    execute(stack, RunbookKind.failback, to, from_site, yes, dry_run, journal, outputs, as_json, resume, confirm)


def register(app: typer.Typer) -> None:
    """Add the operations to the `multidc` app."""
    app.command("status")(status_command)
    app.command("failover")(failover_command)
    app.command("failback")(failback_command)
    from .watch import register as register_watch

    register_watch(app)
