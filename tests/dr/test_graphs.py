"""The hand-built DR test graph equals the real program's plan, as the DR code reads them."""

import pytest

from multidc.dr.inventory import read
from multidc.dr.runbook import RunbookKind, build
from multidc.plan.capture import plan

from .graphs import KARAGANDA, graph_for, platform

SPECS = {
    "postgres-sync-and-bucket": [
        {"name": "core", "kind": "postgres", "sites": ["astana", "almaty"], "topology": "active-passive",
         "replication": "sync", "rpo": "0s", "backup": {"schedule": "0 * * * *", "offsite_site": "almaty",
                                                        "immutable_days": 7}},
        {"name": "files", "kind": "bucket", "sites": ["astana", "almaty"], "topology": "active-passive",
         "rpo": "15m"},
    ],
    "redis-async-and-active-active-bucket": [
        {"name": "cache", "kind": "redis", "sites": ["astana", "almaty"], "topology": "active-passive",
         "replication": "async", "rpo": "1m"},
        {"name": "media", "kind": "bucket", "sites": ["astana", "almaty"], "topology": "active-active",
         "rpo": "15m"},
        {"name": "south", "kind": "postgres", "sites": ["almaty", "astana"], "topology": "active-passive",
         "replication": "async", "rpo": "1m"},
    ],
}


def _view(graph):
    """What the runbook and the assessment read, less the names and zones only the real plan has."""
    deployed = read(graph)
    return (sorted((p.system, p.site, p.role, p.scale, p.replication, p.mechanism, p.replicates_from)
                   for p in deployed.placements),
            sorted((b.system, b.site, b.protects_site, b.schedule, b.immutable_days, b.object_lock_mode, b.mechanism)
                   for b in deployed.backups),
            sorted((c.system, c.source_site, c.destination_site) for c in deployed.copies),
            sorted(tuple(sorted(pair)) for pair in deployed.interconnects))


@pytest.mark.parametrize("name", SPECS)
def test_hand_built_graph_reads_as_the_plan_of_the_same_spec(name):
    spec = platform(SPECS[name], witness=KARAGANDA)
    assert _view(graph_for(spec)) == _view(plan(spec, "test"))


@pytest.mark.parametrize("name", SPECS)
def test_hand_built_graph_gives_the_runbooks_of_the_plan(name):
    spec = platform(SPECS[name], witness=KARAGANDA)
    fake, real = graph_for(spec), plan(spec, "test")
    for kind, to, source in ((RunbookKind.unplanned, "almaty", None), (RunbookKind.planned, "almaty", None),
                             (RunbookKind.failback, "astana", "almaty")):
        assert build(spec, fake, kind, to, source).fingerprint == build(spec, real, kind, to, source).fingerprint
