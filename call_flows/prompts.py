"""Prompt audio: every prompt has text; its sound is synthesized (espeak-ng, Mandarin voice `cmn`) and
converted with sox to what Asterisk plays without transcoding (8 kHz mono 16-bit wav), unless a recorded
file is supplied, which is converted the same way.

Layout under the sounds dir: hotline/<lang>/<flow>/<prompt>.wav, hotline/<lang>/say/<word>.wav (read-outs)
and hotline/<lang>/dyn/<hash>.wav (outage notices rendered during calls). The engine plays
sound:hotline/<lang>/<flow>/<prompt>.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from call_flows.say import SAY_TEXT
from call_flows.schema import Flow

VOICES = {"zh": "cmn", "en": "en-us"}
SPEED = 175  # espeak-ng words per minute; its Mandarin is slow, menus would drag at the default
# Played by the dialplan's fallback ([hotline-fallback] in ivr/asterisk/config.py) when our service cannot
# take the call: sound hotline/<lang>/fallback/<id>.
FALLBACK_TEXT = {
    "zh": {"message": "您好，现在暂时无法为您接通人工服务。请在提示音后留下您的姓名、联系电话和需要办理的事项，"
                      "我们会尽快给您回电。如遇燃气泄漏等紧急情况，请立即到室外安全地点拨打119。",
           "thanks": "您的留言已收到，我们会尽快与您联系。感谢您的来电，再见。"},
}
SAY_NAMESPACE = "say"
DYNAMIC_NAMESPACE = "dyn"


class PromptError(Exception):
    """A prompt could not be rendered; the message names the prompt and the tool's complaint."""


def sound_name(lang: str, namespace: str, prompt_id: str) -> str:
    return f"hotline/{lang}/{namespace}/{prompt_id}"


def media(lang: str, namespace: str, prompt_id: str) -> str:
    return "sound:" + sound_name(lang, namespace, prompt_id)


async def _run(*cmd: str, stdin: bytes | None = None) -> None:
    try:
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    except FileNotFoundError:
        raise PromptError(f"{cmd[0]} is not installed (apt-get install espeak-ng sox)") from None
    _, err = await proc.communicate(stdin)
    if proc.returncode != 0:
        raise PromptError(f"{cmd[0]} failed ({proc.returncode}): {err.decode(errors='replace').strip()[:300]}")


async def _output(*cmd: str) -> str:
    try:
        proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.DEVNULL)
    except FileNotFoundError:
        raise PromptError(f"{cmd[0]} is not installed (apt-get install espeak-ng sox)") from None
    out, _ = await proc.communicate()
    return out.decode(errors="replace")


async def known_voices() -> set[str]:
    """Names espeak-ng accepts for -v: languages, voice files and their basenames (cmn, sit/cmn, ko...)."""
    names: set[str] = set()
    for line in (await _output("espeak-ng", "--voices")).splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 5:
            names.update({cols[1], cols[4], cols[4].rsplit("/", 1)[-1]})
    return names


async def synthesize(text: str, out: Path, *, voice: str = "cmn", speed: int = SPEED, rate: int = 8000,
                     pad_seconds: float = 0.0) -> None:
    """Text -> out (wav, `rate` Hz, mono, 16-bit). Written via a temp file so a half file never plays."""
    out.parent.mkdir(parents=True, exist_ok=True)
    raw = out.with_name(out.name + ".espeak.wav")
    tmp = out.with_name(out.name + ".tmp.wav")
    try:
        # Text on stdin: a prompt starting with "-" must not be read as an option.
        await _run("espeak-ng", "-v", voice, "-s", str(speed), "-w", str(raw), "--stdin", stdin=text.encode())
        effects = ["norm", "-3"] + (["pad", str(pad_seconds), str(pad_seconds)] if pad_seconds else [])
        # -R: sox dithers with a random seed otherwise, and the same text would give different audio (and a
        # different recognition of a marginal utterance) on every build.
        await _run("sox", "-R", str(raw), "-r", str(rate), "-c", "1", "-b", "16", "-e", "signed-integer", str(tmp),
                   *effects)
        os.replace(tmp, out)
    finally:
        for p in (raw, tmp):
            p.unlink(missing_ok=True)


async def convert(src: Path, out: Path, *, rate: int = 8000) -> None:
    """A recorded prompt (any format sox reads) -> Asterisk's 8 kHz mono wav."""
    if not src.is_file():
        raise PromptError(f"recorded file {src} not found")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.wav")
    try:
        await _run("sox", "-R", str(src), "-r", str(rate), "-c", "1", "-b", "16", "-e", "signed-integer", str(tmp))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class PromptJob:
    name: str  # hotline/zh/gas/welcome
    text: str
    voice: str
    source: Path | None  # recorded file, if supplied

    def fingerprint(self) -> str:
        h = hashlib.sha256(f"{self.text}\0{self.voice}\0{SPEED}".encode())
        if self.source is not None:
            h.update(self.source.read_bytes() if self.source.is_file() else b"missing")
        return h.hexdigest()


@dataclass
class BuildReport:
    built: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def jobs_for(flow: Flow) -> list[PromptJob]:
    lang = flow.header.language
    base = Path(flow.path).resolve().parent
    return [PromptJob(sound_name(lang, flow.name, pid), p.text, p.voice or VOICES[lang],
                      (base / p.file) if p.file else None) for pid, p in flow.prompts.items()]


def say_jobs(lang: str = "zh") -> list[PromptJob]:
    if lang != "zh":
        return []  # other languages use Asterisk's own digits:/number: sounds
    return [PromptJob(sound_name(lang, SAY_NAMESPACE, k), t, VOICES[lang], None) for k, t in SAY_TEXT.items()]


def service_jobs(lang: str = "zh") -> list[PromptJob]:
    """Prompts other parts of the service play: the dialplan fallback's and the ACD's (hold announcements)."""
    jobs = [PromptJob(sound_name(lang, "fallback", k), t, VOICES[lang], None)
            for k, t in FALLBACK_TEXT.get(lang, {}).items()]
    try:
        from ivr.acd.caller import PROMPT_TEXTS, AcdPrompts
    except ImportError:  # the ACD is optional for flow work
        return jobs
    base = AcdPrompts().base.removeprefix("sound:").rstrip("/")
    return jobs + [PromptJob(f"{base}/{k}", t, VOICES["zh"], None) for k, t in PROMPT_TEXTS.items()]


async def build(flows: Sequence[Flow], out_dir: Path, *, force: bool = False, parallel: int = 4) -> BuildReport:
    """Render every prompt of the flows, the read-out words and the service's own prompts below out_dir;
    unchanged ones (same text, voice and source file) are skipped."""
    jobs: dict[str, PromptJob] = {}
    for flow in flows:
        lang = flow.header.language
        for job in [*jobs_for(flow), *say_jobs(lang), *service_jobs(lang)]:
            jobs[job.name] = job
    manifest_path = out_dir / "hotline" / ".manifest.json"
    try:
        manifest: dict[str, str] = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        manifest = {}
    report = BuildReport()
    slots = asyncio.Semaphore(parallel)
    # espeak-ng quietly falls back to its default voice for an unknown name: Chinese text read by an
    # English voice is noise, so an unknown voice fails its prompts instead.
    voices = await known_voices()

    async def one(job: PromptJob) -> None:
        out = out_dir / f"{job.name}.wav"
        fp = job.fingerprint()
        if not force and manifest.get(job.name) == fp and out.is_file():
            report.skipped.append(job.name)
            return
        async with slots:
            try:
                if job.source is not None:
                    await convert(job.source, out)
                elif job.voice not in voices:
                    raise PromptError(f"espeak-ng has no voice {job.voice!r} (see `espeak-ng --voices`)")
                else:
                    await synthesize(job.text, out, voice=job.voice)
            except PromptError as exc:
                report.failed.append((job.name, str(exc)))
                return
        manifest[job.name] = fp
        report.built.append(job.name)

    await asyncio.gather(*(one(j) for j in jobs.values()))
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(dict(sorted(manifest.items())), ensure_ascii=False, indent=1),
                             encoding="utf-8")
    return report


def dynamic_name(lang: str, text: str) -> str:
    return sound_name(lang, DYNAMIC_NAMESPACE, hashlib.sha256(text.encode()).hexdigest()[:20])


async def render_dynamic(text: str, sounds_dir: Path, lang: str = "zh") -> str:
    """Render free text once (cached by hash) and return its media URI (sound:hotline/<lang>/dyn/<hash>)."""
    name = dynamic_name(lang, text)
    out = sounds_dir / f"{name}.wav"
    if not out.is_file():
        await synthesize(text, out, voice=VOICES[lang])
    return "sound:" + name
