"""Personal data by role, over real HTTP: the screen pop only for the agents the call was offered to,
supervisors and admins; QA gets the QA view, masked; every read of a record, transcript or recording, allowed
or refused, is a row in the access log (who, when, what, why refused); HEAD and unservable ranges are not
plays."""

from __future__ import annotations

import datetime as dt
import wave
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import update

from ivr.db import Database
from ivr.db.models import Call, Offer, OfferResult, Recording, RecordingAccess, utcnow
from ivr.settings import Settings
from tests.acd.helpers import Seeded, seed
from tests.console.conftest import rich_call
from tests.security.console_helpers import access_rows, login, running, visitor

Row = tuple[int | None, str, int | None, int | None, bool, str]


def row(r: RecordingAccess) -> Row:
    return r.agent_pk, r.action, r.call_id, r.recording_id, r.allowed, r.refused_reason


async def offered_call(db: Database, seeded: Seeded) -> int:
    """A call of 张伟 (special care, ID number, address) answered by 1001 after 1003 missed it."""
    call_id = await rich_call(db, seeded)
    now = utcnow()
    async with db.begin() as s:
        await s.execute(update(Call).where(Call.id == call_id).values(agent_pk=seeded.agents["1001"]))
        for agent_id, result in (("1003", OfferResult.NO_ANSWER), ("1001", OfferResult.ANSWERED)):
            s.add(Offer(call_id=call_id, agent_pk=seeded.agents[agent_id], deadline_at=now + dt.timedelta(seconds=15),
                        result=result))
    return call_id


async def test_the_screen_pop_by_role_and_every_read_logged(db: Database, settings: Settings) -> None:
    seeded = await seed(db)
    call_id = await offered_call(db, seeded)
    pk = seeded.agents
    async with running(settings, db) as console:
        clients = {}
        async with visitor(console) as a1, visitor(console) as a2, visitor(console) as a3, \
                visitor(console) as qa, visitor(console) as boss, visitor(console) as admin, \
                visitor(console) as anonymous:
            for client, who in ((a1, "1001"), (a2, "1002"), (a3, "1003"), (qa, "2001"), (boss, "3001"),
                                (admin, "9001")):
                await login(client, who)
                clients[who] = client
            before = len(await access_rows(db))

            async def pop(who: str, call: int = call_id) -> tuple[int, dict[str, Any]]:
                r = await clients[who].get(f"/api/calls/{call}")
                return r.status, await r.json()

            status, body = await pop("1001")  # the agent on the call
            assert status == 200 and body["call"]["customer"]["name"] == "张伟"
            assert body["call"]["customer"]["address"] and body["call"]["customer"]["special_care_note"] == "独居老人"
            assert body["call"]["customer"]["id_number"] == "110***********1234"
            status, body = await pop("1003")  # offered, not answered: it popped on that screen too
            assert status == 200 and body["call"]["customer"]["name"] == "张伟"
            status, body = await pop("1002")  # never offered: the same answer as a call that does not exist
            assert status == 404 and "无权" in body["error"]
            status, body = await pop("1001", 999999)
            assert status == 404 and "无权" in body["error"]
            status, body = await pop("2001")  # QA: refused, pointed to the QA pages
            assert status == 403 and "质检" in body["error"] and "call" not in body
            status, body = await pop("2001", 999999)  # the same for calls that do not exist: no probing
            assert status == 403
            for who in ("3001", "9001"):
                status, body = await pop(who)
                assert status == 200 and body["call"]["customer"]["id_number"] == "110101194501011234"
            assert (await anonymous.get(f"/api/calls/{call_id}")).status == 401

        rows = (await access_rows(db))[before:]
    assert [row(r) for r in rows] == [
        (pk["1001"], "view_pop", call_id, None, True, ""),
        (pk["1003"], "view_pop", call_id, None, True, ""),
        (pk["1002"], "view_pop", call_id, None, False, "not offered to this agent"),
        (pk["1001"], "view_pop", None, None, False, "no call 999999"),
        (pk["2001"], "view_pop", call_id, None, False, "role qa may not read screen pops"),
        (pk["2001"], "view_pop", None, None, False, "role qa may not read screen pops"),
        (pk["3001"], "view_pop", call_id, None, True, ""),
        (pk["9001"], "view_pop", call_id, None, True, ""),
    ]
    assert all(r.at is not None and abs((utcnow() - r.at).total_seconds()) < 3600 for r in rows)


async def test_qa_gets_the_masked_qa_view_and_refusals_are_logged(db: Database, settings: Settings) -> None:
    seeded = await seed(db)
    call_id = await offered_call(db, seeded)
    pk = seeded.agents
    async with running(settings, db) as console, visitor(console) as qa, visitor(console) as a1, \
            visitor(console) as a2:
        for client, who in ((qa, "2001"), (a1, "1001"), (a2, "1002")):
            await login(client, who)
        before = len(await access_rows(db))
        r = await qa.get(f"/api/qa/calls/{call_id}")
        assert r.status == 200
        detail = await r.json()
        assert detail["masked"] is True and detail["call"]["caller_number"] == "138****8000"
        assert "13800138000" not in await r.text()
        assert (await a1.get(f"/api/qa/calls/{call_id}")).status == 200  # an agent's own call
        r = await a2.get(f"/api/qa/calls/{call_id}")
        assert r.status == 403
        assert (await qa.get("/api/qa/calls/999999")).status == 404
        assert (await a2.get(f"/qa/calls/{call_id}")).status == 403  # the page refuses and logs the same way
        rows = (await access_rows(db))[before:]
    assert [row(r) for r in rows] == [
        (pk["2001"], "view_transcript", call_id, None, True, ""),
        (pk["1001"], "view_transcript", call_id, None, True, ""),
        (pk["1002"], "view_transcript", call_id, None, False, f"call {call_id} is not this agent's"),
        (pk["2001"], "view_transcript", None, None, False, "no call 999999"),
        (pk["1002"], "view_transcript", call_id, None, False, f"call {call_id} is not this agent's"),
    ]


def write_wav(path: Path, seconds: float = 2.0) -> bytes:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(range(256)) * int(8000 * 2 * seconds / 256))
    return path.read_bytes()


async def test_audio_plays_and_seeks_are_logged_head_and_bad_ranges_are_not(db: Database, settings: Settings,
                                                                           tmp_path: Path) -> None:
    seeded = await seed(db)
    call_id = await offered_call(db, seeded)
    pk = seeded.agents
    audio = write_wav(tmp_path / "caller.wav")
    async with db.begin() as s:
        rec = Recording(call_id=call_id, direction="caller", path=str(tmp_path / "caller.wav"), size_bytes=len(audio))
        gone = Recording(call_id=call_id, direction="agent", path=str(tmp_path / "agent.wav"),
                         purged_at=utcnow() - dt.timedelta(days=1))
        s.add_all([rec, gone])
        await s.flush()
        rec_id, gone_id = rec.id, gone.id
    url = f"/qa/recordings/{rec_id}/audio"
    async with running(settings, db) as console, visitor(console) as qa, visitor(console) as a1, \
            visitor(console) as a2:
        for client, who in ((qa, "2001"), (a1, "1001"), (a2, "1002")):
            await login(client, who)
        before = len(await access_rows(db))

        async def get(client: aiohttp.ClientSession, rng: str | None = None, method: str = "GET",
                      path: str = url) -> tuple[int, bytes, aiohttp.ClientResponse]:
            r = await client.request(method, path, headers={"Range": rng} if rng else {})
            return r.status, await r.read(), r

        status, body, r = await get(qa)
        assert status == 200 and body == audio and r.headers["Content-Type"] == "audio/wav"
        status, body, r = await get(qa, "bytes=0-")  # what a player asks first
        assert status == 206 and body == audio
        status, body, r = await get(qa, "bytes=20000-")  # the listener jumps
        assert status == 206 and body == audio[20000:]
        assert r.headers["Content-Range"] == f"bytes 20000-{len(audio) - 1}/{len(audio)}"
        status, body, r = await get(qa, "bytes=100-199")
        assert status == 206 and body == audio[100:200]
        status, body, r = await get(qa, method="HEAD")  # the player probing: no audio sent, not a play
        assert status == 200 and body == b"" and int(r.headers["Content-Length"]) == len(audio)
        for bad in (f"bytes={len(audio) + 10}-", "bytes=abc", "bytes=5-1"):
            status, body, r = await get(qa, bad)
            assert status == 416 and body == b"", bad
        status, body, r = await get(a2)  # not 1002's call
        assert status == 403 and body != audio
        status, body, r = await get(a1)  # 1001's own call
        assert status == 200 and body == audio
        status, _, _ = await get(qa, path=f"/qa/recordings/{gone_id}/audio")
        assert status == 404
        status, _, _ = await get(qa, path="/qa/recordings/999999/audio")
        assert status == 404
        rows = (await access_rows(db))[before:]
    assert [row(r) for r in rows] == [
        (pk["2001"], "play", call_id, rec_id, True, ""),
        (pk["2001"], "play", call_id, rec_id, True, ""),
        (pk["2001"], "seek", call_id, rec_id, True, ""),
        (pk["2001"], "seek", call_id, rec_id, True, ""),
        (pk["1002"], "play", call_id, rec_id, False, "not the agent's own call"),
        (pk["1001"], "play", call_id, rec_id, True, ""),
        (pk["2001"], "play", call_id, gone_id, False, "purged"),
        (pk["2001"], "play", None, None, False, "no recording 999999"),
    ]
