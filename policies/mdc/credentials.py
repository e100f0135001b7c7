"""Reading values for credentials: by name, by value, nested, in URLs and in boot scripts.

What a policy is given has the SDK's secret wrapper removed; `wire.raw` gives the properties
as the engine sent them, so a value the program made a Pulumi secret is recognised and is
never a finding. A boolean, a number, an unknown, a reference (to a Kubernetes Secret, an
environment variable, a file, a secret store) is never a credential either.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterator

from pulumi_policy.proxy import (UNKNOWN_ARCHIVE_VALUE, UNKNOWN_ARRAY_VALUE, UNKNOWN_ASSET_VALUE,
                                 UNKNOWN_BOOLEAN_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_OBJECT_VALUE,
                                 UNKNOWN_STRING_VALUE)

from mdc import wire
from mdc.common import plain

_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_UNKNOWNS = frozenset({UNKNOWN_ARCHIVE_VALUE, UNKNOWN_ARRAY_VALUE, UNKNOWN_ASSET_VALUE, UNKNOWN_BOOLEAN_VALUE,
                       UNKNOWN_NUMBER_VALUE, UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE})

# Names that hold a credential: passwords, secret keys, tokens, pre-shared keys, private keys.
_CREDENTIAL = re.compile(r"(?i)(password|passwd|passphrase|secret|token|psk|private[_-]?key|api[_-]?key|"
                         r"access[_-]?key|credential|(^|_|admin)pass$)")
# Names that only refer to one or describe one: a Secret's name, a key's ID, a file or directory,
# an endpoint, a switch, a lifetime (OIDC_TOKEN_ENDPOINT, SECRETS_DIR, password_enabled, token_ttl).
_REFERENCE = re.compile(
    r"(?i)([_-]?(name|ref|refs|id|ids|arn|file|path|dir|url|uri|endpoint|host|port|ttl|length|version|type|"
    r"enabled|required|policy|mode|expiry|expires|lifetime|header|issuer|audience|scope|scopes)|"
    r"(Name|Ref|Id|Arn|File|Path|Dir|Url|Uri|Endpoint|Host|Port|Ttl|Length|Version|Type|Enabled|Required|"
    r"Policy|Mode|Expiry|Expires|Lifetime|Header|Issuer|Audience|Scope|Scopes))$|^existing")
_BOOT_SCRIPTS = frozenset({"userData", "user_data", "userDataBase64"})
# scheme://user:password@host -- the password part, unless it is a placeholder.
_URL_CREDENTIALS = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^/\s:@]+:([^@\s/]+)@")
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
# `password: x`, `DB_PASSWORD=x`, `"secret": "x"` in a script or a configuration file.
_ASSIGNED = re.compile(r"""(?im)["']?([\w.-]*(?:password|passwd|secret|token|api[_-]?key|access[_-]?key)[\w.-]*)["']?"""
                       r"""\s*[:=]\s*["']?([^\s"',#}]+)""")
# Placeholders and references: $(VAR), ${VAR}, $VAR, {{ .Values.x }}, <password>, secret-store URIs.
_PLACEHOLDER = re.compile(r"^(\$\(?\{?[\w.-]+\}?\)?|\{\{.*\}\}|<[^>]*>|\*+|%s|%\([\w]+\)s|"
                          r"(vault|secretsmanager|ssm|arn|ref\+[a-z]+|k8s|secret|file|env):.*)$", re.I)
_NOT_SECRET = frozenset({"", "true", "false", "yes", "no", "on", "off", "none", "null", "changeme-never"})


@lru_cache(maxsize=4096)  # the same few hundred property names, asked for every resource
def is_credential_name(name: str) -> bool:
    """True for 'password', 'secret_key', 'PGPASSWORD', 'psk'; False for 'secretName',
    'access_key_id', 'OIDC_TOKEN_ENDPOINT', 'SECRETS_DIR', 'password_enabled'."""
    return bool(_CREDENTIAL.search(name)) and not _REFERENCE.search(name)


def is_pulumi_secret(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get(_SIG_KEY) == _SECRET_SIG


def looks_secret(value: Any) -> bool:
    """A literal that could be a credential: a string, not a placeholder, reference, switch,
    number, path or URL without credentials."""
    if not isinstance(value, str) or value in _UNKNOWNS:
        return False
    text = value.strip()
    if text.lower() in _NOT_SECRET or _PLACEHOLDER.match(text) or text.startswith("/"):
        return False
    if re.fullmatch(r"[+-]?\d+(\.\d+)?", text):
        return False
    if re.match(r"(?i)^[a-z][a-z0-9+.-]*://", text):
        return bool(_URL_CREDENTIALS.search(text))
    return True


def url_credentials(text: str) -> bool:
    """A URL in `text` that carries a password (postgres://app:s3cret@db:5432/app)."""
    if "://" not in text or "@" not in text:
        return False
    return any(not _PLACEHOLDER.match(match.group(1)) for match in _URL_CREDENTIALS.finditer(text))


def script_credentials(text: str) -> list[str]:
    """What gives a credential away in a boot script or a configuration file."""
    found = ["a private key"] if _PRIVATE_KEY.search(text) else []
    found += [f"'{name}'" for name, value in _ASSIGNED.findall(text)
              if not _REFERENCE.search(name) and looks_secret(value)]
    if url_credentials(text):
        found.append("a URL with a password")
    return found


@dataclass(frozen=True)
class Finding:
    path: str  # where, in property path notation: users[0].password
    what: str  # what was found: "a credential", "a URL with a password", ...


def readable(props: Any) -> Any:
    """Properties as the engine sent them (secrets recognisable) when available, else plain."""
    sent = wire.raw(props)
    return sent if sent is not None else plain(props)


def findings(value: Any, path: str = "", key: str = "") -> Iterator[Finding]:
    """Every credential in plain text inside `value` (dicts, lists, strings), by name and by value."""
    if is_pulumi_secret(value) or (isinstance(value, str) and value in _UNKNOWNS):
        return
    if isinstance(value, Mapping):
        for name, item in value.items():
            where = f"{path}.{name}" if path else str(name)
            if is_credential_name(str(name)) and looks_secret(item):
                yield Finding(where, "a credential")
            else:
                yield from findings(item, where, str(name))
    elif isinstance(value, Sequence) and not isinstance(value, str):
        for index, item in enumerate(value):
            yield from findings(item, f"{path}[{index}]", key)
    elif isinstance(value, str):
        if key in _BOOT_SCRIPTS:
            for what in script_credentials(value):
                yield Finding(path, what)
        elif url_credentials(value):
            yield Finding(path, "a URL with a password")
