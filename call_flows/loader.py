"""Load a flow file into typed objects; every problem becomes an Issue naming file:line (and the node).

The loader never raises on bad input other than FlowError: a flow file is operator-written text, and
`hotline flows check` must list every mistake at once rather than crash on the first.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from call_flows.issues import FlowError, Issue
from call_flows.lint import lint
from call_flows.schema import ID_RE, NODE_TYPES, Flow, FlowHeader, Node, Prompt
from call_flows.yamlloc import (
    LocMap,
    YamlProblem,
    YamlSyntaxError,
    load_located,
    locate,
)

SECTIONS = ("prompts", "nodes")
__all__ = ["FlowError", "Issue", "check_file", "load_flow", "parse_flow"]


def _all_field_names() -> set[str]:
    names: set[str] = set()
    stack: list[type[BaseModel]] = [FlowHeader, Prompt, *NODE_TYPES.values()]
    seen: set[type[BaseModel]] = set()
    while stack:
        model = stack.pop()
        if model in seen:
            continue
        seen.add(model)
        names.update(model.model_fields)
        for f in model.model_fields.values():
            for arg in _nested_models(f.annotation):
                stack.append(arg)
    return names


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found.append(annotation)
    for arg in getattr(annotation, "__args__", ()) or ():
        found.extend(_nested_models(arg))
    return found


FIELD_NAMES = _all_field_names()


def _suggest(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _explain(err: Any) -> str:
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
    kind = err["type"]
    name = loc[-1] if loc else ""
    if kind == "extra_forbidden":
        return f"unknown field '{name}'{_suggest(name, FIELD_NAMES)}"
    if kind == "missing":
        return f"missing required field '{_dotted(loc)}'"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    elif isinstance(err.get("input"), (str, int, float, bool)) and not isinstance(err.get("input"), LocMap):
        msg += f" (got {err['input']!r})"
    return f"'{_dotted(loc)}': {msg}" if loc else msg


def _validate(model: type[BaseModel], data: Any, container: Any, prefix: tuple[Any, ...] = ()
              ) -> tuple[Any | None, list[tuple[int, str]]]:
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        out = []
        for err in exc.errors():
            line = locate(container, prefix + tuple(err["loc"]))
            out.append((line, _explain(err)))
        # One mistake can produce the same text twice (e.g. both arms of a union); report it once.
        return None, list(dict.fromkeys(out))


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a single value ({value!r})"


def _place_duplicate(data: LocMap, p: YamlProblem) -> tuple[int, str, str | None]:
    """Name a duplicate key by what it is: two nodes or two prompts with one id are the common case."""
    for section, kind in (("nodes", "node id"), ("prompts", "prompt id")):
        sec = data.get(section)
        if p.first_line and isinstance(sec, LocMap) and p.key in sec and sec.line_of(p.key) == p.first_line:
            msg = f"duplicate {kind} '{p.key}' (first defined on line {p.first_line}; the second one is ignored)"
            return p.line, msg, (str(p.key) if section == "nodes" else None)
    return p.line, p.message, None


def parse_flow(text: str, path: str) -> tuple[Flow | None, list[Issue]]:
    """Parse and check flow text; returns the flow (None if unusable) and all issues (errors and warnings)."""
    issues: list[Issue] = []

    def err(line: int, message: str, node: str | None = None) -> None:
        issues.append(Issue(path, line, message, node))

    try:
        data, problems = load_located(text)
    except YamlSyntaxError as exc:
        return None, [Issue(path, exc.line, exc.message)]
    if data is None:
        return None, [Issue(path, 1, "the file is empty; a flow needs flow:, start:, zero_out:, prompts: and nodes:")]
    if not isinstance(data, LocMap):
        return None, [Issue(path, getattr(data, "line", 1),
                            "a flow file must be a mapping (flow:, start:, zero_out:, prompts:, nodes:), "
                            f"not {_kind(data)}")]
    for p in problems:
        err(*_place_duplicate(data, p))

    header_data = LocMap((k, v) for k, v in data.items() if k not in SECTIONS)
    header_data.line, header_data.key_lines = data.line, data.key_lines
    header, errs = _validate(FlowHeader, header_data, header_data)
    for line, msg in errs:
        err(line, msg)
    if header is None:
        # A misspelt top-level key must not hide the node errors: check the rest with the known keys.
        known = {k: v for k, v in header_data.items() if k in FlowHeader.model_fields}
        header, _ = _validate(FlowHeader, known, header_data)

    prompts, prompt_lines = _parse_prompts(data, path, issues)
    nodes, node_lines, node_src, broken = _parse_nodes(data, path, issues)
    if header is None:
        return None, issues
    flow = Flow(header=header, prompts=prompts, nodes=nodes, path=path, node_lines=node_lines,
                node_src=node_src, prompt_lines=prompt_lines, header_src=header_data)
    issues.extend(lint(flow, broken_nodes=broken, base_dir=os.path.dirname(os.path.abspath(path))))
    has_errors = any(i.severity == "error" for i in issues)
    issues.sort(key=lambda i: (i.line, i.severity != "error"))
    return (None if has_errors else flow), issues


def _parse_prompts(data: LocMap, path: str, issues: list[Issue]) -> tuple[dict[str, Prompt], dict[str, int]]:
    prompts: dict[str, Prompt] = {}
    lines: dict[str, int] = {}
    section = data.get("prompts")
    if "prompts" not in data:
        issues.append(Issue(path, data.line, "missing required section 'prompts'"))
        return prompts, lines
    if not isinstance(section, LocMap):
        issues.append(Issue(path, data.line_of("prompts"), "'prompts' must be a mapping of prompt id -> text"))
        return prompts, lines
    for pid, value in section.items():
        line = section.line_of(pid)
        if not isinstance(pid, str) or not ID_RE.match(pid):
            issues.append(Issue(path, line, f"prompt id {pid!r} is not valid (lowercase letters, digits and _)"))
            continue
        if isinstance(value, str):
            value = {"text": value}  # shorthand: `welcome: 您好...`
        if not isinstance(value, dict):
            issues.append(Issue(path, line, f"prompt '{pid}' must be text or a mapping with text: (and file:), "
                                            f"not {_kind(value)}"))
            continue
        prompt, errs = _validate(Prompt, value, value if isinstance(value, LocMap) else section,
                                 () if isinstance(value, LocMap) else (pid,))
        for eline, msg in errs:
            issues.append(Issue(path, eline, f"prompt '{pid}': {msg}"))
        if prompt is not None:
            prompts[pid] = prompt
            lines[pid] = line
    return prompts, lines


def _parse_nodes(data: LocMap, path: str, issues: list[Issue]
                 ) -> tuple[dict[str, Node], dict[str, int], dict[str, LocMap], set[str]]:
    nodes: dict[str, Node] = {}
    node_lines: dict[str, int] = {}
    node_src: dict[str, LocMap] = {}
    broken: set[str] = set()
    section = data.get("nodes")
    if "nodes" not in data:
        issues.append(Issue(path, data.line, "missing required section 'nodes'"))
        return nodes, node_lines, node_src, broken
    if not isinstance(section, LocMap) or not section:
        issues.append(Issue(path, data.line_of("nodes"), "'nodes' must be a non-empty mapping of node id -> node"))
        return nodes, node_lines, node_src, broken
    for nid, value in section.items():
        line = section.line_of(nid)
        if not isinstance(nid, str) or not ID_RE.match(nid):
            issues.append(Issue(path, line, f"node id {nid!r} is not valid (lowercase letters, digits and _, "
                                            "starting with a letter)"))
            continue
        node_lines[nid] = line
        if not isinstance(value, LocMap):
            issues.append(Issue(path, line, f"a node must be a mapping with a type: field, not {_kind(value)}", nid))
            broken.add(nid)
            continue
        value.line = line  # a missing field is reported on the node's own line
        node_src[nid] = value
        kind = value.get("type")
        if kind is None:
            issues.append(Issue(path, line, f"missing 'type' (one of: {', '.join(NODE_TYPES)})", nid))
            broken.add(nid)
            continue
        model = NODE_TYPES.get(kind) if isinstance(kind, str) else None
        if model is None:
            issues.append(Issue(path, value.line_of("type"),
                                f"unknown node type {kind!r}{_suggest(kind, NODE_TYPES)}; "
                                f"known: {', '.join(NODE_TYPES)}", nid))
            broken.add(nid)
            continue
        node, errs = _validate(model, value, value)
        for eline, msg in errs:
            issues.append(Issue(path, eline, msg, nid))
        if node is None:
            broken.add(nid)
        else:
            nodes[nid] = node
    return nodes, node_lines, node_src, broken


def check_file(path: str | os.PathLike[str]) -> tuple[Flow | None, list[Issue]]:
    p = Path(path)
    shown = str(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        return None, [Issue(shown, 0, "flow file not found")]
    except OSError as exc:
        return None, [Issue(shown, 0, f"cannot read flow file: {exc.strerror or exc}")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        return None, [Issue(shown, line, "not UTF-8 text (save the file as UTF-8)")]
    return parse_flow(text, shown)


def load_flow(path: str | os.PathLike[str]) -> Flow:
    """Load and lint; raise FlowError listing every error (warnings do not stop a flow)."""
    flow, issues = check_file(path)
    if flow is None:
        raise FlowError([i for i in issues if i.severity == "error"])
    return flow
