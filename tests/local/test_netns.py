"""Network namespaces of the partition drill: a cut link is silent, a healed one carries again, nothing stays."""

import os
import subprocess
import sys

import pytest

from multidc.local.netns import NetnsUnavailable, Topology, check_permitted

PROBE = """
import socket, sys
s = socket.socket(); s.settimeout(1.5)
try:
    s.connect((sys.argv[1], 7000)); print("connected")
except OSError as error:
    print(type(error).__name__)
"""
LISTEN = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((sys.argv[1], 7000)); s.listen()
print("listening", flush=True)
while True:
    s.accept()[0].close()
"""


def namespaces_permitted():
    try:
        check_permitted()
    except NetnsUnavailable as error:
        return str(error)
    return None


@pytest.fixture
def topology():
    why = namespaces_permitted()
    if why:
        pytest.skip(f"network namespaces are not permitted here: {why}")
    made = Topology.create(["astana", "almaty", "karaganda"])
    yield made
    made.remove()
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert made.namespace("astana") not in left and made.wire not in left


def probe(topology, where, address):
    command = [sys.executable, "-c", PROBE, address]
    if where is not None:
        command = [*topology.launcher(where), *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=30).stdout.strip()


def test_a_cut_link_drops_silently_and_only_that_link(topology):
    almaty = topology.addresses["almaty"]
    server = subprocess.Popen([*topology.launcher("almaty"), sys.executable, "-c", LISTEN, almaty],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "listening"
        assert probe(topology, "astana", almaty) == "connected"
        topology.cut("astana", "almaty")
        # A timeout, not a refusal or "unreachable": the packets vanish, as on a cut cable.
        assert probe(topology, "astana", almaty) == "TimeoutError"
        assert probe(topology, "karaganda", almaty) == "connected", "the other links still carry"
        assert probe(topology, None, almaty) == "connected", "the operator's management link is not cut"
        topology.heal("astana", "almaty")
        assert probe(topology, "astana", almaty) == "connected"
    finally:
        server.kill()
        server.wait()


def test_a_location_has_no_route_to_another_through_the_host(topology):
    topology.isolate("astana")
    for other in ("almaty", "karaganda"):
        assert probe(topology, "astana", topology.addresses[other]) == "TimeoutError"


def test_without_root_namespaces_are_refused_with_the_reason(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(NetnsUnavailable, match="need root"):
        check_permitted()
