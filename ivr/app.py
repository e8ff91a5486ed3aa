"""build_app(settings): the one place where the service is assembled.

Two cleanup contexts hold every long-lived resource, so start-up order is written once and shutdown runs in
reverse even when start-up fails half-way: `database_ctx` (the database, the work-order service) and
`telephony_ctx` (the call side, built by constructor arguments in dependency order; see its docstring).
Then retention and the console. A console-only instance passes its own dialer instead of the telephony.
The keys below are the seams tests and benchmarks use to run the same graph against their own Asterisk.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from ivr import keys
from ivr.acd.ari_dialer import AriDialer
from ivr.acd.ports import AgentDialer
from ivr.acd.service import ACD, Acd
from ivr.agi.channel import DEFAULT_RECORDING_DIR
from ivr.ari.client import AriClient
from ivr.ari.media import PathMapper
from ivr.ari.router import EventRouter
from ivr.ari.spec import ApiSpec
from ivr.calls.agi.flow import EngineRunner
from ivr.calls.agi.server import AGI_SERVER, AgiServer
from ivr.calls.ari_engine import ARI, AriEngine
from ivr.calls.handler import CallHandler
from ivr.calls.notifier import NOTIFIER, CallNotifier
from ivr.calls.services import CALLS
from ivr.calls.timeline import Timeline
from ivr.db import Database, DatabaseUnavailable
from ivr.engine.runner import FlowEngine
from ivr.engine.service import FLOWS, FlowService, QueueTaker, load_flows
from ivr.periodic import in_background, repeat
from ivr.settings import Settings
from ivr.speech import SPEECH, Recognizer, SpeechError
from ivr.workorders import ORDERS, WorkOrderService
from ivr.workorders.calendar import WorkingCalendar
from ivr.workorders.clocks import Policy
from ivr.workorders.intake import SWEEP_EVERY, FallbackSweeper
from ivr.workorders.sweep import SWEEP, ClockSweep
from recordings.qa.pending import speech_state
from recordings.store import RecordingStore

log = logging.getLogger("hotline.app")

# An inbound-call handler instead of the flows (tests and benchmarks that drive the ACD themselves).
CALL_HANDLER: web.AppKey[CallHandler] = web.AppKey("call_handler")
# Where Asterisk writes ARI recordings, as seen from this host, and how our paths look to Asterisk.
ASTERISK_RECORDINGS_DIR: web.AppKey[Path] = web.AppKey("asterisk_recordings_dir", Path)
ASTERISK_PATH: web.AppKey[PathMapper] = web.AppKey("asterisk_path")
ARI_DOCS_DIR: web.AppKey[Path] = web.AppKey("ari_docs_dir", Path)
# A dialer from outside (a console-only instance, tests): the ACD rings through it and no ARI is needed.
ACD_DIALER: web.AppKey[AgentDialer] = web.AppKey("acd_dialer")
HANGUP_KINDS = frozenset({"hangup", "call_ended"})
FINALIZE_EVERY = 15.0  # seconds between passes completing the recordings of ended AGI calls
FINALIZE_AFTER = 10.0  # a call ended this long ago: Asterisk has closed its MixMonitor files


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    db = Database(settings.database.url, echo=settings.database.echo)
    delay = 0.5
    while True:
        try:
            await db.upgrade()
            break
        except DatabaseUnavailable as exc:
            # A database that is still starting (or restarting) must not kill the service: wait and retry.
            log.error("%s; retrying in %.1f s", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
    app[keys.DB] = db
    calendar = await asyncio.to_thread(WorkingCalendar.from_directory, settings.workorders.calendar_dir)
    for problem in calendar.problems:
        log.error("work-order calendar: %s (left out: that year counts from the package or is estimated)", problem)
    wo = settings.workorders
    app[ORDERS] = WorkOrderService(db, settings.hotline.zone, calendar=calendar,
                                   policy=Policy(share=wo.warn_share, escalate_days=wo.escalate_after_working_days))
    try:
        yield
    finally:
        await db.dispose()


async def workorders_ctx(app: web.Application) -> AsyncIterator[None]:
    """The clock sweep over the open work orders ([workorders] sweep_seconds), from start-up on."""
    settings = app[keys.SETTINGS]
    sweep = ClockSweep(app[ORDERS], calendar_dir=settings.workorders.calendar_dir)
    app[SWEEP] = sweep
    async with in_background(repeat(sweep.sweep, every=settings.workorders.sweep_seconds, what="work-order sweep",
                                    first_after=1.0), "workorders-sweep"):
        yield


async def health(request: web.Request) -> web.Response:
    """Anonymous: fixed words per part, never a database URL or an exception's text (those go to the log).
    503 while the database is unusable, so a load balancer or up.sh waits."""
    app = request.app
    status: dict[str, object] = {"service": "hotline"}
    try:
        await app[keys.DB].ping()
        status["database"] = "ok"
    except DatabaseUnavailable as exc:
        log.warning("health: database unavailable: %s", exc)
        status["database"] = "unavailable"
    engine = app.get(ARI)
    if engine is None:
        status["asterisk"] = "not configured"
    else:
        status["asterisk"] = "connected" if engine.session.connected.is_set() else "reconnecting"
    status["agi"] = "listening" if app.get(AGI_SERVER) is not None else "off"
    if status["database"] == "ok":
        # ready / loading / idle (no worker running) / missing (no model: transcripts and speech rules wait)
        settings = app.get(keys.SETTINGS)
        speech = await speech_state(app[keys.DB], settings.vosk.model_path if settings is not None else None)
        status["speech"], status["transcription_waiting"] = speech.model, speech.waiting
    return web.json_response(status, status=200 if status["database"] == "ok" else 503)


def build_app(settings: Settings, *, dialer: AgentDialer | None = None) -> web.Application:
    """Assemble the service. A `dialer` from outside replaces the telephony: no ARI engine, flows or AGI
    server start, and the ACD rings agents through that dialer (a console-only instance; the console tests)."""
    from agent_console import setup_console
    from recordings.retention import retention_ctx

    app = web.Application()
    app[keys.SETTINGS] = settings
    app.cleanup_ctx.append(database_ctx)
    app.cleanup_ctx.append(workorders_ctx)  # the orders' clocks: nearly due, overdue, 催办, escalation
    if dialer is None:
        app.cleanup_ctx.append(telephony_ctx)
    else:
        app[ACD_DIALER] = dialer
        app.cleanup_ctx.append(acd_ctx)
    app.cleanup_ctx.append(retention_ctx)  # recordings and transcripts past [recordings] retention_days
    setup_console(app)
    app.router.add_get("/healthz", health)
    return app


@dataclass(frozen=True)
class AsteriskPaths:
    """Where the configured Asterisk instance keeps what we share with it, as this host sees it."""

    sounds_dir: Path  # sound:hotline/... (outage notices are rendered here)
    recordings_dir: Path  # ARI recordings, MixMonitor files of AGI calls, fallback messages (+ .txt sidecars)
    to_asterisk: PathMapper  # a host path -> Asterisk's (unchanged when outside a sandbox)
    to_host: Callable[[str], Path]  # Asterisk's path -> this host's


def asterisk_paths(settings: Settings) -> AsteriskPaths:
    """Resolve the instance once (a sandbox costs a chrooted `asterisk -V`). Blocking; AsteriskError or
    SandboxError when none is set up here."""
    from ivr.asterisk.service import instance_for

    instance = instance_for(settings)

    def to_asterisk(path: str) -> str:
        try:
            return instance.asterisk_path(path)
        except ValueError:  # outside the sandbox's tree: Asterisk sees it under the same name, or not at all
            return path

    return AsteriskPaths(instance.sounds_dir_host, instance.recordings_dir_host, to_asterisk, instance.host_path)


async def load_recognizer(settings: Settings) -> Recognizer | None:
    """The Vosk model, loaded once in a worker thread; None (menus take keys only) when unset or unusable."""
    recognizer = Recognizer.from_settings(settings)
    if recognizer is None:
        log.warning("speech: no [vosk] model_path set; menus take keys only")
        return None
    try:
        await recognizer.load()
    except SpeechError as exc:
        log.error("speech disabled: %s", exc)
        recognizer.close()
        return None
    return recognizer


async def load_flow_service(settings: Settings, db: Database, orders: WorkOrderService, acd: QueueTaker | None,
                            *, recognizer: Recognizer | None, sounds_dir: Path | None) -> FlowService | None:
    """The flows in call_flows/, or None when the configured flow (hotline.flow) is not usable: then every
    call takes the dialplan fallback instead of a broken IVR. A file with errors is logged with file:line."""
    flows, problems = await asyncio.to_thread(load_flows)
    for issue in problems:
        log.error("flow file: %s", issue)
    if settings.hotline.flow not in flows:
        log.error("flow %r (hotline.flow) is not usable; inbound calls go to the dialplan fallback",
                  settings.hotline.flow)
        return None
    engine = FlowEngine(db, orders=orders, recognizer=recognizer, sounds_dir=sounds_dir)
    log.info("flows loaded: %s (inbound calls run %s)", ", ".join(sorted(flows)), settings.hotline.flow)
    return FlowService(engine, flows, default_flow=settings.hotline.flow, acd=acd)


def agi_server(settings: Settings, db: Database, flows: FlowService | None, store: RecordingStore,
               recording: tuple[str, Callable[[str], Path]] | None) -> AgiServer:
    """The FastAGI server over the same flows as ARI. EngineRunner, not the FlowService itself: the service
    gives queue results to the ACD, which bridges through ARI; over AGI they go to app_queue."""
    runner = EngineRunner(flows.engine, flows.flows) if flows is not None else None
    recording_dir, host_path = recording if recording else (DEFAULT_RECORDING_DIR, None)
    return AgiServer(settings.agi, zone=settings.hotline.zone, db=db, flow_runner=runner,
                     recording_dir=recording_dir, recordings=store if host_path else None,
                     host_path=host_path or Path)


async def _follow_hangups(acd: Acd, notifier: CallNotifier) -> None:
    """Caller hang-ups reach the ACD through the call notifier: a caller who hangs up leaves the line at once."""
    subscription = notifier.subscribe(accept=lambda n: n.kind in HANGUP_KINDS)
    try:
        async for notice in subscription:
            acd.caller_hung_up(notice.call_id)
    finally:
        subscription.close()


async def telephony_ctx(app: web.Application) -> AsyncIterator[None]:
    """The call side, built here in the order things depend on each other, by constructor arguments:
    notifier -> ARI transport -> dialer -> ACD(dialer) -> flows(ACD) -> call service(flows, dialer) -> AGI.
    Started ACD first (a call resynced at connect may queue at once), stopped in reverse: the AGI server, the
    ACD (bridged callers stay bridged), then the call service, which hands callers still in our IVR to the
    dialplan fallback before the websocket closes."""
    settings, db, orders = app[keys.SETTINGS], app[keys.DB], app[ORDERS]
    a = settings.asterisk
    notifier = CallNotifier(settings.console.ws_queue_size)
    spec = await asyncio.to_thread(ApiSpec.load, app.get(ARI_DOCS_DIR))
    client, router = AriClient(a.ari_url, a.ari_user, a.ari_password, spec=spec), EventRouter()
    dialer = AriDialer(client, router, a.app)
    acd = Acd(db, settings, dialer, orders)
    recognizer = await load_recognizer(settings)
    try:
        found: AsteriskPaths | None = await asyncio.to_thread(asterisk_paths, settings)
    except Exception as exc:  # noqa: BLE001 - given paths (tests) or no recordings dir (below) decide
        found, missing = None, exc
        log.warning("no Asterisk set up here (%s): outage notices are read as dates only, AGI calls run "
                    "unrecorded", exc)
    recordings_dir = app.get(ASTERISK_RECORDINGS_DIR) or (found.recordings_dir if found else None)
    if recordings_dir is None:
        raise missing  # ARI cannot record, nor the fallback intake find messages, without the instance
    mapper = app.get(ASTERISK_PATH) or (found.to_asterisk if found else None)
    flows = await load_flow_service(settings, db, orders, acd, recognizer=recognizer,
                                    sounds_dir=found.sounds_dir if found else None)
    store = RecordingStore(db, Path(settings.recordings.dir))
    handler = app.get(CALL_HANDLER) or (flows.handle_call if flows is not None else None)
    engine = AriEngine(settings, client, router, Timeline(db), notifier, recording_dir=recordings_dir,
                       recordings=store, asterisk_path=mapper, handler=handler,
                       resume_handler=flows.resume_call if flows is not None else None,
                       agent_handler=dialer.on_agent_leg)
    agi = agi_server(settings, db, flows, store,
                     (found.to_asterisk(str(found.recordings_dir)), found.to_host) if found else None)
    sweeper = FallbackSweeper(db, Path(recordings_dir), orders, message_seconds=a.fallback_message_seconds)
    app[NOTIFIER], app[CALLS], app[ARI], app[ACD], app[AGI_SERVER] = notifier, engine.service, engine, acd, agi
    if flows is not None:
        app[FLOWS] = flows
    if recognizer is not None:
        app[SPEECH] = recognizer

    async def sweep() -> None:
        report = await sweeper.sweep()
        if report.orders:
            log.info("fallback sweeper: %d callback work order(s): %s", len(report.orders), ", ".join(report.orders))

    async def finish_agi_recordings() -> None:
        # AGI never sees the end of a call's audio: once the row is closed (the hangup route) and Asterisk
        # has let go of the MixMonitor files, archive, mix, hash, queue transcription.
        cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=FINALIZE_AFTER)
        await store.finalize_pending(ended_before=cutoff)

    async with contextlib.AsyncExitStack() as stack:
        if recognizer is not None:
            stack.callback(recognizer.close)
        stack.push_async_callback(client.close)
        await client.start()
        stack.push_async_callback(engine.stop)  # registered early: a failed start still closes what it opened
        await acd.start()
        stack.push_async_callback(acd.stop)
        await stack.enter_async_context(in_background(_follow_hangups(acd, notifier), "acd-hangups"))
        await engine.start()
        await agi.start()
        stack.push_async_callback(agi.stop)
        await stack.enter_async_context(in_background(
            repeat(sweep, every=SWEEP_EVERY, what="fallback sweep", first_after=0.0), "fallback-sweeper"))
        if agi.recordings is not None:
            await stack.enter_async_context(in_background(
                repeat(finish_agi_recordings, every=FINALIZE_EVERY, what="finishing AGI recordings"),
                "agi-recordings"))
        yield


async def acd_ctx(app: web.Application) -> AsyncIterator[None]:
    """The ACD over a dialer from outside (build_app(dialer=...)): the console without telephony."""
    acd = Acd(app[keys.DB], app[keys.SETTINGS], app[ACD_DIALER], app[ORDERS])
    await acd.start()
    app[ACD] = acd
    try:
        yield
    finally:
        await acd.stop()


async def serve(settings: Settings) -> None:
    """Run the service until SIGINT/SIGTERM. Raises ivr.secrets.InsecureSecrets, before it opens a socket or
    the database, when a secret is missing or public."""
    from ivr.secrets import require_secrets

    # First of all: a service with a known cookie secret or ARI password must not even briefly be reachable.
    await asyncio.to_thread(require_secrets, settings)
    app = build_app(settings)
    runner = web.AppRunner(app, handle_signals=False)
    # Before start-up: a stop asked for while we start (resyncing live calls) still stops gracefully, handing
    # those calls to the dialplan fallback, instead of killing the process half-way.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await runner.setup()
        site = web.TCPSite(runner, settings.console.host, settings.console.port)
        await site.start()
        log.info("console on http://%s:%d/", settings.console.host, settings.console.port)
        await stop.wait()
    finally:
        await runner.cleanup()
