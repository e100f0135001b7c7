"""Helpers every rule module uses: plain values, configuration."""

from __future__ import annotations

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
