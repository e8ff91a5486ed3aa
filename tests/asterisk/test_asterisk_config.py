"""Config generation is pure: settings in, {file: text} out. Parse the text back and check what matters."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import pytest

from ivr.asterisk.config import AgentPhone, ConfigError, Layout, entity_id, generate, ring_limit_seconds
from ivr.asterisk.ports import PortAllocator, port_free
from ivr.asterisk.sandbox import Runtime, host_mirror
from ivr.cli import main
from ivr.settings import Settings, SettingsError, load_settings
from tests.plugins.asterisk import SIPP_DIR, uac_scenario
from tests.plugins.secret_values import session_secrets

Sections = list[tuple[str, list[tuple[str, str]]]]
LAYOUT = Layout("unit", PurePosixPath("/var/lib/hotline/instances/unit"))
AGENTS = [AgentPhone("agent-1001", "pw1", "sip:agent-1001@127.0.0.1:5071"), AgentPhone("agent-1002", "pw2")]


def parse(text: str) -> Sections:
    """Asterisk's ini dialect: repeated section names and keys are legal, `=>` like `=`, ';' comments."""
    sections: Sections = []
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        m = re.match(r"^\[([^\]]+)\](\(.*\))?$", line)
        if m:
            sections.append((m.group(1), []))
            continue
        assert sections, f"setting before any section: {raw!r}"
        key, sep, value = re.split(r"\s*(=>|=)\s*", line, maxsplit=1)
        assert sep, f"not key = value: {raw!r}"
        sections[-1][1].append((key, value))
    return sections


def section(sections: Sections, name: str, type_: str | None = None) -> dict[str, str]:
    for n, items in sections:
        d = dict(items)
        if n == name and (type_ is None or d.get("type") == type_):
            return d
    raise AssertionError(f"no [{name}]" + (f" of type {type_}" if type_ else ""))


def values(sections: Sections, name: str, key: str) -> list[str]:
    return [v for n, items in sections if n == name for k, v in items if k == key]


def make(**asterisk: object) -> Settings:
    return Settings.model_validate({"asterisk": {"ari_url": "http://127.0.0.1:18088", "sip_port": 15060,
                                                 "rtp_start": 30000, "rtp_end": 30100, **asterisk}})


@pytest.fixture
def files() -> dict[str, str]:
    return generate(make(), AGENTS, LAYOUT)


def test_every_file_parses_and_generation_is_deterministic(files: dict[str, str]) -> None:
    assert set(files) >= {"asterisk.conf", "modules.conf", "logger.conf", "http.conf", "ari.conf", "pjsip.conf",
                          "rtp.conf", "indications.conf", "musiconhold.conf", "queues.conf", "extensions.conf"}
    for name, text in files.items():
        assert parse(text), name
    assert generate(make(), AGENTS, LAYOUT) == files


def test_nothing_binds_beyond_loopback(files: dict[str, str]) -> None:
    for name in ("http.conf", "ari.conf", "pjsip.conf", "rtp.conf", "manager.conf"):
        assert "0.0.0.0" not in files[name] and "[::]" not in files[name], name
    http = section(parse(files["http.conf"]), "general")
    assert (http["bindaddr"], http["bindport"], http["enabled"]) == ("127.0.0.1", "18088", "yes")
    assert section(parse(files["manager.conf"]), "general")["enabled"] == "no"
    noload = values(parse(files["modules.conf"]), "modules", "noload")
    assert {"chan_iax2.so", "pbx_dundi.so", "res_hep.so", "res_stun_monitor.so"} <= set(noload)


def test_ari_user_comes_from_settings() -> None:
    password = session_secrets()["asterisk.ari_password"]
    ari = parse(generate(make(ari_user="ops", ari_password=password), [], LAYOUT)["ari.conf"])
    assert section(ari, "general")["enabled"] == "yes"
    user = section(ari, "ops")
    assert (user["type"], user["password"], user["read_only"]) == ("user", password, "no")


def test_no_ari_password_means_no_ari_user() -> None:
    """Fail closed: without the secret, Asterisk accepts nobody on ARI (never an empty or default password)."""
    ari = parse(generate(make(ari_user="ops"), [], LAYOUT)["ari.conf"])
    assert [name for name, _ in ari] == ["general"]


def test_pjsip_transport_callers_and_agent_phones(files: dict[str, str]) -> None:
    pj = parse(files["pjsip.conf"])
    transport = section(pj, "transport-udp")
    assert (transport["protocol"], transport["bind"]) == ("udp", "127.0.0.1:15060")
    caller = section(pj, "hotline-caller", "endpoint")
    assert caller["context"] == "hotline-inbound"
    assert section(pj, "hotline-caller-identify")["match"] == "127.0.0.1"
    for ag in AGENTS:
        ep = section(pj, ag.endpoint, "endpoint")
        assert (ep["context"], ep["auth"], ep["aors"]) == ("hotline-agents", f"{ag.endpoint}-auth", ag.endpoint)
        for ep_ in (ep, caller):
            assert (ep_["dtmf_mode"], ep_["direct_media"], ep_["rtp_symmetric"], ep_["media_address"]) == \
                ("rfc4733", "no", "yes", "127.0.0.1")
        auth = section(pj, f"{ag.endpoint}-auth", "auth")
        assert (auth["username"], auth["password"]) == (ag.endpoint, ag.password)
        aor = section(pj, ag.endpoint, "aor")
        assert aor.get("contact") == ag.contact
    # An agent phone calling from 127.0.0.1 must be matched by username (and authenticated), not as a caller.
    assert section(pj, "global")["endpoint_identifier_order"].startswith("username,")


def test_rtp_range_and_chinese_ring_tones() -> None:
    s = Settings.model_validate({"ring": {"on_seconds": 0.8, "off_seconds": 3.2, "count": 2},
                                 "asterisk": {"rtp_start": 31000, "rtp_end": 31500}})
    out = generate(s, [], LAYOUT)
    rtp = section(parse(out["rtp.conf"]), "general")
    assert (rtp["rtpstart"], rtp["rtpend"]) == ("31000", "31500")
    ind = parse(out["indications.conf"])
    assert section(ind, "general")["country"] == "cn"
    cn = section(ind, "cn")
    assert cn["ringcadence"] == "800,3200"
    assert cn["ring"] == "450/800,0/3200"
    queue = section(parse(out["queues.conf"]), "hotline-fallback")
    assert queue["timeout"] == str(ring_limit_seconds(s)) == "8"


def test_fallback_queue_rings_every_agent_at_once(files: dict[str, str]) -> None:
    q = parse(files["queues.conf"])
    queue = section(q, "hotline-fallback")
    assert queue["strategy"] == "ringall"
    assert queue["timeout"] == "15"  # 3 rings of 1 s on + 4 s off
    assert values(q, "hotline-fallback", "member") == ["PJSIP/agent-1001,0,agent-1001",
                                                       "PJSIP/agent-1002,0,agent-1002"]


def test_asterisk_conf_keeps_every_instance_dir_in_its_home(files: dict[str, str]) -> None:
    conf = parse(files["asterisk.conf"])
    dirs = section(conf, "directories")
    for key in ("astetcdir", "astdatadir", "astvarlibdir", "astdbdir", "astspooldir", "astrundir", "astlogdir"):
        assert PurePosixPath(dirs[key]).is_relative_to(LAYOUT.home), key
    assert section(conf, "options")["entityid"] == entity_id("unit")
    assert entity_id("unit") != entity_id("other")
    assert re.fullmatch(r"02(:[0-9a-f]{2}){5}", entity_id("unit"))
    moh = section(parse(files["musiconhold.conf"]), "default")
    assert moh["directory"] == str(LAYOUT.moh)


def _context(text: str, name: str) -> str:
    m = re.search(rf"^\[{re.escape(name)}\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S)
    assert m, f"no context [{name}]"
    return m.group(1)


def test_dialplan_inbound_goes_to_stasis_and_falls_back(files: dict[str, str]) -> None:
    ext = files["extensions.conf"]
    assert parse(ext)
    inbound = _context(ext, "hotline-inbound")
    assert "exten => _X.,1," in inbound and "exten => s,1," in inbound
    assert "Stasis(${HOTLINE_APP},inbound,${EXTEN})" in inbound
    assert 'GotoIf($["${STASISSTATUS}" = "FAILED"]?fallback)' in inbound
    assert '"${HOTLINE_CONTINUE}" = "fallback"' in inbound
    assert "HOTLINE_APP = hotline" in _context(ext, "globals")
    # zh only when the zh core sounds exist in this Asterisk
    assert "STAT(d,${ASTDATADIR}/sounds/zh)" in inbound
    en = generate(Settings.model_validate({"hotline": {"language": "en"}}), [], LAYOUT)["extensions.conf"]
    assert "Set(CHANNEL(language)=en)" in _context(en, "hotline-inbound")


def test_dialplan_agi_lookup_fallback_agents_and_test_contexts(files: dict[str, str]) -> None:
    s = Settings.model_validate({"agi": {"port": 14573}, "asterisk": {"fallback_wait_seconds": 42,
                                                                      "fallback_message_seconds": 33}})
    ext = generate(s, AGENTS, LAYOUT)["extensions.conf"]
    agi = _context(ext, "hotline-agi")
    assert "AGI(agi://127.0.0.1:14573/flow/${EXTEN})" in agi
    assert '"${AGISTATUS}" = "FAILURE"' in agi
    assert "exten => _[a-z][a-z0-9]!,1," in agi  # two letters: never catches the special h/i/t extensions
    assert "AGI(agi://127.0.0.1:14573/lookup)" in _context(ext, "hotline-lookup-example")
    fallback = _context(ext, "hotline-fallback")
    assert "Queue(hotline-fallback,t,,,42)" in fallback
    assert "Record(${HOTLINE_MESSAGE},8,33,k)" in fallback
    assert "FILE(" not in fallback  # blocked after Stasis/AGI: the sidecar is written with System()
    agents = _context(ext, "hotline-agents")
    assert "Dial(" not in agents and "System(" not in agents
    test = _context(ext, "hotline-test")
    for exten in ("_dtmf-.", "_wait-.", "wait", "play", "record", "echo"):
        assert f"exten => {exten},1," in test


def _filter_ranges(allowed: str) -> list[tuple[str, str]]:
    """FILTER()'s allowed-chars parsing as in Asterisk's func_strings.c: "a-z" is a range, else a char."""
    out, i = [], 0
    while i < len(allowed):
        c1 = allowed[i]
        if i + 1 < len(allowed) and allowed[i + 1] == "-":
            c2 = allowed[i + 2] if i + 2 < len(allowed) else c1
            out.append((c1, c2))
            i += 3
        else:
            out.append((c1, c1))
            i += 1
    return out


def test_sidecar_filters_let_no_shell_metacharacter_through(files: dict[str, str]) -> None:
    """The sidecar goes through System(): a backwards FILTER range (e.g. ":--") would allow everything."""
    fallback = _context(files["extensions.conf"], "hotline-fallback")
    filters = re.findall(r"\$\{FILTER\(([^,]+),", fallback)
    assert len(filters) >= 5
    for allowed in filters:
        chars = {chr(c) for lo, hi in _filter_ranges(allowed) for c in range(ord(lo), ord(hi) + 1)}
        assert all(lo <= hi for lo, hi in _filter_ranges(allowed)), allowed
        assert not chars & set(" \t;&|$`'\"\\*?[]<>(){}!#~\n"), allowed
    system = [line for line in fallback.splitlines() if "System(" in line]
    assert len(system) == 1 and "${HOTLINE_MESSAGE_META}" in system[0]
    meta = next(line for line in fallback.splitlines() if "HOTLINE_MESSAGE_META=" in line)
    # every interpolated value in the META is filtered, except Asterisk's own UNIQUEID and EPOCH
    unfiltered = set(re.findall(r"=\$\{([A-Z_]+)\}", meta))
    assert unfiltered == {"UNIQUEID", "EPOCH"}


@pytest.mark.parametrize("asterisk, agents, message", [
    ({"ari_url": "http://10.0.0.5:8088"}, [], "127.0.0.1 only"),
    ({"sip_host": "0.0.0.0"}, [], "never 0.0.0.0"),
    ({"ari_password": "a;b"}, [], "ari_password"),
    ({"rtp_start": 20000, "rtp_end": 20000}, [], "rtp_end"),
    ({"inbound_extension": "95598;x"}, [], "inbound_extension"),
    ({}, [AgentPhone("agent-1", "p"), AgentPhone("agent-1", "q")], "twice"),
    ({}, [AgentPhone("agent-1", "p", "http://x")], "sip: URI"),
    ({}, [AgentPhone("hotline-caller", "p")], "reserved"),
    ({}, [AgentPhone("agent 1", "p")], "agent endpoint"),
])
def test_unsafe_settings_are_refused_with_the_setting_named(
        asterisk: dict[str, object], agents: list[AgentPhone], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        generate(Settings.model_validate({"asterisk": asterisk}), agents, LAYOUT)


def test_agent_phones_setting_is_validated(tmp_path: Path) -> None:
    bad = tmp_path / "h.toml"
    bad.write_text('[asterisk.agent_phones]\n"agent 1" = "x"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="endpoint name"):
        load_settings(bad, env={})


def test_cli_prints_the_config_without_touching_anything(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "h.toml"
    conf.write_text('[asterisk]\nsip_port = 15999\nsandbox_dir = "%s"\n[asterisk.agent_phones]\nagent-7 = "pw7"\n'
                    % (tmp_path / "never-built"), encoding="utf-8")
    assert main(["-c", str(conf), "asterisk", "config", "--print", "--no-db"]) == 0
    out = capsys.readouterr().out
    assert ";;;;;;;;;; pjsip.conf" in out and "bind = 127.0.0.1:15999" in out and "[agent-7]" in out
    assert not (tmp_path / "never-built").exists()


def test_runtime_maps_paths_between_host_and_sandbox(tmp_path: Path) -> None:
    rt = Runtime("sandbox", tmp_path / "root", "22.0.0")
    assert rt.host_path("/var/lib/hotline/x.wav") == tmp_path / "root/var/lib/hotline/x.wav"
    assert rt.asterisk_path(tmp_path / "root/var/lib/hotline/x.wav") == "/var/lib/hotline/x.wav"
    with pytest.raises(ValueError, match="outside the Asterisk sandbox"):
        rt.asterisk_path(tmp_path / "elsewhere.wav")
    with pytest.raises(ValueError):
        rt.host_path("relative.wav")
    system = Runtime("system", Path("/"), "22.0.0")
    assert system.host_path("/tmp/x") == Path("/tmp/x") and system.asterisk_path("/tmp/x") == "/tmp/x"
    assert rt.command("-V")[:3] == ["chroot", str(tmp_path / "root"), "/usr/sbin/asterisk"]


def test_host_mirror_is_an_http_url() -> None:
    assert re.match(r"^https?://\S+$", host_mirror())


def test_port_allocator_hands_out_distinct_free_ports() -> None:
    ports = PortAllocator(seed=1)
    got = [ports.udp(), ports.tcp(), ports.udp()]
    assert len(set(got)) == 3 and all(port_free(p, "udp") for p in got)
    start, end = ports.block(50)
    assert end - start == 49 and start % 2 == 0 and not set(got) & set(range(start, end + 1))


def test_sample_uac_scenario_is_what_the_helper_generates() -> None:
    assert (SIPP_DIR / "uac_inbound.xml").read_text(encoding="iso-8859-1") == uac_scenario("1")
    custom = uac_scenario("*0#", hangup="asterisk", audio=False)
    assert "dtmf_2833_star.pcap" in custom and "dtmf_2833_pound.pcap" in custom and "g711a" not in custom
    assert '<recv request="BYE"/>' in custom
    with pytest.raises(ValueError, match="DTMF"):
        uac_scenario("A")
