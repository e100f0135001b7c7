"""The data protection commands: `multidc restore`. `register(app)` adds them to `multidc`.

`multidc restore` is the ransomware path: it puts one system's data in one site back the
way it was before a time T. Where the data lives comes from the deployed stack's outputs
document (``--outputs FILE``, else the stack through a Pulumi CLI; ``locate`` reads it): the
live buckets, the backup vault, each site's S3 keys and the database to restore into. Each
kind has its own planner: ``bucket_command`` (versions or the locked vault copy),
``database_command`` (the newest ``pg_dump`` older than T into an existing database) and
``pitr_command`` (the WAL archive into a new server, ``--to-new``), ``redis_command`` (the newest
RDB snapshot into a new Redis server, ``--to-new``), ``binlog_command`` (MySQL/MariaDB: the binlog
archive into a new server, ``--to-new``); ``restore_inputs`` reads
TIME, endpoints and keys for all of them.

Every restore is planned first, read-only; the plan is shown with its target, confirmed
(unless ``--yes``), and only then applied. A plan that finds no copy older than T refuses
and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from multidc import project
from multidc.console import print_error
from multidc.ops.outputs import OutputsError, StackOutputs, load
from multidc.project import ProjectNotFound
from multidc.protection import binlog_command, binlog_pitr, pitr, pitr_command, redis_backup, redis_command
from multidc.protection.archive import ArchiveError
from multidc.protection.binlog_archive import BinlogArchiveError
from multidc.protection.bucket_command import apply_bucket, bucket_summary, plan_bucket
from multidc.protection.database_command import apply_database, database_summary, plan_database
from multidc.protection.locate import LocateError, SystemData, locate
from multidc.protection.restore_inputs import (
    Endpoint,
    Refused,
    UsageError,
    connect,
    parse_before,
    parse_endpoints,
    site_credentials,
)

SOURCES = ("versions", "vault", "auto")
SUPPORTED_KINDS = ("bucket", "postgres", "redis", "mysql")
TARGET_DSN_ENV = "MULTIDC_TARGET_DSN"
OUTPUTS_HELP = ("the deployed stack's outputs: `pulumi stack output --json --show-secrets` saved to a file, or the "
                "file `multidc local up` wrote (default: read through the Pulumi CLI)")
# Exit codes: 0 done (or planned, with --dry-run); 1 refused, declined or incomplete; 2 bad input.
REFUSED, BAD_INPUT = 1, 2

console = Console()
errors = Console(stderr=True)


def deployed_state(stack: str, outputs: Optional[Path]) -> StackOutputs:
    """The deployed stack's outputs: from ``outputs``, else through a Pulumi CLI in the project folder.

    With ``--outputs`` the project folder is not needed (a restore reads no spec), so the
    command also runs from wherever the operator saved the file.
    """
    work_dir = project.root() if outputs is None else Path.cwd()
    return load(stack, outputs, work_dir)


def _confirm(target: str) -> None:
    try:
        confirmed = typer.confirm(f"Restore {target}? This changes it", default=False, err=True)
    except typer.Abort:
        confirmed = False
    if not confirmed:
        raise Refused("not confirmed; nothing was changed (pass --yes to skip the question)")


def run_restore(stack: str, system: str, before_text: str, site: str, source: str, target_dsn: Optional[str],
                endpoint_options: list[str], outputs: Optional[Path], yes: bool, dry_run: bool,
                env: Mapping[str, str], report: dict[str, Any], announce: Callable[[str], None],
                to_new: Optional[str] = None) -> None:
    """Plan, ``announce`` the plan, confirm and apply one restore, filling ``report`` as it goes."""
    if source not in SOURCES:
        raise UsageError(f"--from {source!r}: choose one of {', '.join(SOURCES)}")
    before = parse_before(before_text)
    if before > dt.datetime.now(dt.timezone.utc):
        raise UsageError(f"--before {before_text!r} is in the future ({before.isoformat()}): a restore goes back to "
                         "a state that existed; give a past time")
    report["before"] = before.isoformat()
    document = deployed_state(stack, outputs)
    report["deployed"] = f"--outputs {outputs}" if outputs is not None else f"pulumi stack {stack}"
    data = locate(document, system)
    report["kind"] = data.kind
    if site not in data.sites:
        raise UsageError(f"--site {site}: system {system!r} runs in {', '.join(data.sites)}, not in {site}")
    endpoints = parse_endpoints(endpoint_options, tuple(document.sites))
    if data.kind == "bucket":
        restore: Any = plan_bucket(data, site, before, source, endpoints, env)
        report.update(source=restore.source, reason=restore.reason, target=restore.target.describe(),
                      origin=restore.source_endpoint.describe(), plan=restore.changes())
        summary, target_name = bucket_summary(restore), str(restore.target)
    elif data.kind == "postgres" and to_new is not None:
        restore = _plan_pitr(data, site, before, to_new, endpoints, env)
        report.update(source="archive", reason="WAL archive and base backups", target={"new_server": to_new},
                      origin=restore.target.endpoint, plan=restore.changes())
        summary, target_name = pitr_command.summary(restore, before), f"a new server {to_new!r}"
    elif data.kind == "redis" and to_new is not None:
        restore = _plan_redis(data, site, before, to_new, endpoints, env)
        report.update(source="vault", reason="RDB snapshots", target={"new_server": to_new},
                      origin=restore.vault.describe(), plan=restore.changes())
        summary, target_name = redis_command.summary(restore, before), f"a new Redis server {to_new!r}"
    elif data.kind == "mysql" and to_new is not None:
        restore = _plan_binlog(data, site, before, to_new, endpoints, env)
        report.update(source="archive", reason="binlog archive and base backups", target={"new_server": to_new},
                      origin=restore.vault.describe(), plan=restore.changes())
        summary, target_name = binlog_command.summary(restore, before), f"a new MariaDB server {to_new!r}"
    elif data.kind in ("redis", "mysql"):
        raise UsageError(f"--system {system}: a {data.kind} system is restored into a new server; add --to-new NAME")
    elif data.kind == "postgres":
        if source == "versions":
            raise UsageError("--from versions: a postgres system is restored from its backups in the vault; "
                             "use --from vault (or auto)")
        restore = plan_database(data, site, before, target_dsn, endpoints, env)
        report.update(source="vault", reason="pg_dump backups", target=restore.target,
                      origin=restore.vault.describe(), plan=restore.changes())
        summary = database_summary(restore)
        target_name = "database " + " ".join(f"{k}={v}" for k, v in restore.target.items())
    else:
        raise UsageError(f"--system {system}: it is a {data.kind} system; multidc restore supports "
                         f"{', '.join(SUPPORTED_KINDS)} systems (Kubernetes and ML platforms: velero restore)")
    report["summary"] = summary
    announce(summary)
    if dry_run:
        report["status"] = "planned"
        return
    if not yes:
        _confirm(target_name)
    if isinstance(restore, pitr_command.PitrRestore):
        report["result"] = _apply_pitr(restore, before, stack)
    elif isinstance(restore, redis_command.RedisRestore):
        report["result"] = redis_command.apply(restore, before, _keeper(stack))
    elif isinstance(restore, binlog_command.BinlogRestore):
        report["result"] = _apply_binlog(restore, before, stack)
    else:
        report["result"] = apply_bucket(restore) if data.kind == "bucket" else apply_database(restore, system, before)
    report["status"] = "restored"


def _plan_pitr(data: SystemData, site: str, before: dt.datetime, name: str, endpoints: Mapping[str, str],
               env: Mapping[str, str]) -> pitr_command.PitrRestore:
    vault, password = _vault_and_password(data, site, endpoints, env, "archive")
    assert data.vault is not None
    keys = site_credentials(data.vault.site, env, (data.vault.access_key, data.vault.secret_key))
    try:
        return pitr_command.plan(data, site, before, name, vault.url, keys, password)
    except pitr.TooEarlyError as error:
        raise UsageError(str(error)) from None
    except ArchiveError as error:
        raise Refused(f"{error}; nothing was changed") from None
    except ValueError as error:
        raise UsageError(str(error)) from None


def _vault_and_password(data: SystemData, site: str, endpoints: Mapping[str, str], env: Mapping[str, str],
                        what: str) -> tuple[Endpoint, Optional[str]]:
    """The system's vault, reached with its site's keys, and the password of ``site``'s server (for the new one)."""
    if data.vault is None:
        raise UsageError(f"--system {data.system}: it has no backup policy, so there is no {what} to restore; "
                         "add backup: to the system in the spec")
    database = data.databases.get(site)
    password = database.password.get_secret_value() if database is not None and database.password else None
    return connect(data.vault, endpoints, env), password


def _keeper(stack: str) -> Callable[[dict[str, Any]], None]:
    """Records a server a restore started in the stack's local deployment, when one is up (`local down` stops it)."""
    from multidc.local import deployment

    def keep(record: dict[str, Any]) -> None:
        if deployment.is_up(stack):
            deployment.keep_restored(stack, record)

    return keep


def _plan_redis(data: SystemData, site: str, before: dt.datetime, name: str, endpoints: Mapping[str, str],
                env: Mapping[str, str]) -> redis_command.RedisRestore:
    vault, password = _vault_and_password(data, site, endpoints, env, "snapshot")
    try:
        return redis_command.plan(vault, before, name, password)
    except redis_backup.TooEarlyError as error:
        raise UsageError(str(error)) from None
    except ValueError as error:
        raise UsageError(str(error)) from None
    except (BotoCoreError, ClientError) as error:
        raise Refused(f"cannot list the snapshots in {vault}: {error}; nothing was changed") from None


def _plan_binlog(data: SystemData, site: str, before: dt.datetime, name: str, endpoints: Mapping[str, str],
                 env: Mapping[str, str]) -> binlog_command.BinlogRestore:
    vault, _ = _vault_and_password(data, site, endpoints, env, "binlog archive")
    try:
        return binlog_command.plan(data, site, vault, before, name)
    except (binlog_pitr.TooEarlyError, ValueError) as error:
        raise UsageError(str(error)) from None
    except (BotoCoreError, ClientError) as error:
        raise Refused(f"cannot list the base backups in {vault}: {error}; nothing was changed") from None


def _apply_binlog(restore: binlog_command.BinlogRestore, before: dt.datetime, stack: str) -> dict[str, Any]:
    try:
        return binlog_command.apply(restore, before, _keeper(stack))
    except binlog_pitr.TargetNotArchivedError as error:
        raise Refused(f"{error}; nothing was started") from None
    except BinlogArchiveError as error:
        raise Refused(str(error)) from None


def _apply_pitr(restore: pitr_command.PitrRestore, before: dt.datetime, stack: str) -> dict[str, Any]:
    try:
        return pitr_command.apply(restore, before, _keeper(stack))
    except ArchiveError as error:
        raise Refused(str(error)) from None


def register(app: typer.Typer) -> None:
    """Add `restore` to the `multidc` command."""

    @app.command()
    def restore(
        stack: str = typer.Option(..., "--stack", "-s", help="stack name: stacks/Pulumi.<stack>.yaml"),
        system: str = typer.Option(..., "--system", help="the system whose data to restore"),
        before: str = typer.Option(..., "--before", help="restore the state before TIME: ISO 8601 "
                                   "(2026-11-27T08:00:00Z) or how long ago (2h)"),
        site: str = typer.Option(..., "--site", help="the site whose copy is restored"),
        source: str = typer.Option("auto", "--from", help="buckets: versions, vault or auto "
                                   "(versions unless their history was deleted)"),
        target_dsn: Optional[str] = typer.Option(None, "--target-dsn", envvar=TARGET_DSN_ENV, show_envvar=True,
                                                 help="postgres: the database to restore into (default: "
                                                 "the --site database in the outputs)"),
        endpoint: list[str] = typer.Option([], "--endpoint", help="SITE=URL: use this S3 endpoint for SITE "
                                           "instead of the one in the outputs"),
        to_new: Optional[str] = typer.Option(None, "--to-new", help="postgres: recover from the WAL archive to "
                                             "the last transaction before TIME into a NEW server of this name; "
                                             "redis: the newest RDB snapshot before TIME into a NEW server; "
                                             "mysql: the binlog archive into a NEW server"),
        outputs: Optional[Path] = typer.Option(None, "--outputs", help=OUTPUTS_HELP),
        yes: bool = typer.Option(False, "--yes", help="do not ask for confirmation"),
        dry_run: bool = typer.Option(False, "--dry-run", help="print the plan, change nothing"),
        as_json: bool = typer.Option(False, "--json", help="print a machine-readable report on stdout"),
    ) -> None:
        """Put a system's data in a site back the way it was before TIME (the ransomware path).

        Buckets, vault, S3 keys and database come from the deployed stack's outputs. S3 keys
        per site: MULTIDC_S3_ACCESS_KEY_<SITE> and MULTIDC_S3_SECRET_KEY_<SITE>, else the
        outputs' sites.<site>.s3, else AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. Exits 0
        when restored (or planned, with --dry-run), 1 when refused (no copy older than TIME),
        declined or incomplete, 2 on bad input.
        """
        report: dict[str, Any] = {"stack": stack, "system": system, "site": site, "status": "failed"}
        code = 0
        shown = errors if as_json else console  # stdout carries only the JSON report with --json

        def announce(text: str) -> None:
            shown.print(text, markup=False, highlight=False, soft_wrap=True)

        try:
            run_restore(stack, system, before, site, source, target_dsn, endpoint, outputs, yes, dry_run,
                        os.environ, report, announce, to_new)
        except (UsageError, LocateError, OutputsError, ProjectNotFound) as error:
            report["error"], code = str(error), BAD_INPUT
        except Refused as error:
            report["error"], code = str(error), REFUSED
            report["status"] = "refused"
        except (BotoCoreError, ClientError) as error:  # named, without a traceback full of client state
            report["error"], code = f"S3 request failed: {error}", REFUSED
        if as_json:
            json.dump(report, sys.stdout, indent=2, default=str)
            sys.stdout.write("\n")
        elif code == 0:
            announce(_outcome(report))
        if code:
            print_error(errors, report["error"])
            raise typer.Exit(code)


def _outcome(report: dict[str, Any]) -> str:
    if report["status"] == "planned":
        return "dry run: nothing was changed"
    result = report["result"]
    if "new_server" in result and "snapshot" in result:
        return redis_command.outcome(result)
    if "new_server" in result and "binlog_range" in result:
        return binlog_command.outcome(result)
    if "new_server" in result:
        return pitr_command.outcome(result)
    if "restored" in result:
        return (f"restored {result['restored']} object(s) ({result['bytes_copied']} bytes, each verified by MD5), "
                f"delete-marked {result['delete_marked']}, {result['kept']} already right, in {result['seconds']}s")
    return f"restored backup {result['backup']} (taken {result['taken_at']}, SHA-256 checked)"
