"""The client side of the analyzer protocol: what it sends, how it configures the pack, how
it starts and always stops the pack process, and how it reports."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from google.protobuf import json_format
from rich.console import Console

from multidc.plan.analyzer import (
    AnalyzerMessages,
    PolicyConfigError,
    PolicyPackError,
    PolicyPackProcess,
    load_policy_config,
    run_policy_pack,
)
from multidc.plan.capture import UNKNOWN_MASK
from multidc.plan.render_policies import policy_report_json, render_policy_report

from .fixtures import compliant, found

SECRET_SIG = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "[secret]"}


def violating():
    """The compliant platform with SSH open to the world: one MDC-NET-001 violation."""
    stack = compliant()
    stack.set_inputs("astana-internal-ssh-10.10.0.0_16", remoteIpPrefix="0.0.0.0/0")
    return stack


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


# --- what is sent ---------------------------------------------------------------------------

def test_secret_inputs_reach_the_pack_as_pulumi_secret_values():
    stack = compliant()
    graph = stack.graph()
    request = AnalyzerMessages(graph).analyze_request(graph.by_urn(stack.urn("documents-astana-bucket")))
    properties = json_format.MessageToDict(request.properties)
    assert properties["access_key"] == SECRET_SIG
    assert properties["secret_key"] == SECRET_SIG


def test_internal_keys_such_as_the_pickled_dynamic_provider_are_not_sent():
    stack = compliant()
    graph = stack.graph()
    request = AnalyzerMessages(graph).analyze_request(graph.by_urn(stack.urn("documents-astana-bucket")))
    assert "__provider" not in request.properties
    assert request.properties["bucket"] == "kz-documents-astana"


def test_analyze_sends_a_components_inputs_and_analyze_stack_its_outputs():
    stack = compliant()
    stack.set_outputs("astana", {"network_id": "astana-network-id"})
    graph = stack.graph()
    messages = AnalyzerMessages(graph)
    analyzed = json_format.MessageToDict(messages.analyze_request(graph.by_urn(stack.urn("astana"))).properties)
    in_stack = next(r for r in messages.stack_request().resources if r.urn == stack.urn("astana"))
    assert analyzed["country"] == "KZ"
    assert json_format.MessageToDict(in_stack.properties) == {"network_id": "astana-network-id"}


def test_requests_carry_parent_provider_and_secret_outputs():
    stack = compliant()
    graph = stack.graph()
    request = AnalyzerMessages(graph).analyze_request(graph.by_urn(stack.urn("astana-almaty-vpn-astana-to-almaty")))
    assert request.options.parent == stack.urn("astana-almaty-vpn")
    assert list(request.options.additionalSecretOutputs) == ["psk"]
    assert request.provider.urn == stack.urn("astana-openstack")
    assert request.provider.properties["cloud"] == "astana"


def test_unknown_values_make_a_policy_say_it_cannot_run_in_preview(pack):
    stack = compliant()
    stack.set_inputs("astana-web-https", remoteIpPrefix=UNKNOWN_MASK)
    report = pack.analyze(stack.graph())
    assert found(report) == {("MDC-NET-001", "astana-web-https")}
    (violation,) = report.violations
    assert violation.enforcement == "advisory"
    assert "can't be known during preview" in violation.message


def test_resource_violations_are_attributed_to_the_resource_analyzed(pack):
    report = pack.analyze(violating().graph())
    (violation,) = report.violations
    assert violation.urn == violating().urn("astana-internal-ssh-10.10.0.0_16")
    assert violation.policy_name == "mdc-net-001-admin-ports-closed"
    assert violation.message.startswith(
        "Security group rule 'astana-internal-ssh-10.10.0.0_16' admits 0.0.0.0/0 on port 22, exposing 22 (SSH)")


# --- configuration --------------------------------------------------------------------------

def test_config_naming_an_unknown_policy_is_rejected_with_the_known_names():
    with pytest.raises(PolicyConfigError, match=r"'mdc-dr-02'.*not a policy of pack 'multidc'.*mdc-dr-002-site-distance"):
        with PolicyPackProcess(config={"mdc-dr-02": {"min_distance_km": 200}}):
            pass


def test_config_value_the_schema_forbids_is_rejected_with_its_path():
    with pytest.raises(PolicyConfigError, match=r"mdc-dr-002-site-distance\.min_distance_km: -5 is less than"):
        with PolicyPackProcess(config={"mdc-dr-002-site-distance": {"min_distance_km": -5}}):
            pass


def test_config_with_an_invalid_enforcement_level_is_rejected():
    with pytest.raises(PolicyConfigError, match=r"'mdc-net-001-admin-ports-closed'.*'blocking' is not one of"):
        run_policy_pack(compliant().graph(), config={"mdc-net-001-admin-ports-closed": "blocking"})


def test_disabled_policy_is_not_run():
    report = run_policy_pack(violating().graph(), config={"mdc-net-001-admin-ports-closed": "disabled"})
    assert report.violations == ()
    assert report.summary.policies_run == 35


def test_all_sets_every_policy_to_advisory():
    report = run_policy_pack(violating().graph(), config={"all": "advisory"})
    assert [v.enforcement for v in report.violations] == ["advisory"]
    assert report.ok


def test_policy_config_file_is_read_in_the_cli_format(tmp_path: Path):
    path = tmp_path / "policy-config.json"
    path.write_text(json.dumps({"mdc-net-001-admin-ports-closed": {"enforcementLevel": "advisory", "ports": [22]}}))
    report = run_policy_pack(violating().graph(), config=load_policy_config(path))
    assert [(v.policy_id, v.enforcement) for v in report.violations] == [("MDC-NET-001", "advisory")]


def test_policy_config_file_that_is_not_an_object_is_rejected(tmp_path: Path):
    path = tmp_path / "policy-config.json"
    path.write_text("[]")
    with pytest.raises(PolicyConfigError, match=r"policy-config.json: expected a JSON object keyed by policy name"):
        load_policy_config(path)


# --- the process ----------------------------------------------------------------------------

def test_pack_process_is_gone_after_a_run():
    with PolicyPackProcess() as running:
        pid = running.pid
        running.analyze(compliant().graph())
    assert gone(pid)


def test_pack_that_crashes_on_start_raises_with_its_stderr(tmp_path: Path):
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: python\n")
    (tmp_path / "__main__.py").write_text("raise RuntimeError('boom: the pack cannot import its rules')\n")
    with pytest.raises(PolicyPackError, match=r"(?s)exited or printed None.*boom: the pack cannot import its rules"):
        run_policy_pack(compliant().graph(), pack_dir=tmp_path)


def test_pack_that_never_prints_its_port_is_stopped_after_the_timeout(tmp_path: Path):
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: python\n")
    (tmp_path / "__main__.py").write_text("import time\ntime.sleep(600)\n")
    pack = PolicyPackProcess(tmp_path, start_timeout=1.0)
    with pytest.raises(PolicyPackError, match=r"printed no port within 1 s"):
        with pack:
            pass
    assert pack.pid is None


def test_policy_that_fails_names_the_resource_it_was_analyzing(tmp_path: Path):
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: python\n")
    (tmp_path / "__main__.py").write_text(
        "from pulumi_policy import PolicyPack, ResourceValidationPolicy\n"
        "def validate(args, report_violation):\n"
        "    if args.resource_type == 'openstack:networking/router:Router':\n"
        "        raise KeyError('gatewayInfo')\n"
        "PolicyPack('broken', [ResourceValidationPolicy(name='broken-rule', description='Requires nothing.',\n"
        "                                               validate=validate)])\n")
    stack = compliant()
    where = re.escape(stack.urn("astana-router"))
    with pytest.raises(PolicyPackError, match=rf"failed Analyze on {where}: UNKNOWN .*'gatewayInfo'"):
        run_policy_pack(stack.graph(), pack_dir=tmp_path)


def test_directory_without_a_pack_is_rejected(tmp_path: Path):
    with pytest.raises(PolicyPackError, match=r"no PulumiPolicy.yaml"):
        run_policy_pack(compliant().graph(), pack_dir=tmp_path)


# --- the report -----------------------------------------------------------------------------

def test_report_carries_the_version_of_pulumipolicy_yaml(pack):
    assert pack.analyze(compliant().graph()).version == "0.1.0"


def test_report_summary_counts_policies_and_violations(pack):
    stack = violating()
    stack.remove("documents-backup-almaty")
    stack.set_system("documents", backup=None)  # an advisory MDC-BAK-001
    summary = pack.analyze(stack.graph()).summary
    assert (summary.policies_run, summary.passed, summary.mandatory_violations, summary.advisory_violations) == (
        36, 34, 1, 1)


def test_report_renders_as_a_table_and_as_json(pack):
    report = pack.analyze(violating().graph())
    console = Console(record=True, width=200)
    render_policy_report(report, console)
    text = console.export_text()
    assert "blocked" in text and "MDC-NET-001" in text
    assert "astana-internal-ssh-10.10.0.0_16" in text and "(SecGroupRule)" in text
    data = json.loads(policy_report_json(report))
    assert data["ok"] is False
    assert [(v["id"], v["enforcement"]) for v in data["violations"]] == [("MDC-NET-001", "mandatory")]
    assert len(data["policies"]) == 36
