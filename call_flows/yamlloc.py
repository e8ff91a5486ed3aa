"""YAML that remembers where things are: every mapping and list knows its line and the line of each entry.

Operators edit flow files by hand, so every error must point at a line. PyYAML drops marks after
construction and silently keeps the last of two duplicate keys; this loader keeps the marks and reports
duplicates (two nodes with one id is a classic copy-and-paste mistake).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml


@dataclass(frozen=True)
class YamlProblem:
    line: int
    message: str
    key: object = None  # for duplicate keys: the key and where it was first written
    first_line: int = 0


class LocMap(dict[Any, Any]):
    """A dict with `line` (where the mapping starts) and `key_lines` (where each key is written)."""

    line: int
    key_lines: dict[Any, int]

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class LocList(list[Any]):
    line: int
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if 0 <= index < len(self.item_lines) else self.line


def locate(container: Any, path: tuple[Any, ...] | list[Any]) -> int:
    """The line of the deepest element of `path` that exists (a missing key points at its parent)."""
    line = getattr(container, "line", 1)
    obj = container
    for part in path:
        if isinstance(obj, LocMap) and part in obj:
            line = obj.line_of(part)
            obj = obj[part]
        elif isinstance(obj, LocList) and isinstance(part, int) and 0 <= part < len(obj):
            line = obj.line_of(part)
            obj = obj[part]
        else:
            break
    return line


# libyaml's parser when present: flow files are parsed on every check and at every service start.
_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.problems: list[YamlProblem] = []


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> LocMap:
    loader.flatten_mapping(node)  # resolves `<<:` merge keys
    result = LocMap()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            hash(key)
        except TypeError:
            loader.problems.append(YamlProblem(line, "a mapping key must be a plain value"))
            continue
        if key in result.key_lines:
            first = result.key_lines[key]
            loader.problems.append(YamlProblem(
                line, f"duplicate key {key!r} (first defined on line {first})", key, first))
            continue
        result.key_lines[key] = line
        result[key] = loader.construct_object(value_node, deep=True)
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode, deep: bool = False) -> LocList:
    result = LocList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


class YamlSyntaxError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


def load_located(text: str) -> tuple[Any, list[YamlProblem]]:
    """Parse one YAML document; raise YamlSyntaxError (with a 1-based line) when it is not valid YAML."""
    loader = _Loader(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or "invalid YAML"
        if exc.context:
            what = f"{exc.context}: {what}"
        unclosed = exc.context is not None and exc.context.startswith(
            ("while parsing a flow", "while scanning a quoted", "while scanning a double-quoted"))
        if exc.context_mark is not None and ("end of stream" in what or unclosed):
            # The reader ran off the end of the file: the mistake is where the quote/bracket was opened.
            mark = exc.context_mark
            what += " (a quote or bracket opened on this line is never closed)"
        line = mark.line + 1 if mark is not None else 1
        if "'\\t'" in what or "tab character" in what:
            what += " (use spaces, not tabs, to indent)"
        elif "mapping values are not allowed" in what or "expected <block end>" in what:
            what += " (check the indentation of this line and the one above)"
        raise YamlSyntaxError(line, f"YAML syntax error: {what}") from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(1, f"YAML error: {exc}") from None
    finally:
        loader.dispose()
    return data, loader.problems
