"""Helpers every rule module uses: plain values, configuration, credential names."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import PolicyConfigSchema


def plain(value: Any) -> Any:
    """A policy SDK proxy (mapping or list) as plain dicts and lists; reading an unknown
    value raises the SDK's UnknownValueError, as any access would."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return {key: plain(value[key]) for key in value}
    if isinstance(value, Sequence):
        return [plain(item) for item in value]
    return value


def schema(**properties: dict[str, Any]) -> PolicyConfigSchema:
    """A policy's configuration schema; every property carries its `default`."""
    return PolicyConfigSchema(properties=properties)


def setting(config: Mapping[str, Any], policy_schema: PolicyConfigSchema, key: str) -> Any:
    """A configured value, or its schema default (the CLI sends defaults; a direct call may not)."""
    if key in config:
        return config[key]
    return policy_schema.properties[key]["default"]


def whole(number: float) -> str:
    """Numbers arrive as floats over gRPC: print 30.0 as 30."""
    return str(int(number)) if float(number).is_integer() else str(number)


# Names that hold a credential: passwords, secret keys, tokens, pre-shared keys, private keys.
# Names that only refer to one (a Secret's name, a key's ID, a path to a file) do not.
_CREDENTIAL = re.compile(r"(?i)(password|passwd|passphrase|secret|token|psk|private[_-]?key|api[_-]?key|"
                         r"access[_-]?key|credential|(^|_|admin)pass$)")
_REFERENCE = re.compile(r"(?i)([_-]?(name|ref|refs|id|ids|arn|file|path|url|uri|ttl|length|version|type)|"
                        r"(Name|Ref|Id|Arn|File|Path|Url|Uri|Ttl|Length|Version|Type))$")


def is_credential_name(name: str) -> bool:
    """True for 'password', 'secret_key', 'PGPASSWORD', 'psk'; False for 'secretName', 'access_key_id'."""
    return bool(_CREDENTIAL.search(name)) and not _REFERENCE.search(name)
