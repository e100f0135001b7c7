"""What the assessment is made of: a scenario, one way a system comes back, and how figures add up.

Shared by the assessment (multidc.dr.assessment) and the restore paths (multidc.dr.restore_paths).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Optional

from multidc.spec import Kind, System
from multidc.spec.service_names import endpoints, ttl_of

STATELESS_KINDS = frozenset({Kind.vm_group})
CLUSTER_KINDS = frozenset({Kind.kubernetes, Kind.ml_platform})


def human(seconds: float | None) -> str:
    """0s, 0.04s, 7.3s, 45s, 25m, 1h40m, 2d; '∞' for None (not recoverable)."""
    if seconds is None:
        return "∞"
    if 0 < seconds < 10 and seconds != round(seconds):
        return f"{seconds:.2g}s"  # a measured step of a fraction of a second is not 0s
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
        if len(parts) == 2:
            break
    return "".join(parts)


def sum_terms(terms: Iterable[tuple[str, float]]) -> tuple[float, str]:
    terms = list(terms)
    total = sum(value for _, value in terms)
    formula = " + ".join(f"{label} {human(value)}" for label, value in terms)
    return total, (f"{formula} = {human(total)}" if len(terms) > 1 else formula)


@dataclass(frozen=True)
class Scenario:
    """One disaster: which sites it takes out (or which link, host, zone, or what it corrupts)."""

    id: str
    kind: str  # fire, earthquake, hardware-host, hardware-az, ransomware, partition
    title: str
    lost_sites: frozenset[str] = frozenset()
    pair: Optional[tuple[str, str]] = None
    detail: str = ""


@dataclass(frozen=True)
class Recovery:
    """One way a system comes back; RPO/RTO None means it does not."""

    rpo_s: Optional[float]
    rpo_formula: str
    rto_s: Optional[float]
    rto_formula: str
    reason: str
    owner: str = "customer"
    fallback_rto_s: Optional[float] = None
    """Where the RTO holds under a condition (a delayed standby: the attack found within its delay), the RTO
    when it does not (the vault restore), so the fallback stays visible."""
    fallback_rto_formula: str = ""

    @property
    def works(self) -> bool:
        return self.rpo_s is not None and self.rto_s is not None


def dns_ttl(ctx: Any, system: System) -> tuple[str, float]:
    """How long resolvers keep the old address: the TTL the program declares on the system's service names
    (multidc.spec.service_names.ttl_of), else the DNS_TTL_S figure (names kept elsewhere)."""
    if endpoints(system) and any(site.cloud.dns_zone for site in ctx.platform.sites):
        return "declared DNS TTL", float(ttl_of(ctx.platform, system))
    return ctx.figures.term("DNS_TTL_S")
