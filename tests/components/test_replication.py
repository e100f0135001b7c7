"""Replicated buckets are pulled by a job in the destination site, in copy mode."""

from datetime import timedelta

import pytest

from multidc.components.replication import copy_schedule

from conftest import descendant, pod_containers
from multidc.contract import BUCKET_COPY


def copies(graph):
    return {node.name: node for node in graph.components(BUCKET_COPY)}


def test_active_passive_bucket_is_pulled_from_the_primary_into_the_standby(graphs):
    graph = graphs["kz-prod"]
    copy = copies(graph)["documents-copy-astana-to-almaty"]
    assert copy.site == "almaty" and copy.inputs["mode"] == "copy"
    job = descendant(graph, copy, "kubernetes:batch/v1:CronJob")[0]
    assert graph.by_urn(graph.by_urn(job.provider).parent).inputs["site"] == "almaty", job.urn
    (rclone,) = pod_containers(job)
    assert rclone["args"][:3] == ["copy", "SRC:kz-prod-documents-astana", "DST:kz-prod-documents-almaty"]


def test_active_active_bucket_is_copied_both_ways(graphs):
    names = {name for name in copies(graphs["active-active"]) if name.startswith("usage-exports-")}
    assert names == {"usage-exports-copy-astana-to-almaty", "usage-exports-copy-almaty-to-astana"}


def test_a_bucket_primary_in_the_second_site_is_copied_the_other_way(graphs):
    assert "ml-artifacts-copy-almaty-to-astana" in copies(graphs["kz-prod"])


def test_copy_runs_at_least_twice_within_the_rpo(graphs):
    copy = copies(graphs["kz-prod"])["documents-copy-astana-to-almaty"]  # RPO 15 minutes
    assert copy.inputs["schedule"] == "*/5 * * * *"


@pytest.mark.parametrize("rpo, schedule", [
    (timedelta(minutes=1), "*/1 * * * *"),
    (timedelta(hours=1), "*/30 * * * *"),
    (timedelta(hours=4), "0 */2 * * *"),
    (timedelta(days=2), "0 0 * * *"),
])
def test_copy_schedule_fits_twice_in_the_rpo(rpo, schedule):
    assert copy_schedule(rpo) == schedule
