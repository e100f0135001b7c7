"""kz-prod's platform spec as plain data, to break in one place per test."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from multidc.spec import CONFIG_KEY, SpecError, parse_platform

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def kz() -> dict:
    document = yaml.safe_load((ROOT / "stacks" / "Pulumi.kz-prod.yaml").read_text())
    return copy.deepcopy(document["config"][CONFIG_KEY])


def system(spec: dict, name: str) -> dict:
    return next(s for s in spec["systems"] if s["name"] == name)


def problems(spec: dict) -> list[tuple[str, str]]:
    """Every (path, reason) the spec is refused with; [] when it is accepted."""
    try:
        parse_platform(spec, "test")
    except SpecError as error:
        return error.problems
    return []


def paths(spec: dict) -> list[str]:
    return [path for path, _ in problems(spec)]
