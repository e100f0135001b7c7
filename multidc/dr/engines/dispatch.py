"""The `db` backend of a runbook run: each system's steps go to the backend of its mechanism."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

from multidc.dr.runbook import Step


@dataclass
class MechanismDispatch:
    """`db.*` steps routed by the system's replication mechanism; other systems go to `default`.

    Atomic, idempotent and timed as the backend each step lands on says.
    """

    mechanisms: Mapping[str, str]  # system -> mechanism (the standby's replication_mechanism)
    by_mechanism: Mapping[str, Any]  # mechanism -> backend
    default: Any

    def run(self, step: Step) -> str:
        backend = self.by_mechanism.get(self.mechanisms.get(step.system or "", ""), self.default)
        return backend.run(step)


@dataclass
class EngineBackend:
    """`db.<verb>` steps of one engine's systems, each to the method `_<verb>(step, server)` on the server of
    (system, site) it is given; steps of other systems, or verbs it has no method for, go to `fallback`."""

    servers: Mapping[tuple[str, str], Any]
    fallback: Any
    timeout: float = 30.0

    def run(self, step: Step) -> str:
        server = self.servers.get((step.system, step.site))
        handler = getattr(self, f"_{step.action.split('.', 1)[1]}", None)
        if server is None or handler is None:
            return self.fallback.run(step)
        return handler(step, server)

    def _peer(self, step: Step) -> Optional[Any]:
        """The system's server in the other site of the step's move."""
        other = step.param("to_site") if step.site == step.param("from_site") else step.param("from_site")
        return self.servers.get((step.system, other))
