"""Shared fixtures: the offline plan of each example stack, computed once per session.

The offline plan sets Pulumi's mocks itself (multidc.plan.capture) before it runs the
program, so no test imports the program with the real engine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from multidc.plan.capture import plan
from multidc.plan.graph import ResourceGraph
from multidc.spec import Platform, load_stack

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_STACKS = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in (ROOT / "stacks").glob("Pulumi.*.yaml"))


class PlannedStacks:
    """Each example stack's spec and planned graph, planned on first use."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[Platform, ResourceGraph]] = {}

    def __call__(self, stack: str) -> tuple[Platform, ResourceGraph]:
        if stack not in self._cache:
            platform = load_stack(stack, ROOT)
            self._cache[stack] = (platform, plan(platform, stack))
        return self._cache[stack]


@pytest.fixture(scope="session")
def planned() -> PlannedStacks:
    return PlannedStacks()


@pytest.fixture(scope="session")
def example_stacks() -> list[str]:
    return EXAMPLE_STACKS


@pytest.fixture
def project_copy(tmp_path):
    """The project's Pulumi.yaml and stacks/ in a folder of the test's own (its `.multidc/` state is
    private to the test); `add(name, platform)` writes one more stack file there."""
    import shutil

    import yaml

    from multidc.spec import CONFIG_KEY

    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")

    def add(name: str, platform: Platform) -> None:
        data = {"config": {CONFIG_KEY: platform.model_dump(mode="json", exclude_none=True)}}
        (tmp_path / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))

    from tests.helpers import Project

    return Project(tmp_path, add)


@pytest.fixture(scope="session")
def planned_outputs(planned):
    """kz-prod's outputs document from the offline plan: its endpoints are the mocks' private
    addresses, so tests that use it never connect anywhere (dry runs, refusals, validation)."""
    from multidc.contract import OUTPUTS_KEY

    return planned("kz-prod")[1].outputs[OUTPUTS_KEY]


@pytest.fixture
def outputs_file(tmp_path, planned_outputs):
    """Writes an outputs document (default: kz-prod's planned one) as `pulumi stack output --json` prints it."""
    import json

    from multidc.contract import OUTPUTS_KEY

    def write(document=None, raw=None):
        path = tmp_path / "outputs.json"
        path.write_text(raw if raw is not None else json.dumps({OUTPUTS_KEY: document or planned_outputs}))
        return path
    return write
