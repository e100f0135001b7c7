"""The stack outputs the program exports are a valid document and plan the same runbooks as the graph."""

import json

import pytest

from multidc.contract import OUTPUTS_KEY, OUTPUTS_SCHEMA
from multidc.dr.runbook import RunbookKind, all_runbooks, build
from multidc.ops.deployed import deployed
from multidc.ops.outputs import OutputsError, parse

STACKS = ("kz-prod", "hybrid", "backup-only", "active-active")


@pytest.fixture(params=STACKS)
def stack_plan(request, planned):
    """Each example stack's spec and graph, from the session's plans (tests/conftest.py)."""
    return planned(request.param)


def test_program_exports_one_versioned_document_with_secrets_masked(stack_plan):
    platform, graph = stack_plan
    document = graph.outputs[OUTPUTS_KEY]
    assert document["schema"] == OUTPUTS_SCHEMA
    assert set(document["systems"]) == {system.name for system in platform.systems}
    for site in document["sites"].values():
        assert site["s3"] == {"access_key": "[secret]", "secret_key": "[secret]"}, "S3 keys must stay Pulumi secrets"
    for name, system in document["systems"].items():
        for site, placement in system["placements"].items():
            if placement["database"] is not None and placement["database"].get("password") is not None:
                assert placement["database"]["password"] == "[secret]", f"{name}@{site}: password not secret"


def test_outputs_of_the_plan_are_a_valid_document(stack_plan):
    platform, graph = stack_plan
    outputs = parse(graph.outputs[OUTPUTS_KEY], "plan")
    assert outputs.platform == platform.name
    assert all(p.password is None for s in outputs.systems.values() for p in
               (pl.database for pl in s.placements.values()) if p is not None), "masked secrets read as absent"


def test_runbooks_from_the_outputs_equal_the_runbooks_from_the_graph(stack_plan):
    platform, graph = stack_plan
    from_outputs = deployed(parse(graph.outputs[OUTPUTS_KEY], "plan"))
    books = all_runbooks(platform, graph)
    assert books or platform.name == "backup-only"
    for book in books:
        again = build(platform, from_outputs, book.kind, book.to_site,
                      book.from_site if book.kind is not RunbookKind.failback else book.from_site)
        assert again.fingerprint == book.fingerprint, f"{platform.name} {book.kind.value} to {book.to_site}"


@pytest.mark.parametrize("change, phrase", [
    (lambda d: d.update(schema="multidc.outputs/v0"), "schema 'multidc.outputs/v0'"),
    (lambda d: d.pop("schema"), "no 'schema' key"),
    (lambda d: d.pop("systems"), "systems: Field required"),
    (lambda d: d["systems"]["core-db"]["placements"]["astana"].update(role="leader"), "placements.astana.role"),
])
def test_a_bad_document_names_the_path_and_the_fix(change, phrase, planned_outputs):
    document = json.loads(json.dumps(planned_outputs))  # kz-prod's, a copy of the session's
    change(document)
    with pytest.raises(OutputsError, match=None) as error:
        parse(document, "--outputs out.json")
    assert phrase in str(error.value)
    assert "--outputs out.json" in str(error.value)


def test_the_published_json_schema_is_the_one_the_reader_validates_with():
    from multidc import project
    from multidc.ops.outputs import json_schema

    published = json.loads((project.root() / "docs" / "outputs.schema.json").read_text())
    assert published == json_schema(), "regenerate docs/outputs.schema.json (see docs/outputs.md)"
