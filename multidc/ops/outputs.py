"""The deployed state: the stack outputs document, read and validated.

Written by the Pulumi program (`multidc.components.outputs`, exported under the key
`multidc`) or by `multidc local up`; read here from `--outputs FILE` (what
`pulumi stack output --json --show-secrets` prints, whole or just its `multidc` key) or,
when a Pulumi CLI is on PATH, from the stack itself through the Automation API. The
document says where things are; who is primary right now is probed live by the
operations, so the same file serves before and after a failover.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from multidc.contract import OUTPUTS_KEY, OUTPUTS_SCHEMA

SECRET_MASK = "[secret]"


class OutputsError(ValueError):
    """The deployed state cannot be read; the message names the source, the problem and the fix."""


def _secret(value: Any) -> Any:
    # `pulumi stack output` without --show-secrets prints secrets as "[secret]": no credential at all.
    return None if value == SECRET_MASK else value


class _Model(BaseModel):
    # Machine-written: unknown keys from a newer v1 writer are kept, not refused.
    model_config = ConfigDict(extra="allow", frozen=True)


class LocalServer(_Model):
    """Only in documents `multidc local up` writes: the directory of a local server (its data
    directory is `data/` in it), which the fence and re-protect steps reach as the operator of a
    self-managed server does, and (MariaDB) its administrative login, whose password is the placement's."""

    base_dir: str
    admin_user: Optional[str] = None
    netns: Optional[str] = Field(None, description="the network namespace the server runs in (`multidc local up "
                                                   "--netns`): it is started there again (`ip netns exec`)")


class Database(_Model):
    engine: str
    host: str
    port: int
    database: Optional[str] = None
    user: Optional[str] = None
    password: Optional[SecretStr] = None
    parameters: Optional[dict[str, str]] = Field(
        default=None, description="what the instance's configuration group sets (secrets left out): server "
                                  "parameters its login cannot set by SQL")
    local: Optional[LocalServer] = None

    _masked = field_validator("password", mode="before")(_secret)


class Bucket(_Model):
    endpoint: str
    bucket: str
    region: str = "us-east-1"


class Cluster(_Model):
    name: str
    api_address: Optional[str] = None
    kubeconfig: Optional[SecretStr] = None

    _masked = field_validator("kubeconfig", mode="before")(_secret)


class LoadBalancer(_Model):
    """The Octavia load balancer in front of a VM group's placement."""

    vip_address: Optional[str] = None
    floating_ip: Optional[str] = None
    address: Optional[str] = None
    urn: Optional[str] = None


class ServiceName(_Model):
    """A record set a system's clients resolve, declared alike in every site listed in ``sites``."""

    endpoint: Optional[str] = Field(None, description="the ML platform endpoint it names (jupyterhub, mlflow, "
                                                      "model-<name>); null for the system's own name")
    name: str
    zone: str
    type: str = "A"
    ttl: int
    visibility: Literal["public", "private"]
    sites: list[str] = Field(default_factory=list)
    records: list[str] = Field(default_factory=list)
    site_addresses: dict[str, str] = Field(default_factory=dict)


class Placement(_Model):
    role: Literal["primary", "standby", "active"]
    scale: str = "full"
    replication_mechanism: Optional[str] = None
    replicates_from: Optional[str] = None
    volume_gb: Optional[int] = None
    dns_record: Optional[str] = None
    database: Optional[Database] = None
    bucket: Optional[Bucket] = None
    cluster: Optional[Cluster] = None
    replication_link: Optional[dict[str, Any]] = None
    load_balancer: Optional[LoadBalancer] = None
    urn: Optional[str] = None


class Archive(_Model):
    """Continuous archiving into the vault, PostgreSQL's WAL (barman-cloud) or MySQL's binlog (mariadb-binlog):
    ``multidc restore --to-new`` reads it."""

    tool: str
    prefix: str
    server_name: str
    archive_timeout_s: int = Field(description="the bound on the archive's lag: archive_timeout (WAL), the "
                                               "uploader's interval plus one upload (binlog)")
    runs_on: str = Field(description="primary (a self-managed server archives itself), or archive-host where the "
                                     "provider keeps archive_command (managed databases): a logical subscriber in "
                                     "the vault's site archives and takes the base backups; for a binlog archive "
                                     "runner-cluster (the streamer in the offsite site's cluster) or local (a local "
                                     "deployment's streamer)")
    host: Optional[str] = Field(None, description="the archive host's address on the vault site's network "
                                                  "(runs_on archive-host)")
    writer: Optional["S3Keys"] = Field(None, description="the archive host's keys (secrets): an EC2 credential of "
                                         "a user the vault's bucket policy denies every delete and unlock")


class Backup(_Model):
    site: str
    protects_site: str
    schedule: str
    immutable_days: int = 0
    object_lock_mode: Optional[str] = None
    mechanism: str
    vault: Bucket
    urn: Optional[str] = None
    archive: Optional[Archive] = None


class Copy(_Model):
    source_site: str
    destination_site: str
    schedule: str
    urn: Optional[str] = None


class ReplicationAuth(_Model):
    """The role standbys stream with, where the deployment has one (self-managed PostgreSQL)."""

    user: str = "replicator"
    password: Optional[SecretStr] = None

    _masked = field_validator("password", mode="before")(_secret)


class System(_Model):
    kind: str
    tier: str
    topology: str
    replication: Optional[str] = None
    rpo_s: float
    rto_s: float
    primary_site: str
    sites: list[str]
    placements: dict[str, Placement]
    backup: Optional[Backup] = None
    copies: list[Copy] = Field(default_factory=list)
    replication_auth: Optional[ReplicationAuth] = None
    service_names: list[ServiceName] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _one_name(cls, data: Any) -> Any:
        # v1 documents written before ML endpoints had names carry one `service_name` (or null).
        if isinstance(data, dict) and "service_name" in data and "service_names" not in data:
            data = {**data, "service_names": [data["service_name"]] if data["service_name"] else []}
            del data["service_name"]
        return data


class S3Keys(_Model):
    access_key: Optional[SecretStr] = None
    secret_key: Optional[SecretStr] = None

    _masked = field_validator("access_key", "secret_key", mode="before")(_secret)


class DnsServer(_Model):
    """An authoritative DNS server of the site's zone that takes RFC 2136 updates signed with a TSIG key
    (an on-prem server of a hybrid stack, or the local one of a test); absent where Designate serves."""

    address: str
    port: int = 53
    zone: str
    tsig_key_name: str
    tsig_algorithm: str = "hmac-sha256"
    tsig_secret: Optional[SecretStr] = None

    _masked = field_validator("tsig_secret", mode="before")(_secret)


class Site(_Model):
    role: str
    region: Optional[str] = None
    s3_endpoint: Optional[str] = None
    dns_zone: Optional[str] = None
    s3: S3Keys = Field(default_factory=S3Keys)
    dns_server: Optional[DnsServer] = None
    etcd: Optional[str] = Field(None, description="client URL of the site's etcd member (automatic failover: "
                                                  "`multidc watch --etcd`, `status`); absent where none is known")


class Witness(_Model):
    name: str
    endpoint: Optional[str] = None
    etcd: Optional[str] = Field(None, description="client URL of the etcd member in the witness location")


class StackOutputs(_Model):
    """The whole document (docs/outputs.md; JSON Schema in docs/outputs.schema.json)."""

    schema_: Literal["multidc.outputs/v1"] = Field(alias="schema")
    stack: str
    platform: str
    sites: dict[str, Site]
    witness: Optional[Witness] = None
    interconnects: list[list[str]] = Field(default_factory=list)
    systems: dict[str, System]
    local: bool = False  # True in documents `multidc local up` writes

    def system(self, name: str) -> System:
        if name not in self.systems:
            raise OutputsError(f"--system {name}: the deployed stack {self.stack!r} has no such system; "
                               f"it has: {', '.join(sorted(self.systems))}")
        return self.systems[name]

    def dump(self) -> dict[str, Any]:
        """The document as JSON data, secrets in plaintext (what `--show-secrets` prints)."""
        def reveal(value: Any) -> Any:
            if isinstance(value, SecretStr):
                return value.get_secret_value()
            if isinstance(value, dict):
                return {k: reveal(v) for k, v in value.items()}
            if isinstance(value, list):
                return [reveal(v) for v in value]
            return value

        return reveal(self.model_dump(by_alias=True, mode="python"))


def parse(data: Any, source: str) -> StackOutputs:
    """Validate a document; OutputsError lists every problem as a dotted path."""
    if isinstance(data, dict) and OUTPUTS_KEY in data and "schema" not in data:
        data = data[OUTPUTS_KEY]  # the whole `pulumi stack output --json` map
    if not isinstance(data, dict):
        raise OutputsError(f"{source}: expected a JSON object (the `{OUTPUTS_KEY}` stack output), "
                           f"got {type(data).__name__}")
    schema = data.get("schema")
    if schema != OUTPUTS_SCHEMA:
        found = "no 'schema' key" if schema is None else f"schema {schema!r}"
        raise OutputsError(f"{source}: {found}; this multidc reads {OUTPUTS_SCHEMA} documents. Give the output "
                           f"of `pulumi stack output {OUTPUTS_KEY} --json --show-secrets` of a stack deployed "
                           "with this version, or of `multidc local up`")
    try:
        return StackOutputs.model_validate(data)
    except ValidationError as error:
        problems = "\n  ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
        raise OutputsError(f"{source}: {error.error_count()} problem(s) in the outputs document\n  {problems}") \
            from None


def read_file(path: Path) -> StackOutputs:
    try:
        text = path.read_text()
    except OSError as error:
        raise OutputsError(f"--outputs {path}: {error.strerror or error}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise OutputsError(f"--outputs {path}: not JSON ({error.msg} at line {error.lineno}, column "
                           f"{error.colno}); give the output of `pulumi stack output --json --show-secrets`") from None
    return parse(data, f"--outputs {path}")


def from_pulumi(stack: str, work_dir: Path) -> StackOutputs:
    """The outputs of a deployed stack through the Automation API (needs a Pulumi CLI and a login).

    Not exercised on the project's CI machine (no Pulumi CLI there): `--outputs FILE` is.
    """
    from pulumi import automation as auto

    try:
        outputs = auto.select_stack(stack_name=stack, work_dir=str(work_dir)).outputs()
    except auto.errors.CommandError as error:
        raise OutputsError(f"stack {stack}: the Pulumi CLI could not read its outputs: {error}") from None
    if OUTPUTS_KEY not in outputs:
        raise OutputsError(f"stack {stack}: no `{OUTPUTS_KEY}` output; run `pulumi up` with this version first")
    return parse(outputs[OUTPUTS_KEY].value, f"stack {stack} (pulumi stack output {OUTPUTS_KEY})")


def load(stack: str, outputs: Optional[Path], work_dir: Path) -> StackOutputs:
    """From `--outputs FILE`, else from the stack through a Pulumi CLI; neither: OutputsError naming both."""
    if outputs is not None:
        document = read_file(outputs)
    elif shutil.which("pulumi") is not None:
        document = from_pulumi(stack, work_dir)
    else:
        raise OutputsError(
            f"stack {stack}: where it is deployed is not known. Give --outputs FILE (the output of "
            f"`pulumi stack output --json --show-secrets`, or the file `multidc local up` wrote), or run this "
            "where a Pulumi CLI is on PATH and logged in, so that the stack's outputs are read directly")
    if document.stack != stack and document.platform != stack:
        raise OutputsError(f"--outputs: the document is of stack {document.stack!r}, not {stack!r}; "
                           "give the outputs of the stack you named")
    return document


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the document (docs/outputs.schema.json is this, written by a test)."""
    return StackOutputs.model_json_schema(by_alias=True)
