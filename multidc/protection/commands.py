"""The data protection commands: `multidc restore`. `register(app)` adds them to `multidc`.

`multidc restore` is the ransomware path: it puts one system's data in one site back the
way it was before a time T. Where the data lives comes from the deployed stack's outputs
document (``--outputs FILE``, else the stack through a Pulumi CLI; ``locate`` reads it): the
live buckets, the backup vault, each site's S3 keys and the database to restore into. The
restore itself is the tested library code: ``bucket_restore`` for buckets (from the live
bucket's own versions or from the locked vault copy in the offsite site) and ``db_backup``
for PostgreSQL (the newest ``pg_dump`` backup older than T).

What the outputs say can be overridden, for an operator working around a broken endpoint or
with other keys: ``--endpoint SITE=URL`` beats the document's endpoints,
``MULTIDC_S3_ACCESS_KEY_<SITE>``/``MULTIDC_S3_SECRET_KEY_<SITE>`` beat the document's keys
(which beat ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``), and ``--target-dsn`` beats the
document's database.

Every restore is planned first, read-only; the plan is shown with its target, confirmed
(unless ``--yes``), and only then applied. A plan that finds no copy older than T refuses
and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import typer
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError
from rich.console import Console

from multidc import project
from multidc.project import ProjectNotFound
from multidc.ops.outputs import OutputsError, StackOutputs, load
from multidc.protection.bucket_restore import (
    Action,
    NoCopyBeforeError,
    RestoreIncompleteError,
    ObjectVersion,
    RestorePlan,
    apply_restore,
    current_objects,
    list_versions,
    plan_restore,
)
from multidc.protection.db_backup import BackupError, BackupRecord, list_backups, restore_database_before
from multidc.protection import pitr, pitr_command
from multidc.protection.archive import ArchiveError
from multidc.protection.locate import BucketLocation, LocateError, SystemData, locate
from multidc.console import print_error
from multidc.spec import parse_duration

SOURCES = ("versions", "vault", "auto")
SUPPORTED_KINDS = ("bucket", "postgres")
TARGET_DSN_ENV = "MULTIDC_TARGET_DSN"
OUTPUTS_HELP = ("the deployed stack's outputs: `pulumi stack output --json --show-secrets` saved to a file, or the "
                "file `multidc local up` wrote (default: read through the Pulumi CLI)")
# Exit codes: 0 done (or planned, with --dry-run); 1 refused, declined or incomplete; 2 bad input.
REFUSED, BAD_INPUT = 1, 2

console = Console()
errors = Console(stderr=True)


class UsageError(ValueError):
    """A bad option, or a stack that does not hold what the option names: exit code 2."""


class Refused(RuntimeError):
    """The restore will not run (no copy older than T, declined, or incomplete): exit code 1."""


# --- inputs ----------------------------------------------------------------------------------

def parse_before(value: str, now: Optional[dt.datetime] = None) -> dt.datetime:
    """TIME as ISO 8601 with a zone (``2026-11-27T08:00:00Z``) or a duration ago (``2h``), in UTC."""
    try:
        ago = parse_duration(value)
    except ValueError:
        ago = None
    if ago is not None:
        return (now or dt.datetime.now(dt.timezone.utc)) - ago
    try:
        moment: Optional[dt.datetime] = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise UsageError(
            f"--before {value!r} is not a time: give ISO 8601 with a time zone "
            "(2026-11-27T08:00:00Z, 2026-11-27T13:00:00+05:00) or how long ago (30m, 2h, 1d)")
    return moment.astimezone(dt.timezone.utc)


def parse_endpoints(values: list[str], sites: tuple[str, ...]) -> dict[str, str]:
    """``--endpoint SITE=URL`` options as {site: url}; every SITE must be one of the stack's sites."""
    endpoints: dict[str, str] = {}
    for value in values:
        site, _, url = value.partition("=")
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"--endpoint {value!r}: write SITE=URL, e.g. astana=https://s3.astana.example.kz")
        if site not in sites:
            raise UsageError(f"--endpoint {value!r}: {site!r} is not a site of this stack; "
                             f"its sites: {', '.join(sites)}")
        endpoints[site] = url
    return endpoints


def credential_env(site: str) -> tuple[str, str]:
    """The environment variables holding ``site``'s S3 keys: ``MULTIDC_S3_ACCESS_KEY_<SITE>``, ..."""
    suffix = site.upper().replace("-", "_")
    return f"MULTIDC_S3_ACCESS_KEY_{suffix}", f"MULTIDC_S3_SECRET_KEY_{suffix}"


def site_credentials(site: str, env: Mapping[str, str],
                     deployed: tuple[Optional[str], Optional[str]] = (None, None)) -> tuple[str, str]:
    """``site``'s S3 key pair: its own environment variables, else ``deployed`` (the keys the
    outputs document holds, ``sites.<site>.s3``), else ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``.

    A pair is taken whole: half of a pair is an error, never completed from another source.
    """
    access_name, secret_name = credential_env(site)
    sources = (((access_name, secret_name), (env.get(access_name), env.get(secret_name))),
               ((f"sites.{site}.s3.access_key", f"sites.{site}.s3.secret_key in the outputs"), deployed),
               (("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
                (env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY"))))
    for names, (access, secret) in sources:
        if access and secret:
            return access, secret
        if access or secret:
            raise UsageError(f"S3 keys for site {site!r}: only one of {names[0]} and {names[1]} is set; set both")
    raise UsageError(f"no S3 keys for site {site!r}: the outputs hold none (saved without --show-secrets?); "
                     f"set {access_name} and {secret_name} (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")


@dataclass(frozen=True)
class Endpoint:
    """A bucket as this command reaches it: the declared bucket, on the endpoint actually used."""

    location: BucketLocation
    url: str
    client: Any

    def describe(self) -> dict[str, str]:
        return {"site": self.location.site, "bucket": self.location.bucket, "endpoint": self.url}

    def __str__(self) -> str:
        return f"s3://{self.location.bucket} on {self.url} (site {self.location.site})"


def connect(location: BucketLocation, endpoints: Mapping[str, str], env: Mapping[str, str]) -> Endpoint:
    """A boto3 client for ``location`` with its site's keys, on the overriding endpoint if one is given."""
    import boto3
    from botocore.config import Config

    access, secret = site_credentials(location.site, env, (location.access_key, location.secret_key))
    url = endpoints.get(location.site, location.endpoint)
    client = boto3.client(
        "s3", endpoint_url=url, region_name=location.region,
        aws_access_key_id=access, aws_secret_access_key=secret,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"},
                      connect_timeout=10, read_timeout=120, max_pool_connections=32),
    )
    return Endpoint(location, url, client)


# --- buckets ---------------------------------------------------------------------------------

def _present(plan: RestorePlan) -> set[str]:
    """Keys that existed at the plan's T (restored or already right)."""
    return {k.key for k in plan.keys if k.action is not Action.delete}


def choose_source(versions: Optional[RestorePlan], vault: Optional[RestorePlan]) -> tuple[str, str]:
    """Which copy ``--from auto`` restores from, and why; None means that source has no copy before T.

    The live bucket's own versions are preferred: they are in the same site and newer than
    the vault's last copy. But an attacker with the live site's keys may have deleted old
    versions of some keys; a key the vault held before T that has no version before T in
    the live bucket proves that, and then the vault is used.
    """
    if versions is None and vault is None:
        raise ValueError("choose_source needs at least one plan")
    if versions is None:
        return "vault", "the live bucket has no version older than T (deleted, or younger than T)"
    if vault is None:
        return "versions", "the live bucket has versions older than T and the vault has none to offer"
    lost = sorted(_present(vault) - _present(versions))
    if lost:
        return "vault", (f"{len(lost)} key(s) the vault held before T have no version before T in the live "
                         f"bucket (e.g. {lost[0]!r}): their history was deleted there")
    return "versions", "the live bucket has a version older than T of every key the vault held before T"


@dataclass(frozen=True)
class BucketRestore:
    """A planned bucket restore: the plan, its source and target, and why that source."""

    plan: RestorePlan
    source: str  # "versions" or "vault"
    reason: str
    target: Endpoint
    source_endpoint: Endpoint

    def changes(self) -> dict[str, int]:
        return {"restore": len(self.plan.with_action(Action.restore)),
                "delete_mark": len(self.plan.with_action(Action.delete)),
                "keep": len(self.plan.with_action(Action.keep)), "bytes": self.plan.bytes_to_copy}


def plan_bucket(data: SystemData, site: str, before: dt.datetime, source: str,
                endpoints: Mapping[str, str], env: Mapping[str, str]) -> BucketRestore:
    """List versions and plan the restore of ``site``'s live bucket; reads only.

    Raises ``Refused`` (naming the system, T and the oldest copy of each source) when the
    chosen source, or every source for ``auto``, has no copy older than T.
    """
    target = connect(data.live_bucket(site), endpoints, env)
    if source == "vault" and data.vault is None:
        raise UsageError(f"--from vault: system {data.system!r} has no backup policy, so no vault; "
                         "use --from versions, or add backup: to the system in the spec")
    vault = connect(data.vault, endpoints, env) if data.vault is not None and source != "versions" else None
    live_versions = _listing(target)
    listings = {"the live bucket": live_versions}
    plans: dict[str, Optional[RestorePlan]] = {"versions": None, "vault": None}
    if source in ("versions", "auto"):
        plans["versions"] = _plan_or_none(live_versions, before, None)
    if vault is not None:
        vault_versions = _listing(vault, "" if source == "vault" else " (pass --from versions to restore without it)")
        listings[f"the vault {vault}"] = vault_versions
        plans["vault"] = _plan_or_none(vault_versions, before, current_objects(live_versions))
    if plans["versions"] is None and plans["vault"] is None:
        oldest = "; ".join(
            f"oldest version in {where}: {min(v.last_modified for v in found).isoformat()}" if found
            else f"{where} is empty" for where, found in listings.items())
        raise Refused(f"system {data.system!r} in {site}: no copy older than {before.isoformat()} exists "
                      f"({oldest}); nothing was changed. Pick a later --before.")
    if source == "auto":
        chosen, reason = choose_source(plans["versions"], plans["vault"])
    else:
        chosen, reason = source, f"--from {source}"
    plan = plans[chosen]
    assert plan is not None  # --from X plans only X, refused above; auto never picks a source without one
    source_endpoint = target if chosen == "versions" else vault
    assert source_endpoint is not None
    return BucketRestore(plan, chosen, reason, target, source_endpoint)


def _why(error: Exception, endpoint: Endpoint) -> str:
    """An S3 error, with the way around when the endpoint itself cannot be reached."""
    if isinstance(error, (EndpointConnectionError, ConnectTimeoutError)):
        site = endpoint.location.site
        return (f"{error} (site {site}'s endpoint is down or not reachable from here: check the outputs' "
                f"endpoint, or reach the site another way with --endpoint {site}=URL)")
    return str(error)


def _listing(endpoint: Endpoint, hint: str = "") -> list[ObjectVersion]:
    try:
        return list_versions(endpoint.client, endpoint.location.bucket)
    except (BotoCoreError, ClientError) as error:
        raise Refused(f"cannot list the versions of {endpoint}: {_why(error, endpoint)}; "
                      f"nothing was changed{hint}") from None


def _plan_or_none(versions: list[ObjectVersion], before: dt.datetime,
                  target_current: Optional[dict[str, ObjectVersion]]) -> Optional[RestorePlan]:
    try:
        return plan_restore(versions, before, target_current=target_current)
    except NoCopyBeforeError:
        return None


def bucket_summary(restore: BucketRestore) -> str:
    source = ("its own object versions" if restore.source == "versions"
              else f"the vault copy {restore.source_endpoint}")
    return (f"target: {restore.target}\nsource: {source} ({restore.reason})\n"
            f"plan:   {restore.plan.summary()}")


def apply_bucket(restore: BucketRestore) -> dict[str, Any]:
    """Carry out the confirmed plan; every copied object's MD5 is verified by the library."""
    try:
        report = apply_restore(
            restore.plan,
            source_s3=restore.source_endpoint.client, source_bucket=restore.source_endpoint.location.bucket,
            target_s3=restore.target.client, target_bucket=restore.target.location.bucket)
    except RestoreIncompleteError as error:
        raise Refused(str(error)) from error
    return {"restored": report.restored, "delete_marked": report.deleted, "kept": report.kept,
            "bytes_copied": report.bytes_copied, "seconds": round(report.seconds, 3), "failures": report.failures}


# --- postgres --------------------------------------------------------------------------------

@dataclass(frozen=True)
class DatabaseRestore:
    """A planned database restore: which backup, from which vault, into which database."""

    backup: BackupRecord
    vault: Endpoint
    target_dsn: str = field(repr=False)  # may hold a password
    target: dict[str, str]  # host, port, dbname, user: never the password

    def changes(self) -> dict[str, Any]:
        return {"backup": self.backup.key, "taken_at": self.backup.taken_at.isoformat(), "size": self.backup.size}


def deployed_dsn(data: SystemData, site: str) -> str:
    """The connection string of ``site``'s database as the outputs give it (its password, if any, included)."""
    from psycopg.conninfo import make_conninfo

    database = data.database(site)
    password = database.password.get_secret_value() if database.password is not None else None
    # Without a password (outputs saved without --show-secrets) libpq falls back to PGPASSWORD or ~/.pgpass.
    return make_conninfo(host=database.host, port=str(database.port), dbname=database.database or "postgres",
                         user=database.user or "postgres", password=password, connect_timeout="10")


def describe_dsn(dsn: str) -> dict[str, str]:
    """Where a DSN points (host, port, database, user) without its password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(dsn)
    except Exception as error:  # psycopg raises ProgrammingError with the bad fragment, not the password
        raise UsageError(f"--target-dsn is not a PostgreSQL connection string ({type(error).__name__}); "
                         "write e.g. 'host=db.example port=5432 dbname=core user=restore'") from None
    return {key: str(parts[key]) for key in ("host", "port", "dbname", "user") if parts.get(key)}


def plan_database(data: SystemData, site: str, before: dt.datetime, target_dsn: Optional[str],
                  endpoints: Mapping[str, str], env: Mapping[str, str]) -> DatabaseRestore:
    """Pick the newest backup strictly older than T in the system's vault; reads only.

    The database restored into is ``target_dsn`` when given, else ``site``'s database in the outputs.
    """
    if data.vault is None:
        raise UsageError(f"--system {data.system}: it has no backup policy, so there is no backup to restore; "
                         "add backup: to the system in the spec")
    target_dsn = target_dsn or deployed_dsn(data, site)
    target = describe_dsn(target_dsn)
    vault = connect(data.vault, endpoints, env)
    try:
        backups = list_backups(vault.client, vault.location.bucket, data.system)
    except (BotoCoreError, ClientError) as error:
        raise Refused(f"cannot list the backups of {data.system!r} in {vault}: {_why(error, vault)}; "
                      "nothing was changed") from None
    older = [b for b in backups if b.taken_at < before]
    if not older:
        oldest = (f"the oldest is from {backups[0].taken_at.isoformat()} ({backups[0].key})" if backups
                  else "there are none")
        raise Refused(f"system {data.system!r}: no backup older than {before.isoformat()} in {vault}: {oldest}; "
                      "nothing was changed. Pick a later --before.")
    return DatabaseRestore(older[-1], vault, target_dsn, target)


def database_summary(restore: DatabaseRestore) -> str:
    where = ", ".join(f"{k}={v}" for k, v in restore.target.items())
    return (f"target: database {where}\n"
            f"source: backup {restore.backup.key} taken {restore.backup.taken_at.isoformat()}, "
            f"in the vault {restore.vault}\n"
            "plan:   every object in the backup is dropped and recreated in one transaction "
            "(objects only in the target are left alone)")


def apply_database(restore: DatabaseRestore, system: str, before: dt.datetime) -> dict[str, Any]:
    try:
        record = restore_database_before(restore.target_dsn, restore.vault.location.bucket, system, before,
                                         restore.vault.client)
    except BackupError as error:
        raise Refused(str(error)) from error
    return {"backup": record.key, "taken_at": record.taken_at.isoformat(), "sha256": record.sha256}


# --- the command -----------------------------------------------------------------------------

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
                         f"{' and '.join(SUPPORTED_KINDS)} systems (Kubernetes and ML platforms: velero restore)")
    report["summary"] = summary
    announce(summary)
    if dry_run:
        report["status"] = "planned"
        return
    if not yes:
        _confirm(target_name)
    if isinstance(restore, pitr_command.PitrRestore):
        report["result"] = _apply_pitr(restore, before, stack)
    else:
        report["result"] = apply_bucket(restore) if data.kind == "bucket" else apply_database(restore, system, before)
    report["status"] = "restored"


def _plan_pitr(data: SystemData, site: str, before: dt.datetime, name: str, endpoints: Mapping[str, str],
               env: Mapping[str, str]) -> pitr_command.PitrRestore:
    if data.vault is None:
        raise UsageError(f"--system {data.system}: it has no backup policy, so there is no archive to restore; "
                         "add backup: to the system in the spec")
    vault = connect(data.vault, endpoints, env)
    keys = site_credentials(data.vault.site, env, (data.vault.access_key, data.vault.secret_key))
    database = data.databases.get(site)
    password = database.password.get_secret_value() if database is not None and database.password else None
    try:
        return pitr_command.plan(data, site, before, name, vault.url, keys, password)
    except pitr.TooEarlyError as error:
        raise UsageError(str(error)) from None
    except ArchiveError as error:
        raise Refused(f"{error}; nothing was changed") from None
    except ValueError as error:
        raise UsageError(str(error)) from None


def _apply_pitr(restore: pitr_command.PitrRestore, before: dt.datetime, stack: str) -> dict[str, Any]:
    from multidc.local import deployment

    def keep(record: dict[str, Any]) -> None:
        if deployment.is_up(stack):
            deployment.keep_restored(stack, record)

    try:
        return pitr_command.apply(restore, before, keep)
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
                                             "the last transaction before TIME into a NEW server of this name"),
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
    if "new_server" in result:
        return pitr_command.outcome(result)
    if "restored" in result:
        return (f"restored {result['restored']} object(s) ({result['bytes_copied']} bytes, each verified by MD5), "
                f"delete-marked {result['delete_marked']}, {result['kept']} already right, in {result['seconds']}s")
    return f"restored backup {result['backup']} (taken {result['taken_at']}, SHA-256 checked)"
