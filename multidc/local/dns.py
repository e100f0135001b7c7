"""A real authoritative DNS server for tests and drills: Knot DNS (Debian `knot`) on 127.0.0.1.

One zone, dynamic updates (RFC 2136) and zone transfers allowed only with a TSIG key, as an
on-prem DNS server of a hybrid stack is set up. As root the server runs as ``nobody`` in a private directory
(multidc.local.postgres.as_server_user); `stop()` ends it and removes the directory.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

import dns.exception
import dns.message
import dns.query
import dns.rdatatype

from .process import terminate
from .postgres import _must_drop_privileges, _run_as_ids, as_server_user, free_port

KNOTD = "knotd"
TSIG_ALGORITHM = "hmac-sha256"


class LocalDnsError(RuntimeError):
    """The local DNS server could not start; the message has its log and the fix."""


def knotd_path() -> Optional[str]:
    """knotd on PATH or where Debian installs it (/usr/sbin is not on every user's PATH)."""
    return shutil.which(KNOTD) or shutil.which(KNOTD, path="/usr/sbin:/sbin")


class LocalDns:
    """Knot serving `zone` on 127.0.0.1:`port` with the A records `records` (name -> (address or
    addresses, ttl)) and any further zone-file `lines` (other records the zone holds)."""

    host = "127.0.0.1"

    def __init__(self, zone: str, records: Mapping[str, tuple[Union[str, Sequence[str]], int]],
                 *, lines: Sequence[str] = (), key_name: str = "multidc-update", start_timeout: float = 30.0) -> None:
        self.zone = zone if zone.endswith(".") else zone + "."
        self.records, self.lines, self.key_name, self.start_timeout = records, lines, key_name, start_timeout
        self.key_secret = base64.b64encode(secrets.token_bytes(32)).decode()
        self.port = free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="multidc-dns-"))
        self._process: Optional[subprocess.Popen[bytes]] = None

    def _write(self) -> Path:
        lines = [f"$ORIGIN {self.zone}", "$TTL 300",
                 f"@ SOA ns.{self.zone} hostmaster.{self.zone} 1 3600 600 86400 60", f"@ NS ns.{self.zone}",
                 "ns A 127.0.0.1"]
        lines += [f"{name} {ttl} A {address}" for name, (addresses, ttl) in self.records.items()
                  for address in ([addresses] if isinstance(addresses, str) else addresses)]
        lines += list(self.lines)
        (self._dir / f"{self.zone}zone").write_text("\n".join(lines) + "\n")
        config = self._dir / "knot.conf"
        config.write_text(f"""server:
    rundir: "{self._dir}"
    listen: {self.host}@{self.port}
database:
    storage: "{self._dir}"
key:
  - id: {self.key_name}
    algorithm: {TSIG_ALGORITHM}
    secret: {self.key_secret}
acl:
  - id: update
    key: {self.key_name}
    action: [update, transfer]
zone:
  - domain: {self.zone}
    storage: "{self._dir}"
    file: "{self.zone}zone"
    acl: update
log:
  - target: stderr
    any: info
""")
        os.chmod(config, 0o600)  # it holds the TSIG secret
        if _must_drop_privileges():
            uid, gid = _run_as_ids()
            for path in (self._dir, *self._dir.iterdir()):
                os.chown(path, uid, gid)
        return config

    def start(self) -> "LocalDns":
        binary = knotd_path()
        if binary is None:
            raise LocalDnsError("knotd (Knot DNS) is not installed; install it with `make system-deps` "
                                "(apt-get install knot)")
        config = self._write()
        log = open(self._dir / "knotd.log", "wb")
        self._process = subprocess.Popen(as_server_user([binary, "-c", str(config)]), stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd="/")
        log.close()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            if self._answers():
                return self
            time.sleep(0.1)
        text = (self._dir / "knotd.log").read_text(errors="replace")[-2000:]
        self.stop()
        raise LocalDnsError(f"knotd did not serve {self.zone} on {self.host}:{self.port} within "
                            f"{self.start_timeout:.0f}s:\n{text}")

    def _answers(self) -> bool:
        try:
            reply = dns.query.udp(dns.message.make_query(self.zone, dns.rdatatype.SOA), self.host, port=self.port,
                                  timeout=0.5)
        except (OSError, dns.exception.DNSException):
            return False
        return bool(reply.answer)

    def stop(self) -> None:
        terminate(self._process)
        self._process = None
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> "LocalDns":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
