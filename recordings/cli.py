"""`hotline transcribe`, `hotline worker`, `hotline qa rescore|rubric`, `hotline recordings purge|requeue`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import signal
import sys
from pathlib import Path
from typing import Any

from ivr.settings import Settings


def _cli_error(msg: str) -> Exception:
    from ivr.errors import CliError

    return CliError(msg)


def _progress(total: float, desc: str, unit: str) -> Any:
    from tqdm import tqdm

    # Always drawn on stderr, so `hotline transcribe x.wav > out.txt` keeps the bar on screen.
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=True,
                bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} {unit} [{elapsed}<{remaining}]")


def parse_when(text: str) -> dt.datetime:
    """A date or ISO date-time; without a zone it is this machine's local time."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise _cli_error(f"not a date: {text!r} (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)") from None
    if value.tzinfo is None:
        value = value.astimezone()
    return value.astimezone(dt.timezone.utc)


def _model_path(args: argparse.Namespace) -> Path:
    settings: Settings = args.settings
    path = args.model or settings.vosk.model_path
    if path is None:
        raise _cli_error("no Vosk model: set [vosk] model_path in the settings or pass --model DIR")
    return Path(path)


def _rubric(args: argparse.Namespace) -> Any:
    from recordings.qa.rubric import RubricError, load_rubric

    path = getattr(args, "rubric", None) or args.settings.qa.rubric
    try:
        return load_rubric(path)
    except RubricError as exc:
        raise _cli_error(str(exc)) from None


# --- transcribe ----------------------------------------------------------------------------------------


def _track(arg: str, default: str | None) -> tuple[Path, str]:
    """FILE, caller=FILE or agent=FILE: the speaker given, else the archive's -caller/-agent suffix, else
    --speaker (agent)."""
    who, sep, rest = arg.partition("=")
    if sep and who in ("caller", "agent"):
        return Path(rest), who
    path = Path(arg)
    for speaker in ("caller", "agent"):
        if default is None and path.stem.endswith(f"-{speaker}"):
            return path, speaker
    return path, default or "agent"


def cmd_transcribe(args: argparse.Namespace) -> int:
    from recordings.exceptions import RecordingError
    from recordings.transcribe import ModelError, Transcriber, check_track

    tracks = [_track(arg, args.speaker) for arg in args.files]
    files = [f for f, _ in tracks]
    total = 0.0
    for f in files:
        try:
            rate, frames = check_track(f)
        except RecordingError as exc:
            raise _cli_error(str(exc)) from None
        total += frames / rate
    try:
        transcriber = Transcriber.from_path(_model_path(args))
    except ModelError as exc:
        raise _cli_error(str(exc)) from None
    out: list[dict[str, Any]] = []
    with _progress(total, "转写", "s") as bar:
        def advance(seconds: float) -> None:
            # The chunks' lengths summed as floats can pass the files' total by a rounding error, and tqdm
            # prints a warning on the user's terminal for a bar past 100 %.
            bar.n = min(bar.n + seconds, total)
            bar.refresh()

        for f, speaker in tracks:
            segs = transcriber.transcribe(f, speaker, progress=advance)
            out.append({"file": str(f), "segments": [
                {"speaker": g.speaker, "start": g.start, "end": g.end, "text": g.text, "confidence": g.confidence,
                 "words": g.words_json()} for g in segs]})
    if args.json:
        json.dump(out if len(out) > 1 else out[0], sys.stdout, ensure_ascii=False, indent=1)
        print()
    else:
        for item in out:
            print(f"# {item['file']}")
            for g in item["segments"]:
                print(f"[{g['start']:7.2f} - {g['end']:7.2f}] {g['text']}")
    return 0


# --- worker --------------------------------------------------------------------------------------------


async def _run_worker(args: argparse.Namespace) -> int:
    from ivr.db import Database
    from recordings.jobs import default_worker_name
    from recordings.transcribe import ModelError, Transcriber
    from recordings.worker import JobOutcome, TranscriptionWorker, announce, sign_off

    settings: Settings = args.settings
    rubric = None if args.no_qa else _rubric(args)
    model = _model_path(args)
    db = Database(settings.database.url)
    name = args.name or default_worker_name()
    # The QA pages say "loading" meanwhile (a Mandarin model takes a while). A dead database is no reason to
    # stop here: the worker's own ping below says so.
    with contextlib.suppress(Exception):
        await announce(db, name, "loading", str(model))
    try:
        transcriber = await asyncio.to_thread(Transcriber.from_path, model)
    except ModelError as exc:
        with contextlib.suppress(Exception):
            await sign_off(db, name)
        await db.dispose()
        raise _cli_error(str(exc)) from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)  # finish the current job, then leave

    def report(o: JobOutcome) -> None:
        score = f", score {o.score.total:g}/{o.score.max_total:g}" if o.score else ""
        print(f"call {o.call_id}: {o.segments} segments from {o.audio_seconds:.1f} s of audio{score}", flush=True)

    worker = TranscriptionWorker(db, settings, transcriber, rubric=rubric, name=name,
                                 lease_seconds=args.lease, poll_seconds=args.poll, on_done=report)
    try:
        await db.ping()
        print(f"worker {worker.name} ready", flush=True)
        done = await worker.run(stop, once=args.once)
    finally:
        await db.dispose()
    print(f"worker {worker.name} stopped after {done} job(s)", flush=True)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    return asyncio.run(_run_worker(args))


# --- qa ------------------------------------------------------------------------------------------------


async def _rescore(args: argparse.Namespace) -> int:
    from ivr.db import Database
    from recordings.qa.store import calls_to_rescore, rescore

    settings: Settings = args.settings
    rubric = _rubric(args)
    since = parse_when(args.since)
    until = parse_when(args.until) if args.until else None
    db = Database(settings.database.url)
    try:
        n = len(await calls_to_rescore(db, since, until))
        with _progress(n, f"评分 {rubric.version}", "通") as bar:
            report = await rescore(db, rubric, settings, since, until, progress=bar.update)
    finally:
        await db.dispose()
    print(f"rubric {rubric.version}: {report.scored} call(s) scored, {report.passed} passed, "
          f"{report.must_review} to review, {report.unscorable} unscorable, "
          f"{report.skipped_no_transcript} not transcribed yet")
    if report.errors:
        raise _cli_error("\n".join(report.errors))
    return 0


def cmd_rescore(args: argparse.Namespace) -> int:
    return asyncio.run(_rescore(args))


def cmd_rubric(args: argparse.Namespace) -> int:
    from recordings.qa.scorer import fingerprint

    rubric = _rubric(args)
    print(f"{rubric.path}: version {rubric.version}, {len(rubric.spec.rules)} rules, "
          f"{len(rubric.phrases)} forbidden phrases, max {rubric.max_total:g}, pass {rubric.spec.pass_score:g}")
    policy = rubric.spec.review
    sent = [name for on, name in ((policy.failed, "every failed call"), (policy.instant_fail, "instant fails"),
                                  (policy.risk_words, "risk words")) if on]
    if policy.below is not None:
        sent.append(f"scores below {policy.below:g}")
    if policy.satisfaction_at_most:
        sent.append(f"satisfaction <= {policy.satisfaction_at_most}")
    print(f"review: {', '.join(sent) or 'nothing'}; spot check {policy.spot_check_percent:g}% of passing calls")
    print(f"fingerprint (with these settings): {fingerprint(rubric, args.settings)}")
    for r in rubric.spec.rules:
        flag = "  一票否决" if r.instant_fail else ""
        print(f"  {r.id:22} {r.points:>5g}  {r.title}{flag}")
    return 0


# --- recordings ----------------------------------------------------------------------------------------


async def _purge(args: argparse.Namespace) -> int:
    from ivr.db import Database
    from recordings.retention import calls_due, purge

    settings: Settings = args.settings
    now = parse_when(args.now) if args.now else dt.datetime.now(dt.timezone.utc)
    db = Database(settings.database.url)
    try:
        cutoff = now - dt.timedelta(days=settings.recordings.retention_days)
        n = len(await calls_due(db, cutoff))
        with _progress(n, "清理" if not args.dry_run else "清理(演练)", "通") as bar:
            report = await purge(db, settings, now=now, dry_run=args.dry_run, progress=bar.update)
    finally:
        await db.dispose()
    verb = "would delete" if args.dry_run else "deleted"
    print(f"retention {settings.recordings.retention_days} days (before {report.cutoff:%Y-%m-%d %H:%M} UTC): "
          f"{report.calls} call(s), {verb} {report.files_deleted} file(s) ({report.files_missing} already missing), "
          f"{report.segments_deleted} transcript segment(s), {report.scores_scrubbed} score(s) blanked")
    if report.errors:
        raise _cli_error("\n".join(report.errors))
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    return asyncio.run(_purge(args))


async def _requeue(args: argparse.Namespace) -> int:
    from ivr.db import Database
    from recordings.jobs import enqueue_transcription

    db = Database(args.settings.database.url)
    try:
        for call_id in args.calls:
            try:
                job = await enqueue_transcription(db, call_id, requeue=True)
            except LookupError as exc:
                raise _cli_error(str(exc)) from None
            print(f"call {call_id}: job {job} pending")
    finally:
        await db.dispose()
    return 0


def cmd_requeue(args: argparse.Namespace) -> int:
    return asyncio.run(_requeue(args))


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("transcribe", help="transcribe WAV files with Vosk (prints segments with times)")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="mono 16-bit PCM WAV; caller=FILE / agent=FILE names its speaker")
    p.add_argument("--model", help="Vosk model directory (default: [vosk] model_path)")
    p.add_argument("--speaker", choices=("caller", "agent"), default=None,
                   help="speaker of files given without one (default: from a -caller/-agent file name, else agent)")
    p.add_argument("--json", action="store_true", help="print JSON with word times")
    p.set_defaults(func=cmd_transcribe)

    p = sub.add_parser("worker", help="run a transcription + QA worker on the database job queue")
    p.add_argument("--model", help="Vosk model directory (default: [vosk] model_path)")
    p.add_argument("--name", help="worker name in the job table (default host:pid)")
    p.add_argument("--lease", type=float, default=120.0, help="lease seconds; renewed every third of it")
    p.add_argument("--poll", type=float, default=1.0, help="seconds between looks at an empty queue")
    p.add_argument("--once", action="store_true", help="exit when the queue is empty")
    p.add_argument("--no-qa", action="store_true", help="transcribe only, do not score")
    p.add_argument("--rubric", help="rubric YAML (default: [qa] rubric or the packaged one)")
    p.set_defaults(func=cmd_worker)

    qa = sub.add_parser("qa", help="QA scoring")
    qasub = qa.add_subparsers(dest="qa_command", metavar="ACTION", required=True)
    p = qasub.add_parser("rescore", help="score (again) every transcribed call since a date")
    p.add_argument("--since", required=True, help="YYYY-MM-DD[THH:MM] (local time unless a zone is given)")
    p.add_argument("--until", help="end (exclusive), same format")
    p.add_argument("--rubric", help="rubric YAML (default: [qa] rubric or the packaged one)")
    p.set_defaults(func=cmd_rescore)
    p = qasub.add_parser("rubric", help="check a rubric file and show its rules")
    p.add_argument("rubric", nargs="?", help="rubric YAML (default: [qa] rubric or the packaged one)")
    p.set_defaults(func=cmd_rubric)

    rec = sub.add_parser("recordings", help="recording files and transcripts")
    recsub = rec.add_subparsers(dest="recordings_command", metavar="ACTION", required=True)
    p = recsub.add_parser("purge", help="delete recordings and transcripts older than the retention period")
    p.add_argument("--dry-run", action="store_true", help="count only, delete nothing")
    p.add_argument("--now", help="pretend it is this date (YYYY-MM-DD), for catch-up runs")
    p.set_defaults(func=cmd_purge)
    p = recsub.add_parser("requeue", help="transcribe and score these calls again")
    p.add_argument("calls", nargs="+", type=int, metavar="CALL_ID")
    p.set_defaults(func=cmd_requeue)
