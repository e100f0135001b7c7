"""Who may write a PostgreSQL system's WAL archive: a dedicated user, its keys, and the vault's bucket policy.

The database host (the server running ``archive_command``) must hold S3 keys, and an attacker who
owns that host holds them too. So they are not the site's keys: they are an EC2 credential of a
user of their own (``<platform>-<system>-archive-writer``, member of the project in the vault's
site), and the vault's bucket policy denies that user, explicitly, every action that removes or
unlocks data (``contract.ARCHIVE_WRITER_DENIED``: deletes of objects and versions, retention and
legal-hold changes, the bypass of governance retention, the bucket's lock, policy, versioning and
lifecycle). An explicit deny wins over whatever the project role allows. COMPLIANCE object lock
holds against everyone on top of it.

The principal is written as Ceph RGW names a Keystone user of a project,
``arn:aws:iam::<project id>:user/<user id>``: only a real cloud shows that the provider's S3 maps
it (docs/ransomware.md). The keys are Pulumi secrets; the outputs document hands them to the
archive host (``systems.<x>.backup.archive.writer``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_openstack as openstack
import pulumi_random as random

from multidc.components.bucket_provider import canonical_policy
from multidc.components.site import Site
from multidc.contract import ARCHIVE_ACCESS, ARCHIVE_PREFIX, ARCHIVE_WRITER_ALLOWED, ARCHIVE_WRITER_DENIED

# The role Keystone gives a project's ordinary users (OpenStack's default role set).
MEMBER_ROLE = "member"


def writer_principal(project_id: str, user_id: str) -> str:
    """The writer as an S3 bucket policy names a Keystone user of a project (Ceph RGW's form)."""
    return f"arn:aws:iam::{project_id}:user/{user_id}"


def vault_policy(bucket: str, principal: str, prefix: str = ARCHIVE_PREFIX) -> str:
    """The vault's bucket policy: the writer adds and reads under ``prefix``, and may never delete or unlock."""
    return canonical_policy({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ArchiveWriterWritesAndReads", "Effect": "Allow", "Principal": {"AWS": [principal]},
             "Action": list(ARCHIVE_WRITER_ALLOWED),
             "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/{prefix}/*"]},
            {"Sid": "ArchiveWriterNeverDeletesOrUnlocks", "Effect": "Deny", "Principal": {"AWS": [principal]},
             "Action": list(ARCHIVE_WRITER_DENIED),
             "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]},
        ],
    })


@dataclass(frozen=True)
class ArchiveAccessArgs:
    """The system whose archive this is, the vault's site (its cloud holds the user) and the vault's name."""

    platform: str
    system: str
    site: Site
    project: str
    """The OpenStack project of the vault's site (``cloud.project``)."""
    vault: str
    prefix: str = ARCHIVE_PREFIX
    """Where in the vault the writer writes (PostgreSQL's WAL archive, or MySQL's binlog archive)."""


class ArchiveAccess(pulumi.ComponentResource):
    """The archive writer of one system: its user, EC2 credential (secret) and the vault's bucket policy."""

    user_name: str
    access_key: pulumi.Output[str]
    """EC2 access key of the writer (a secret): the only S3 key the archive host holds."""
    secret_key: pulumi.Output[str]
    """EC2 secret key of the writer (a secret)."""
    bucket_policy: pulumi.Output[str]
    """The vault's bucket policy (canonical JSON), for the vault ``Bucket``'s ``policy`` input."""

    def __init__(self, name: str, args: ArchiveAccessArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        self.user_name = f"{args.platform}-{args.system}-archive-writer"
        contract: dict[str, Any] = {"system": args.system, "site": args.site.name, "vault": args.vault,
                                    "user": self.user_name, "denied": list(ARCHIVE_WRITER_DENIED)}
        super().__init__(ARCHIVE_ACCESS, name, contract, opts)
        on_site = pulumi.ResourceOptions(parent=self, provider=args.site.provider)
        lookup = pulumi.InvokeOutputOptions(parent=self, provider=args.site.provider)
        project = openstack.identity.get_project_output(name=args.project, opts=lookup)
        role = openstack.identity.get_role_output(name=MEMBER_ROLE, opts=lookup)
        password = random.RandomPassword(f"{name}-password", length=32, special=False, opts=pulumi.ResourceOptions(
            parent=self, provider=args.site.random_provider))
        user = openstack.identity.User(
            f"{name}-writer", name=self.user_name, default_project_id=project.id, password=password.result,
            description=f"multidc: writes {args.system}'s archive into {args.vault}; may never delete",
            opts=on_site)
        membership = openstack.identity.RoleAssignment(
            f"{name}-member", user_id=user.id, project_id=project.id, role_id=role.id, opts=on_site)
        credential = openstack.identity.Ec2CredentialV3(
            f"{name}-credential", user_id=user.id, project_id=project.id,
            opts=pulumi.ResourceOptions.merge(on_site, pulumi.ResourceOptions(
                depends_on=[membership], additional_secret_outputs=["access", "secret"])))
        self.access_key = pulumi.Output.secret(credential.access)
        self.secret_key = pulumi.Output.secret(credential.secret)
        self.bucket_policy = pulumi.Output.all(project.id, user.id).apply(
            lambda ids: vault_policy(args.vault, writer_principal(ids[0], ids[1]), args.prefix))
        self.register_outputs({**contract, "access_key": self.access_key, "secret_key": self.secret_key,
                               "bucket_policy": self.bucket_policy})
