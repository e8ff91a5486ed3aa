"""The flow as a graph: one edge list shared by the linter, the engine's checks and the drawings.

Implicit edges are real edges here: key 0 at every menu goes to zero_out, an emergency keyword at every
speech input goes to the emergency path, and an input node without its own on_fail uses the default.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from call_flows.schema import (
    BalanceNode,
    BranchNode,
    CollectNode,
    Flow,
    LookupNode,
    MenuNode,
    MessageNode,
    Node,
    OutagesNode,
    PlayNode,
    SetNode,
    SurveyNode,
    VerifyNode,
)


@dataclass(frozen=True)
class Edge:
    target: str
    label: str
    path: tuple[object, ...]  # where the reference is written inside the node (for error lines)
    implicit: bool = False  # zero_out / emergency / defaults.on_fail: not written in the node


def speech_on(flow: Flow, node: Node) -> bool:
    if isinstance(node, MenuNode):
        return node.speech if node.speech is not None else flow.header.speech.enabled
    if isinstance(node, VerifyNode):
        return "name" in node.methods and flow.header.speech.enabled
    return False


def edges(flow: Flow, nid: str) -> list[Edge]:
    node = flow.nodes[nid]
    out: list[Edge] = []

    def on_fail() -> None:
        own = getattr(node, "on_fail", None)
        target = own or flow.header.defaults.on_fail
        if target:
            out.append(Edge(target, "失败", ("on_fail",), implicit=own is None))

    if isinstance(node, MenuNode):
        for i, opt in enumerate(node.options):
            label = "/".join(x for x in [opt.key or "", *opt.say[:2]] if x)
            out.append(Edge(opt.goto, label, ("options", i, "goto")))
        out.append(Edge(flow.header.zero_out, "0 人工", ("options",), implicit=True))
        on_fail()
    elif isinstance(node, CollectNode):
        out.append(Edge(node.next, "", ("next",)))
        on_fail()
    elif isinstance(node, VerifyNode):
        out.append(Edge(node.next, "已验证", ("next",)))
        on_fail()
        if node.on_unknown:
            out.append(Edge(node.on_unknown, "无客户", ("on_unknown",)))
    elif isinstance(node, SurveyNode):
        out.append(Edge(node.next, "", ("next",)))
        on_fail()
    elif isinstance(node, LookupNode):
        out.append(Edge(node.found, "找到", ("found",)))
        out.append(Edge(node.not_found, "未找到", ("not_found",)))
    elif isinstance(node, BalanceNode):
        out.append(Edge(node.next, "", ("next",)))
        out.append(Edge(node.on_unverified, "未验证", ("on_unverified",)))
        out.append(Edge(node.on_no_account, "无账户", ("on_no_account",)))
    elif isinstance(node, BranchNode):
        for i, rule in enumerate(node.rules):
            out.append(Edge(rule.goto, _cond_label(rule.when), ("rules", i, "goto")))
        out.append(Edge(node.default, "否则", ("default",)))
    elif isinstance(node, (PlayNode, SetNode, OutagesNode, MessageNode)):
        out.append(Edge(node.next, "", ("next",)))
    em = flow.header.emergency
    if em is not None and speech_on(flow, node):
        out.append(Edge(em.goto, "紧急关键词", (), implicit=True))
    if em is not None and em.keys and _emergency_keys_work(node, em.keys):
        out.append(Edge(em.goto, "/".join(em.keys) + " 紧急", (), implicit=True))
    return out


def _emergency_keys_work(node: object, keys: list[str]) -> bool:
    """A play node hears every emergency key; a menu those it does not use for an option of its own."""
    if isinstance(node, PlayNode):
        return node.interruptible
    if isinstance(node, MenuNode):
        return bool(set(keys) - {opt.key for opt in node.options if opt.key})
    return False


def _cond_label(cond: object) -> str:
    parts = [f"{k}={v}" for k, v in cond.__dict__.items() if v is not None]
    return ", ".join(parts)[:40]


def all_edges(flow: Flow) -> dict[str, list[Edge]]:
    return {nid: edges(flow, nid) for nid in flow.nodes}


def roots(flow: Flow) -> list[str]:
    return [flow.header.start, *flow.header.entries.values()]


def to_mermaid(flow: Flow, *, implicit: bool = False) -> str:
    """Mermaid text. Implicit edges (key 0, emergency words, default on_fail at every input) are left out
    unless asked for: they exist at every menu and would hide the flow's own structure."""
    lines = ["flowchart TD"]
    ids = {nid: f"n{i}" for i, nid in enumerate(flow.nodes)}
    shapes = {"menu": ("{{", "}}"), "branch": ("{", "}"), "queue": ("([", "])"), "transfer": ("([", "])"),
              "hangup": ("((", "))")}
    for nid, node in flow.nodes.items():
        left, right = shapes.get(node.type, ("[", "]"))
        text = f"{nid}<br/><small>{node.type}</small>"
        lines.append(f'    {ids[nid]}{left}"{text}"{right}')
    for nid in flow.nodes:
        for e in edges(flow, nid):
            if e.target not in ids or (e.implicit and not implicit):
                continue
            arrow = "-.->" if e.implicit else "-->"
            label = e.label.replace('"', "'")
            lines.append(f'    {ids[nid]} {arrow}|"{label}"| {ids[e.target]}' if label
                         else f"    {ids[nid]} {arrow} {ids[e.target]}")
    lines.append(f'    start(("start")) --> {ids[flow.header.start]}')
    return "\n".join(lines) + "\n"


def _layers(flow: Flow) -> dict[str, int]:
    """Longest-path-free layering: BFS depth from the roots, unreached nodes on a last row."""
    depth: dict[str, int] = {}
    frontier = [r for r in roots(flow) if r in flow.nodes]
    for r in frontier:
        depth[r] = 0
    while frontier:
        nxt: list[str] = []
        for nid in frontier:
            for e in edges(flow, nid):
                if e.target in flow.nodes and e.target not in depth and not e.implicit:
                    depth[e.target] = depth[nid] + 1
                    nxt.append(e.target)
        frontier = nxt
    # Implicit-only targets (zero_out, emergency) sit one row below their first caller.
    last = max(depth.values(), default=0) + 1
    for nid in flow.nodes:
        depth.setdefault(nid, last)
    return depth


def to_svg(flow: Flow, *, implicit: bool = False) -> str:
    """A self-contained SVG (no external renderer): nodes in rows by depth, edges as straight lines."""
    depth = _layers(flow)
    rows: dict[int, list[str]] = {}
    for nid in flow.nodes:
        rows.setdefault(depth[nid], []).append(nid)
    box_w, box_h, gap_x, gap_y = 150, 40, 30, 70
    width = max(len(r) for r in rows.values()) * (box_w + gap_x) + gap_x
    pos: dict[str, tuple[float, float]] = {}
    for d, row in sorted(rows.items()):
        row_w = len(row) * (box_w + gap_x) - gap_x
        x0 = (width - row_w) / 2
        for i, nid in enumerate(row):
            pos[nid] = (x0 + i * (box_w + gap_x), gap_y / 2 + d * (box_h + gap_y))
    height = max(y for _, y in pos.values()) + box_h + gap_y / 2
    colors = {"menu": "#fff3c4", "queue": "#c8f0c8", "transfer": "#c8f0c8", "hangup": "#eeeeee",
              "branch": "#dde8ff", "verify": "#ffd9d9", "balance": "#ffd9d9"}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'font-family="sans-serif" font-size="11">',
           '<defs><marker id="a" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" '
           'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
           f"<title>{html.escape(flow.header.title or flow.name)}</title>"]
    for nid in flow.nodes:
        x, y = pos[nid]
        for e in edges(flow, nid):
            if e.target not in pos or (e.implicit and not implicit):
                continue
            tx, ty = pos[e.target]
            x1, y1 = x + box_w / 2, y + box_h
            x2, y2 = tx + box_w / 2, ty
            if ty <= y:  # back edge: go from the side so it does not cross its own box
                x1, y1, y2 = x + box_w, y + box_h / 2, ty + box_h / 2
                x2 = tx + box_w
            dash = ' stroke-dasharray="4 3"' if e.implicit else ""
            out.append(f'<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" stroke="#555"'
                       f'{dash} marker-end="url(#a)"/>')
            if e.label:
                out.append(f'<text x="{(x1 + x2) / 2:.0f}" y="{(y1 + y2) / 2:.0f}" fill="#333">'
                           f"{html.escape(e.label)}</text>")
    for nid, node in flow.nodes.items():
        x, y = pos[nid]
        out.append(f'<rect x="{x:.0f}" y="{y:.0f}" width="{box_w}" height="{box_h}" rx="6" '
                   f'fill="{colors.get(node.type, "#ffffff")}" stroke="#333"/>')
        out.append(f'<text x="{x + box_w / 2:.0f}" y="{y + 17:.0f}" text-anchor="middle" font-weight="bold">'
                   f"{html.escape(nid)}</text>")
        out.append(f'<text x="{x + box_w / 2:.0f}" y="{y + 31:.0f}" text-anchor="middle" fill="#555">'
                   f"{html.escape(node.type)}</text>")
    out.append("</svg>")
    return "\n".join(out) + "\n"
