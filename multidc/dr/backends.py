"""The side effects of a runbook, behind small backends the executor calls by action prefix.

`db.*` and `storage.*` act on real servers and endpoints (in the drill: real local
PostgreSQL and S3 processes); `dns.*` on a DNS server that takes RFC 2136 updates or on
Designate (multidc.dr.dns); `k8s.*` and `pulumi.*` need a real cloud. A step no
backend can act on raises NeedsOperator (multidc.dr.states) with what to do by hand: the
executor stops there and it is never counted as done. Each backend states what is atomic,
what is idempotent and its timeout. Every verb is idempotent, so the executor may repeat a
step that was cut short by a crash.
"""

from __future__ import annotations

import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Protocol

import boto3
import psycopg
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from multidc.protection import postgres as pg
from multidc.protection.rclone import CopyMode, S3Location, run_copy
from multidc.spec import Platform, parse_platform, stack_file

from .runbook import Step
from .states import NeedsOperator, NotApplicable


class BackendError(RuntimeError):
    """A step could not be carried out; the message names the step's target and the fix."""


class Backend(Protocol):
    """Carries out the steps whose action starts with its prefix; returns what it did."""

    def run(self, step: Step) -> str: ...


@dataclass
class RecordingBackend:
    """Does nothing: the stand-in where no backend can act (a manual step, a cloud-only one run locally).

    It records the step and raises NeedsOperator with what to do by hand, so the executor
    stops there and the step is never counted as done. `why` says why nothing could act
    (e.g. 'no DNS record in the outputs'). Atomic and idempotent trivially; no timeout.
    """

    why: str
    records: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def run(self, step: Step) -> str:
        params = ", ".join(f"{k}={v}" for k, v in step.params)
        line = f"{step.action} {step.system or ''}@{step.site} {params}".strip()
        with self._lock:
            self.records.append(line)
        raise NeedsOperator(f"not done ({self.why}): {line}. By hand: {step.title}; check: {step.verification}")


# --- database ----------------------------------------------------------------------------------

@dataclass
class DatabaseBackend:
    """PostgreSQL moves through multidc.protection.postgres on the servers it is given.

    `servers` maps (system, site) to a server (connection info; a ControlledServer where
    the toolkit runs the process); `names` maps a site to the application_name its standby
    streams under. Steps for systems without a server go to `fallback` (record mode).

    fence: atomic per server (one reload); idempotent; timeout `timeout`.
    promote: atomic (pg_promote); idempotent; refuses while the old primary takes writes.
    relax: atomic (one ALTER SYSTEM + reload, multidc.protection.postgres.relax_synchronous), then a
    probe write must commit; idempotent; timeout `timeout` for each.
    wait_replay: read-only; timeout `timeout`.
    reprotect: not atomic (pg_rewind; rerun, or rebuild with a base backup); idempotent.
    """

    servers: Mapping[tuple[str, str], Any]
    auth: pg.ReplicationAuth
    names: Mapping[str, str]
    fallback: Backend
    timeout: float = 30.0

    def run(self, step: Step) -> str:
        server = self.servers.get((step.system, step.site))
        if server is None:
            return self.fallback.run(step)
        verb = step.action.split(".", 1)[1]
        handler: Callable[[Step, Any], str] = getattr(self, f"_{verb}", None)
        if handler is None:
            return self.fallback.run(step)
        return handler(step, server)

    def _peer(self, step: Step) -> Any:
        other = step.param("to_site") if step.site == step.param("from_site") else step.param("from_site")
        return self.servers.get((step.system, other))

    def _fence(self, step: Step, server: Any) -> str:
        answers = pg.answers(server)  # one quick probe: a host behind a cut link is not waited for twice
        if answers and pg.accepts_writes(server, timeout=2):
            pg.fence(server, method="read_only", timeout=self.timeout)
            return f"{pg.address(server)} fenced read-only"
        if answers and _reachable(server):
            return f"{pg.address(server)} already refuses writes"
        # Split brain, step by step: the old primary's process died with its site, but its
        # data directory did not. When the site comes back, a plain restart brings it up as
        # a primary; clients whose connection string lists it first (host=a,b ...
        # target_session_attrs=read-write) write there again, the promoted standby takes
        # writes too, and two timelines diverge: the rows acknowledged on the old one are
        # thrown away by pg_rewind at failback. So before anything is promoted, the old
        # primary is made to start as a standby: PostgreSQL then refuses every write,
        # including explicit READ WRITE transactions and superusers. On a real cloud the
        # same guard is the provider's isolation of the site (the manual.isolate step).
        data_dir = getattr(server, "data_dir", None)
        if data_dir is None:
            return f"{pg.address(server)} unreachable; fencing left to the provider's isolation of the site"
        guard = Path(data_dir) / "standby.signal"
        if not guard.exists():
            guard.write_text("")
            owner = Path(data_dir).stat()
            if os.geteuid() == 0:
                os.chown(guard, owner.st_uid, owner.st_gid)
        return f"{pg.address(server)} unreachable; it will start as a standby and refuse writes"

    def _unfence(self, step: Step, server: Any) -> str:
        pg.unfence(server, timeout=self.timeout)
        return f"{pg.address(server)} unfenced"

    def _promote(self, step: Step, server: Any) -> str:
        pg.promote(server, old_primary=self._peer(step), timeout=self.timeout)
        if not pg.accepts_writes(server, timeout=5):
            raise BackendError(f"{step.system}@{step.site}: promoted but {pg.address(server)} still refuses writes; "
                               "check default_transaction_read_only on it")
        return f"{pg.address(server)} promoted and takes writes"

    def _relax(self, step: Step, server: Any) -> str:
        # Only a surviving primary is relaxed: its sync standby died with the lost site, so every
        # commit would wait for it forever. Its commits are asynchronous from here until the
        # failback's re-protect step makes a standby synchronous again.
        pg.relax_synchronous(server, timeout=self.timeout)
        if not _write_commits(server, timeout=self.timeout):
            raise BackendError(f"{step.system}@{step.site}: synchronous replication relaxed on {pg.address(server)} "
                               f"but a probe write did not commit within {self.timeout:.0f}s; check that it is a "
                               "writable primary and that synchronous_standby_names is empty there")
        return (f"{pg.address(server)} no longer waits for a synchronous standby (standby site "
                f"{step.param('standby_site')} lost); a probe write committed")

    def _wait_replay(self, step: Step, server: Any) -> str:
        primary = self._peer(step)
        lsn = pg.wait_for_replay(primary, server, timeout=self.timeout)
        return f"{pg.address(server)} replayed up to {lsn}"

    def _reprotect(self, step: Step, server: Any) -> str:
        new_primary = self._peer(step)
        name = self.names[step.site]
        if not hasattr(server, "data_dir"):
            raise BackendError(
                f"{step.system}@{step.site}: re-protecting {pg.address(server)} with pg_rewind needs its data "
                "directory, which a managed database does not give; rebuild the standby from the new primary "
                "(pulumi up declares it again) or re-protect it by hand, then run failback again")
        if not server.is_running():
            # Crash recovery first, as the standby the fence made it: pg_rewind's own
            # single-user recovery refuses a data directory holding standby.signal.
            server.start()
        pg.rewind_as_standby(server, new_primary, self.auth, name=name, timeout=max(self.timeout, 120))
        if step.param("mode") == "sync":
            pg.set_replication_mode(new_primary, "sync", standby_names=[name], timeout=self.timeout)
        return f"{pg.address(server)} streams from {pg.address(new_primary)} ({step.param('mode')})"


def _write_commits(server: Any, *, timeout: float) -> bool:
    """Whether a transaction that writes WAL commits on `server` within `timeout`.

    A commit waiting for a synchronous standby is cancelled by statement_timeout only with a
    warning (it stays committed locally), so the probe's own thread is given the timeout.
    """
    outcome: list[bool] = []

    def probe() -> None:
        try:
            with psycopg.connect(pg.conninfo(server), autocommit=True) as conn:
                with conn.transaction():
                    # Catalog rows: the commit writes WAL, so it waits for a sync standby if one is required.
                    conn.execute("CREATE TEMP TABLE multidc_write_probe () ON COMMIT DROP")
                outcome.append(True)
        except psycopg.Error:
            outcome.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return outcome == [True]


def _reachable(server: Any) -> bool:
    try:
        pg.is_in_recovery(server, timeout=2)
        return True
    except pg.ReplicationError:
        return False


# --- object storage ----------------------------------------------------------------------------

def s3_client(location: S3Location) -> Any:
    """A boto3 client on a location's endpoint (path-style, as S3-compatible stores want)."""
    return boto3.client("s3", endpoint_url=location.endpoint, region_name=location.region,
                        aws_access_key_id=location.access_key, aws_secret_access_key=location.secret_key,
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2},
                                      connect_timeout=5, read_timeout=30))


@dataclass
class StorageBackend:
    """Bucket moves: which site's bucket takes writes, and which way copies run.

    `buckets` maps (system, site) to the bucket's location. `writes_to` is the one fact
    applications read to know where to write (in a cloud: the DNS name the dns step
    switches; in the drill: read by the writer).

    switch: atomic (one assignment), verified by a probe write and read; idempotent; boto3 timeouts (5 s connect).
    final_copy, reverse_copy: rclone copy (adds only, never deletes); not atomic, idempotent (a rerun
    copies what is missing); timeout `timeout`.
    """

    buckets: Mapping[tuple[str, str], S3Location]
    fallback: Backend
    timeout: float = 600.0
    writes_to: dict[str, str] = field(default_factory=dict)

    def run(self, step: Step) -> str:
        location = self.buckets.get((step.system, step.site))
        verb = step.action.split(".", 1)[1]
        handler = getattr(self, f"_{verb}", None)
        if location is None or handler is None:
            return self.fallback.run(step)
        return handler(step, location)

    def _other(self, step: Step) -> S3Location:
        other = step.param("to_site") if step.site == step.param("from_site") else step.param("from_site")
        return self.buckets[(step.system, other)]

    def _switch(self, step: Step, location: S3Location) -> str:
        s3 = s3_client(location)
        key = f"multidc-dr-probe/{step.id}"
        s3.put_object(Bucket=location.bucket, Key=key, Body=step.id.encode())
        if s3.get_object(Bucket=location.bucket, Key=key)["Body"].read() != step.id.encode():
            raise BackendError(f"{step.system}@{step.site}: probe object read back differs on {location.endpoint}")
        s3.delete_object(Bucket=location.bucket, Key=key)
        self.writes_to[step.system] = step.site
        return f"writes to {step.system} go to {location.endpoint}/{location.bucket}"

    def _final_copy(self, step: Step, location: S3Location) -> str:
        # From the old primary's bucket into the new primary's, whichever site the step names.
        from_site, to_site = step.param("from_site"), step.param("to_site")
        source, target = self.buckets.get((step.system, from_site)), self.buckets.get((step.system, to_site))
        if target is None:
            return self.fallback.run(step)
        lost = ("no bucket of it is known there" if source is None
                else _unreachable(source))
        if lost:
            raise NotApplicable(f"the source site {from_site} is lost ({lost}); {step.system} in {to_site} keeps "
                                "what the last scheduled copy brought, objects written after it are not copied")
        result = run_copy(source, target, mode=CopyMode.copy, timeout=self.timeout)
        return (f"copied {source.endpoint}/{source.bucket} ({from_site}) -> {target.endpoint}/{target.bucket} "
                f"({to_site}) in {result.seconds:.1f}s")

    def _reverse_copy(self, step: Step, location: S3Location) -> str:
        source = self._other(step)
        s3 = s3_client(location)
        try:
            s3.head_bucket(Bucket=location.bucket)
        except ClientError as error:
            # A site that burnt comes back empty. Its bucket is a resource of the stack: creating it
            # here would leave Pulumi's state without it (and without its versioning, lock and
            # lifecycle rules), so the stack is deployed again first.
            raise BackendError(
                f"{step.system}@{step.site}: bucket {location.bucket} does not exist on {location.endpoint} "
                f"({error.response.get('Error', {}).get('Code', error)}); the reverse copy never creates buckets. "
                f"Deploy the stack again so that it declares the bucket ({step.site} back in the spec, then "
                "`pulumi up`; locally `multidc local start --site " + step.site + "`), then rerun") from error
        result = run_copy(source, location, mode=CopyMode.copy, timeout=self.timeout)
        return f"copied {source.endpoint}/{source.bucket} back into {location.endpoint} in {result.seconds:.1f}s"


def _unreachable(location: S3Location) -> str:
    """Why a bucket cannot be read from ('' if it can)."""
    try:
        s3_client(location).head_bucket(Bucket=location.bucket)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("404", "NoSuchBucket"):
            return f"{location.endpoint} has no bucket {location.bucket}"
        raise BackendError(f"{location.endpoint}/{location.bucket}: {code or error}; check the credentials of the "
                           "bucket in --targets") from error
    except BotoCoreError as error:
        return f"{location.endpoint} does not answer: {error}"
    return ""


# --- Pulumi: real cloud only (DNS: multidc.dr.dns, .designate; Kubernetes: multidc.dr.kubernetes) ----------

def flip_platform(platform: Platform, from_site: str, to_site: str,
                  only: Optional[frozenset[str]] = None) -> Platform:
    """The spec after a failover: `to_site` serves what `from_site` served.

    Swaps the two sites' roles; every system served from `from_site` with a copy in
    `to_site` (of them, only those in `only`, if given: a failback moves back only what
    the failover moved) lists `to_site` first; an offsite backup kept in `to_site` moves to
    `from_site` (an offsite copy must not sit in the primary); an ML platform keeps
    training where it did unless that was `from_site`.
    """
    data = platform.model_dump(mode="json", exclude_none=True)
    for site in data["sites"]:
        if site["name"] in (from_site, to_site):
            site["role"] = {"primary": "secondary", "secondary": "primary"}.get(site["role"], site["role"]) \
                if site["role"] in ("primary", "secondary") else site["role"]
    for system, spec_system in zip(data["systems"], platform.systems):
        if system["sites"][0] != from_site or to_site not in system["sites"] \
                or (only is not None and system["name"] not in only):
            continue
        if "ml" in system and system["ml"].get("site") is None:
            trains = platform.ml_site(spec_system)
            system["ml"]["site"] = to_site if trains == from_site else trains
        system["sites"] = [to_site] + [s for s in system["sites"] if s != to_site]
        backup = system.get("backup")
        if backup and backup["offsite_site"] == to_site:
            backup["offsite_site"] = _offsite_after_flip(data, system["name"], from_site, to_site)
    return parse_platform(data, f"{platform.name} flipped to {to_site}")


def _offsite_after_flip(data: dict, system: str, from_site: str, to_site: str) -> str:
    """Where a system's backups go once `to_site` serves it: a site other than `to_site` with a
    cluster to run the pull jobs, the old primary first."""
    with_cluster = {s for item in data["systems"] if item["kind"] == "kubernetes" for s in item["sites"]}
    order = [from_site, *(site["name"] for site in data["sites"])]
    for site in order:
        if site != to_site and site in with_cluster:
            return site
    raise BackendError(
        f"after the failover to {to_site}, the backups of {system} need an offsite site with a kubernetes system "
        f"to pull them, and no site other than {to_site} has one: declare a small cluster in {from_site} "
        "(or another site) in the spec, then rerun this step")


@dataclass
class PulumiBackend:
    """Make the code match reality: write the flipped spec into the stack file, then `pulumi up`.

    The stack file is edited in place by multidc.dr.stackfile (round-trip: comments, key order,
    `encryptionsalt` and `secure:` values stay byte for byte) and the diff is returned. With a
    Pulumi CLI on PATH the Automation API selects the stack (stackConfigDir stacks/) and runs
    `up`: not atomic (Pulumi applies resource by resource; rerun to finish), idempotent (a
    second up with the same spec changes nothing), timeout: Pulumi's own. Without a CLI the
    step needs an operator to run `pulumi up`. With `write=False` nothing is written and the
    offline re-plan diff says what `pulumi up` would add, delete and change.
    """

    platform: Platform
    root: Path
    plan: Optional[Callable[[Platform, str], Any]] = None  # multidc.plan.capture.plan
    write: bool = True
    not_deployed_by_pulumi: Optional[str] = None  # why the step does not apply (a local deployment)

    def run(self, step: Step) -> str:
        from .stackfile import StackFileError, write_platform

        if self.not_deployed_by_pulumi:
            raise NotApplicable(self.not_deployed_by_pulumi)

        from_site = step.param("from_site") or self.platform.primary.name
        systems = step.param("systems")
        flipped = flip_platform(self.platform, from_site, step.site,
                                None if systems is None else frozenset(filter(None, systems.split(","))))
        stack = step.param("stack")
        if not self.write:
            raise NeedsOperator(f"dry run: the stack file was not changed; offline re-plan: "
                                f"{self._offline_diff(flipped, stack)}")
        path = stack_file(stack, self.root)
        try:
            diff = write_platform(path, self.platform, flipped)
        except StackFileError as error:
            raise BackendError(str(error)) from error
        written = (f"{path} now serves {step.site}:\n{diff}" if diff
                   else f"{path} already serves {step.site} (no change)")
        if shutil.which("pulumi") is None:
            raise NeedsOperator(f"{written}\nno Pulumi CLI on PATH, nothing was deployed: run `pulumi up --stack "
                                f"{stack}` in {self.root}")
        from pulumi import automation as auto

        result = auto.select_stack(stack_name=stack, work_dir=str(self.root)).up(on_output=lambda _: None)
        if result.summary.result != "succeeded":
            raise BackendError(f"pulumi up --stack {stack}: {result.summary.result}; {written}")
        return f"{written}\npulumi up: {result.summary.result}, {result.summary.resource_changes}"

    def _offline_diff(self, flipped: Platform, stack: str) -> str:
        if self.plan is None:
            return "not computed (no planner given)"
        before, after = self.plan(self.platform, stack), self.plan(flipped, stack)
        old = {n.urn: n for n in before if n.custom}
        new = {n.urn: n for n in after if n.custom}
        changed = [u for u in old.keys() & new.keys() if old[u].inputs != new[u].inputs]
        return f"{len(new.keys() - old.keys())} to add, {len(old.keys() - new.keys())} to delete, {len(changed)} to change"
