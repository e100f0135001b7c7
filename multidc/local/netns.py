"""Network namespaces for a partition drill: one per site and one for the witness, links that really cut.

Each location (a site, or the witness) gets its own network namespace (``ip netns``) with one
address, its *site address*, on its loopback interface; its servers listen there. Every pair of
locations is joined by its own link, and every link runs through a middle ``wire`` namespace::

    astana [to1] ──veth── [w01] ─ bridge b01 ─ [w10] ──veth── [to0] almaty

Cutting a link takes both wire-side ends down: each location's end loses its carrier, and what
it sends there is dropped without a word, as on a cut cable (no reset, no "unreachable": a TCP
connection just stops hearing back and a new one times out). Routes stay (a route on a link
without carrier is still used, `ignore_routes_with_linkdown=0`), and each neighbour's MAC
address is a static entry (`nud permanent`), so no ARP failure turns the silence into an error.
Healing brings both ends up again; open TCP connections resume on their next retransmission.
This machine has no netem qdisc and no packet filter; link state is what the kernel offers
everywhere and is verified by a test (a connection across a cut link times out, across a
healed one it succeeds, and the third location still reaches both).

The operator's machine (the host namespace) reaches every location over a management link of
its own (as a bastion would), so that `multidc local up`, `status` and the drill's own checks
connect to the site addresses; the host does not forward packets (ip_forward stays as it is,
and no location has a route to another location through it), so a cut link cannot be bypassed.

Everything is created under a random token (namespaces `mdc<token>-<location>`, host links
`mdc<token>m<i>`) and removed by `remove()`, which also SIGKILLs any process still inside.
Needs root and iproute2; `check_permitted()` says clearly when either is missing.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from typing import Any

IP_TIMEOUT_S = 30.0


class NetnsUnavailable(RuntimeError):
    """Network namespaces cannot be made here; the message says why and what would allow them."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=IP_TIMEOUT_S,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise NetnsUnavailable("the `ip` command (iproute2) is not installed; install it with "
                               "`apt-get install iproute2`") from None
    if check and done.returncode != 0:
        raise NetnsUnavailable(f"`ip {' '.join(args)}` failed: {done.stderr.strip()}")
    return done


def check_permitted() -> None:
    """Raise NetnsUnavailable unless this process can create and delete a network namespace."""
    if os.geteuid() != 0:
        raise NetnsUnavailable("network namespaces need root (ip netns add); run the partition drill as root, "
                               "e.g. in a disposable VM or a privileged container")
    if shutil.which("ip") is None:
        raise NetnsUnavailable("the `ip` command (iproute2) is not installed; install it with "
                               "`apt-get install iproute2`")
    probe = f"mdcprobe{secrets.token_hex(3)}"
    done = _ip("netns", "add", probe, check=False)
    if done.returncode != 0:
        raise NetnsUnavailable(f"`ip netns add` is not permitted here ({done.stderr.strip()}); a container needs "
                               "CAP_SYS_ADMIN and CAP_NET_ADMIN (e.g. docker run --privileged)")
    _ip("netns", "del", probe, check=False)


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 10.240.0.0/12 that no address or route of this host overlaps."""
    taken = []
    for args in (("-4", "-j", "addr"), ("-4", "-j", "route")):
        for entry in json.loads(_ip(*args).stdout or "[]"):
            for info in entry.get("addr_info", [entry]):
                where = info.get("local") or info.get("dst")
                if where and where != "default":
                    taken.append(ipaddress.ip_network(f"{where}/{info['prefixlen']}" if "prefixlen" in info
                                                      else where, strict=False))
    pool = list(ipaddress.ip_network("10.240.0.0/12").subnets(new_prefix=24))
    for subnet in random.sample(pool, 50):
        if not any(subnet.overlaps(other) for other in taken):
            return subnet
    raise NetnsUnavailable("no free /24 in 10.240.0.0/12 for the site addresses; remove stale routes there")


@dataclass
class Topology:
    """The locations, their namespaces and site addresses, and which links are cut now."""

    token: str
    locations: list[str]
    addresses: dict[str, str]
    host_address: str
    cut_links: list[list[str]] = field(default_factory=list)

    # -- names -----------------------------------------------------------------------------

    def namespace(self, location: str) -> str:
        return f"mdc{self.token}-{location}"

    @property
    def wire(self) -> str:
        return f"mdc{self.token}-wire"

    def launcher(self, location: str) -> list[str]:
        """The command prefix that runs a process inside `location`'s namespace."""
        return ["ip", "netns", "exec", self.namespace(location)]

    def _index(self, location: str) -> int:
        if location not in self.locations:
            raise ValueError(f"{location}: not a location of this topology ({', '.join(self.locations)})")
        return self.locations.index(location)

    def _host_link(self, i: int) -> str:
        return f"mdc{self.token}m{i}"

    # -- create, remove --------------------------------------------------------------------

    @classmethod
    def create(cls, locations: list[str]) -> "Topology":
        """Namespaces, links and management links for `locations`; on failure nothing is left behind."""
        check_permitted()
        subnet = _free_subnet()
        hosts = list(subnet.hosts())
        topology = cls(secrets.token_hex(2), list(locations),
                       {name: str(hosts[i]) for i, name in enumerate(locations)}, str(hosts[-1]))
        try:
            topology._build()
        except BaseException:
            topology.remove()
            raise
        return topology

    def _build(self) -> None:
        for name in [*(self.namespace(n) for n in self.locations), self.wire]:
            _ip("netns", "add", name)
            _ip("-n", name, "link", "set", "lo", "up")
            for key in ("all", "default"):
                # Loose source checks (the site address is on lo, not on the link) and routes kept on
                # a link without carrier, so a cut is silence, not an immediate error.
                _sysctl(name, f"net.ipv4.conf.{key}.rp_filter", "0")
                _sysctl(name, f"net.ipv4.conf.{key}.ignore_routes_with_linkdown", "0")
        for location, address in self.addresses.items():
            _ip("-n", self.namespace(location), "addr", "add", f"{address}/32", "dev", "lo")
        count = len(self.locations)
        for i in range(count):
            for j in range(i + 1, count):
                for a, b in ((i, j), (j, i)):
                    _ip("link", "add", f"to{b}", "netns", self.namespace(self.locations[a]), "type", "veth",
                        "peer", "name", f"w{a}-{b}", "netns", self.wire)
                _ip("-n", self.wire, "link", "add", f"b{i}-{j}", "type", "bridge")
                _ip("-n", self.wire, "link", "set", f"b{i}-{j}", "up")
                for a, b in ((i, j), (j, i)):
                    _ip("-n", self.wire, "link", "set", f"w{a}-{b}", "master", f"b{i}-{j}")
                    _ip("-n", self.wire, "link", "set", f"w{a}-{b}", "up")
                    _ip("-n", self.namespace(self.locations[a]), "link", "set", f"to{b}", "up")
        for i, here in enumerate(self.locations):
            for j, there in enumerate(self.locations):
                if i != j:
                    self._route(self.namespace(here), f"to{j}", self.addresses[here], self.addresses[there],
                                _mac(self.namespace(there), f"to{i}"))
        for i, here in enumerate(self.locations):
            # The management link: the host (the operator's machine) to this location only.
            _ip("link", "add", self._host_link(i), "type", "veth", "peer", "name", "mgmt",
                "netns", self.namespace(here))
            _ip("addr", "add", f"{self.host_address}/32", "dev", self._host_link(i))
            _ip("link", "set", self._host_link(i), "up")
            _ip("-n", self.namespace(here), "link", "set", "mgmt", "up")
            self._route(self.namespace(here), "mgmt", self.addresses[here], self.host_address,
                        _mac(None, self._host_link(i)))
            self._route(None, self._host_link(i), self.host_address, self.addresses[here],
                        _mac(self.namespace(here), "mgmt"))

    @staticmethod
    def _route(namespace: str | None, device: str, source: str, destination: str, mac: str) -> None:
        where = ("-n", namespace) if namespace else ()
        _ip(*where, "route", "add", f"{destination}/32", "dev", device, "src", source)
        _ip(*where, "neigh", "replace", destination, "lladdr", mac, "dev", device, "nud", "permanent")

    def remove(self) -> None:
        """SIGKILL what still runs inside, delete the namespaces and the host's links. Idempotent."""
        existing = set(_ip("netns", "list", check=False).stdout.split())
        for name in [*(self.namespace(n) for n in self.locations), self.wire]:
            if name not in existing:
                continue
            for pid in _ip("netns", "pids", name, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            _ip("netns", "del", name, check=False)
        for i in range(len(self.locations)):
            _ip("link", "del", self._host_link(i), check=False)

    # -- cut, heal -------------------------------------------------------------------------

    def _wire_ends(self, a: str, b: str) -> list[str]:
        i, j = self._index(a), self._index(b)
        if i == j:
            raise ValueError(f"{a}: a link joins two different locations")
        return [f"w{i}-{j}", f"w{j}-{i}"]

    def cut(self, a: str, b: str) -> None:
        """Cut the link between `a` and `b` (both directions, silently). Idempotent."""
        for end in self._wire_ends(a, b):
            _ip("-n", self.wire, "link", "set", end, "down")
        if sorted([a, b]) not in self.cut_links:
            self.cut_links.append(sorted([a, b]))

    def heal(self, a: str, b: str) -> None:
        """Join `a` and `b` again. Idempotent."""
        for end in self._wire_ends(a, b):
            _ip("-n", self.wire, "link", "set", end, "up")
        if sorted([a, b]) in self.cut_links:
            self.cut_links.remove(sorted([a, b]))

    def heal_all(self) -> None:
        for a, b in list(self.cut_links):
            self.heal(a, b)

    def isolate(self, location: str) -> list[tuple[str, str]]:
        """Cut every link of `location`; the links cut."""
        links = [(location, other) for other in self.locations if other != location]
        for a, b in links:
            self.cut(a, b)
        return links

    # -- state -----------------------------------------------------------------------------

    def to_record(self) -> dict[str, Any]:
        return {"token": self.token, "locations": self.locations, "addresses": self.addresses,
                "host_address": self.host_address}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "Topology":
        return cls(record["token"], list(record["locations"]), dict(record["addresses"]), record["host_address"])


def _sysctl(namespace: str, key: str, value: str) -> None:
    path = "/proc/sys/" + key.replace(".", "/")
    done = subprocess.run(["ip", "netns", "exec", namespace, "sh", "-c", f"test ! -e {path} || echo {value} > {path}"],
                          capture_output=True, text=True, timeout=IP_TIMEOUT_S)
    if done.returncode != 0:
        raise NetnsUnavailable(f"cannot set {key} in namespace {namespace}: {done.stderr.strip()}")


def _mac(namespace: str | None, device: str) -> str:
    where = ("-n", namespace) if namespace else ()
    return json.loads(_ip(*where, "-j", "link", "show", device).stdout)[0]["address"]
