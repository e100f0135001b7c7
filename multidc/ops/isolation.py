"""The etcd lease as the evidence that the lost site is isolated: `manual.isolate` verified, not confirmed by hand.

`multidc watch` in the site taking over runs `multidc failover --fencing-token T --etcd URL` once it
holds the primary lease with create revision T. What that proves about the lost site, step by step:

1. the key is bound to a lease; it moved to another site only because the lost site's lease expired
   on the etcd leader, i.e. no renewal from the lost site reached a quorum for a whole TTL;
2. the lost site's watcher fences its own databases at `last renewal sent + ttl - margin`
   (multidc.ops.lease), which is before that expiry: if the lost site is alive at all, its
   databases stopped taking writes before the key could move;
3. the key is held now by the site taking over with create revision T: the same take-over the
   watcher started this failover for, not an older or a later one.

What it does not cover: a living site whose watcher is dead (killed, hung) renews nothing and fences
nothing, while its databases keep taking writes. That is what a watchdog covers (a systemd
`WatchdogSec=` on the watch service, or a hardware/softdog watchdog as Patroni uses, which resets the
host when the loop stops); without one, a dead watcher on a living site is a gap.
"""

from __future__ import annotations

from typing import Any

from multidc.dr.runbook import Step
from multidc.dr.states import NeedsOperator

from .lease import Etcd, EtcdUnavailable, current_holder

LIMIT = ("not covered: a living site whose watcher is dead fences nothing; a watchdog on the watch service "
         "(systemd WatchdogSec, or a hardware watchdog as Patroni uses) covers that")


class LeaseIsolation:
    """`manual.isolate` of the lost site, done when etcd shows the site taking over holds the lease with `token`.

    Every other step of the `manual` backend, and the isolation when the lease does not verify, goes to
    `fallback` (which needs an operator). Atomic: one linearizable read through `etcd` (its member must
    have a quorum). Idempotent. Timeout: the Etcd client's. Verifies by that same read.
    """

    def __init__(self, etcd: Etcd, key: str, lost_site: str, taking_over: str, token: int, fallback: Any) -> None:
        self.etcd, self.key, self.lost_site, self.taking_over, self.token = etcd, key, lost_site, taking_over, token
        self.fallback = fallback

    def problem(self) -> str | None:
        """Why the lease does not prove the isolation now, or None when it does."""
        try:
            holder = current_holder(self.etcd, self.key)
        except EtcdUnavailable as error:
            return f"the lease could not be read: {error}"
        if holder is None:
            return f"nobody holds {self.key}: {self.taking_over}'s lease expired or was never taken"
        if (holder.site, holder.token) != (self.taking_over, self.token):
            return (f"{self.key} is held by {holder.site} with fencing token {holder.token}, not by "
                    f"{self.taking_over} with {self.token}")
        return None

    def run(self, step: Step) -> str:
        if step.action != "manual.isolate" or step.site != self.lost_site:
            return self.fallback.run(step)
        problem = self.problem()
        if problem is not None:
            try:
                return self.fallback.run(step)
            except NeedsOperator as instructions:
                raise NeedsOperator(f"{instructions} (the etcd lease is no evidence here: {problem})") from None
        return (f"isolated by the etcd lease, verified through {self.etcd.endpoint}: {self.taking_over} holds "
                f"{self.key} with fencing token {self.token} (its create revision), so {self.lost_site}'s lease "
                f"expired through a quorum; {self.lost_site}'s `multidc watch` fences its databases at its last "
                f"renewal sent + ttl - margin, before that expiry; {LIMIT}")


class LeaseDecision:
    """`decide.declare` when `multidc watch` started the failover: the decision is the lease's expiry.

    Atomic, idempotent; no timeout (it states what the watcher decided; LeaseIsolation verifies it)."""

    def __init__(self, lost_site: str, taking_over: str, token: int) -> None:
        self.lost_site, self.taking_over, self.token = lost_site, taking_over, token

    def run(self, step: Step) -> str:
        return (f"declared by `multidc watch` in {self.taking_over}: {self.lost_site}'s lease expired and "
                f"{self.taking_over} took it with fencing token {self.token}")
