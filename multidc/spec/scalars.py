"""Scalar types of the spec: names, durations, cron schedules, CIDRs, and the base model."""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from typing import Annotated, Any

from croniter import croniter
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer
from pydantic_core import PydanticCustomError

_NAME = r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$"
Name = Annotated[str, Field(pattern=_NAME, description="lower-case letters, digits and dashes")]


_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> timedelta:
    """Parse '0s', '30s', '15m', '4h', '1d' (or a number of seconds) into a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    raise PydanticCustomError(
        "duration", "'{value}' is not a duration; write a whole number and a unit: 0s, 30s, 15m, 4h, 1d",
        {"value": value},
    )


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration)]


def _check_cron(value: str) -> str:
    if not isinstance(value, str) or len(value.split()) != 5 or not croniter.is_valid(value):
        raise PydanticCustomError(
            "cron", "'{value}' is not a five-field cron schedule (minute hour day month weekday), e.g. '0 2 * * *'",
            {"value": value},
        )
    return value


Cron = Annotated[str, BeforeValidator(_check_cron)]


def _check_cidr(value: Any) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(value, strict=True)
    except (ValueError, TypeError):
        raise PydanticCustomError(
            "cidr", "'{value}' is not an IPv4 network in CIDR form with its host bits zero, e.g. 10.10.0.0/16",
            {"value": value},
        ) from None


Cidr = Annotated[ipaddress.IPv4Network, BeforeValidator(_check_cidr), PlainSerializer(str)]


class SpecModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def raise_problems(problems: list[tuple[str, str]]) -> None:
    """Raise every cross-field problem at once; `SpecError` expands them into paths."""
    if problems:
        raise PydanticCustomError("multidc", "{count} problems", {"count": len(problems), "problems": problems})
