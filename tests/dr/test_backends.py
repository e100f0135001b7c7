"""Backends: the spec flip behind the Pulumi step, and the stand-in that needs an operator."""

import pytest

from multidc.dr.backends import BackendError, RecordingBackend, flip_platform
from multidc.dr.runbook import Step
from multidc.dr.states import NeedsOperator
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


def test_recording_backend_needs_an_operator_and_says_what_to_do_and_why():
    recorder = RecordingBackend("needs a real OpenStack Designate")
    step = Step(id="5.dns.switch.db", action="dns.switch", title="Point db at almaty", site="almaty", system="db",
                precondition="-", verification="dig db.bank.kz. answers almaty", rollback="-",
                params=(("record", "db.bank.kz."),))
    with pytest.raises(NeedsOperator) as stop:
        recorder.run(step)
    line = str(stop.value)
    assert "not done" in line and "Designate" in line and "db.bank.kz." in line
    assert "Point db at almaty" in line and "dig db.bank.kz. answers almaty" in line
    assert recorder.records == ["dns.switch db@almaty record=db.bank.kz."]


def test_flip_limited_to_some_systems_leaves_the_others_where_they_are():
    kz = load_stack("kz-prod")
    flipped = flip_platform(kz, "astana", "almaty", only=frozenset({"core-db"}))
    assert flipped.system("core-db").sites[0] == "almaty"
    assert flipped.system("cards-db").sites[0] == "astana"


def test_the_quick_probe_tells_a_listening_server_from_a_closed_port():
    import socket
    from types import SimpleNamespace

    from multidc.protection import postgres as pg

    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        assert pg.answers(SimpleNamespace(host="127.0.0.1", port=port))
    assert not pg.answers(SimpleNamespace(host="127.0.0.1", port=port), timeout=0.5)
