"""The barman-cloud command lines and archive settings a PostgreSQL host runs: written once.

Two kinds of host run them, and both render them here: the production archive host, whose
cloud-init (``components/archive_host.py``) writes them into its server's configuration and its
base-backup service, and ``multidc local up`` (``local/archiving.py`` through
``protection/archive.py``). Only how a host launches the tools differs, and a ``ToolHost`` says
it: the archive host runs the ``barman-cloud-*`` scripts of its barman-cli-cloud package; a local
server runs this environment's modules under a Python its unprivileged user can execute.

Pure: nothing here touches a server, a file or the network, so the components import it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

from multidc.contract import ARCHIVE_PREFIX, ARCHIVE_TIMEOUT_S

# The barman-cloud tools by the name this project gives them, as modules of the `barman` package.
MODULES = {
    "wal-archive": "barman.clients.cloud_walarchive",
    "wal-restore": "barman.clients.cloud_walrestore",
    "backup": "barman.clients.cloud_backup",
    "backup-list": "barman.clients.cloud_backup_list",
    "restore": "barman.clients.cloud_restore",
}
# Base backups and WAL are compressed the same way everywhere (restore reads either).
COMPRESSION = "--gzip"
CREDENTIALS_ENV = "AWS_SHARED_CREDENTIALS_FILE"


@dataclass(frozen=True)
class ArchiveTarget:
    """Where one system's archive lives: an S3 endpoint, the vault bucket, and the system's name in it."""

    endpoint: str
    bucket: str
    system: str
    prefix: str = ARCHIVE_PREFIX

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def __str__(self) -> str:
        return f"{self.url}/{self.system} on {self.endpoint}"


@dataclass(frozen=True)
class ToolHost:
    """How one host launches the barman-cloud tools: its keys' file, the launcher, its environment.

    ``python`` None runs the installed ``barman-cloud-<tool>`` scripts (the barman-cli-cloud
    package); a path runs ``<python> -m <module>``. ``env`` is added after the keys' file.
    """

    credentials: str
    python: Optional[str] = None
    env: tuple[tuple[str, str], ...] = ()

    def argv(self, tool: str) -> list[str]:
        return [self.python, "-m", MODULES[tool]] if self.python else [f"barman-cloud-{tool}"]

    def environment(self) -> dict[str, str]:
        return {CREDENTIALS_ENV: self.credentials, **dict(self.env)}


def tool_command(tool: str, target: ArchiveTarget, host: ToolHost, *args: str,
                 options: Sequence[str] = ()) -> list[str]:
    """``barman-cloud-<tool> --endpoint-url E OPTIONS s3://bucket/prefix <system> ARGS`` as an argument list.

    Options go before the positional arguments: argparse cannot match an optional positional
    (``wal_path``) that an option separates from the others.
    """
    return [*host.argv(tool), "--endpoint-url", target.endpoint, *options, target.url, target.system, *args]


def shell_command(tool: str, target: ArchiveTarget, host: ToolHost, *args: str, options: Sequence[str] = ()) -> str:
    """The same, as one shell command line with its environment (for archive_command, restore_command)."""
    env = " ".join(f"{key}={shlex.quote(value)}" for key, value in host.environment().items())
    # %p and %f are PostgreSQL's placeholders and must reach it unquoted.
    return f"env {env} " + " ".join(a if a in ("%p", "%f") else shlex.quote(a)
                                    for a in tool_command(tool, target, host, *args, options=options))


def conf_value(text: str) -> str:
    """``text`` as a quoted postgresql.conf value."""
    return "'" + text.replace("'", "''") + "'"


def archive_settings(target: ArchiveTarget, host: ToolHost, timeout_s: int = ARCHIVE_TIMEOUT_S) -> dict[str, str]:
    """The postgresql.conf settings that archive every WAL segment of a server to ``target``.

    ``archive_mode = on`` archives on a primary; a standby carrying the same settings starts
    archiving when it is promoted, so the archive follows a failover.
    """
    return {
        "archive_mode": "on",
        "archive_command": conf_value(shell_command("wal-archive", target, host, "%p", options=[COMPRESSION])),
        "archive_timeout": f"{timeout_s}s",
    }


def conf_assignments(settings: Mapping[str, str]) -> list[tuple[str, str]]:
    """(name, value as postgresql.conf and ALTER SYSTEM write it) of each setting, in order."""
    return [(key, value if value.startswith("'") else conf_value(value)) for key, value in settings.items()]


def conf_text(settings: Mapping[str, str]) -> str:
    """The settings as postgresql.conf lines (a ``conf.d`` file)."""
    return "".join(f"{key} = {value}\n" for key, value in conf_assignments(settings))


def backup_command(target: ArchiveTarget, host: ToolHost, *, pg_host: str, pg_port: int, pg_user: str) -> list[str]:
    """``barman-cloud-backup`` of the server at ``pg_host:pg_port`` (run on that server's host, as its user)."""
    return tool_command("backup", target, host, options=[COMPRESSION, "--host", pg_host, "--port", str(pg_port),
                                                         "--user", pg_user])


def credentials_text(access_key: str, secret_key: str, region: str = "us-east-1") -> str:
    """An AWS shared credentials file holding the archive writer's keys."""
    return (f"[default]\naws_access_key_id = {access_key}\naws_secret_access_key = {secret_key}\n"
            f"region = {region}\n")
