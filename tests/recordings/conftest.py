from __future__ import annotations

from pathlib import Path

import pytest

from recordings.qa.rubric import Rubric, load_rubric
from tests.fakes.synth import Line, SynthCall
from recordings.transcribe import Transcriber
from tests.recordings.helpers import Heard, vosk_model_path

CALL_SCRIPT = [
    Line("agent", "您好，这里是示例燃气集团24小时服务热线，1024号坐席为您服务，请问有什么可以帮您？", start=0.5),
    Line("caller", "我家的燃气表没有气了。"),
    Line("agent", "好的，请您提供一下户号，谢谢。"),
    Line("caller", "户号是一零零零零零一。"),
    Line("agent", "请问还有其他可以帮您的吗？感谢您的来电，再见。"),
]
# One short line each: for tests of what happens around recognition (CLI output, a redone job), where every
# second of speech only costs decoding time.
SHORT_SCRIPT = [
    Line("agent", "您好，请讲。", start=0.3),
    Line("caller", "燃气表没气了。"),
]


@pytest.fixture(scope="session")
def model_path() -> Path:
    return vosk_model_path()


@pytest.fixture(scope="session")
def transcriber(model_path: Path) -> Transcriber:
    """One loaded model for the whole session, as a worker process holds one."""
    return Transcriber.from_path(model_path)


@pytest.fixture
def rubric() -> Rubric:
    return load_rubric()


@pytest.fixture(scope="session")
def synth_call(tmp_path_factory: pytest.TempPathFactory) -> SynthCall:
    """A two-track call spoken by espeak-ng (agent greeting, caller request, closing), made once."""
    from tests.fakes.synth import synthesize_call

    return synthesize_call(CALL_SCRIPT, tmp_path_factory.mktemp("synth"))


@pytest.fixture(scope="session")
def heard(transcriber: Transcriber) -> Heard:
    return Heard(transcriber)


@pytest.fixture(scope="session")
def short_call(tmp_path_factory: pytest.TempPathFactory) -> SynthCall:
    """A two-track call of a few seconds (one short line per speaker), made once."""
    from tests.fakes.synth import synthesize_call

    return synthesize_call(SHORT_SCRIPT, tmp_path_factory.mktemp("short"), name="short")
