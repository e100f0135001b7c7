"""Write a changed platform spec into its Pulumi stack file, changing nothing else.

The stack file holds more than the spec: comments that explain it, other config keys, the
`encryptionsalt` and `secure:` values that Pulumi decrypts with the stack's key. Losing one of
those locks a team out of its own secrets, so the file is edited with a round-trip YAML
library (ruamel.yaml): only the values the new spec changes are written, in place; comments,
key order, quoting and every other byte stay. The unified diff says what changed.
"""

from __future__ import annotations

import difflib
import io
from pathlib import Path
from typing import Any, Iterator

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from multidc.spec import CONFIG_KEY, Platform

Path_ = tuple[Any, ...]


class StackFileError(RuntimeError):
    """The stack file's spec does not have the shape of the model; the message names the path."""


def changes(before: Any, after: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    """(path, new value) for every leaf where `after` differs from `before` (mappings and lists of mappings
    are followed key by key and item by item; any other value is replaced whole)."""
    if isinstance(before, dict) and isinstance(after, dict):
        for key in after:
            if key not in before or before[key] != after[key]:
                yield from changes(before.get(key), after[key], path + (key,))
    elif (isinstance(before, list) and isinstance(after, list) and len(before) == len(after)
          and all(isinstance(item, dict) for item in before + after)):
        for index, (old, new) in enumerate(zip(before, after)):
            if old != new:
                yield from changes(old, new, path + (index,))
    elif before != after:
        yield path, after


def _yaml() -> YAML:
    yaml = YAML()  # round-trip mode
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long line the author wrote on one line
    return yaml


def _indent(text: str) -> tuple[int, int, int]:
    """(mapping, sequence, offset) indentation as the file writes its first nested block sequence."""
    lines = text.splitlines()
    for number, line in enumerate(lines[1:], 1):
        stripped = line.lstrip(" ")
        if stripped.startswith("- ") and lines[number - 1].rstrip().endswith(":"):
            parent = len(lines[number - 1]) - len(lines[number - 1].lstrip(" "))
            dash = len(line) - len(stripped)
            return 2, dash - parent + 2, dash - parent
    return 2, 2, 0


def _set(document: Any, path: Path_, value: Any, source: Path) -> None:
    node = document
    for depth, key in enumerate(path[:-1]):
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            if isinstance(node, CommentedMap) and isinstance(path[depth + 1], str):
                node[key] = CommentedMap()
                node = node[key]
                continue
            where = ".".join(str(k) for k in path)
            raise StackFileError(f"{source}: {CONFIG_KEY}.{where} cannot be written in place (the file's shape "
                                 "differs from the spec model); edit it by hand as the diff of the offline "
                                 "re-plan says") from None
    leaf = path[-1]
    current = node[leaf] if (isinstance(node, dict) and leaf in node) else None
    if isinstance(current, CommentedSeq) and isinstance(value, list):
        del current[:]
        current.extend(value)  # in place: the list keeps its flow or block style and its comments
    else:
        node[leaf] = value


def write_platform(path: Path, before: Platform, after: Platform) -> str:
    """Write the values in which `after` differs from `before` into the stack file; returns the unified diff
    ('' when nothing changed). Idempotent: writing the same spec again changes nothing."""
    text = path.read_text()
    yaml = _yaml()
    mapping, sequence, offset = _indent(text)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    document = yaml.load(text)
    try:
        spec = document["config"][CONFIG_KEY]
    except (KeyError, TypeError):
        raise StackFileError(f"{path}: no config.{CONFIG_KEY} mapping to write the spec into") from None
    old = before.model_dump(mode="json", exclude_none=True)
    new = after.model_dump(mode="json", exclude_none=True)
    for where, value in changes(old, new):
        _set(spec, where, value, path)
    out = io.StringIO()
    yaml.dump(document, out)
    written = out.getvalue()
    if written == text:
        return ""
    path.write_text(written)
    return "".join(difflib.unified_diff(text.splitlines(True), written.splitlines(True),
                                        f"a/{path.name}", f"b/{path.name}"))
