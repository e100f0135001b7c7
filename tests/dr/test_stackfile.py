"""The Pulumi flip edits the stack file in place: secrets, comments and key order survive byte for byte."""

import shutil

import pytest

from multidc import project
from multidc.dr.backends import PulumiBackend, flip_platform
from multidc.dr.runbook import Step
from multidc.dr.stackfile import write_platform
from multidc.dr.states import NeedsOperator
from multidc.spec import load_stack

SECRETS = ("encryptionsalt: v1:Qm9ndXNTYWx0:v1:oX2Lm0P1+QmR4d1z:Yl0V6Wq3c9A1XUJvVd1aYQ==\n")
SECURE = ("  bank:dbAdminPassword:\n"
          "    secure: v1:mXo4a0G9PzPZ1n0k:zqRWcM5cVb0u3pIV9u0m4eJ2b7n1V3GqAEwtZ6b8UQ4=\n")


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "stacks").mkdir()
    shutil.copy(project.root() / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    text = (project.root() / "stacks" / "Pulumi.kz-prod.yaml").read_text()
    # An unrelated secret and the stack's salt, as `pulumi config set --secret` writes them.
    text = SECRETS + text.replace("config:\n", "config:\n" + SECURE, 1)
    text = text.replace("    sites:\n", "    sites:  # Astana serves; Almaty is the warm standby\n", 1)
    (tmp_path / "stacks" / "Pulumi.kz-prod.yaml").write_text(text)
    return tmp_path


def test_flip_keeps_salt_secure_values_and_comments_byte_for_byte(folder):
    path = folder / "stacks" / "Pulumi.kz-prod.yaml"
    before_text = path.read_text()
    before = load_stack("kz-prod", folder)
    diff = write_platform(path, before, flip_platform(before, "astana", "almaty"))
    after_text = path.read_text()
    assert after_text.startswith(SECRETS) and SECURE in after_text
    assert "# Astana serves; Almaty is the warm standby" in after_text
    assert [line for line in before_text.splitlines() if line.startswith("#")] == \
           [line for line in after_text.splitlines() if line.startswith("#")]
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed and all("role:" in line or "sites:" in line or "offsite_site:" in line or "site:" in line
                           for line in changed), diff
    removed = [line for line in changed if line.startswith("-")]
    assert len(removed) == len([line for line in changed if line.startswith("+")]) - 1, \
        "each changed value replaces its own line; the one new line is the ML platform's training site"


def test_flipped_file_loads_as_the_flipped_spec_and_a_second_write_changes_nothing(folder):
    path = folder / "stacks" / "Pulumi.kz-prod.yaml"
    before = load_stack("kz-prod", folder)
    flipped = flip_platform(before, "astana", "almaty")
    write_platform(path, before, flipped)
    assert load_stack("kz-prod", folder) == flipped
    assert write_platform(path, flipped, flipped) == ""


def test_pulumi_step_without_a_cli_writes_the_file_shows_the_diff_and_needs_an_operator(folder, monkeypatch):
    monkeypatch.setenv("PATH", str(folder))  # no Pulumi CLI here, whatever the machine has
    platform = load_stack("kz-prod", folder)
    step = Step(id="6.pulumi.flip.almaty", action="pulumi.flip", title="t", site="almaty", system=None,
                precondition="-", verification="-", rollback="-",
                params=(("stack", "kz-prod"), ("from_site", "astana")))
    with pytest.raises(NeedsOperator, match=r"(?s)now serves almaty.*\+\s+role: primary.*run `pulumi up --stack kz-prod`"):
        PulumiBackend(platform, folder).run(step)
    assert load_stack("kz-prod", folder).primary.name == "almaty"
    assert SECURE in (folder / "stacks" / "Pulumi.kz-prod.yaml").read_text()
