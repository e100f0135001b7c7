"""Waivers: an accepted exception to one policy, for one system or one resource, with its
reason and its end date. The policy pack reads them; the spec only makes sure each is
complete and points at something that exists."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Optional

from pydantic import Field, model_validator

from multidc.spec.scalars import Name, NonBlank, SpecModel, raise_problems

POLICY_ID = r"^MDC-[A-Z0-9]+-[0-9]{3}$"


class Waiver(SpecModel):
    """`policy` waived for exactly one of `system` or `resource`, because `reason`, until `expires`."""

    policy: Annotated[str, Field(pattern=POLICY_ID, description="a policy ID such as MDC-BAK-001")]
    system: Optional[Name] = Field(None, description="a system of this stack")
    resource: Optional[NonBlank] = Field(None, description="a resource's URN or name")
    reason: NonBlank
    expires: date = Field(description="ISO date after which the waiver no longer applies, e.g. 2027-03-31")

    @model_validator(mode="after")
    def _one_target(self) -> "Waiver":
        if (self.system is None) == (self.resource is None):
            given = "both" if self.system is not None else "neither"
            raise_problems([("system", f"a waiver names exactly one of system or resource; {given} given")])
        return self


def waiver_problems(waivers: object, system_names: list[str]) -> list[tuple[str, str]]:
    """Waivers naming a system this stack does not have (on plain data, reported with the rest)."""
    if not isinstance(waivers, list):
        return []
    known = ", ".join(system_names)
    return [(f"waivers.{index}.system", f"unknown system '{waiver['system']}'; known systems: {known}")
            for index, waiver in enumerate(waivers)
            if isinstance(waiver, dict) and isinstance(waiver.get("system"), str)
            and waiver["system"] not in system_names]
