"""Cross-site replication of one system between two sites, as a Pulumi dynamic resource.

``ReplicationLink`` is declared by ``ManagedDatabase`` for each standby, after both ends exist
(``depends_on`` on both), so `pulumi up` sets the replication up on the deployed endpoints:

- ``create`` configures the engine's own mechanism (``mechanism``: ``logical``,
  ``physical-streaming``, ``gtid``, ``replicaof``), waits for the initial copy, and returns the
  link's health;
- ``read`` (`pulumi refresh`) reports the live state, lag (bytes and seconds), the mode the
  primary runs in and the last error; anything but ``state: replicating`` or a mode other than
  the declared one is drift, which ``diff`` shows and the next `pulumi up` repairs;
- ``update`` changes the mode (sync <-> async) without a re-copy, or repairs drift;
- ``delete`` tears the link down and leaves both databases with their data.

Every operation is idempotent and retried (tenacity: 3 attempts, exponential wait) on
transient connection errors. It runs where `pulumi up` runs: both endpoints must be reachable
from there (the inter-site VPN, or a bastion: docs/replication.md). An unreachable endpoint
fails at once, naming the system, the site, the address, the port and that path.

The provider object is pickled into the stack state, so it holds nothing: each call builds its
``Link`` from the resource's properties. Passwords are secret inputs and outputs; no message
built here contains one.
"""

from __future__ import annotations

import importlib
import socket
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Protocol

import pulumi
import pulumi.dynamic as dyn
import tenacity

from multidc.contract import GTID, LINK_MECHANISMS, LOGICAL, REPLICAOF, REPLICATION_LINK_KIND, STREAMING
from multidc.protection.link_health import REPLICATING, LinkHealth

SECRET_INPUTS = ("primary_password", "standby_password")
MODES = ("sync", "async")
# Drivers by mechanism: a module with a `driver()` returning an object with create/read/set_mode/delete.
DRIVERS = {
    LOGICAL: "multidc.providers.postgres_links",
    STREAMING: "multidc.providers.postgres_links",
    REPLICAOF: "multidc.providers.redis_link",
    GTID: "multidc.providers.mariadb_link",
}
REPLACE_ON_CHANGE = ("system", "primary_site", "standby_site", "mechanism", "primary", "standby")
# Outputs the provider observes rather than sets: never a reason to update by themselves.
OBSERVED = ("state", "lag_bytes", "lag_seconds", "last_error")
CONNECT_TIMEOUT_S = 3.0
DEFAULT_NETWORK_PATH = "the inter-site VPN between the sites (or a bastion host inside them)"


class LinkError(RuntimeError):
    """A link operation failed; the message names the system, the sites and what to do."""


@dataclass(frozen=True)
class Endpoint:
    """One end of a link: how the provider reaches it (``password`` is a secret)."""

    host: str
    port: int
    user: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    database: Optional[str] = None


@dataclass(frozen=True)
class Link:
    """Everything a driver needs, built from the resource's properties."""

    system: str
    primary_site: str
    standby_site: str
    mechanism: str
    mode: str
    primary: Endpoint
    standby: Endpoint
    network_path: str = DEFAULT_NETWORK_PATH
    options: Mapping[str, Any] = field(default_factory=dict)
    timeout_s: float = 300.0

    @property
    def name(self) -> str:
        return f"{self.system} ({self.primary_site} -> {self.standby_site}, {self.mechanism})"


class Driver(Protocol):
    """One engine's mechanism. Each method is idempotent; none logs a password."""

    def create(self, link: Link) -> LinkHealth: ...

    def read(self, link: Link) -> LinkHealth: ...

    def set_mode(self, link: Link) -> None: ...

    def delete(self, link: Link) -> None: ...


def _plain(value: Any) -> Any:
    from pulumi.runtime import rpc

    return rpc.unwrap_rpc_secret(value)


def link_from_props(props: Mapping[str, Any]) -> Link:
    def endpoint(role: str) -> Endpoint:
        spec = dict(_plain(props[role]))
        return Endpoint(host=spec["host"], port=int(spec["port"]), user=spec.get("user"),
                        password=_plain(props.get(f"{role}_password")), database=spec.get("database"))

    return Link(system=props["system"], primary_site=props["primary_site"], standby_site=props["standby_site"],
                mechanism=props["mechanism"], mode=props["mode"], primary=endpoint("primary"),
                standby=endpoint("standby"), network_path=props.get("network_path") or DEFAULT_NETWORK_PATH,
                options=dict(_plain(props.get("options")) or {}), timeout_s=float(props.get("timeout_s") or 300))


def driver_for(mechanism: str) -> Driver:
    if mechanism not in DRIVERS:
        raise LinkError(f"mechanism {mechanism!r} has no replication link driver; links realise "
                        f"{', '.join(LINK_MECHANISMS)}")
    return importlib.import_module(DRIVERS[mechanism]).driver(mechanism)


def check_reachable(link: Link, *, timeout: float = CONNECT_TIMEOUT_S, standby: bool = True) -> None:
    """Fail fast, naming the endpoint, its port and the network path, if an end does not answer.

    ``standby=False`` where the standby's server does not run yet (a streaming standby is
    cloned from the primary by ``create``).
    """
    ends = [("primary", link.primary_site, link.primary)]
    if standby:
        ends.append(("standby", link.standby_site, link.standby))
    for role, site, end in ends:
        try:
            socket.create_connection((end.host, end.port), timeout=timeout).close()
        except OSError as error:
            raise LinkError(
                f"system {link.system}: cannot reach the {role} in {site} at {end.host} port {end.port} from where "
                f"`pulumi up` runs ({error.strerror or error}). The replication link connects over "
                f"{link.network_path}: run `pulumi up` from a host on that path, or open it (docs/replication.md)."
            ) from None


def _transient(error: BaseException) -> bool:
    """Connection-level errors of any engine's client: worth another attempt."""
    import psycopg

    if isinstance(error, (ConnectionError, TimeoutError, psycopg.OperationalError)):
        return True
    module = type(error).__module__.split(".")[0]
    return module in ("redis", "pymysql") and type(error).__name__ in ("ConnectionError", "TimeoutError",
                                                                       "OperationalError")


def _run(link: Link, what: str, action: Any) -> Any:
    """``action()`` with bounded retries on transient errors; any failure names the link."""
    try:
        for attempt in tenacity.Retrying(retry=tenacity.retry_if_exception(_transient),
                                         stop=tenacity.stop_after_attempt(3),
                                         wait=tenacity.wait_exponential(multiplier=0.5, max=4), reraise=True):
            with attempt:
                return action()
    except LinkError:
        raise
    except Exception as error:  # noqa: BLE001 - every engine error becomes one message naming the link
        raise LinkError(f"{what} replication of {link.name} failed: {error}") from None


class ReplicationLinkProvider(dyn.ResourceProvider):
    """Create, read, diff, update and delete one system's replication between two sites."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        failures = []
        if news.get("mechanism") not in LINK_MECHANISMS:
            failures.append(dyn.CheckFailure("mechanism", f"{news.get('mechanism')!r} is not realised by a "
                                             f"replication link; use one of {', '.join(LINK_MECHANISMS)}"))
        if news.get("mode") not in MODES:
            failures.append(dyn.CheckFailure("mode", f"{news.get('mode')!r}: use sync or async"))
        elif news.get("mechanism") == REPLICAOF and news.get("mode") == "sync":
            failures.append(dyn.CheckFailure("mode", "Redis replication is asynchronous only (REPLICAOF); declare "
                                             "replication: async, and use WAIT where a write needs acknowledgement"))
        return dyn.CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        """Replace on other ends or another mechanism; update on another mode, or on drift.

        Drift is what `pulumi refresh` found: a state other than ``replicating`` (a subscription
        disabled by hand, a replica promoted, a link gone) or a primary running in another mode
        than the declared one (``read`` puts the live mode in ``mode``).
        """
        changed = [k for k in news if k not in OBSERVED and _plain(olds.get(k)) != _plain(news.get(k))]
        if olds.get("state") not in (None, REPLICATING):
            changed.append("state")
        replaces = [k for k in changed if k in REPLACE_ON_CHANGE]
        return dyn.DiffResult(changes=bool(changed), replaces=replaces, stables=[], delete_before_replace=True)

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        link = link_from_props(props)
        check_reachable(link, standby=link.mechanism != STREAMING)
        health = _run(link, "setting up", lambda: driver_for(link.mechanism).create(link))
        return dyn.CreateResult(link_id(link), _outs(props, health))

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        link = link_from_props(props)
        check_reachable(link)
        health = _run(link, "reading", lambda: driver_for(link.mechanism).read(link))
        return dyn.ReadResult(id_, _outs(props, health))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        """A mode change alone is applied on the primary (no re-copy); any drift is repaired by create's steps."""
        link = link_from_props(news)
        check_reachable(link, standby=link.mechanism != STREAMING)
        driver = driver_for(link.mechanism)
        if olds.get("state") == REPLICATING:
            _run(link, "changing the mode of", lambda: driver.set_mode(link))
            health = _run(link, "reading", lambda: driver.read(link))
        else:
            health = _run(link, "repairing", lambda: driver.create(link))
        return dyn.UpdateResult(_outs(news, health))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        link = link_from_props(props)
        check_reachable(link)
        _run(link, "tearing down", lambda: driver_for(link.mechanism).delete(link))


def link_id(link: Link) -> str:
    return f"{link.system}/{link.primary_site}->{link.standby_site}/{link.mechanism}"


def _outs(props: Mapping[str, Any], health: LinkHealth) -> dict[str, Any]:
    outs = dict(props)
    outs.update(state=health.state, lag_bytes=health.lag_bytes, lag_seconds=health.lag_seconds,
                last_error=health.last_error)
    if health.mode is not None:
        outs["mode"] = health.mode
    return outs


@dataclass(frozen=True)
class ReplicationLinkArgs:
    """One system's replication from its primary site into a standby site."""

    system: str
    primary_site: str
    standby_site: str
    mechanism: str
    mode: str
    primary: pulumi.Input[Mapping[str, Any]]
    standby: pulumi.Input[Mapping[str, Any]]
    primary_password: Optional[pulumi.Input[str]] = field(default=None, repr=False)
    standby_password: Optional[pulumi.Input[str]] = field(default=None, repr=False)
    network_path: str = DEFAULT_NETWORK_PATH
    options: Mapping[str, Any] = field(default_factory=dict)
    timeout_s: float = 300.0

    def to_props(self) -> dict[str, Any]:
        props = {k: getattr(self, k) for k in self.__dataclass_fields__}
        props.update(resource_kind=REPLICATION_LINK_KIND, desired_state=REPLICATING, realised_by_pulumi=True,
                     state=None, lag_bytes=None, lag_seconds=None, last_error=None)
        return props


class ReplicationLink(dyn.Resource):
    """A replication link (type ``pulumi-python:dynamic:Resource``, ``resource_kind: replication-link``)."""

    state: pulumi.Output[str]
    mode: pulumi.Output[str]
    lag_bytes: pulumi.Output[Optional[int]]
    lag_seconds: pulumi.Output[Optional[float]]
    last_error: pulumi.Output[Optional[str]]

    def __init__(self, name: str, args: ReplicationLinkArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        props = args.to_props()
        for secret in SECRET_INPUTS:
            if props[secret] is not None:
                props[secret] = pulumi.Output.secret(props[secret])
        secret_outputs = pulumi.ResourceOptions(additional_secret_outputs=list(SECRET_INPUTS))
        super().__init__(ReplicationLinkProvider(), name, props,
                         pulumi.ResourceOptions.merge(opts, secret_outputs))
