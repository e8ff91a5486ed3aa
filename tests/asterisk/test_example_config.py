"""docs/hotline.example.toml (what scripts/up.sh copies to hotline.toml) documents the [asterisk] settings of
the provisioning and loads as-is."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from ivr.asterisk.config import Layout, generate
from ivr.asterisk.service import agent_phones
from ivr.settings import AsteriskSettings, load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "hotline.example.toml"
# phone_secret is a secret: no value in the example (tests/security/test_secrets.py checks it says how to make one)
PROVISIONING_KEYS = ("instance", "mirror", "inbound_match", "fallback_wait_seconds", "fallback_message_seconds",
                     "agent_phones")


def test_example_file_loads_and_generates_a_config() -> None:
    s = load_settings(EXAMPLE, env={})
    assert s.source == str(EXAMPLE)
    layout = Layout(s.asterisk.instance, PurePosixPath("/var/lib/hotline/instances") / s.asterisk.instance)
    files = generate(s, agent_phones(s, from_db=False), layout)
    assert f"match = {s.asterisk.inbound_match}" in files["pjsip.conf"]
    assert f"systemname = {s.asterisk.instance}" in files["asterisk.conf"]
    assert f"Queue(hotline-fallback,t,,,{s.asterisk.fallback_wait_seconds})" in files["extensions.conf"]


def test_example_documents_every_provisioning_key_with_a_comment_and_the_default() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    asterisk = text.split("[asterisk]", 1)[1].split("\n[", 1)[0]
    example = load_settings(EXAMPLE, env={}).asterisk
    defaults = AsteriskSettings()
    for key in PROVISIONING_KEYS:
        line = re.search(rf"^(# )?{key} = .*$", asterisk, re.M)
        assert line, f"[asterisk] {key} is not in {EXAMPLE.name}"
        assert re.search(r"=\s*\S.*\s#\s\S", line.group(0)), f"{key}: no comment on its line"
        # Copying the example changes nothing until the operator edits it.
        assert getattr(example, key) == getattr(defaults, key), key


def test_commented_agent_phones_example_is_valid_when_uncommented(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    uncommented = re.sub(r"^# (agent_phones = )", r"\1", text, count=1, flags=re.M)
    assert uncommented != text
    f = tmp_path / "hotline.toml"
    f.write_text(uncommented, encoding="utf-8")
    phones = load_settings(f, env={}).asterisk.agent_phones
    assert phones == {"agent-1001": "a-long-sip-password"}
