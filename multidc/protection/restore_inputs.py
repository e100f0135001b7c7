"""What every `multidc restore` reads before it plans: TIME, endpoints, S3 keys, and the errors it exits with.

What the outputs say can be overridden, for an operator working around a broken endpoint or
with other keys: ``--endpoint SITE=URL`` beats the document's endpoints,
``MULTIDC_S3_ACCESS_KEY_<SITE>``/``MULTIDC_S3_SECRET_KEY_<SITE>`` beat the document's keys
(which beat ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

from multidc.protection.locate import BucketLocation
from multidc.spec import parse_duration


class UsageError(ValueError):
    """A bad option, or a stack that does not hold what the option names: exit code 2."""


class Refused(RuntimeError):
    """The restore will not run (no copy older than T, declined, or incomplete): exit code 1."""


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


def why_failed(error: Exception, endpoint: Endpoint) -> str:
    """An S3 error, with the way around when the endpoint itself cannot be reached."""
    if isinstance(error, (EndpointConnectionError, ConnectTimeoutError)):
        site = endpoint.location.site
        return (f"{error} (site {site}'s endpoint is down or not reachable from here: check the outputs' "
                f"endpoint, or reach the site another way with --endpoint {site}=URL)")
    return str(error)

