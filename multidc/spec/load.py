"""Reading a stack file, and turning validation errors into (dotted path, reason) problems."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from multidc.spec.platform import Platform

CONFIG_KEY = "multidc:platform"


class SpecError(Exception):
    """A spec that cannot be used, with every problem as (dotted path, reason)."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {path}: {reason}" for path, reason in problems)
        super().__init__(f"{source}: {len(problems)} problem(s) in the platform spec\n{lines}")


def _readable_path(loc: tuple, data: Any) -> list[str]:
    """Turn ('systems', 2, 'rpo') into ['systems', 'core-db', 'rpo'] using the items' names."""
    parts: list[str] = []
    node = data
    for part in loc:
        if isinstance(part, int) and isinstance(node, list) and part < len(node):
            item = node[part]
            named = isinstance(item, dict) and isinstance(item.get("name"), str)
            parts.append(item["name"] if named else str(part))
            node = item
        else:
            parts.append(str(part))
            node = node.get(part) if isinstance(node, dict) else None
    return parts


def problems_of(error: ValidationError, data: Any) -> list[tuple[str, str]]:
    """Every problem in a pydantic ValidationError as (dotted path, reason)."""
    problems: list[tuple[str, str]] = []
    for item in error.errors(include_url=False):
        # Tagged and function validators add their own names to the location: drop them.
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
        base = _readable_path(loc, data)
        nested = (item.get("ctx") or {}).get("problems")
        if item["type"] == "multidc" and nested:
            for sub, reason in nested:
                problems.append((".".join([*base, sub]) if base else sub, reason))
        elif item["type"] == "extra_forbidden":
            problems.append((".".join(base), "unknown field; check its spelling against the spec reference"))
        else:
            problems.append((".".join(base) or "platform", item["msg"]))
    return problems


def parse_platform(data: Any, source: str = "spec") -> Platform:
    """Validate a platform spec given as plain data; raise SpecError with every problem."""
    if not isinstance(data, dict):
        raise SpecError(source, [("platform", f"expected a mapping of sites and systems, got {type(data).__name__}")])
    try:
        return Platform.model_validate(data)
    except ValidationError as error:
        problems = problems_of(error, data)
        problems += [p for p in Platform.reference_problems(data) if p not in problems]
        raise SpecError(source, problems) from None


def stack_file(stack: str, root: Path | None = None) -> Path:
    """`stacks/Pulumi.<stack>.yaml` of the project `root` (default: found as the Pulumi CLI finds it)."""
    if root is None:
        from multidc import project

        root = project.root()
    return root / "stacks" / f"Pulumi.{stack}.yaml"


def read_stack_config(path: Path) -> dict[str, Any]:
    """The `config:` mapping of a Pulumi stack file, or SpecError naming the file."""
    source = str(path)
    if not path.is_file():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in path.parent.glob("Pulumi.*.yaml"))
        raise SpecError(source, [("stack", f"no such stack file; known stacks: {', '.join(known) or 'none'}")])
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise SpecError(source, [("yaml", str(error).replace("\n", " "))]) from None
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise SpecError(source, [("config", "the stack file has no 'config:' mapping")])
    return config


def load_stack(stack: str, root: Path | None = None) -> Platform:
    """Load and validate `stacks/Pulumi.<stack>.yaml`'s `multidc:platform`."""
    path = stack_file(stack, root)
    config = read_stack_config(path)
    if CONFIG_KEY not in config:
        raise SpecError(str(path), [(CONFIG_KEY, "missing; the platform spec lives under this config key")])
    return parse_platform(config[CONFIG_KEY], str(path))
