"""Whole-flow checks that no single node can make: references, reachability, verification, loops.

Errors stop a flow from loading; warnings (an unused prompt) are printed by `hotline flows check` only.
"""

from __future__ import annotations

import difflib
import os
from collections import deque
from typing import Any, Collection

from call_flows.graph import Edge, all_edges, roots, speech_on
from call_flows.issues import Issue, Severity
from call_flows.schema import (
    BUILTIN_FLAGS,
    INPUT_TYPES,
    TERMINAL_TYPES,
    BalanceNode,
    BranchNode,
    CollectNode,
    Flow,
    LookupNode,
    MenuNode,
    MessageNode,
    QueueNode,
    SetNode,
    TransferNode,
    VerifyNode,
)


def _suggest(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _norm(phrase: str) -> str:
    return "".join(phrase.split()).lower()


def prompt_refs(node: Any) -> list[tuple[tuple[Any, ...], str]]:
    """(path inside the node, prompt id) for every prompt a node uses."""
    refs: list[tuple[tuple[Any, ...], str]] = []
    for name, value in node:
        if value is None:
            continue
        if name == "prompt" or name.endswith("_prompt"):
            for i, pid in enumerate(value if isinstance(value, list) else [value]):
                refs.append(((name, i) if isinstance(value, list) else (name,), pid))
        elif name in ("confirm", "prompts"):
            for sub, pid in value:
                if pid is not None:
                    refs.append(((name, sub), pid))
    return refs


def lint(flow: Flow, *, broken_nodes: Collection[str] = (), base_dir: str = ".") -> list[Issue]:
    issues: list[Issue] = []
    path = flow.path
    known = set(flow.nodes) | set(broken_nodes)
    graph = all_edges(flow)
    h = flow.header

    def err(line: int, msg: str, node: str | None = None, severity: Severity = "error") -> None:
        issues.append(Issue(path, line, msg, node, severity))

    # References written at the top of the file.
    header_refs: list[tuple[tuple[Any, ...], str, str]] = [(("start",), h.start, "start"),
                                                          (("zero_out",), h.zero_out, "zero_out")]
    if h.defaults.on_fail:
        header_refs.append((("defaults", "on_fail"), h.defaults.on_fail, "defaults.on_fail"))
    if h.emergency is not None:
        header_refs.append((("emergency", "goto"), h.emergency.goto, "emergency.goto"))
    for name, target in h.entries.items():
        header_refs.append((("entries", name), target, f"entries.{name}"))
    for where, target, label in header_refs:
        if target not in known:
            err(flow.header_line(*where), f"{label} goes to unknown node '{target}'{_suggest(target, known)}")
    for where, pid, label in ((("defaults", "invalid_prompt"), h.defaults.invalid_prompt, "invalid_prompt"),
                              (("defaults", "timeout_prompt"), h.defaults.timeout_prompt, "timeout_prompt")):
        if pid is not None and pid not in flow.prompts:
            err(flow.header_line(*where), f"defaults.{label} uses unknown prompt '{pid}'"
                                          f"{_suggest(pid, flow.prompts)}")

    used_prompts: set[str] = {p for p in (h.defaults.invalid_prompt, h.defaults.timeout_prompt) if p}
    set_flags = {f for n in flow.nodes.values() if isinstance(n, SetNode) for f in n.flags}
    collected = {n.var for n in flow.nodes.values() if isinstance(n, CollectNode)}
    emergency_words = {_norm(k) for k in h.emergency.keywords} if h.emergency else set()

    for nid, node in flow.nodes.items():
        for e in graph[nid]:
            if e.target not in known and not e.implicit:
                err(flow.line_of(nid, *e.path),
                    f"'{_field(e)}' goes to unknown node '{e.target}'{_suggest(e.target, known)}", nid)
        for where, pid in prompt_refs(node):
            used_prompts.add(pid)
            if pid not in flow.prompts:
                err(flow.line_of(nid, *where), f"'{where[0]}' uses unknown prompt '{pid}'"
                                               f"{_suggest(pid, flow.prompts)}", nid)
        if isinstance(node, INPUT_TYPES) and not (node.on_fail or h.defaults.on_fail):
            err(flow.line_of(nid), "no on_fail: where should the call go after the last retry? "
                                   "Set on_fail here or defaults.on_fail", nid)
        if isinstance(node, MenuNode):
            _check_menu(flow, nid, node, emergency_words, err)
        if isinstance(node, VerifyNode) and "name" in node.methods and not flow.header.speech.enabled:
            err(flow.line_of(nid, "methods"), "method 'name' needs speech recognition (speech.enabled: true)", nid)
        if isinstance(node, LookupNode) and node.by == "account_no" and node.var not in collected:
            err(flow.line_of(nid, "var"), f"variable '{node.var}' is never collected (no collect node has "
                                          f"var: {node.var}){_suggest(node.var, collected)}", nid)
        if isinstance(node, BranchNode):
            for i, rule in enumerate(node.rules):
                for key in ("flag", "not_flag"):
                    flag = getattr(rule.when, key)
                    if flag is not None and flag not in BUILTIN_FLAGS | set_flags:
                        err(flow.line_of(nid, "rules", i, "when", key),
                            f"flag '{flag}' is never set (built-in flags: {', '.join(sorted(BUILTIN_FLAGS))}; "
                            f"or set it with a set node){_suggest(flag, BUILTIN_FLAGS | set_flags)}", nid)
                if rule.when.var is not None and rule.when.var not in collected:
                    err(flow.line_of(nid, "rules", i, "when", "var"),
                        f"variable '{rule.when.var}' is never collected{_suggest(rule.when.var, collected)}", nid)

    for pid, prompt in flow.prompts.items():
        if prompt.file is not None and not os.path.isfile(os.path.join(base_dir, prompt.file)):
            err(flow.prompt_lines.get(pid, 1), f"prompt '{pid}': recorded file '{prompt.file}' not found "
                                              f"(relative to the flow file)")
        if pid not in used_prompts and not broken_nodes:  # a broken node may be the one using it
            err(flow.prompt_lines.get(pid, 1), f"prompt '{pid}' is never used", None, "warning")

    if not broken_nodes and not any(i.severity == "error" for i in issues):
        _check_reachable(flow, graph, err)
        _check_person_reachable(flow, graph, err)
        _check_input_free_loops(flow, graph, err)
        _check_verified_before_account_data(flow, graph, err)
    return issues


def _field(e: Edge) -> str:
    return ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in e.path).replace(".[", "[")


def _check_menu(flow: Flow, nid: str, node: MenuNode, emergency_words: set[str], err: Any) -> None:
    seen_keys: dict[str, int] = {}
    seen_words: dict[str, int] = {}
    speech = speech_on(flow, node)
    for i, opt in enumerate(node.options):
        if opt.key is not None:
            line = flow.line_of(nid, "options", i, "key")
            if opt.key == "0":
                err(line, f"key 0 is reserved: at every menu it goes to a person (zero_out: {flow.header.zero_out})",
                    nid)
            elif opt.key in seen_keys:
                err(line, f"key '{opt.key}' is used twice (options {seen_keys[opt.key] + 1} and {i + 1})", nid)
            else:
                seen_keys[opt.key] = i
        for j, word in enumerate(opt.say):
            w = _norm(word)
            line = flow.line_of(nid, "options", i, "say", j)
            if w in seen_words and seen_words[w] != i:
                err(line, f"spoken word '{word}' is used by options {seen_words[w] + 1} and {i + 1}", nid)
            seen_words.setdefault(w, i)
            em = flow.header.emergency
            if w in emergency_words and em is not None and opt.goto != em.goto:
                err(line, f"'{word}' is an emergency keyword: it always goes to '{em.goto}', "
                          f"not to '{opt.goto}'", nid)
        if opt.say and not speech:
            err(flow.line_of(nid, "options", i, "say"),
                "spoken words are given but speech is off for this menu (speech.enabled / speech:)", nid, "warning")


def _reach(flow: Flow, graph: dict[str, list[Edge]], starts: list[str]) -> dict[str, str | None]:
    parent: dict[str, str | None] = {s: None for s in starts if s in flow.nodes}
    queue = deque(parent)
    while queue:
        nid = queue.popleft()
        for e in graph[nid]:
            if e.target in flow.nodes and e.target not in parent:
                parent[e.target] = nid
                queue.append(e.target)
    return parent


def _check_reachable(flow: Flow, graph: dict[str, list[Edge]], err: Any) -> None:
    reached = _reach(flow, graph, roots(flow))
    for nid in flow.nodes:
        if nid not in reached:
            err(flow.line_of(nid), f"unreachable: nothing leads here from start ('{flow.header.start}')"
                                   + (" or the entries" if flow.header.entries else ""), nid)


def _leads_to_person(flow: Flow, graph: dict[str, list[Edge]], start: str) -> bool:
    seen: set[str] = set()
    stack = [start]
    while stack:
        nid = stack.pop()
        if nid in seen or nid not in flow.nodes:
            continue
        seen.add(nid)
        node = flow.nodes[nid]
        if isinstance(node, (QueueNode, TransferNode)):
            return True
        if isinstance(node, INPUT_TYPES) or isinstance(node, MessageNode):
            continue
        stack.extend(e.target for e in graph[nid] if not e.implicit)
    return False


def _check_person_reachable(flow: Flow, graph: dict[str, list[Edge]], err: Any) -> None:
    h = flow.header
    if not _leads_to_person(flow, graph, h.zero_out):
        err(flow.header_line("zero_out"), f"zero_out '{h.zero_out}' does not lead to a person: it must reach a "
                                          "queue or transfer node without asking the caller anything")
    if h.emergency is not None and not _leads_to_person(flow, graph, h.emergency.goto):
        err(flow.header_line("emergency", "goto"),
            f"emergency path '{h.emergency.goto}' must reach a queue or transfer node without asking the caller "
            "anything")


def _check_input_free_loops(flow: Flow, graph: dict[str, list[Edge]], err: Any) -> None:
    """A cycle through nodes that never wait for the caller would spin forever (Tarjan's SCC)."""
    passive = [n for n, node in flow.nodes.items()
               if not isinstance(node, INPUT_TYPES + TERMINAL_TYPES + (MessageNode,))]
    sub = {n: [e.target for e in graph[n] if e.target in passive] for n in passive}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    counter = [0]
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sub[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in sub[v]:
                found.append(comp)

    for v in passive:
        if v not in index:
            visit(v)
    for comp in found:
        order = [n for n in flow.nodes if n in comp]
        first = order[0]
        err(flow.line_of(first), "loop without any caller input: " + " -> ".join(order + [first])
            + " (the call would go round forever)", first)


def _check_verified_before_account_data(flow: Flow, graph: dict[str, list[Edge]], err: Any) -> None:
    """Search (node, verified) states: account data must never be reachable in the unverified state."""
    start_states = [(r, False) for r in roots(flow) if r in flow.nodes]
    parent: dict[tuple[str, bool], tuple[str, bool] | None] = {s: None for s in start_states}
    queue = deque(start_states)
    while queue:
        state = queue.popleft()
        nid, verified = state
        node = flow.nodes[nid]
        for e in graph[nid]:
            if e.target not in flow.nodes:
                continue
            nxt = (e.target, verified or (isinstance(node, VerifyNode) and e.path == ("next",)))
            if isinstance(node, BalanceNode) and e.path == ("next",) and not verified:
                continue  # the engine never takes `next` unverified; it takes on_unverified
            if nxt not in parent:
                parent[nxt] = state
                queue.append(nxt)
    for nid, node in flow.nodes.items():
        if isinstance(node, BalanceNode) and (nid, False) in parent:
            trail: list[str] = []
            cur: tuple[str, bool] | None = (nid, False)
            while cur is not None:
                trail.append(cur[0])
                cur = parent[cur]
            err(flow.line_of(nid), "account data without identity verification: the path "
                + " -> ".join(reversed(trail)) + " reaches it with no verify node before", nid)
