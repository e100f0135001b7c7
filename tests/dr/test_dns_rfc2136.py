"""DNS failover against a real DNS server (Knot, started here on loopback): RFC 2136 updates signed with TSIG.

The backend is the one `multidc failover` builds from the stack outputs (multidc.ops.wiring); the
step is the kz-prod runbook's own `dns.switch`; the assertions are on what the server answers.
"""

import copy

import dns.message
import dns.query
import pytest

from multidc import project
from multidc.dr.backends import BackendError
from multidc.dr.runbook import RunbookKind, build
from multidc.local.dns import LocalDns
from multidc.ops.deployed import deployed
from multidc.ops.outputs import parse
from multidc.ops.wiring import backends
from multidc.spec import load_stack

ZONE = "bank.example.kz."


@pytest.fixture
def server():
    with LocalDns(ZONE, {"core-db": ("10.10.0.5", 300)}) as running:
        yield running


def _resolve(server, name):
    reply = dns.query.tcp(dns.message.make_query(name, "A"), server.host, port=server.port, timeout=5)
    return [({r.address for r in rrset}, rrset.ttl) for rrset in reply.answer]


def _outputs(planned_outputs, server, secret=None):
    document = copy.deepcopy(planned_outputs)
    for site in document["sites"].values():
        site["dns_server"] = {"address": server.host, "port": server.port, "zone": ZONE,
                              "tsig_key_name": server.key_name, "tsig_secret": secret or server.key_secret}
    return parse(document, "test outputs")


def _switch(outputs):
    platform = load_stack("kz-prod")
    book = build(platform, deployed(outputs), RunbookKind.unplanned, "almaty")
    step = next(s for s in book.steps() if s.action == "dns.switch" and s.system == "core-db")
    return backends(platform, outputs, project.root())["dns"], step


def test_failover_points_the_service_name_at_the_new_site_with_the_declared_ttl(server, planned_outputs):
    outputs = _outputs(planned_outputs, server)
    dns_backend, step = _switch(outputs)
    assert step.param("record") == f"core-db.{ZONE}"
    almaty = outputs.systems["core-db"].placements["almaty"].database.host
    assert _resolve(server, step.param("record")) == [({"10.10.0.5"}, 300)]
    detail = dns_backend.run(step)
    assert _resolve(server, step.param("record")) == [({almaty}, int(step.param("ttl")))], detail
    dns_backend.run(step)
    assert _resolve(server, step.param("record")) == [({almaty}, int(step.param("ttl")))], "idempotent"


def test_an_update_signed_with_the_wrong_key_is_refused_and_changes_nothing(server, planned_outputs):
    import base64

    dns_backend, step = _switch(_outputs(planned_outputs, server, secret=base64.b64encode(b"x" * 32).decode()))
    with pytest.raises(BackendError, match="core-db@almaty: .*(refused|failed).*TSIG key"):
        dns_backend.run(step)
    assert _resolve(server, step.param("record")) == [({"10.10.0.5"}, 300)]
