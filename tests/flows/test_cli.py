"""`hotline flows check|graph|simulate` and `hotline prompts build` through the real `hotline` entry point."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from call_flows.loader import load_flow
from ivr.cli import main
from tests.flows.conftest import GAS, WATER, ko_model_path, write_flow
from tests.flows.test_speech import SPEECH_FLOW


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "hotline.toml"
    path.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path}/unused.db"\n', encoding="utf-8")
    return path


def hotline(cfg: Path, *args: str) -> int:
    return main(["--config", str(cfg), *map(str, args)])


def test_check_passes_the_shipped_flows(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert hotline(cfg, "flows", "check", GAS, WATER) == 0
    out = capsys.readouterr().out
    assert f"{GAS}: OK (50 nodes, 35 prompts)" in out and f"{WATER}: OK (" in out


def test_check_lists_every_error_and_fails(cfg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = GAS.read_text(encoding="utf-8").replace("goto: repair_menu", "goto: repair_mneu") \
        .replace("    type: play\n    prompt: welcome", "    type: ply\n    prompt: welcome")
    bad = write_flow(tmp_path, text, "bad.yaml")
    line = text.splitlines().index("    type: ply") + 1
    assert hotline(cfg, "flows", "check", bad) == 1
    err = capsys.readouterr().err
    assert f"{bad}:{line}: node 'welcome': unknown node type 'ply' (did you mean 'play'?)" in err
    assert "node 'main_menu': 'options[1].goto' goes to unknown node 'repair_mneu' (did you mean 'repair_menu'?)" \
        in err
    assert f"{bad}: 2 error(s), 0 warning(s)" in err


def test_strict_check_fails_on_warnings(cfg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spare = write_flow(tmp_path, GAS.read_text(encoding="utf-8").replace("prompts:\n", "prompts:\n  spare: 备用\n", 1))
    assert hotline(cfg, "flows", "check", spare) == 0
    assert hotline(cfg, "flows", "check", "--strict", spare) == 1
    assert "warning: prompt 'spare' is never used" in capsys.readouterr().err


def test_graph_as_mermaid_and_svg(cfg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow = load_flow(GAS)
    assert hotline(cfg, "flows", "graph", GAS) == 0
    mermaid = capsys.readouterr().out
    assert mermaid.startswith("flowchart TD\n")
    assert mermaid.count("<small>") == len(flow.nodes) and '|"1/报警/燃气报警"|' in mermaid
    assert "0 人工" not in mermaid  # the edges every menu has are drawn only on request
    assert hotline(cfg, "flows", "graph", GAS, "--implicit") == 0
    assert capsys.readouterr().out.count('-.->|"0 人工"|') == sum(n.type == "menu" for n in flow.nodes.values())
    svg = tmp_path / "gas.svg"
    assert hotline(cfg, "flows", "graph", GAS, "-o", svg) == 0
    root = ET.parse(svg).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg"
    assert len(root.findall(f"{ns}rect")) == len(flow.nodes)
    names = {t.text for t in root.findall(f"{ns}text")}
    assert set(flow.nodes) <= names


def test_simulate_prints_what_the_caller_hears_and_the_path(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert hotline(cfg, "flows", "simulate", GAS, "--input", "1") == 0
    out = capsys.readouterr().out
    assert "播放: 您好，燃气集团24小时服务热线。" in out and "按键: 1" in out
    assert "排队: queue=emergency skill=emergency priority=20 emergency=True" in out
    assert out.rstrip().endswith("路径: welcome -> identify -> main_menu -> gas_leak -> gas_leak_advice -> "
                                 "emergency_queue")


def test_simulate_with_demo_data_a_time_and_an_entry(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert hotline(cfg, "flows", "simulate", GAS, "--demo", "--at", "2025-03-03 22:30", "--input", "3,1,-") == 0
    out = capsys.readouterr().out
    assert "演示客户: 张伟 电话 13800138000 户号 G2024000001" in out
    assert "lookup: by=caller_number, found=True" in out
    assert "录音: -" in out and "message: recording=" in out and "order_type=service_application" in out
    assert "结果: hangup" in out
    assert hotline(cfg, "flows", "simulate", WATER, "--entry", "survey", "--input", "5") == 0
    assert "survey: satisfaction=5" in capsys.readouterr().out


def test_simulate_rejects_bad_input(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert hotline(cfg, "flows", "simulate", GAS, "--input", "1,x") == 2
    assert "input 2 'x'" in capsys.readouterr().err
    assert hotline(cfg, "flows", "simulate", GAS, "--input", "say:漏气") == 2
    assert "need a Vosk model" in capsys.readouterr().err
    assert hotline(cfg, "flows", "simulate", GAS, "--entry", "nope") == 2
    assert "the flow's entries are survey" in capsys.readouterr().err
    assert hotline(cfg, "flows", "simulate", GAS, "--at", "tomorrow") == 2


@pytest.mark.vosk
def test_simulate_with_speech(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "hotline.toml"
    cfg.write_text(f'[vosk]\nmodel_path = "{ko_model_path()}"\n', encoding="utf-8")
    flow = write_flow(tmp_path, SPEECH_FLOW)
    assert hotline(cfg, "flows", "simulate", flow, "--voice", "ko", "--input", "say:안내,say:화재") == 0
    out = capsys.readouterr().out
    assert "识别: '안내'" in out and "-> 안내" in out and "-> 화재" in out
    assert "路径: first -> second -> fire -> fire_queue" in out


def test_prompts_build(cfg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow = write_flow(tmp_path, "flow: p\nstart: a\nzero_out: a\nprompts:\n  hi: 你好\n"
                                "nodes:\n  a:\n    type: queue\n    queue: general\n    prompt: hi\n")
    out_dir = tmp_path / "sounds"
    assert hotline(cfg, "prompts", "build", flow, "--out", out_dir) == 0
    assert "0 failed" in capsys.readouterr().out and (out_dir / "hotline/zh/p/hi.wav").is_file()
    assert hotline(cfg, "prompts", "build", flow, "--out", out_dir) == 0
    assert ": 0 built" in capsys.readouterr().out
