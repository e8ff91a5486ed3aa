"""The FastAGI server: one task per Asterisk connection, routed by the script path of agi://host:port/<path>.

  lookup        set HOTLINE_* caller variables for sites with their own dialplan (ivr/calls/agi/lookup.py)
  hangup        a hangup handler closes the call row with who hung up (ivr/calls/agi/hangup.py)
  flow/<name>   run one of our call flows over AGI through the injected FlowRunner (ivr/calls/agi/flow.py); a
                flow that ends in a queue request goes to app_queue via [hotline-agi-queue] (ivr/calls/agi/queue.py)
  anything else HOTLINE_CONTINUE=fallback, end

Whatever goes wrong inside a session stays inside it: a malformed peer is logged in one line and its socket
closed; a failing handler (or the session timeout) sets HOTLINE_CONTINUE=fallback first, so the site's
dialplan carries the call on. The dialplan must treat any HOTLINE_CONTINUE other than "ok" (including unset,
when this server is down and AGISTATUS=FAILURE) as the fallback branch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import logging
from pathlib import Path
from typing import Callable, Self

from aiohttp import web
from sqlalchemy import select

from ivr.agi.channel import CONTINUE_VARIABLE, DEFAULT_RECORDING_DIR, AgiChannel
from ivr.agi.connection import AgiConnection
from ivr.agi.errors import AgiProtocolError
from ivr.agi.parser import AgiEnvironment, Route, parse_route
from ivr.calls.agi.flow import FlowContext, FlowRunner
from ivr.calls.agi.hangup import SESSION_HANGUP_CAUSE, HangupHandler
from ivr.calls.agi.lookup import LookupHandler
from ivr.calls.agi.queue import (
    QUEUE_CONTEXT,
    AgiQueueRequest,
    hand_to_app_queue,
    queue_request_of,
    queue_variables,
)
from ivr.calls.ports import RecordingSink
from ivr.calls.timeline import Timeline
from ivr.channel import ChannelError, ChannelGone, ChannelHungUp, RecordingHandle
from ivr.db import Database
from ivr.db.models import CallState, Customer, HangupSide, Queue, utcnow
from ivr.settings import AgiSettings

log = logging.getLogger(__name__)


class AgiServer:
    def __init__(self, settings: AgiSettings, *, zone: dt.tzinfo, db: Database | None = None,
                 flow_runner: FlowRunner | None = None,
                 recording_dir: str = DEFAULT_RECORDING_DIR, session_timeout: float = 4 * 3600,
                 env_timeout: float = 10.0, db_timeout: float = 3.0, cleanup_timeout: float = 2.0,
                 max_sessions: int = 1000, pyst_workers: int = 8, recordings: RecordingSink | None = None,
                 host_path: Callable[[str], Path] = Path) -> None:
        self.settings = settings
        self.zone = zone  # the hotline's: outage notices name local times
        self.db = db
        self.flow_runner = flow_runner
        self.recording_dir = recording_dir
        # Flow calls are recorded (MixMonitor r()/t(): both tracks) when given; host_path maps the paths
        # Asterisk writes to this host's view (the sandbox's root). finalize_pending completes the files.
        self.recordings = recordings
        self.host_path = host_path
        self.session_timeout = session_timeout
        self.env_timeout = env_timeout
        self.db_timeout = db_timeout
        self.cleanup_timeout = cleanup_timeout
        self.max_sessions = max_sessions
        self.pyst_workers = pyst_workers
        self._server: asyncio.Server | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self._stopping = False
        self.sessions_served = 0

    # --- lifecycle --------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("AGI server already started")
        self._executor = concurrent.futures.ThreadPoolExecutor(self.pyst_workers, thread_name_prefix="agi-pyst")
        self._stopping = False
        try:
            # limit is the StreamReader's flow-control mark: above 2x it stops reading the socket.
            self._server = await asyncio.start_server(self._session, self.settings.host, self.settings.port,
                                                      limit=self.settings.max_line_bytes, reuse_address=True)
        except OSError:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise
        log.info("FastAGI listening on %s:%d", self.settings.host, self.port)

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("AGI server not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def active_sessions(self) -> int:
        return len(self._sessions)

    async def stop(self, timeout: float = 10.0) -> None:
        server, self._server = self._server, None
        self._stopping = True
        closed: asyncio.Future[None] | None = None
        if server is not None:
            # A hangup handler may call in just as we stop. Stop accepting first, then give connections already
            # accepted two loop turns to get their transports: CPython 3.11 leaks a connection whose transport
            # is made after close() (Server._attach asserts and the error is swallowed). Its wait_closed() also
            # waits for the open connections only when it is already waiting at close().
            loop = asyncio.get_running_loop()
            for sock in server.sockets:
                loop.remove_reader(sock.fileno())
            for task in list(self._sessions):
                task.cancel()  # before the loop turns below, so no session sends another command
            closed = asyncio.ensure_future(server.wait_closed())
            for _ in range(2):
                await asyncio.sleep(0)
            server.close()
        try:
            async with asyncio.timeout(timeout):
                while True:
                    for task in list(self._sessions):
                        task.cancel()
                    if self._sessions:
                        await asyncio.gather(*self._sessions, return_exceptions=True)
                    if closed is None or closed.done():
                        break
                    await asyncio.wait({closed}, timeout=0.05)  # late sessions start, see _stopping, close
        except TimeoutError:
            log.warning("AGI server: connections still open %g s after stop", timeout)
            if closed is not None:
                closed.cancel()
        executor, self._executor = self._executor, None
        if executor is not None:
            # Worker threads may still wait on a reply the loop will never deliver: do not block the loop.
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- one session ------------------------------------------------------------------------------------

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        conn = AgiConnection(reader, writer, max_line=self.settings.max_line_bytes)
        if self._stopping:
            # Accepted while stopping: closing without a word makes AGI() fail and the dialplan fall back.
            await conn.close()
            return
        self._sessions.add(task)
        try:
            await self._serve(conn)
        except asyncio.CancelledError:
            # stop(): the call was already handed back. Ending normally, because Python 3.11's start_server
            # done-callback calls task.exception() and logs a cancelled task as an error.
            pass
        finally:
            await conn.close()
            self._sessions.discard(task)
            self.sessions_served += 1

    async def _serve(self, conn: AgiConnection) -> None:
        if len(self._sessions) > self.max_sessions:
            # Closing without a word: AGI() returns FAILURE and the dialplan takes its fallback branch.
            log.warning("agi %s: refused, %d sessions already running", conn.peer, self.max_sessions)
            return
        try:
            async with asyncio.timeout(self.env_timeout):
                env = await conn.read_env()
        except AgiProtocolError as exc:
            log.warning("agi %s: bad environment block, closing: %s", conn.peer, exc)
            return
        except TimeoutError:
            log.warning("agi %s: no environment block within %g s, closing", conn.peer, self.env_timeout)
            return
        route = parse_route(env.script)
        try:
            async with asyncio.timeout(self.session_timeout) as deadline:
                await self._dispatch(conn, env, route)
        except AgiProtocolError as exc:
            log.warning("agi %s %s: protocol error, closing: %s", env.uniqueid, route.path, exc)
        except (ChannelHungUp, ChannelGone) as exc:
            log.info("agi %s %s: caller gone: %s", env.uniqueid, route.path, exc)
        except asyncio.CancelledError:
            await self._fallback(conn, env, "server stopping")
            raise
        except TimeoutError:
            if deadline.expired():
                log.warning("agi %s %s: session exceeded %g s", env.uniqueid, route.path, self.session_timeout)
            else:
                log.exception("agi %s %s: handler timed out", env.uniqueid, route.path)
            await self._fallback(conn, env, "timeout")
        except Exception:  # a bug in a handler must not take the call (or the server) down
            log.exception("agi %s %s: handler failed", env.uniqueid, route.path)
            await self._fallback(conn, env, "handler failed")

    async def _dispatch(self, conn: AgiConnection, env: AgiEnvironment, route: Route) -> None:
        if route.kind == "lookup":
            try:
                facts = await LookupHandler(self.db, self._require_executor(), zone=self.zone,
                                            db_timeout=self.db_timeout).handle(conn, env, route.params)
            except (ChannelError, AgiProtocolError):
                raise
            except Exception:
                log.exception("agi %s lookup failed", env.uniqueid)
                await self._fallback(conn, env, "lookup failed")
                return
            log.info("agi %s lookup: customer=%s queue=%s priority=%d outage=%s ok=%s", env.uniqueid,
                     facts.customer_id, facts.queue, facts.priority, bool(facts.outage_text), facts.ok)
        elif route.kind == "hangup":
            # A dead channel: nothing to hand back, so a failure here is only logged (by _serve).
            hangup, call_id = await HangupHandler(self.db, db_timeout=self.db_timeout).handle(conn, env)
            log.info("agi %s hangup: call=%s side=%s source=%r cause=%s", env.uniqueid, call_id,
                     hangup.side.value, hangup.source, hangup.cause)
        elif route.kind == "flow":
            await self._run_flow(conn, env, route)
        else:
            log.warning("agi %s: unknown script %r, fallback", env.uniqueid, env.script[:100])
            await self._fallback(conn, env, "unknown script")

    async def _run_flow(self, conn: AgiConnection, env: AgiEnvironment, route: Route) -> None:
        runner = self.flow_runner
        if runner is None or not runner.knows(route.name):
            log.warning("agi %s: no flow named %r, fallback", env.uniqueid, route.name)
            await self._fallback(conn, env, "unknown flow")
            return
        call_id = await self._open_call(env, route.name)
        channel = AgiChannel(conn, env, recording_dir=self.recording_dir, variables=route.params,
                             host_path=self.host_path)
        await self._record(call_id, channel)
        context = FlowContext(call_id=call_id, params=route.params, args=tuple(env.args),
                              dialplan=(env.get("agi_context"), env.get("agi_extension"), env.get("agi_priority")))
        try:
            result = await runner.run(route.name, channel, context)
            request = queue_request_of(result)
            if request is not None and not channel.released and not channel.hung_up:
                # AGI cannot bridge: app_queue takes the caller, through the dialplan.
                await self._queue_in_dialplan(env, channel, request)
        except (ChannelHungUp, ChannelGone):
            await self._close_call(call_id, channel)  # not when released: the call lives on in the dialplan
            raise
        except AgiProtocolError as exc:
            # The socket is unusable, but the call is not over: AGI() returns and the dialplan falls back.
            await self._note_fallback(call_id, f"AGI protocol error: {exc}")
            raise
        except Exception as exc:
            log.exception("agi %s flow %s failed, fallback", env.uniqueid, route.name)
            await self._note_fallback(call_id, f"flow {route.name} failed: {type(exc).__name__}: {exc}")
            if not channel.released:
                await self._fallback(conn, env, "flow failed")
            return
        if not channel.released and not channel.hung_up:
            try:
                await conn.execute("SET VARIABLE", CONTINUE_VARIABLE, "ok")
            except (ChannelHungUp, ChannelGone):
                pass  # noticed just now; recorded below
        if channel.hung_up:
            await self._close_call(call_id, channel)

    async def _queue_in_dialplan(self, env: AgiEnvironment, channel: AgiChannel,
                                 request: AgiQueueRequest) -> None:
        special_care, wait = await self._queue_facts(request)
        variables = queue_variables(request, special_care=special_care, wait_seconds=wait)
        if variables["HOTLINE_QUEUE"] != request.queue:
            log.warning("agi %s: queue name %r is not dialplan-safe; app_queue's fallback queue takes the call",
                        env.uniqueid, str(request.queue)[:80])
        await hand_to_app_queue(channel, variables)
        log.info("agi %s: call %s to app_queue via %s: queue=%s prio=%s", env.uniqueid, request.call_id,
                 QUEUE_CONTEXT, variables["HOTLINE_QUEUE"], variables["QUEUE_PRIO"])
        if self.db is None or request.call_id is None:
            return
        try:
            async with asyncio.timeout(self.db_timeout):
                timeline = Timeline(self.db)
                await timeline.update(request.call_id, state=CallState.QUEUED, queued_at=utcnow())
                await timeline.add_event(request.call_id, "agi_queue", {
                    "queue": variables["HOTLINE_QUEUE"], "priority": int(variables["QUEUE_PRIO"]),
                    "skill": variables["HOTLINE_SKILL"], "wait_seconds": wait, "context": QUEUE_CONTEXT})
        except Exception as exc:  # the caller is in the queue already; only the record is short
            log.warning("call %s: could not record the queue hand-off: %s: %s", request.call_id,
                        type(exc).__name__, exc)

    async def _queue_facts(self, request: AgiQueueRequest) -> tuple[bool, int | None]:
        """(special care, the queue's max wait): the same inputs the ACD uses; defaults without a database."""
        if self.db is None:
            return False, None
        customer_id = getattr(request, "customer_id", None)
        try:
            async with asyncio.timeout(self.db_timeout):
                async with self.db.session() as s:
                    wait = (await s.execute(select(Queue.max_wait_seconds).where(Queue.name == request.queue))
                            ).scalar_one_or_none()
                    care = customer_id is not None and bool((await s.execute(
                        select(Customer.special_care).where(Customer.id == customer_id))).scalar_one_or_none())
            return care, wait
        except Exception as exc:  # queue with the flow's priority and the dialplan's wait
            log.warning("call %s: queue facts unavailable: %s: %s", request.call_id, type(exc).__name__, exc)
            return False, None

    # --- helpers ----------------------------------------------------------------------------------------

    def _require_executor(self) -> concurrent.futures.Executor:
        if self._executor is None:
            raise RuntimeError("AGI server not started")
        return self._executor

    async def _fallback(self, conn: AgiConnection, env: AgiEnvironment, reason: str) -> None:
        """Best effort: tell the dialplan to take its fallback branch; never raises."""
        if not conn.usable:
            return
        try:
            async with asyncio.timeout(self.cleanup_timeout):
                await conn.execute("SET VARIABLE", CONTINUE_VARIABLE, "fallback")
        except (ChannelError, AgiProtocolError, TimeoutError) as exc:
            log.info("agi %s: could not set fallback (%s): %s", env.uniqueid, reason, exc)

    async def _record(self, call_id: int | None, channel: AgiChannel) -> None:
        """Both tracks from the start of the flow until the caller hangs up (also through app_queue and the
        agent). A failure here costs the recording, never the call."""
        if self.recordings is None or call_id is None or self.db is None:
            return
        started = dt.datetime.now(dt.timezone.utc)
        try:
            call = await Timeline(self.db).get(call_id)
            if call is None:
                return
            handle = await channel.start_call_recording(f"call-{call.uid}")
            on_host = RecordingHandle(handle.name, {d: str(self.host_path(p)) for d, p in handle.paths.items()})
            await self.recordings.register(call_id, on_host, started)
        except (ChannelHungUp, ChannelGone):
            return  # the flow's first command sees it too, and closes the row as for any hang-up
        except Exception as exc:  # noqa: BLE001
            log.warning("agi call %s: two-track recording did not start: %s: %s", call_id, type(exc).__name__, exc)

    async def _open_call(self, env: AgiEnvironment, flow: str) -> int | None:
        if self.db is None:
            return None
        try:
            async with asyncio.timeout(self.db_timeout):
                call, _ = await Timeline(self.db).open_call(channel_id=env.uniqueid, protocol="agi",
                                                            caller_number=env.caller_number,
                                                            caller_name=env.caller_name, dialed=env.dialed,
                                                            flow=flow)
            return call.id
        except Exception as exc:  # the flow decides what a dead database means for it; the call goes on
            log.warning("agi %s: could not open the call row: %s: %s", env.uniqueid, type(exc).__name__, exc)
            return None

    async def _note_fallback(self, call_id: int | None, reason: str) -> None:
        if self.db is None or call_id is None:
            return
        try:
            async with asyncio.timeout(self.db_timeout):
                timeline = Timeline(self.db)
                await timeline.update(call_id, outcome="fallback", fallback_reason=reason[:300])
                await timeline.add_event(call_id, "fallback", {"reason": reason[:300]})
        except Exception as exc:
            log.warning("call %s: could not record the fallback: %s: %s", call_id, type(exc).__name__, exc)

    async def _close_call(self, call_id: int | None, channel: AgiChannel) -> None:
        if self.db is None or call_id is None or channel.released:
            return
        side = HangupSide.SYSTEM if channel.hung_up_by_us else HangupSide.CALLER
        try:
            async with asyncio.timeout(self.db_timeout):
                await Timeline(self.db).close_call(call_id, side=side, cause=SESSION_HANGUP_CAUSE)
        except Exception as exc:
            log.warning("call %s: could not record the hang-up: %s: %s", call_id, type(exc).__name__, exc)


AGI_SERVER: web.AppKey[AgiServer] = web.AppKey("agi_server", AgiServer)
