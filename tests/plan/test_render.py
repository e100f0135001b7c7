"""How `multidc plan` reads: per-site trees, counts, default providers, the ML endpoints."""

from rich.console import Console

from multidc.plan.render import default_provider_nodes, ml_table, plan_renderable


def render(renderable) -> str:
    console = Console(width=250, record=True)
    console.print(renderable)
    return console.export_text()


def test_kz_prod_plan_shows_a_tree_per_site_and_no_default_provider(planned):
    _, graph = planned("kz-prod")
    text = render(plan_renderable(graph))
    assert "site astana" in text and "site almaty" in text
    assert "no resource on a default provider" in text
    assert default_provider_nodes(graph) == []


def test_ml_table_shows_training_reading_the_almaty_copies(planned):
    _, graph = planned("kz-prod")
    lines = render(ml_table(graph)).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("│ ml-almaty"))
    end = next(i for i, line in enumerate(lines) if line.startswith("│ ml-astana"))
    almaty = "\n".join(lines[start:end])  # rows are sorted: ml-almaty, then ml-astana
    assert "full" in lines[start] and "https://s3.almaty.example.kz/kz-prod-ml-artifacts-almaty" in almaty
    assert "s3.almaty.example.kz/kz-prod-datasets-almaty" in almaty and "s3.astana" not in almaty


def test_a_stack_without_ml_has_no_ml_table(planned):
    _, graph = planned("hybrid")
    assert ml_table(graph) is None
