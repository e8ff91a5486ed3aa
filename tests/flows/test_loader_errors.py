"""Broken flow files: every kind of mistake gives file:line, the node when there is one, and a clear message.

Most cases edit this valid base flow (line numbers on the left):

     1  flow: mini                 12      prompt: hello
     2  start: hello               13      next: menu
     3  zero_out: agent            14    menu:
     4  defaults:                  15      type: menu
     5    on_fail: agent           16      prompt: menu
     6  prompts:                   17      options:
     7    hello: 您好              18        - key: 1
     8    menu: 请选择             19          goto: agent
     9  nodes:                     20    agent:
    10    hello:                   21      type: queue
    11      type: play             22      queue: general
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Callable

import pytest

from call_flows.loader import check_file, load_flow, parse_flow
from call_flows.issues import FlowError
from tests.flows.conftest import GAS, WATER

BASE = """\
flow: mini
start: hello
zero_out: agent
defaults:
  on_fail: agent
prompts:
  hello: 您好
  menu: 请选择
nodes:
  hello:
    type: play
    prompt: hello
    next: menu
  menu:
    type: menu
    prompt: menu
    options:
      - key: 1
        goto: agent
  agent:
    type: queue
    queue: general
"""


def edit(old: str, new: str) -> Callable[[], str]:
    def make() -> str:
        assert old in BASE, old
        return BASE.replace(old, new, 1)
    return make


def add(nodes: str) -> Callable[[], str]:
    return lambda: BASE + textwrap.indent(textwrap.dedent(nodes), "  ")


def whole(text: str) -> Callable[[], str]:
    return lambda: textwrap.dedent(text).lstrip("\n")


# A flow with speech, an emergency path and input nodes, for the whole-flow checks.
RICH_HEAD = """\
flow: rich
start: menu
zero_out: agent
defaults:
  on_fail: agent
speech:
  enabled: true
emergency:
  keywords: [漏气]
  goto: leak
prompts:
  menu: 请选择
nodes:
"""
RICH_TAIL = """\
  leak:
    type: queue
    queue: emergency
  agent:
    type: queue
    queue: general
"""


def rich(nodes: str) -> Callable[[], str]:
    return lambda: RICH_HEAD + textwrap.indent(textwrap.dedent(nodes).lstrip("\n"), "  ") + RICH_TAIL


# (case id, flow text, line, node or None, message fragment)
CASES: list[tuple[str, Callable[[], str], int, str | None, str]] = [
    # --- YAML itself -------------------------------------------------------------------------------------
    ("tab-indent", edit("    next: menu", "\tnext: menu"), 13, None, "use spaces, not tabs"),
    ("bad-indent", edit("    next: menu", "      next: menu"), 13, None, "check the indentation"),
    ("unclosed-quote", edit("  menu: 请选择", '  menu: "请选择'), 8, None, "YAML syntax error"),
    ("unclosed-bracket", edit("    prompt: hello", "    prompt: [hello"), 12, None,
     "a quote or bracket opened on this line is never closed"),
    ("empty-file", whole(""), 1, None, "the file is empty"),
    ("not-a-mapping", whole("- one\n- two\n"), 1, None, "must be a mapping"),
    ("duplicate-node-id", add("""\
      agent:
        type: hangup
    """), 23, "agent", "duplicate node id 'agent' (first defined on line 20"),
    ("duplicate-prompt-id", edit("  menu: 请选择", "  menu: 请选择\n  hello: 再见"), 9, None,
     "duplicate prompt id 'hello' (first defined on line 7"),
    # --- top of the file ---------------------------------------------------------------------------------
    ("unknown-top-field", edit("start: hello\n", "start: hello\nlangauge: zh\n"), 3, None,
     "unknown field 'langauge' (did you mean 'language'?)"),
    ("missing-zero-out", edit("zero_out: agent\n", ""), 1, None, "missing required field 'zero_out'"),
    ("start-unknown", edit("start: hello", "start: helo"), 2, None,
     "start goes to unknown node 'helo' (did you mean 'hello'?)"),
    ("bad-timezone", edit("start: hello\n", "start: hello\ntimezone: Mars/Olympus\n"), 3, None,
     "unknown timezone 'Mars/Olympus'"),
    ("missing-nodes", lambda: BASE.split("nodes:")[0], 1, None, "missing required section 'nodes'"),
    ("zero-out-not-a-person", edit("zero_out: agent", "zero_out: hello"), 3, None,
     "zero_out 'hello' does not lead to a person"),
    # --- prompts -----------------------------------------------------------------------------------------
    ("prompt-unknown", edit("    prompt: hello", "    prompt: helo"), 12, "hello",
     "'prompt' uses unknown prompt 'helo' (did you mean 'hello'?)"),
    ("prompt-file-missing", edit("  hello: 您好", "  hello: {text: 您好, file: rec/hello.wav}"), 7, None,
     "prompt 'hello': recorded file 'rec/hello.wav' not found"),
    ("prompt-empty-text", edit("  hello: 您好", "  hello: {text: ''}"), 7, None,
     "prompt 'hello': 'text': prompt text is empty"),
    ("prompt-bad-id", edit("  menu: 请选择", "  menu: 请选择\n  Main-Menu: 主菜单"), 9, None,
     "prompt id 'Main-Menu' is not valid"),
    # --- nodes -------------------------------------------------------------------------------------------
    ("node-bad-id", add("""\
      Bad-Node:
        type: hangup
    """), 23, None, "node id 'Bad-Node' is not valid"),
    ("node-not-mapping", edit("  agent:\n    type: queue\n    queue: general", "  agent: [queue, general]"), 20,
     "agent", "a node must be a mapping with a type: field, not a list"),
    ("missing-type", edit("    type: play\n", ""), 10, "hello", "missing 'type'"),
    ("unknown-type", edit("type: play", "type: plya"), 11, "hello",
     "unknown node type 'plya' (did you mean 'play'?)"),
    ("unknown-field", edit("    next: menu", "    nxt: menu"), 13, "hello",
     "unknown field 'nxt' (did you mean 'next'?)"),
    ("missing-field", edit("    next: menu\n", ""), 10, "hello", "missing required field 'next'"),
    ("wrong-type", edit("    prompt: menu\n", "    prompt: menu\n    timeout: five\n"), 17, "menu",
     "'timeout': Input should be a valid number, unable to parse string as a number (got 'five')"),
    ("out-of-range", edit("    prompt: menu\n", "    prompt: menu\n    retries: -1\n"), 17, "menu",
     "'retries': Input should be greater than or equal to 0 (got -1)"),
    ("dangling-goto", edit("goto: agent", "goto: agnet"), 19, "menu",
     "'options[0].goto' goes to unknown node 'agnet' (did you mean 'agent'?)"),
    ("unreachable", add("""\
      orphan:
        type: hangup
    """), 23, "orphan", "unreachable: nothing leads here from start ('hello')"),
    ("no-on-fail", edit("defaults:\n  on_fail: agent\n", ""), 12, "menu", "no on_fail"),
    # --- menus -------------------------------------------------------------------------------------------
    ("key-unquoted-hash", edit("key: 1", "key: #"), 18, "menu", "write '#' and '*' in quotes"),
    ("key-two-digits", edit("key: 1", "key: 12"), 18, "menu", "key 12 is not a single phone key"),
    ("key-zero-reserved", edit("key: 1", "key: 0"), 18, "menu", "key 0 is reserved"),
    ("key-twice", edit("        goto: agent\n", "        goto: agent\n      - key: 1\n        goto: hello\n"),
     20, "menu", "key '1' is used twice (options 1 and 2)"),
    ("option-without-way-in", edit("      - key: 1\n        goto: agent", "      - goto: agent"), 18, "menu",
     "option needs a key, spoken words (say), or both"),
    ("empty-options", edit("    options:\n      - key: 1\n        goto: agent", "    options: []"), 17, "menu",
     "'options': List should have at least 1 item"),
    ("spoken-word-twice", rich("""\
        menu:
          type: menu
          prompt: menu
          options:
            - {key: 1, say: [报修], goto: agent}
            - {key: 2, say: [报修], goto: leak}
    """), 19, "menu", "spoken word '报修' is used by options 1 and 2"),
    ("emergency-word-elsewhere", rich("""\
        menu:
          type: menu
          prompt: menu
          options:
            - {key: 1, say: [漏气], goto: agent}
    """), 18, "menu", "'漏气' is an emergency keyword: it always goes to 'leak', not to 'agent'"),
    # --- digits, verification, account data ------------------------------------------------------------
    ("min-over-max-digits", rich("""\
        menu:
          type: collect
          prompt: menu
          var: account_no
          min_digits: 8
          max_digits: 6
          next: agent
    """), 14, "menu", "min_digits (8) is larger than max_digits (6)"),
    ("verify-method-without-prompt", rich("""\
        menu:
          type: verify
          methods: [id_tail]
          next: agent
    """), 14, "menu", "method 'id_tail' needs prompts.id_tail"),
    ("account-data-unverified", rich("""\
        menu:
          type: balance
          balance_prompt: menu
          arrears_prompt: menu
          no_arrears_prompt: menu
          next: agent
          on_unverified: agent
          on_no_account: agent
    """), 14, "menu", "account data without identity verification: the path menu reaches it"),
    ("lookup-var-never-collected", rich("""\
        menu:
          type: lookup
          by: account_no
          var: acount_no
          found: agent
          not_found: agent
    """), 17, "menu", "variable 'acount_no' is never collected"),
    # --- rules -------------------------------------------------------------------------------------------
    ("bad-time-range", rich("""\
        menu:
          type: branch
          rules:
            - when: {time: "25:00-08:00"}
              goto: leak
          default: agent
    """), 17, "menu", "'25:00' is not a time of day"),
    ("flag-never-set", rich("""\
        menu:
          type: branch
          rules:
            - when: {flag: vip}
              goto: leak
          default: agent
    """), 17, "menu", "flag 'vip' is never set"),
    ("empty-condition", rich("""\
        menu:
          type: branch
          rules:
            - when: {}
              goto: leak
          default: agent
    """), 17, "menu", "condition is empty"),
    ("set-nothing", rich("""\
        menu:
          type: set
          next: agent
    """), 14, "menu", "set node sets nothing"),
    ("loop-without-input", rich("""\
        menu:
          type: play
          prompt: menu
          next: again
        again:
          type: set
          flags: [x]
          next: menu
    """), 14, "menu", "loop without any caller input: menu -> again -> menu"),
    ("priority-too-high", rich("""\
        menu:
          type: set
          priority: 500
          next: agent
    """), 16, "menu", "'priority': Input should be less than or equal to 100 (got 500)"),
]


@pytest.mark.parametrize("case,make,line,node,fragment", CASES, ids=[c[0] for c in CASES])
def test_broken_flow_names_file_line_node(tmp_path: Path, case: str, make: Callable[[], str], line: int,
                                          node: str | None, fragment: str) -> None:
    path = tmp_path / f"{case}.yaml"
    path.write_text(make(), encoding="utf-8")
    flow, issues = check_file(path)
    assert flow is None, f"{case}: the broken flow loaded"
    errors = [i for i in issues if i.severity == "error"]
    matching = [i for i in errors if fragment in i.message]
    assert matching, f"{case}: no error containing {fragment!r}; got:\n" + "\n".join(map(str, errors))
    issue = matching[0]
    assert (issue.path, issue.line, issue.node) == (str(path), line, node), str(issue)
    prefix = f"{path}:{line}: " + (f"node '{node}': " if node else "")
    assert str(issue).startswith(prefix)
    with pytest.raises(FlowError) as exc:
        load_flow(path)
    assert str(issue) in str(exc.value)


def test_at_least_twenty_kinds_are_covered() -> None:
    assert len({c[0] for c in CASES}) >= 20


def test_non_utf8_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(BASE.replace("  menu: 请选择", "  menu: caf\xe9").encode("utf-8").replace(b"caf\xc3\xa9",
                                                                                           b"caf\xe9"))
    flow, issues = check_file(path)
    assert flow is None
    assert [str(i) for i in issues] == [f"{path}:8: not UTF-8 text (save the file as UTF-8)"]


def test_missing_file(tmp_path: Path) -> None:
    flow, issues = check_file(tmp_path / "nope.yaml")
    assert flow is None and "flow file not found" in str(issues[0])


def test_every_mistake_is_listed_at_once(tmp_path: Path) -> None:
    text = BASE.replace("type: play", "type: plya").replace("goto: agent", "goto: agnet") \
        .replace("start: hello", "start: hello\nlangauge: zh")
    _, issues = parse_flow(text, "many.yaml")
    assert [str(i) for i in issues if i.severity == "error"] == [
        "many.yaml:3: unknown field 'langauge' (did you mean 'language'?)",
        "many.yaml:12: node 'hello': unknown node type 'plya' (did you mean 'play'?); known: play, menu, collect, "
        "verify, lookup, outages, balance, branch, set, queue, message, transfer, survey, hangup",
        "many.yaml:20: node 'menu': 'options[0].goto' goes to unknown node 'agnet' (did you mean 'agent'?)",
    ]


def test_unused_prompt_is_a_warning_only(tmp_path: Path) -> None:
    flow, issues = parse_flow(BASE.replace("  menu: 请选择", "  menu: 请选择\n  spare: 备用"), "w.yaml")
    assert flow is not None
    assert [str(i) for i in issues] == ["w.yaml:9: warning: prompt 'spare' is never used"]


@pytest.mark.parametrize("shipped", [GAS, WATER], ids=["gas", "water"])
def test_no_mutation_of_a_shipped_flow_crashes_the_loader(shipped: Path) -> None:
    """Drop each line, or cut the file after it: the loader must answer with issues, never an exception."""
    lines = shipped.read_text(encoding="utf-8").splitlines(keepends=True)
    broken = 0
    for i in range(len(lines)):
        for text in ("".join(lines[:i] + lines[i + 1:]), "".join(lines[:i + 1])):
            flow, issues = parse_flow(text, shipped.name)
            assert all(isinstance(x.line, int) and x.line >= 1 for x in issues)
            if flow is None:
                broken += 1
                assert any(x.severity == "error" for x in issues)
    assert broken > len(lines)  # most cuts break the flow, and each said why
