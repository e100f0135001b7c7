"""`multidc restore` as an operator runs it, on kz-prod's deployed outputs: import the names.

    from restore_fixtures import graph, outputs, sites, restore, deployed_document  # noqa: F401

The command reads the deployed stack's outputs, as after `pulumi up`: the tests write the
document the program exports (the offline plan's `multidc` output), with every bucket
endpoint, the S3 keys and core-db's database replaced by local ones when ``sites`` are given
(astana on the moto server process ``site_a``, almaty on ``site_b``).
"""

from __future__ import annotations

import copy
import json
import urllib.request
from pathlib import Path
from typing import Any, Optional

import pytest
from typer.testing import CliRunner

from multidc.cli import app
from multidc.components.bucket_provider import BucketProvider, canonical_policy
from multidc.contract import DYNAMIC, OUTPUTS_KEY
from multidc.protection.locate import BucketLocation

STACK = "kz-prod"
SECRET = "never-print-this-secret-0451"
runner = CliRunner()


@pytest.fixture
def sites(site_a, site_b, monkeypatch) -> dict[str, Any]:
    """kz-prod's sites on two moto processes, emptied first; no S3 keys or DSN in the environment."""
    for site in (site_a, site_b):
        request = urllib.request.Request(f"{site.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
    for name in ("ASTANA", "ALMATY"):
        monkeypatch.delenv(f"MULTIDC_S3_ACCESS_KEY_{name}", raising=False)
        monkeypatch.delenv(f"MULTIDC_S3_SECRET_KEY_{name}", raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MULTIDC_TARGET_DSN"):
        monkeypatch.delenv(name, raising=False)
    return {"astana": site_a, "almaty": site_b}


@pytest.fixture(scope="module")
def graph(planned):
    return planned(STACK)[1]


def deployed_document(graph, sites: Optional[dict[str, Any]] = None, *, keys: bool = True,
                      database: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """The program's outputs document as `pulumi stack output --show-secrets` gives it: with the
    sites' endpoints when ``sites`` are given (else the provider's, as planned), each site's keys
    unless ``keys`` is False (then masked, as saved without --show-secrets), ``database`` as
    core-db's in astana when given."""
    document = copy.deepcopy(graph.outputs[OUTPUTS_KEY])
    if keys:
        for name, site in document["sites"].items():
            site["s3"] = {"access_key": f"key-{name}", "secret_key": SECRET}
    for system in document["systems"].values() if sites is not None else ():
        for site, placement in system["placements"].items():
            if placement["bucket"] is not None:
                placement["bucket"]["endpoint"] = sites[site].endpoint_url
        if system["backup"] is not None:
            system["backup"]["vault"]["endpoint"] = sites[system["backup"]["site"]].endpoint_url
    if database is not None:
        document["systems"]["core-db"]["placements"]["astana"]["database"] = database
    return document


def write_outputs(tmp_path: Path, document: Any, name: str = "outputs.json") -> Path:
    """Saved as `pulumi stack output --json --show-secrets > FILE` saves it: the whole map of outputs."""
    path = tmp_path / name
    path.write_text(json.dumps({OUTPUTS_KEY: document}))
    return path


@pytest.fixture
def outputs(graph, sites, tmp_path) -> Path:
    """kz-prod's outputs file, deployed on the two local sites."""
    return write_outputs(tmp_path, deployed_document(graph, sites))


@pytest.fixture
def planned_outputs(graph, tmp_path) -> Path:
    """kz-prod's outputs file as planned (the provider's endpoints): for inputs refused before any request."""
    return write_outputs(tmp_path, deployed_document(graph))


def create_declared(graph, sites, location: BucketLocation) -> Any:
    """Create a bucket exactly as the plan declares it, on the local site; return a client on it."""
    site = sites[location.site]
    declared = [node for node in graph.of_type(DYNAMIC) if node.inputs.get("bucket") == location.bucket]
    assert len(declared) == 1, f"the plan declares {len(declared)} buckets named {location.bucket}"
    props = dict(declared[0].inputs)
    props.update(endpoint=site.endpoint_url, access_key=site.access_key, secret_key=site.secret_key)
    if props.get("policy"):
        # moto applies a bucket policy's statements to every key, whatever their Principal: the delayed standby
        # reader's Deny of s3:PutObject would refuse the backup job's own keys here. That it binds the reader
        # alone needs a real endpoint (docs/ransomware.md); the writer's statements stay.
        policy = json.loads(props["policy"])
        policy["Statement"] = [s for s in policy["Statement"] if not s.get("Sid", "").startswith("ArchiveReaders")]
        props["policy"] = canonical_policy(policy)
    BucketProvider().create(props)
    return site.client()


def restore(outputs: Optional[Path], system, before, *extra: str, input: str | None = None):
    """Run `multidc restore` on kz-prod as an operator would, with `--outputs` unless ``outputs`` is None."""
    moment = before if isinstance(before, str) else before.isoformat()
    args = ["restore", "--stack", STACK, "--system", system, "--before", moment,
            *(["--outputs", str(outputs)] if outputs is not None else []), *extra]
    return runner.invoke(app, args, input=input)
