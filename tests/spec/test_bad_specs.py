"""The bad-spec corpus: one whole small stack file per mistake under tests/spec/bad/, each
refused by the real `multidc plan --stack` with exit code 2, no traceback, and its expected
dotted path and phrase on one problem line of stderr (the file's `# expect-` header)."""

from __future__ import annotations

import difflib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from multidc import cli, project
from multidc.spec import load_stack

CORPUS = sorted((Path(__file__).parent / "bad").glob("*.yaml"))
BASE = Path(__file__).parent / "corpus-base.yaml"


def expectation(path: Path) -> tuple[str, str]:
    header = dict(line[len("# expect-"):].split(": ", 1) for line in path.read_text().splitlines()
                  if line.startswith("# expect-"))
    return header["path"], header["phrase"]


@pytest.fixture()
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project root of our own whose stacks/ holds the stack under test."""
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text("name: multidc\nruntime: python\n")
    monkeypatch.setenv(project.PROJECT_DIR_ENV, str(tmp_path))
    return tmp_path


def plan(root: Path, stack_file: Path):
    shutil.copy(stack_file, root / "stacks" / f"Pulumi.{stack_file.stem}.yaml")
    return CliRunner().invoke(cli.app, ["plan", "--stack", stack_file.stem])


def test_corpus_has_a_mistake_per_file():
    assert len(CORPUS) >= 40
    assert all(expectation(path) for path in CORPUS)


@pytest.mark.parametrize("stack_file", CORPUS, ids=lambda path: path.stem)
def test_bad_spec_is_refused_naming_its_path_and_rule(root, stack_file):
    path, phrase = expectation(stack_file)
    result = plan(root, stack_file)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    problems = [line for line in result.stderr.splitlines() if line.startswith("  ")]
    assert any(f"{path}: " in line and phrase in line for line in problems), result.stderr


def test_the_corpus_base_is_a_valid_stack(root):
    shutil.copy(BASE, root / "stacks" / "Pulumi.base.yaml")
    assert [site.role.value for site in load_stack("base", root).sites] == ["primary", "secondary"]


@pytest.mark.parametrize("stack_file", CORPUS, ids=lambda path: path.stem)
def test_each_corpus_file_is_the_base_with_one_mistake(stack_file):
    body = [line for line in stack_file.read_text().splitlines() if not line.startswith("# ")]
    base = [line for line in BASE.read_text().splitlines() if not line.startswith("# ")]
    changed = [line for line in difflib.unified_diff(base, body, lineterm="", n=0)
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert 0 < len(changed) <= 6, changed


def test_markup_in_a_value_survives_a_real_terminal_process(tmp_path):
    """The closing tag that crashed rich before, through the installed entry point in its own process."""
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text("name: multidc\nruntime: python\n")
    shutil.copy(Path(__file__).parent / "bad" / "markup-closing-tag.yaml", tmp_path / "stacks" / "Pulumi.tags.yaml")
    result = subprocess.run([sys.executable, "-m", "multidc", "--project-dir", str(tmp_path), "plan", "--stack",
                             "tags"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "systems.sessions.sites: unknown site 'astana[/x]'; known sites: astana, almaty" in result.stderr
