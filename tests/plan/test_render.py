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
    text = render(ml_table(graph))
    almaty_row = next(line for line in text.splitlines() if line.startswith("│ ml-almaty"))
    assert "full" in almaty_row and "https://s3.almaty.example.kz/kz-prod-ml-artifacts-almaty" in almaty_row
    assert "s3.astana" not in text.split("ml-almaty", 1)[1]


def test_a_stack_without_ml_has_no_ml_table(planned):
    _, graph = planned("hybrid")
    assert ml_table(graph) is None
