"""Scalar types of the spec, each checked against what its target accepts: names, durations,
cron schedules, CIDRs, URLs, DNS zone names, Kubernetes quantities and version strings;
and the base model every spec model shares."""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from decimal import Decimal
from itertools import combinations
from typing import Annotated, Any
from urllib.parse import urlsplit

from croniter import croniter
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer
from pydantic_core import PydanticCustomError

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$"
NAME_RULE = ("lower-case letters, digits and dashes, starting with a letter and not ending with a dash, "
             "2 to 40 characters")
Name = Annotated[str, Field(pattern=NAME_PATTERN, description="lower-case letters, digits and dashes")]

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


# --- names a DNS server, an HTTP client or a Kubernetes API server accepts -------------------

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", re.IGNORECASE)


def hostname_problem(name: str) -> str | None:
    """Why `name` (without a trailing dot) is not an RFC 1123 host name, or None."""
    if not name or len(name) > 253:
        return "a DNS name is 1 to 253 characters"
    for label in name.split("."):
        if not _LABEL.match(label):
            return (f"label '{label}' is not an RFC 1123 label (letters, digits and dashes, 1 to 63 "
                    "characters, not starting or ending with a dash)")
    return None


def _check_dns_zone(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("dns_zone", "expected a DNS zone name such as 'bank.example.kz.'", {})
    if not value.endswith("."):
        raise PydanticCustomError(
            "dns_zone", "'{value}' is not fully qualified: a DNS zone name ends with a dot; write '{value}.'",
            {"value": value})
    problem = hostname_problem(value[:-1])
    if problem is None and "." not in value[:-1]:
        problem = "a zone of its own needs at least two labels (a top-level domain is not yours to host)"
    if problem:
        raise PydanticCustomError("dns_zone", "'{value}' is not a valid DNS zone name: {problem}",
                                  {"value": value, "problem": problem})
    return value


DnsZone = Annotated[str, BeforeValidator(_check_dns_zone)]


def _check_url(value: Any) -> str:
    example = "e.g. https://s3.astana.example.kz"
    if not isinstance(value, str):
        raise PydanticCustomError("url", "expected an http(s) URL, " + example, {})
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
        raise PydanticCustomError("url", "'{value}' is not an http(s) URL with a host, " + example, {"value": value})
    try:
        parts.port
    except ValueError:
        raise PydanticCustomError("url", "'{value}' has a port that is not a number from 0 to 65535",
                                  {"value": value}) from None
    try:
        ipaddress.ip_address(parts.hostname)
    except ValueError:
        problem = hostname_problem(parts.hostname)
        if problem:
            raise PydanticCustomError("url", "'{value}' has no valid host: {problem}",
                                      {"value": value, "problem": problem}) from None
    return value


Url = Annotated[str, BeforeValidator(_check_url)]


def _quantity(what: str, example: str, least: Decimal, most: Decimal | None, hint: str):
    """A Kubernetes resource quantity, checked by the kubernetes client's own parser."""
    def check(value: Any) -> str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)  # unambiguous: YAML's 2 and "2" are the same quantity
        # Python's Decimal, under the parser, also takes spaces and underscores; Kubernetes does not.
        if not isinstance(value, str) or any(c.isspace() or c == "_" for c in value):
            raise PydanticCustomError("quantity", "'{value}' is not a Kubernetes quantity; write " + example,
                                      {"value": value})
        # Imported here: the kubernetes package loads its whole client (about a third of `multidc`'s
        # start-up), and only a spec with ML model sizes needs the parser.
        from kubernetes.utils.quantity import parse_quantity

        try:
            amount = parse_quantity(value)
        except ValueError:
            raise PydanticCustomError("quantity", "'{value}' is not a Kubernetes quantity; write " + example,
                                      {"value": value}) from None
        if not amount.is_finite() or amount < least or (most is not None and amount > most):
            raise PydanticCustomError("quantity", "'{value}' is not a plausible " + what + "; " + hint,
                                      {"value": value})
        return value
    return check


CpuQuantity = Annotated[str, BeforeValidator(_quantity(
    "CPU amount", "cores or millicores, e.g. 2 or 500m", Decimal("0.001"), Decimal(512),
    "write cores or millicores between 1m and 512, e.g. 2 or 500m (a memory suffix such as Gi does not apply)"))]
MemoryQuantity = Annotated[str, BeforeValidator(_quantity(
    "memory amount", "bytes with a suffix, e.g. 512Mi or 2Gi", Decimal(2 ** 20), None,
    "write at least 1Mi with a binary suffix, e.g. 512Mi or 2Gi (a bare number is bytes)"))]


def _version_text(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # 16 can only mean "16"
    if isinstance(value, float):
        raise PydanticCustomError(
            "version", "{value} was read as a number (YAML turns 1.30 into 1.3); write the version in quotes, "
            "e.g. \"1.30\"",
            {"value": value})
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value):
        raise PydanticCustomError("version", "'{value}' is not a version; write it in quotes, e.g. \"16\" or \"1.29\"",
                                  {"value": value})
    return value


Version = Annotated[str, BeforeValidator(_version_text)]


def _non_blank(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PydanticCustomError("blank", "'{value}' is blank; write a sentence a reviewer can check",
                                  {"value": "" if value is None else value})
    return value


NonBlank = Annotated[str, BeforeValidator(_non_blank)]


class SpecModel(BaseModel):
    # Numbers given where a string is meant (a flavor ID 3, a project 1024) are the same string.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, coerce_numbers_to_str=True)


def raise_problems(problems: list[tuple[str, str]]) -> None:
    """Raise every cross-field problem at once; `SpecError` expands them into paths."""
    if problems:
        raise PydanticCustomError("multidc", "{count} problems", {"count": len(problems), "problems": problems})


def order_problems(*bounds: tuple[str, int | None]) -> list[tuple[str, str]]:
    """The one rule for every lower bound, value and upper bound: each at most the next.

    `bounds` are (field, value) in the order they must ascend (None: not given, skipped).
    One problem, at the lower field of the widest pair out of order (min above max is
    named before count below min).
    """
    given = [(field, value) for field, value in bounds if value is not None]
    pairs = sorted(combinations(range(len(given)), 2), key=lambda pair: pair[0] - pair[1])
    for i, j in pairs:
        (low_field, low), (high_field, high) = given[i], given[j]
        if low > high:
            return [(low_field, f"{low_field} {low} is above {high_field} {high}; a lower bound cannot exceed "
                                f"what is above it: lower {low_field} or raise {high_field}")]
    return []


def duplicate_problems(field: str, names: list[str], what: str) -> list[tuple[str, str]]:
    """Names that must be unique among their siblings, each duplicate reported once at its path."""
    return [(f"{field}.{name}", f"duplicate {what} name; each {what} needs its own name")
            for name in sorted({name for name in names if names.count(name) > 1})]
