"""The pack's decoding shared between the policies of one request (policies/mdc/wire.py),
tried on the SDK's own servicer in this process."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy
from pulumi_policy import policy as sdk

from multidc.plan.analyzer import AnalyzerMessages

from .fixtures import compliant

POLICIES = Path(__file__).resolve().parents[2] / "policies"


@pytest.fixture(scope="module")
def wire():
    sys.path.insert(0, str(POLICIES))
    try:
        from mdc import wire as module
        yield module
    finally:
        sys.path.remove(str(POLICIES))


def _servicer(seen: list, policy_class: type) -> sdk._PolicyAnalyzerServicer:
    def remember(args, _report):
        seen.append(args)

    policies = [policy_class(name=f"look-{i}", description="Looks.", validate=remember,
                             enforcement_level=EnforcementLevel.ADVISORY) for i in range(3)]
    return sdk._PolicyAnalyzerServicer("wire-test", "0.0.1", policies, EnforcementLevel.ADVISORY,
                                       None, None, None, None, None, None, None)


def test_policies_of_one_analyze_share_one_decoding_and_requests_do_not(wire):
    assert wire.install()
    seen: list = []
    servicer = _servicer(seen, ResourceValidationPolicy)
    graph = compliant().graph()
    messages = AnalyzerMessages(graph)
    node = next(n for n in graph if n.type == "openstack:vpnaas/ikePolicy:IkePolicy")
    servicer.Analyze(messages.analyze_request(node), None)
    servicer.Analyze(messages.analyze_request(node), None)
    first, second = seen[:3], seen[3:]
    assert len({id(args.props) for args in first}) == 1
    assert len({id(args.opts) for args in first}) == 1
    assert {id(args.props) for args in first}.isdisjoint({id(args.props) for args in second})
    assert sorted(first[0].props) == sorted(second[0].props)
    assert first[0].props["encryptionAlgorithm"] == "aes-256"
    assert first[0].provider.props["cloud"] == "astana"


def test_policies_of_one_analyze_stack_share_each_resources_decoding(wire):
    assert wire.install()
    seen: list = []
    servicer = _servicer(seen, StackValidationPolicy)
    graph = compliant().graph()
    servicer.AnalyzeStack(AnalyzerMessages(graph).stack_request(), None)
    assert len(seen) == 3
    by_policy = [[id(resource.props) for resource in args.resources] for args in seen]
    assert by_policy[0] == by_policy[1] == by_policy[2]
    assert len(set(by_policy[0])) == len(graph)


def test_nothing_is_remembered_outside_a_request(wire):
    assert wire.install()
    assert wire.install()  # a second install changes nothing
    decoded = [sdk.deserialize_properties({"a": [1, 2]}) for _ in range(2)]
    assert decoded[0] == decoded[1] and decoded[0] is not decoded[1]
