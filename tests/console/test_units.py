"""Pure pieces of the console: signed sessions, the hub's resume history, masking per role, the catalog."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent_console.auth import LoginLimiter, LoginPolicy, Sessions, hash_password, password_matches
from agent_console.exceptions import LoginLocked
from agent_console.hub import WALL, Hub, agent_audience
from agent_console.i18n import LANGS, MESSAGES, Catalog
from agent_console.pop import ivr_path, mask_number, mask_pop
from ivr.db.models import Agent, Role

STATIC = Path(__file__).resolve().parents[2] / "agent_console" / "static"


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def agent(pk: int = 7, role: Role = Role.AGENT) -> Agent:
    return Agent(id=pk, agent_id="1001", name="李晓梅", role=role, password_hash="")


def test_sessions_sign_expire_revoke_and_csrf() -> None:
    clock = Clock()
    sessions = Sessions("a-secret-of-enough-length", 3600, clock=clock)
    token, p = sessions.issue(agent())
    assert sessions.read(token) == (7, p.sid, p.expires)
    body, sig = token.split(".")
    assert sessions.read(body + "." + sig[:-2] + "AA") is None  # tampered signature
    assert sessions.read(body[:-2] + "xx." + sig) is None  # tampered payload
    assert sessions.read("garbage") is None and sessions.read(None) is None and sessions.read("a.b.c") is None
    other = Sessions("another-secret-entirely", 3600, clock=clock)
    assert other.read(token) is None  # a different console.secret signs differently
    assert sessions.csrf_ok(p, sessions.csrf_token(p.sid)) and not sessions.csrf_ok(p, "") \
        and not sessions.csrf_ok(p, other.csrf_token(p.sid))
    clock.t += 3601
    assert sessions.read(token) is None  # expired (revocation is the database's: tests/security)
    with pytest.raises(ValueError, match="16"):
        Sessions("short", 10)


def test_login_brake_resets_after_the_window_or_a_success() -> None:
    clock = Clock()
    limits = LoginLimiter(LoginPolicy(window_seconds=60, max_failures=5), clock=clock)
    for _ in range(5):
        limits.failed(limits.reserve("1001", "10.0.0.1"))
    with pytest.raises(LoginLocked):
        limits.reserve("1001", "10.0.0.1")
    assert limits.retry_after("1002", "10.0.0.1") == 0 and limits.retry_after("1001", "10.0.0.2") == 0
    clock.t += 61
    assert limits.retry_after("1001", "10.0.0.1") == 0
    limits.failed(limits.reserve("1001", "10.0.0.1"))
    limits.succeeded(limits.reserve("1001", "10.0.0.1"))
    assert limits.retry_after("1001", "10.0.0.1") == 0


def test_passwords() -> None:
    h = hash_password("hotline123", rounds=4)
    assert password_matches("hotline123", h) and not password_matches("hotline124", h)
    assert not password_matches("x", "not-a-bcrypt-hash")
    with pytest.raises(ValueError):
        hash_password("short")
    with pytest.raises(ValueError):
        hash_password("长" * 30)  # 90 bytes: bcrypt would silently ignore the rest


def test_hub_history_resume_and_audiences() -> None:
    hub = Hub(queue_size=8, history=4)
    a1, a2 = agent_audience(1), agent_audience(2)
    s1 = hub.publish(a1, {"type": "x"})
    hub.publish(a2, {"type": "y"})
    hub.publish(WALL, {"type": "z"})
    assert hub.missed(s1, frozenset({a1})) == []  # nothing of its own after s1
    assert [m for m in hub.missed(s1, frozenset({a2, WALL})) or []] == [
        '{"type":"y","seq":2}', '{"type":"z","seq":3}']
    assert hub.missed(hub.seq, frozenset({a1})) == []
    assert hub.missed(hub.seq + 5, frozenset({a1})) is None  # from before a restart: snapshot
    for i in range(4):
        hub.publish(a1, {"type": "fill", "i": i})
    assert hub.missed(s1, frozenset({a1})) is None  # history no longer reaches back: snapshot


def test_masking_per_role() -> None:
    pop = {"caller_number": "13800138000", "customer": {"id_number": "110101194501011234",
                                                        "phones": ["13800138000", "010-62345678"]},
           "ivr": [{"node": "verify", "type": "verify", "inputs": [{"kind": "digits", "value": "110101194501011234"}]}],
           "orders": [{"description": "回电 13800138000"}]}
    assert mask_pop(pop, Role.SUPERVISOR) == pop and mask_pop(pop, Role.ADMIN) == pop
    agent_view = mask_pop(pop, Role.AGENT)
    assert agent_view["caller_number"] == "13800138000"
    assert agent_view["customer"]["id_number"] == "110***********1234"
    assert agent_view["ivr"][0]["inputs"][0]["value"] == "110***********1234"
    qa = mask_pop(pop, Role.QA)
    assert qa["caller_number"] == "138****8000" and qa["customer"]["phones"][0] == "138****8000"
    assert "13800138000" not in str(qa)
    assert mask_number("13800138000", Role.QA) == "138****8000" and mask_number("13800138000", Role.AGENT) \
        == "13800138000"
    assert pop["customer"]["id_number"] == "110101194501011234"  # the original is untouched


def test_ivr_path_stops_at_the_queue() -> None:
    events = [("arrived", {}), ("ivr.node", {"node": "main_menu", "type": "menu"}),
              ("ivr.input", {"node": "main_menu", "kind": "key", "value": "2"}),
              ("ivr.node", {"node": "id", "type": "verify"}), ("ivr.verify", {"ok": False}),
              ("queue.enter", {}), ("ivr.node", {"node": "survey", "type": "survey"})]
    assert ivr_path(events) == [
        {"node": "main_menu", "label": "main_menu", "type": "menu", "inputs": [{"kind": "input", "value": "2"}]},
        {"node": "id", "label": "id", "type": "verify", "inputs": [{"kind": "verify", "value": "未通过"}]}]


def test_ivr_path_reads_in_chinese_with_the_flows_labels() -> None:
    events = [("ivr.node", {"node": "welcome", "type": "play", "label": "欢迎语"}),
              ("ivr.emergency", {"node": "welcome", "key": "1"}),
              ("ivr.node", {"node": "main_menu", "type": "menu", "label": "主菜单"}),
              ("ivr.input", {"node": "main_menu", "kind": "key", "value": "0", "to": "to_agent",
                             "to_label": "人工服务"}),
              ("ivr.input", {"node": "main_menu", "kind": "speech", "value": "报修", "to": "repair_menu"}),
              ("ivr.input", {"node": "main_menu", "kind": "timeout", "value": "", "to": None})]
    path = ivr_path(events)
    assert [s["label"] for s in path] == ["欢迎语", "主菜单"]
    assert [i["value"] for i in path[0]["inputs"]] == ["紧急：按1"]
    assert [i["value"] for i in path[1]["inputs"]] == ["按0 人工服务", "说“报修”", ""]


def test_catalog_is_complete_and_the_scripts_use_only_known_keys() -> None:
    assert all(len(v) == len(LANGS) and all(v) for v in MESSAGES.values())
    zh, en = Catalog("zh"), Catalog("en")
    assert zh.t("ring.of", n=2, count=3) == "第 2 / 3 声" and en.t("ring.of", n=2, count=3) == "Ring 2 of 3"
    with pytest.raises(KeyError):
        zh.t("no.such.key")
    used = set()
    for js in ("agent.js", "wallboard.js", "console.js"):
        used |= set(re.findall(r'\bt\("([a-z_.]+)"', (STATIC / js).read_text(encoding="utf-8")))
    used = {k for k in used if not k.endswith(".")}  # t("state." + s) builds the key
    assert used and used <= set(MESSAGES), used - set(MESSAGES)
    for state in ("offline", "ready", "not_ready", "ringing", "talking", "wrap_up"):
        assert f"state.{state}" in MESSAGES
