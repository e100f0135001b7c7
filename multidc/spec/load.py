"""Reading a stack file: YAML with its line and column kept, the config keys around the
platform spec (misspellings, plaintext secrets), and the spec itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from multidc.spec.errors import SpecError, nearest, problems_of, readable_path
from multidc.spec.platform import Platform
from multidc.spec.secrets import secret_problems

CONFIG_KEY = "multidc:platform"


def parse_platform(data: Any, source: str = "spec") -> Platform:
    """Validate a platform spec given as plain data; raise SpecError with every problem."""
    if not isinstance(data, dict):
        raise SpecError(source, [("platform", f"expected a mapping of sites and systems, got {type(data).__name__}")])
    problems = secret_problems(data, None, lambda path: ".".join(readable_path(path, data)) or "platform")
    try:
        platform = Platform.model_validate(data)
    except ValidationError as error:
        found = problems_of(error, data, Platform)
        found += [p for p in Platform.reference_problems(data) if p not in found]
        raise SpecError(source, problems + found) from None
    if problems:
        raise SpecError(source, problems)
    return platform


def stack_file(stack: str, root: Path | None = None) -> Path:
    root = root or Path(__file__).resolve().parents[2]
    return root / "stacks" / f"Pulumi.{stack}.yaml"


class _StackLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error, not a
    silent overwrite (two `size:` keys would otherwise keep only the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` merges are meant to be overridden by the keys beside them
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    f"while reading the mapping starting at line {node.start_mark.line + 1}", node.start_mark,
                    f"key '{key}' is given twice (first at line {seen[key].start_mark.line + 1}); "
                    "keep one", key_node.start_mark)
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def _yaml_problem(source: str, error: yaml.YAMLError) -> tuple[str, str]:
    """A YAML error as file:line:column, what is wrong, and the offending line with a pointer."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    if mark is None:
        return "yaml", f"{error}; fix the YAML syntax"
    problem = getattr(error, "problem", None) or str(error)
    context, context_mark = getattr(error, "context", None), getattr(error, "context_mark", None)
    if context and context_mark is not None and context_mark is not mark:
        where = f"line {context_mark.line + 1}, column {context_mark.column + 1}"
        problem += f" ({context}" + ("" if "line" in context else f" at {where}") + ")"
    snippet = mark.get_snippet(indent=4, max_length=100)
    reason = f"{problem}; fix the YAML there" + (f"\n{snippet}" if snippet else "")
    return f"{source}:{mark.line + 1}:{mark.column + 1}", reason


def read_stack_config(path: Path) -> dict[str, Any]:
    """The `config:` mapping of a Pulumi stack file, or SpecError naming the file."""
    source = str(path)
    if not path.is_file():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in path.parent.glob("Pulumi.*.yaml"))
        raise SpecError(source, [("stack", f"no such stack file; known stacks: {', '.join(known) or 'none'}")])
    try:
        document = yaml.load(path.read_text(), Loader=_StackLoader) or {}
    except yaml.YAMLError as error:
        raise SpecError(source, [_yaml_problem(source, error)]) from None
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        keys = [str(key) for key in document] if isinstance(document, dict) else []
        wrong = nearest("config", keys)
        hint = (f"; found '{wrong}': did you mean 'config'? rename it" if wrong
                else f" (top-level keys: {', '.join(keys)})" if keys else "")
        raise SpecError(source, [("config", "the stack file has no 'config:' mapping" + hint)])
    return config


def config_problems(config: dict[str, Any]) -> list[tuple[str, str]]:
    """Problems in the stack's config around the platform spec: a misspelled platform key,
    and plaintext secrets under any other key."""
    problems = []
    keys = [key for key in config if isinstance(key, str)]
    if CONFIG_KEY not in config:
        wrong = nearest(CONFIG_KEY, keys)
        if wrong:
            problems.append((wrong, f"unknown config key; did you mean '{CONFIG_KEY}'? The platform spec is "
                                    f"read from '{CONFIG_KEY}' only: rename the key"))
        else:
            found = f" (keys found: {', '.join(keys)})" if keys else ""
            problems.append((CONFIG_KEY, f"missing; the platform spec lives under this config key{found}"))
    for key, value in config.items():
        if key != CONFIG_KEY:
            problems += secret_problems(value, str(key), lambda path, key=key: ".".join([str(key), *map(str, path)]))
    return problems


def load_stack(stack: str, root: Path | None = None) -> Platform:
    """Load and validate `stacks/Pulumi.<stack>.yaml`'s `multidc:platform` and the config around it."""
    path = stack_file(stack, root)
    config = read_stack_config(path)
    problems = config_problems(config)
    if CONFIG_KEY not in config:
        raise SpecError(str(path), problems)
    try:
        platform = parse_platform(config[CONFIG_KEY], str(path))
    except SpecError as error:
        raise SpecError(str(path), problems + error.problems) from None
    if problems:
        raise SpecError(str(path), problems)
    return platform
