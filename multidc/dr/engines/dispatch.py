"""The `db` backend of a runbook run: each system's steps go to the backend of its mechanism."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

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
