"""Backends: the spec flip behind the Pulumi step, and record mode."""

import pytest

from multidc.dr.backends import BackendError, RecordingBackend, flip_platform
from multidc.dr.runbook import Step
from multidc.spec import load_stack


def test_flip_makes_the_target_primary_and_moves_offsite_backups_to_the_old_primary():
    flipped = flip_platform(load_stack("kz-prod"), "astana", "almaty")
    core = flipped.system("core-db")
    assert flipped.primary.name == "almaty" and core.sites[0] == "almaty"
    assert core.backup.offsite_site == "astana"
    assert flipped.system("analytics").sites == ["astana"]


def test_flip_without_a_cluster_for_offsite_backups_names_the_fix():
    with pytest.raises(BackendError, match="declare a small cluster in onprem"):
        flip_platform(load_stack("hybrid"), "onprem", "cloud")


def test_recording_backend_says_what_it_would_do_and_why():
    recorder = RecordingBackend("needs a real OpenStack Designate")
    step = Step(id="5.dns.switch.db", action="dns.switch", title="t", site="almaty", system="db",
                precondition="-", verification="-", rollback="-", params=(("record", "db.bank.kz."),))
    line = recorder.run(step)
    assert "not done" in line and "Designate" in line and "db.bank.kz." in line
    assert recorder.records == [line]


def test_flip_limited_to_some_systems_leaves_the_others_where_they_are():
    kz = load_stack("kz-prod")
    flipped = flip_platform(kz, "astana", "almaty", only=frozenset({"core-db"}))
    assert flipped.system("core-db").sites[0] == "almaty"
    assert flipped.system("cards-db").sites[0] == "astana"
