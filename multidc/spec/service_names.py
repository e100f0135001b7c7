"""Which systems clients reach by a service name, where the name points, and its TTL.

Derived from the spec alone, so that the program that declares the records
(multidc.components.dns) and the runbook that re-points them (multidc.dr.runbook) agree
without one importing the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from multidc.contract import PRIVATE, PUBLIC

from .systems import DATABASE_KINDS, Kind, System, Topology

if TYPE_CHECKING:
    from .platform import Platform

# The ML platform's endpoints, each behind a name of its own under the system's (`jupyterhub.ml.<zone>`).
JUPYTERHUB, MLFLOW, MODEL_PREFIX = "jupyterhub", "mlflow", "model-"

# Bounds of a derived TTL: below 30 s many resolvers clamp anyway and query load grows; above
# an hour a stale answer outlives every failover the toolkit plans.
MIN_TTL_S, MAX_TTL_S = 30, 3600
# A fifth of the RTO: detection, promotion and the DNS change take the rest of it.
TTL_SHARE_OF_RTO = 5


def ttl_for_rto(rto_s: float) -> int:
    """The TTL of a service name whose system must be back within ``rto_s`` seconds.

    A fifth of the RTO, between 30 s and one hour: a 15-minute RTO gets 180 s, a 4-hour one 2880 s.
    """
    return int(min(MAX_TTL_S, max(MIN_TTL_S, rto_s // TTL_SHARE_OF_RTO)))


@dataclass(frozen=True)
class Endpoint:
    """One name a system's clients resolve: the system itself (`endpoint` None) or one of its endpoints."""

    system: str
    endpoint: Optional[str]
    visibility: str  # PUBLIC or PRIVATE

    @property
    def label(self) -> str:
        """The name's labels before the zone: ``core-db``, ``jupyterhub.ml``."""
        return self.system if self.endpoint is None else f"{self.endpoint}.{self.system}"

    def name(self, zone: str) -> str:
        return f"{self.label}.{zone}"


def ttl_of(platform: "Platform", system: System) -> int:
    """The TTL of a system's service names: the stack's own `assumptions.dns_ttl_s` where it declares one
    (with its source, e.g. resolvers that cap TTLs), else a fifth of the RTO (`ttl_for_rto`)."""
    declared = platform.assumptions.dns_ttl_s if platform.assumptions is not None else None
    if declared is not None:
        return int(declared.value.total_seconds())
    return ttl_for_rto(system.rto.total_seconds())


def visibility(system: System) -> Optional[str]:
    """PUBLIC for what faces the internet, PRIVATE for internal services, None for no name of its own."""
    if system.kind is Kind.vm_group:
        return PUBLIC
    if system.kind in DATABASE_KINDS:
        return PRIVATE
    return None


def endpoints(system: System) -> list[Endpoint]:
    """Every name the program declares for a system: a VM group's or database's own; the ML platform's
    JupyterHub, MLflow and each served model (served through MLflow), private or public as declared."""
    shown = visibility(system)
    if shown is not None:
        return [Endpoint(system.name, None, shown)]
    ml = system.ml
    if system.kind is not Kind.ml_platform or ml is None:
        return []
    found = [Endpoint(system.name, JUPYTERHUB, ml.jupyterhub.visibility)] if ml.jupyterhub.enabled else []
    if ml.mlflow is not None and ml.mlflow.enabled:
        found.append(Endpoint(system.name, MLFLOW, ml.mlflow.visibility))
        found += [Endpoint(system.name, f"{MODEL_PREFIX}{model.name}", model.visibility) for model in ml.models]
    return found


def serving_sites(platform: "Platform", system: System) -> list[str]:
    """Where a system's names point before any failover: every site of an active-active system; where an
    ML platform runs full (`Platform.ml_site`: it trains next to the replicas); else the primary site."""
    if system.topology is Topology.active_active:
        return list(system.sites)
    if system.kind is Kind.ml_platform:
        return [platform.ml_site(system)]
    return [system.primary_site]


def record_name(label: str, zone: str) -> str:
    """``core-db`` in ``bank.example.kz.`` -> ``core-db.bank.example.kz.``."""
    return f"{label}.{zone}"
