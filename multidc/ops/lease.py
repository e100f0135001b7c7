"""The primary site's lease in etcd: who may take writes, and the fencing token that proves it.

After Patroni's HA loop on a DCS: the primary site holds a key bound to an etcd lease and
renews it; the key's create revision is the fencing token. Every call goes to the site's own
etcd member, so an answer means that member is part of a quorum. Two rules keep a partition
from making two primaries:

- the holder that cannot renew fences itself at `last renewal sent + ttl - margin`: before the
  lease can expire on the etcd leader (which counts from a later moment, when it received that
  renewal), so before any other site can take the key;
- another site takes the key only in one transaction that requires it to be absent (the lease
  expired), through a member that has a quorum.

Talks to etcd's JSON gateway (`/v3/...`, etcd >= 3.4) with the standard library.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Optional


class EtcdUnavailable(RuntimeError):
    """The site's etcd member did not answer, or answered without a quorum."""


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclass(frozen=True)
class Holder:
    """The key's current value: the site that holds the lease and the fencing token (create revision)."""

    site: str
    token: int
    lease: int


class Etcd:
    """One etcd member's JSON gateway. Every request is linearizable (needs the member's quorum)."""

    def __init__(self, endpoint: str, timeout: float = 1.0) -> None:
        self.endpoint, self.timeout = endpoint.rstrip("/"), timeout
        # A monotonic moment no call waits past: the lease holder's fencing deadline. Cut off from
        # the quorum, a call would otherwise hang one timeout beyond it and the fence land late.
        self.deadline: Optional[float] = None

    def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        timeout = self.timeout
        if self.deadline is not None:
            timeout = min(timeout, self.deadline - time.monotonic())
            if timeout <= 0:
                raise EtcdUnavailable(f"etcd {self.endpoint} /v3/{path}: not asked, the fencing deadline has passed")
        request = urllib.request.Request(f"{self.endpoint}/v3/{path}", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                answer = json.loads(reply.read())
        except (OSError, ValueError, urllib.error.URLError) as error:
            raise EtcdUnavailable(f"etcd {self.endpoint} /v3/{path}: {error}") from None
        if "error" in answer:
            raise EtcdUnavailable(f"etcd {self.endpoint} /v3/{path}: {answer['error']}")
        return answer


def lease_key(stack: str) -> str:
    """The etcd key the primary site of `stack` holds (`multidc watch`, `failover --fencing-token`, `status`)."""
    return f"/multidc/{stack}/primary"


def watchers_prefix(stack: str) -> str:
    """Under it each running `multidc watch` keeps `<site>` -> the holder it last saw, on a lease of its own."""
    return f"/multidc/{stack}/watchers/"


def present_watchers(etcd: Etcd, stack: str) -> dict[str, str]:
    """site -> the lease holder its watcher last saw ('' for none), for every watcher alive within its TTL."""
    prefix = watchers_prefix(stack)
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)  # every key that starts with the prefix
    answer = etcd.call("kv/range", {"key": _b64(prefix), "range_end": _b64(end)})
    return {base64.b64decode(kv["key"]).decode()[len(prefix):]: base64.b64decode(kv.get("value", "")).decode()
            for kv in answer.get("kvs", [])}


class Presence:
    """One watcher's key under `watchers_prefix`, bound to a lease of its own: gone within `ttl` of its death."""

    def __init__(self, etcd: Etcd, stack: str, site: str, ttl: int) -> None:
        self.etcd, self.key, self.ttl = etcd, watchers_prefix(stack) + site, ttl
        self.lease: Optional[int] = None
        self.value: Optional[str] = None

    def beat(self, value: str) -> None:
        """Renew the presence and say which holder this watcher saw (EtcdUnavailable when etcd does not answer)."""
        if self.lease is not None:
            answer = self.etcd.call("lease/keepalive", {"ID": str(self.lease)})
            if int(answer.get("result", {}).get("TTL", 0)) <= 0:
                self.lease = None
        if self.lease is None:
            self.lease, self.value = int(self.etcd.call("lease/grant", {"TTL": self.ttl})["ID"]), None
        if value != self.value:
            self.etcd.call("kv/put", {"key": _b64(self.key), "value": _b64(value), "lease": str(self.lease)})
            self.value = value


def current_holder(etcd: Etcd, key: str) -> Optional[Holder]:
    """Who holds `key` now (None: nobody; the lease expired or was never taken). Linearizable: needs a quorum."""
    answer = etcd.call("kv/range", {"key": _b64(key)})
    for kv in answer.get("kvs", []):
        return Holder(base64.b64decode(kv["value"]).decode(), int(kv["create_revision"]), int(kv.get("lease", 0)))
    return None


class SiteLease:
    """The lease key `key` as seen by site `site` through its own etcd member."""

    def __init__(self, etcd: Etcd, key: str, site: str, ttl: int, margin: float = 1.0) -> None:
        if ttl <= margin + etcd.timeout:
            raise ValueError(f"lease ttl {ttl}s must exceed the fencing margin ({margin}s) plus one etcd timeout "
                             f"({etcd.timeout}s)")
        self.etcd, self.key, self.site, self.ttl, self.margin = etcd, key, site, ttl, margin
        self.lease: Optional[int] = None
        self.token: Optional[int] = None
        self.renewal_sent: Optional[float] = None  # monotonic time of the last renewal that was answered

    def holder(self) -> Optional[Holder]:
        """Who holds the key now (None: nobody; the lease expired or was never taken)."""
        return current_holder(self.etcd, self.key)

    def acquire(self) -> Optional[int]:
        """Take the key if nobody holds it; the fencing token when taken, None when another site holds it."""
        sent = time.monotonic()
        lease = int(self.etcd.call("lease/grant", {"TTL": self.ttl})["ID"])
        answer = self.etcd.call("kv/txn", {
            "compare": [{"key": _b64(self.key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}],
            "success": [{"request_put": {"key": _b64(self.key), "value": _b64(self.site), "lease": str(lease)}}],
        })
        if not answer.get("succeeded"):
            self.etcd.call("lease/revoke", {"ID": str(lease)})
            return None
        self.lease, self.token, self.renewal_sent = lease, int(answer["header"]["revision"]), sent
        return self.token

    def renew(self) -> bool:
        """Renew the held lease; False when it has expired (the key may be someone else's now)."""
        if self.lease is None:
            return False
        sent = time.monotonic()
        answer = self.etcd.call("lease/keepalive", {"ID": str(self.lease)})
        ttl = int(answer.get("result", {}).get("TTL", 0))
        if ttl <= 0:
            self.lease = None
            return False
        self.renewal_sent = sent
        return True

    def must_fence_by(self) -> float:
        """The monotonic moment by which the holder must stop taking writes unless a renewal is answered."""
        if self.renewal_sent is None:
            return time.monotonic()
        return self.renewal_sent + self.ttl - self.margin
