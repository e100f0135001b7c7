"""The primary site's lease on a real three-member etcd cluster (one member per site plus the witness)."""

import pytest

from multidc.local.etcd import LocalEtcd
from multidc.ops.lease import Etcd, EtcdUnavailable, Presence, SiteLease, present_watchers
from multidc.ops.watch import FENCE, RENEW, TAKE_OVER, WAIT, View, Watcher, decide

SITES = ["astana", "almaty", "karaganda"]
TTL = 3
KEY = "/multidc/kz-prod/primary"


@pytest.fixture
def etcd():
    with LocalEtcd(SITES) as cluster:
        yield cluster


def lease(cluster, site):
    return SiteLease(Etcd(cluster.endpoint(site)), KEY, site, TTL)


def _until(condition, rounds, pause):
    """Bounded polling; a round whose etcd call finds no leader yet (an election after a kill) counts as no."""
    import time

    for _ in range(rounds):
        try:
            if condition():
                return True
        except EtcdUnavailable:
            pass
        time.sleep(pause)
    return False


def test_standby_cannot_take_the_lease_while_the_primary_renews_it(etcd):
    primary, standby = lease(etcd, "astana"), lease(etcd, "almaty")
    token = primary.acquire()
    assert token is not None
    assert standby.acquire() is None
    assert primary.renew()
    assert standby.holder().site == "astana" and standby.holder().token == token


def test_standby_takes_the_lease_once_it_expired_with_a_higher_fencing_token(etcd):
    primary, standby = lease(etcd, "astana"), lease(etcd, "almaty")
    old = primary.acquire()
    etcd.kill("astana")  # the primary site is lost with its member; its lease is no longer renewed
    assert _until(lambda: standby.acquire() is not None, rounds=100, pause=0.1)
    assert standby.token > old and standby.holder().site == "almaty"


def test_a_primary_that_loses_its_quorum_fences_itself_and_never_renews(etcd):
    fenced = []
    watcher = Watcher(SiteLease(Etcd(etcd.endpoint("astana"), timeout=0.5), KEY, "astana", TTL),
                      fence=lambda: fenced.append(True), take_over=lambda token: None, primary=True)
    assert _until(lambda: watcher.step()[0] == RENEW, rounds=50, pause=0.1), "astana holds and renews the lease"
    etcd.kill("almaty")
    etcd.kill("karaganda")  # astana's member is alone: no quorum, no renewal
    actions = []
    assert _until(lambda: actions.append(watcher.step()[0]) or fenced, rounds=100, pause=0.1)
    assert FENCE in actions and fenced == [True]


def test_standby_watcher_takes_over_once_with_the_token(etcd):
    taken = []
    lease(etcd, "astana").acquire()
    watcher = Watcher(lease(etcd, "almaty"), fence=lambda: None, take_over=taken.append, primary=False)
    assert watcher.step() == (WAIT, "astana holds the lease")
    etcd.kill("astana")
    assert _until(lambda: watcher.step()[0] == TAKE_OVER and taken, rounds=100, pause=0.1)
    assert watcher.step()[0] == RENEW and len(taken) == 1 and taken[0] == watcher.lease.token


def test_a_standby_never_takes_a_lease_it_did_not_see_held(etcd):
    taken = []
    watcher = Watcher(lease(etcd, "almaty"), fence=lambda: None, take_over=taken.append, primary=False)
    assert [watcher.step()[0] for _ in range(3)] == [WAIT] * 3 and not taken, \
        "a standby started before the primary's watcher must not fail a healthy primary over"


def test_each_watcher_keeps_a_presence_key_with_the_holder_it_saw(etcd):
    primary = Watcher(lease(etcd, "astana"), fence=lambda: None, take_over=lambda token: None, primary=True,
                      presence=Presence(Etcd(etcd.endpoint("astana")), "kz-prod", "astana", TTL))
    standby = Watcher(lease(etcd, "almaty"), fence=lambda: None, take_over=lambda token: None, primary=False,
                      presence=Presence(Etcd(etcd.endpoint("almaty")), "kz-prod", "almaty", TTL))
    assert primary.step()[0] == RENEW and standby.step()[0] == WAIT
    assert present_watchers(Etcd(etcd.endpoint("karaganda")), "kz-prod") == {"astana": "astana", "almaty": "astana"}


@pytest.mark.parametrize("view, action, reason", [
    (View(10, True, True, "astana", None, False), RENEW, "holds the lease"),
    (View(10, False, False, None, 11, False), WAIT, "fencing at the deadline"),
    (View(12, False, False, None, 11, False), FENCE, "stop writes here"),
    (View(12, False, True, None, None, False, "astana"), TAKE_OVER, "astana's lease expired"),
    (View(12, False, True, None, None, False), WAIT, "saw held and expire"),
    (View(12, False, False, None, None, False), WAIT, "no quorum"),
    (View(12, False, True, "astana", None, False), WAIT, "astana holds the lease"),
])
def test_decisions_and_their_reasons(view, action, reason):
    decided, why = decide(view)
    assert decided == action and reason in why


def test_an_unreachable_member_is_reported_as_unavailable():
    with pytest.raises(EtcdUnavailable, match="127.0.0.1:9"):
        Etcd("http://127.0.0.1:9", timeout=0.2).call("kv/range", {"key": "eA=="})


def test_no_etcd_call_waits_past_the_fencing_deadline():
    """Cut off from the quorum, a call would hang one timeout beyond the deadline and the fence land late."""
    import socket
    import time

    with socket.socket() as silent:  # accepts, never answers: a member behind a cut link
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        etcd = Etcd(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=30)
        etcd.deadline = time.monotonic() - 0.01
        with pytest.raises(EtcdUnavailable, match="fencing deadline has passed"):
            etcd.call("lease/keepalive", {"ID": "1"})
        etcd.deadline = time.monotonic() + 0.2
        with pytest.raises(EtcdUnavailable, match="timed out"):  # bounded by the deadline, not by the 30 s timeout
            etcd.call("lease/keepalive", {"ID": "1"})


def test_a_holder_bounds_its_etcd_calls_and_its_sleep_by_its_deadline():
    import time

    lease_ = SiteLease(Etcd("http://127.0.0.1:9", timeout=0.2), KEY, "astana", TTL)
    lease_.lease, lease_.renewal_sent = 7, time.monotonic() - TTL  # its last renewal answered a TTL ago
    fenced = []
    watcher = Watcher(lease_, fence=lambda: fenced.append(True), take_over=lambda token: None, primary=True)
    watcher.fence_by = lease_.must_fence_by()
    assert watcher.pause() == 0.0  # already due: no sleep before the next round
    assert watcher.step()[0] == FENCE and fenced == [True]
    assert lease_.etcd.deadline is not None and lease_.etcd.deadline == watcher.fence_by
    watcher._bound_etcd_calls()
    assert lease_.etcd.deadline is None  # fenced: nothing left to be on time for
