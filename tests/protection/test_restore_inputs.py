"""`multidc restore` refuses bad input with exit 2 and a message naming it: times, outputs
files, stacks, systems, sites, S3 keys. Nothing here reaches a server: every input is refused
before the first request.
"""

from __future__ import annotations

import datetime as dt

import pytest

from multidc.cli import app
from multidc.protection.restore_inputs import UsageError, parse_before, site_credentials
from restore_fixtures import deployed_document, graph, planned_outputs, restore, runner, write_outputs  # noqa: F401

UTC = dt.timezone.utc


def test_bad_time_is_exit_2_naming_the_input_and_the_formats(planned_outputs):
    result = restore(planned_outputs, "documents", "yesterday-ish", "--site", "astana")
    assert result.exit_code == 2
    assert "'yesterday-ish'" in result.stderr and "ISO 8601" in result.stderr and "2h" in result.stderr


def test_time_without_a_zone_is_refused():
    with pytest.raises(UsageError, match="time zone"):
        parse_before("2026-11-27T08:00:00")


def test_relative_time_counts_back_from_now():
    now = dt.datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    assert parse_before("2h", now) == dt.datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def test_iso_time_with_an_offset_is_converted_to_utc():
    assert parse_before("2026-11-27T13:00:00+05:00") == dt.datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def test_unsupported_kind_says_what_is_supported(planned_outputs):
    result = restore(planned_outputs, "analytics", "1h", "--site", "astana", "--dry-run")
    assert result.exit_code == 2
    assert "clickhouse system" in result.stderr and "bucket, postgres, redis" in result.stderr


def test_redis_without_to_new_says_it_goes_into_a_new_server(planned_outputs):
    result = restore(planned_outputs, "sessions", "1h", "--site", "astana", "--dry-run")
    assert result.exit_code == 2 and "add --to-new NAME" in result.stderr


def test_site_outside_the_system_is_exit_2_naming_its_sites(planned_outputs):
    result = restore(planned_outputs, "analytics", "1h", "--site", "almaty", "--dry-run")
    assert result.exit_code == 2 and "runs in astana" in result.stderr


def test_no_outputs_and_no_pulumi_cli_is_exit_2_naming_both_ways(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `pulumi` on it
    result = restore(None, "documents", "1h", "--site", "astana", "--dry-run")
    assert result.exit_code == 2, result.output
    assert "--outputs FILE" in result.stderr and "Pulumi CLI" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("change, phrase", [
    (lambda d: d.update(schema="multidc.outputs/v0"), "schema 'multidc.outputs/v0'"),
    (lambda d: d.pop("schema"), "no 'schema' key"),
    (lambda d: d.pop("sites"), "sites: Field required"),
])
def test_outputs_of_the_wrong_schema_are_exit_2_naming_the_problem(graph, tmp_path, change, phrase):
    document = deployed_document(graph)
    change(document)
    result = restore(write_outputs(tmp_path, document), "documents", "1h", "--site", "astana", "--dry-run")
    assert result.exit_code == 2, result.output
    assert phrase in result.stderr and "--outputs" in result.stderr
    assert "Traceback" not in result.output


def test_outputs_that_are_not_json_are_exit_2_naming_the_file(tmp_path):
    broken = tmp_path / "out.json"
    broken.write_text("Current stack outputs (1):\n")
    result = restore(broken, "documents", "1h", "--site", "astana", "--dry-run")
    assert result.exit_code == 2 and f"--outputs {broken}: not JSON" in result.stderr


def test_a_system_not_in_the_outputs_is_exit_2_naming_the_known_systems(graph, tmp_path):
    document = deployed_document(graph)
    del document["systems"]["documents"]
    result = restore(write_outputs(tmp_path, document), "documents", "1h", "--site", "astana", "--dry-run")
    assert result.exit_code == 2, result.output
    assert "--system documents" in result.stderr and "has no such system" in result.stderr
    assert "core-db" in result.stderr and "Traceback" not in result.output


def test_outputs_of_another_stack_are_exit_2_naming_both(planned_outputs):
    result = runner.invoke(app, ["restore", "--stack", "no-such-stack", "--system", "documents",
                                 "--before", "1h", "--site", "astana", "--outputs", str(planned_outputs)])
    assert result.exit_code == 2
    assert "'kz-prod'" in result.stderr and "no-such-stack" in result.stderr


def test_site_keys_come_before_the_aws_pair():
    env = {"MULTIDC_S3_ACCESS_KEY_KZ_WEST": "site", "MULTIDC_S3_SECRET_KEY_KZ_WEST": "site-secret",
           "AWS_ACCESS_KEY_ID": "aws", "AWS_SECRET_ACCESS_KEY": "aws-secret"}
    assert site_credentials("kz-west", env) == ("site", "site-secret")


def test_site_keys_come_before_the_keys_in_the_outputs_and_those_before_the_aws_pair():
    aws = {"AWS_ACCESS_KEY_ID": "aws", "AWS_SECRET_ACCESS_KEY": "aws-secret"}
    site = {"MULTIDC_S3_ACCESS_KEY_ASTANA": "site", "MULTIDC_S3_SECRET_KEY_ASTANA": "site-secret"}
    deployed = ("deployed", "deployed-secret")
    assert site_credentials("astana", {**aws, **site}, deployed) == ("site", "site-secret")
    assert site_credentials("astana", aws, deployed) == deployed


def test_half_a_site_key_pair_is_refused_not_completed_from_the_aws_pair():
    env = {"MULTIDC_S3_ACCESS_KEY_ASTANA": "site", "AWS_ACCESS_KEY_ID": "aws", "AWS_SECRET_ACCESS_KEY": "aws-secret"}
    with pytest.raises(UsageError, match="MULTIDC_S3_SECRET_KEY_ASTANA"):
        site_credentials("astana", env)


def test_half_a_key_pair_in_the_outputs_is_refused_naming_the_keys():
    with pytest.raises(UsageError, match="sites.astana.s3.access_key"):
        site_credentials("astana", {}, ("deployed", None))
