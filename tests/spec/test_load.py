"""Reading a stack file: YAML errors keep file, line, column and pointer; misspelled keys
come with the nearest valid one."""

from __future__ import annotations

import pytest

from multidc.spec import SpecError, load_stack

from .conftest import problems, system


def _load_problems(tmp_path, text: str) -> list[tuple[str, str]]:
    (tmp_path / "stacks").mkdir(exist_ok=True)
    (tmp_path / "stacks" / "Pulumi.s.yaml").write_text(text)
    with pytest.raises(SpecError) as caught:
        load_stack("s", tmp_path)
    return caught.value.problems


def test_a_yaml_error_keeps_file_line_column_and_a_pointer_under_the_column(tmp_path):
    text = "config:\n  multidc:platform:\n    name: x\n    sites: [a, b\n    systems: []\n"
    (path, reason), = _load_problems(tmp_path, text)
    assert path == f"{tmp_path}/stacks/Pulumi.s.yaml:5:12"
    lines = reason.splitlines()
    assert lines[0].startswith("expected ',' or ']', but got ':'") and "line 4, column 12" in lines[0]
    source, pointer = lines[1], lines[2]
    assert source.strip() == "systems: []" and pointer.index("^") == source.index(":")


def test_a_key_given_twice_in_one_mapping_is_a_yaml_error_not_a_silent_overwrite(tmp_path):
    text = "config:\n  multidc:platform:\n    name: x\n    name: y\n"
    (path, reason), = _load_problems(tmp_path, text)
    assert path.endswith("Pulumi.s.yaml:4:5") and "key 'name' is given twice (first at line 3)" in reason


def test_a_yaml_merge_may_be_overridden_by_the_keys_beside_it(tmp_path):
    """Anchors and merges are ordinary YAML: a key beside `<<:` is not a key given twice."""
    text = ("config:\n  app:defaults: &d {region: kz-ast-1, zone: a}\n  app:site: {<<: *d, zone: b}\n"
            "  multidc:platfrom: {}\n")
    assert [path for path, _ in _load_problems(tmp_path, text)] == ["multidc:platfrom"]


def test_a_misspelled_platform_key_is_named_with_the_right_one(tmp_path):
    found = _load_problems(tmp_path, "config:\n  multidc:platfrom: {}\n  app:x: 1\n")
    assert found == [("multidc:platfrom", "unknown config key; did you mean 'multidc:platform'? The platform spec "
                                          "is read from 'multidc:platform' only: rename the key")]


def test_a_missing_platform_key_lists_the_keys_found(tmp_path):
    (path, reason), = _load_problems(tmp_path, "config:\n  app:x: 1\n")
    assert path == "multidc:platform" and "keys found: app:x" in reason


def test_a_stack_file_without_config_suggests_the_key(tmp_path):
    (path, reason), = _load_problems(tmp_path, "confg:\n  multidc:platform: {}\n")
    assert path == "config" and "did you mean 'config'?" in reason


def test_an_unknown_field_comes_with_the_nearest_field_of_that_model(kz):
    system(kz, "core-db")["backup"]["retension"] = {"daily": 1}
    (path, reason), = problems(kz)
    assert path == "systems.core-db.backup.retension"
    assert reason.startswith("unknown field 'retension'; did you mean 'retention'? (fields here: schedule, ")


def test_an_unknown_field_far_from_any_lists_the_fields(kz):
    kz["sites"][0]["cloud"]["zzz"] = 1
    (path, reason), = problems(kz)
    assert path == "sites.astana.cloud.zzz" and "did you mean" not in reason and "auth_url, region" in reason


def test_a_misspelled_choice_comes_with_the_nearest_choice(kz):
    system(kz, "core-db")["topology"] = "active-pasive"
    (path, reason), = problems(kz)
    assert path == "systems.core-db.topology"
    assert reason == ("'active-pasive' is not one of active-active, active-passive, backup-only, single-site; "
                      "did you mean 'active-passive'?")


def test_the_name_rule_is_printed_with_its_character_classes(kz):
    system(kz, "web")["name"] = "Web_Front"
    assert ("systems.Web_Front.name", "'Web_Front' is not a valid name: lower-case letters, digits and dashes, "
            "starting with a letter and not ending with a dash, 2 to 40 characters "
            "(pattern ^[a-z][a-z0-9-]{0,38}[a-z0-9]$)") in problems(kz)
