"""WebSocket fan-out: a snapshot on connect, then numbered deltas; one bounded queue and sender per client.

Publishing never waits for a browser. Each client has its own asyncio.Queue (settings.console.ws_queue_size)
drained by its own sender task; a client whose queue overflows is disconnected (close code 4008) and resyncs
on reconnect. Every delta carries a global sequence number; a reconnecting client sends the last one it saw
and gets what it missed from a bounded history, or a fresh snapshot if the history no longer reaches back.

Each client belongs to a console session (its id): when the session ends (logout, a disabled account, a
changed role or password, the idle timeout) end_sessions() stops its deliveries at once and closes it with
code 4401; the page then finds itself logged out and goes to the login form.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping

from aiohttp import WSCloseCode, web

log = logging.getLogger(__name__)

CLOSE_TOO_SLOW = 4008
CLOSE_SHUTDOWN = 4001
CLOSE_SESSION_ENDED = 4401

# An audience names who may receive a message: ("agent", pk) for one agent's screens, ("wall",) for
# supervisor screens. A client subscribes to a set of audiences decided by its role.
Audience = tuple[Any, ...]
WALL: Audience = ("wall",)


def agent_audience(agent_pk: int) -> Audience:
    return ("agent", agent_pk)


@dataclass(eq=False)
class Client:
    ws: web.WebSocketResponse
    audiences: frozenset[Audience]
    queue: asyncio.Queue[str]
    agent_pk: int
    sid: str = ""
    sender: asyncio.Task[None] | None = None
    dropped: bool = False
    ended: str = ""  # why its session ended ("" while it lasts)
    sent: int = 0
    closing: asyncio.Event = field(default_factory=asyncio.Event)


Snapshot = Callable[[], Awaitable[dict[str, Any]]]


class Hub:
    def __init__(self, queue_size: int, history: int = 2000) -> None:
        self.queue_size = queue_size
        self.seq = 0
        self._history: collections.deque[tuple[int, Audience, str]] = collections.deque(maxlen=history)
        self._clients: set[Client] = set()
        self.overflows = 0
        # Sessions ended lately: a socket of one that was still upgrading when it ended is closed at once.
        self._ended: collections.OrderedDict[str, str] = collections.OrderedDict()

    @property
    def clients(self) -> int:
        return len(self._clients)

    def publish(self, audience: Audience, message: dict[str, Any]) -> int:
        """Number the message, keep it for resumes, queue it for every client of the audience. Never blocks."""
        self.seq += 1
        text = json.dumps({**message, "seq": self.seq}, ensure_ascii=False, separators=(",", ":"), default=str)
        self._history.append((self.seq, audience, text))
        for client in list(self._clients):
            if audience in client.audiences:
                self._offer(client, text)
        return self.seq

    def session_ids(self) -> set[str]:
        """The sessions that have a socket open now."""
        return {c.sid for c in self._clients if c.sid and not c.ended}

    def end_sessions(self, ended: Mapping[str, str]) -> int:
        """Close every socket of these sessions (sid -> reason); nothing more is delivered to them from now on,
        not even what is already queued. Returns how many sockets were closed."""
        for sid, reason in ended.items():
            self._ended[sid] = reason or "ended"
            self._ended.move_to_end(sid)
        while len(self._ended) > 10_000:
            self._ended.popitem(last=False)
        n = 0
        for client in list(self._clients):
            if client.sid and client.sid in ended and not client.ended:
                self._end(client, self._ended[client.sid])
                n += 1
        return n

    @staticmethod
    def _end(client: Client, reason: str) -> None:
        client.ended = reason
        while not client.queue.empty():
            client.queue.get_nowait()
        client.closing.set()

    def _offer(self, client: Client, text: str) -> None:
        if client.dropped or client.ended:
            return
        try:
            client.queue.put_nowait(text)
        except asyncio.QueueFull:
            # A browser that cannot keep up is cut off rather than slowing everyone; it resyncs on reconnect.
            client.dropped = True
            self.overflows += 1
            client.closing.set()

    def missed(self, since: int, audiences: frozenset[Audience]) -> list[str] | None:
        """Messages after `since` for these audiences, or None when the history does not reach back."""
        if since > self.seq:
            return None  # a sequence from before a restart of the service
        if since == self.seq:
            return []
        if not self._history or self._history[0][0] > since + 1:
            return None
        return [text for seq, aud, text in self._history if seq > since and aud in audiences]

    async def serve(self, request: web.Request, *, audiences: frozenset[Audience], agent_pk: int,
                    snapshot: Snapshot, since: int | None, sid: str = "",
                    on_message: Callable[[dict[str, Any]], Awaitable[None]] | None = None
                    ) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=64 * 1024)
        await ws.prepare(request)
        client = Client(ws=ws, audiences=audiences, queue=asyncio.Queue(self.queue_size), agent_pk=agent_pk,
                        sid=sid)
        # Registered before the snapshot is built: whatever happens meanwhile is queued behind it, and the
        # browser drops deltas whose seq it has already seen.
        self._clients.add(client)
        if sid and sid in self._ended:
            self._end(client, self._ended[sid])
        try:
            replay = self.missed(since, audiences) if since is not None else None
            if client.ended:
                pass  # ended while connecting: nothing is sent
            elif replay is None:
                # Numbered before it is built: deltas published while it is built are re-applied after it.
                at_seq = self.seq
                snap = await snapshot()
                if not client.ended:
                    await ws.send_str(json.dumps({"type": "snapshot", "seq": at_seq, **snap}, ensure_ascii=False,
                                                 default=str))
            else:
                await ws.send_str(json.dumps({"type": "resumed", "seq": self.seq, "replayed": len(replay)}))
                for text in replay:
                    await ws.send_str(text)
            client.sender = asyncio.create_task(self._send_loop(client), name=f"ws-sender-{agent_pk}")
            reader = asyncio.create_task(self._read_loop(client, on_message), name=f"ws-reader-{agent_pk}")
            closing = asyncio.create_task(client.closing.wait())
            done, _ = await asyncio.wait({client.sender, reader, closing}, return_when=asyncio.FIRST_COMPLETED)
            for t in (client.sender, reader, closing):
                t.cancel()
            await asyncio.gather(client.sender, reader, closing, return_exceptions=True)
            if client.ended:
                await ws.close(code=CLOSE_SESSION_ENDED, message=f"session ended: {client.ended}".encode()[:120])
            elif client.dropped:
                await ws.close(code=CLOSE_TOO_SLOW, message=b"too slow; reconnect to resync")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._clients.discard(client)
            if not ws.closed:
                await ws.close(code=CLOSE_TOO_SLOW if client.dropped else WSCloseCode.GOING_AWAY)
        return ws

    async def _send_loop(self, client: Client) -> None:
        while True:
            text = await client.queue.get()
            await client.ws.send_str(text)
            client.sent += 1

    async def _read_loop(self, client: Client,
                         on_message: Callable[[dict[str, Any]], Awaitable[None]] | None) -> None:
        async for msg in client.ws:
            if msg.type != web.WSMsgType.TEXT:
                continue
            try:
                data = json.loads(msg.data)
            except ValueError:
                continue
            if isinstance(data, dict) and data.get("type") == "ping":
                await client.ws.send_str(json.dumps({"type": "pong", "t": data.get("t"), "seq": self.seq}))
            elif on_message is not None and isinstance(data, dict):
                await on_message(data)

    async def close_all(self) -> None:
        for client in list(self._clients):
            client.closing.set()
            try:
                await client.ws.close(code=CLOSE_SHUTDOWN, message=b"server shutting down")
            except ConnectionResetError:
                pass
