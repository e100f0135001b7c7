"""SpecError, and pydantic's validation errors turned into (dotted path, reason) problems
that name the value, the rule and the fix."""

from __future__ import annotations

import re
from difflib import get_close_matches
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from multidc.spec.scalars import NAME_PATTERN, NAME_RULE


class SpecError(Exception):
    """A spec that cannot be used, with every problem as (dotted path, reason)."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {path}: {reason}" for path, reason in problems)
        super().__init__(f"{source}: {len(problems)} problem(s) in the platform spec\n{lines}")


def readable_path(loc: tuple, data: Any) -> list[str]:
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


def nearest(value: Any, choices: list[str]) -> str | None:
    """The choice closest to `value`, if one is close (difflib's ratio of 0.6 or more)."""
    near = get_close_matches(str(value), choices, n=1, cutoff=0.6)
    return near[0] if near else None


def did_you_mean(value: Any, choices: list[str]) -> str:
    """"; did you mean 'x'?" when one choice is close to `value`, else ''."""
    near = nearest(value, choices)
    return f"; did you mean '{near}'?" if near else ""


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """The field names of the model found by following `loc` down from `model` ([] if none)."""
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part) if current is not None else None
        current = _model_in(field.annotation) if field is not None else None
        if current is None:
            return []
    return list(current.model_fields) if current is not None else []


def _shown(value: Any) -> str | None:
    return str(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None


def _reason(item: dict, loc: tuple, model: type[BaseModel]) -> str:
    kind, ctx, value = item["type"], item.get("ctx") or {}, item.get("input")
    if kind == "extra_forbidden":
        known = fields_at(model, loc[:-1])
        what = "figure" if tuple(loc[:-1]) == ("assumptions",) else "field"  # multidc.spec.assumptions
        return (f"unknown {what} '{loc[-1]}'{did_you_mean(loc[-1], known)}"
                + (f" ({what}s here: {', '.join(known)})" if known else "; check its spelling against the README"))
    if kind == "missing":
        return f"required field '{loc[-1]}' is missing; add it" if loc else "required; add it"
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == NAME_PATTERN:
        return f"'{value}' is not a valid name: {NAME_RULE} (pattern {NAME_PATTERN})"
    if kind == "string_pattern_mismatch":
        return f"'{value}' does not match the pattern {ctx.get('pattern')}"
    if kind in ("enum", "literal_error"):
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        return f"'{value}' is not one of {', '.join(choices)}{did_you_mean(value, choices)}"
    message, shown = item["msg"], _shown(value)
    return message if shown is None or shown in message else f"{message}; got '{shown}'"


def problems_of(error: ValidationError, data: Any, model: type[BaseModel]) -> list[tuple[str, str]]:
    """Every problem in a pydantic ValidationError of `model` as (dotted path, reason)."""
    problems: list[tuple[str, str]] = []
    for item in error.errors(include_url=False):
        # Tagged and function validators add their own names to the location: drop them.
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
        base = readable_path(loc, data)
        nested = (item.get("ctx") or {}).get("problems")
        if item["type"] == "multidc" and nested:
            for sub, reason in nested:
                problems.append((".".join([*base, sub]) if base else sub, reason))
        else:
            problems.append((".".join(base) or "platform", _reason(item, loc, model)))
    return problems
