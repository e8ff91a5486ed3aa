"""The generated dialplan and the AGI server agree: variable names, contexts, routes (pure, no Asterisk)."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from ivr.agi.parser import parse_route
from ivr.calls.agi.queue import QUEUE_CONTEXT, QUEUE_EXTENSION, queue_variables
from ivr.asterisk.config import FALLBACK_REASONS, Layout, generate
from ivr.engine import QueueRequest
from ivr.settings import Settings

LAYOUT = Layout("unit", PurePosixPath("/var/lib/hotline/instances/unit"))


def extensions(**sections: dict[str, object]) -> str:
    return generate(Settings.model_validate(sections), [], LAYOUT)["extensions.conf"]


def context(text: str, name: str) -> str:
    m = re.search(rf"^\[{re.escape(name)}\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S)
    assert m, f"no context [{name}]"
    return m.group(1)


def agi_routes(text: str) -> list[str]:
    return re.findall(r"AGI\(agi://[^/]+/([^)]*)\)", text)


def test_every_agi_route_in_the_dialplan_is_one_the_server_serves() -> None:
    ext = extensions(agi={"port": 14573})
    routes = agi_routes(ext)
    assert sorted(set(routes)) == ["flow/${EXTEN}", "hangup", "lookup"]
    for route in routes:
        assert parse_route(route.replace("${EXTEN}", "gas")).kind in ("flow", "hangup", "lookup"), route
    assert "AGI(agi://127.0.0.1:14573/hangup)" in ext


def test_lookup_example_queues_what_the_lookup_sets() -> None:
    example = context(extensions(asterisk={"fallback_wait_seconds": 42}), "hotline-lookup-example")
    steps = example.splitlines()
    lookup = next(i for i, s in enumerate(steps) if "/lookup)" in s)
    prio = next(i for i, s in enumerate(steps) if "Set(QUEUE_PRIO=${HOTLINE_PRIORITY})" in s)
    queue = next(i for i, s in enumerate(steps) if "Queue(" in s)
    assert lookup < prio < queue
    assert '"${HOTLINE_QUEUE}" = ""]?fallback' in example  # no queue named: the fallback path
    assert "QUEUE_EXISTS(${HOTLINE_QUEUE})" in example and "Queue(${HOTLINE_APP_QUEUE},t,,,42)" in example
    assert "Set(CHANNEL(hangup_handler_push)=hotline-agi-hangup,s,1)" in steps[1]  # before anything can fail


def test_agi_queue_context_reads_the_variables_the_server_sets() -> None:
    ext = extensions(asterisk={"fallback_wait_seconds": 42})
    queue = context(ext, QUEUE_CONTEXT)
    assert f"exten => {QUEUE_EXTENSION},1," in queue
    request = QueueRequest(call_id=1, queue="repair", skill="repair", priority=20, flow="gas", node="q")
    for name in queue_variables(request):
        assert "${" + name + "}" in queue or name == "QUEUE_PRIO", name  # app_queue reads QUEUE_PRIO itself
    assert "Queue(${HOTLINE_APP_QUEUE},t,,," in queue and ":42)})" in queue
    assert "Set(HOTLINE_FALLBACK_REASON=agi_queue)" in queue and "agi_queue" in FALLBACK_REASONS
    assert "Goto(hotline-fallback,message,1)" in queue


def test_agi_flows_and_hangup_handler() -> None:
    ext = extensions()
    agi = context(ext, "hotline-agi")
    assert agi.index("hangup_handler_push)=hotline-agi-hangup") < agi.index("AGI(")
    handler = context(ext, "hotline-agi-hangup")
    assert handler.rstrip().endswith("same => n,Return()")  # a hangup handler must Return
