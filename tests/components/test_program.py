"""The Pulumi program: a bad spec stops `pulumi up` with every problem and no traceback."""

import pulumi
import pytest

from multidc import program
from multidc.plan.capture import run_program
from multidc.spec import CONFIG_KEY, load_stack


def test_bad_spec_stops_the_program_with_every_problem_as_a_run_error():
    data = load_stack("kz-prod").model_dump(mode="json")
    data["systems"][0]["topology"] = "active-active"  # core-db is postgres: one writer
    data["sites"][1]["cidr"] = "10.10.0.0/16"  # overlaps astana
    with pytest.raises(pulumi.RunError) as raised:
        run_program(program.main, "bad", {CONFIG_KEY: data})
    message = str(raised.value)
    assert "systems.core-db.topology: active-active needs a multi-writer engine" in message
    assert "sites.almaty.cidr: 10.10.0.0/16 overlaps 10.10.0.0/16" in message
    assert "Traceback" not in message


def test_missing_spec_names_the_config_key():
    with pytest.raises(Exception) as raised:
        run_program(program.main, "empty", {})
    assert "multidc:platform" in str(raised.value)


def test_backup_of_a_vm_group_stops_the_program_with_the_spec_path():
    data = load_stack("hybrid").model_dump(mode="json")
    shop = next(system for system in data["systems"] if system["name"] == "shop")
    shop["backup"] = {"offsite_site": "cloud"}
    with pytest.raises(pulumi.RunError) as raised:
        run_program(program.main, "vm-backup", {CONFIG_KEY: data})
    assert "systems.shop.backup: a vm-group is rebuilt from its image, not restored" in str(raised.value)
