"""docs/runbooks/<stack>.md is generated: a committed file that differs from the generator is stale."""

import pytest

from multidc.dr.commands import runbook_text, stack_names
from multidc import project


@pytest.mark.parametrize("stack", stack_names())
def test_committed_runbook_matches_what_the_code_generates(stack):
    path = project.runbooks_dir() / f"{stack}.md"
    assert path.exists(), f"{path} is missing: run `multidc runbook --stack {stack}` and commit it"
    assert path.read_text() == runbook_text(stack), f"{path} is stale: run `multidc runbook --stack {stack}`"
