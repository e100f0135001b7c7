"""The automatic trigger: fail over only with the witness's agreement."""

from multidc.dr.watcher import FAILOVER, REFUSE, WAIT, SiteSnapshot, Watcher, WitnessServer, ask_witness, decide


def snap(**kw):
    base = dict(primary_site="astana", missed_heartbeats=3, threshold=3, witness_problem=None,
                witness_sees_primary=False)
    return SiteSnapshot(**{**base, **kw})


def test_waits_until_the_threshold_of_missed_heartbeats():
    assert decide(snap(missed_heartbeats=2)).action == WAIT


def test_fails_over_when_the_witness_cannot_reach_the_primary_either():
    decision = decide(snap())
    assert decision.action == FAILOVER and "witness cannot reach it" in decision.reason


def test_refuses_without_a_witness_and_says_why():
    decision = decide(snap(witness_problem="no witness in the spec"))
    assert decision.action == REFUSE and "no witness in the spec" in decision.reason


def test_refuses_when_the_witness_still_sees_the_primary():
    decision = decide(snap(witness_sees_primary=True))
    assert decision.action == REFUSE and "interconnect is cut" in decision.reason


def test_refuses_when_the_witness_does_not_answer():
    assert "may be the one cut off" in decide(snap(witness_sees_primary=None)).reason


def test_watcher_decides_after_n_missed_beats_through_a_real_witness_service():
    with WitnessServer({"astana": lambda: False}) as witness:
        watcher = Watcher("astana", lambda: False, lambda: ask_witness(witness.endpoint, "astana"),
                          witness_problem=None, interval=0.01, threshold=4)
        decision = watcher.watch(timeout=5)
    assert decision.action == FAILOVER and "missed 4 heartbeats" in decision.reason


def test_witness_service_reports_a_live_site_as_reachable():
    with WitnessServer({"astana": lambda: True}) as witness:
        assert ask_witness(witness.endpoint, "astana") is True
        assert ask_witness(witness.endpoint, "nowhere") is None
