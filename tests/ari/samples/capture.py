"""Re-capture asterisk22.jsonl: every event a real Asterisk 22 sent during a scripted session.

Not a test. Run against a running instance whose dialplan is ours (ivr/asterisk/config.py):
    .venv/bin/python tests/ari/samples/capture.py http://127.0.0.1:<port> <ari user> <ari password>
The unit tests parse and validate every line, so the parser is checked against Asterisk's real output.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from pathlib import Path
from typing import Any, Callable

import aiohttp
from websockets.asyncio.client import connect

OUT = Path(__file__).with_name("asterisk22.jsonl")


async def main(url: str, user: str, password: str) -> None:
    headers = {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
    events: list[dict[str, Any]] = []
    arrived = asyncio.Condition()
    lines: list[str] = []

    async def reader(ws: Any) -> None:
        async for raw in ws:
            lines.append(raw)
            async with arrived:
                events.append(json.loads(raw))
                arrived.notify_all()

    async def wait(pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        async def w() -> dict[str, Any]:
            async with arrived:
                while True:
                    for e in events:
                        if pred(e):
                            return e
                    await arrived.wait()
        return await asyncio.wait_for(w(), 20)

    async with aiohttp.ClientSession(headers=headers) as s:
        async def ari(method: str, path: str, **params: Any) -> Any:
            q = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}
            async with s.request(method, f"{url}/ari{path}", params=q) as r:
                text = await r.text()
                if r.status >= 300:
                    print(method, path, r.status, text)
                return json.loads(text) if text else None

        ws = await connect(url.replace("http", "ws", 1) + "/ari/events?app=hotline&subscribeAll=false",
                           additional_headers=headers, proxy=None)
        task = asyncio.create_task(reader(ws))
        start = lambda e: e["type"] == "StasisStart" and e["args"][:1] == ["inbound"]  # noqa: E731
        # A caller (;2 in Stasis) whose other half sends DTMF, then hangs up (remote hang-up).
        phone = await ari("POST", "/channels", endpoint="Local/inbound@hotline-test", context="hotline-test",
                          extension="dtmf-12#", callerId="Tester <13800000000>")
        caller = (await wait(start))["channel"]["id"]
        await ari("POST", "/applications/hotline/subscription", eventSource=f"channel:{caller}")
        await ari("POST", f"/channels/{caller}/answer")
        await ari("POST", f"/channels/{caller}/snoop/sample-snoop-in", spy="in", app="hotline",
                  appArgs=f"snoop,{caller},caller")
        await wait(lambda e: e["type"] == "StasisStart" and e["channel"]["id"] == "sample-snoop-in")
        await ari("POST", "/channels/sample-snoop-in/record", name="sample-caller", format="wav",
                  ifExists="overwrite")
        await ari("POST", f"/channels/{caller}/play/sample-pb-1", media="sound:hello-world,digits:12")
        await ari("POST", f"/channels/{caller}/play/sample-pb-2", media="sound:missing-sound-xyz")
        await wait(lambda e: e["type"] == "ChannelDtmfReceived" and e["digit"] == "#")
        await wait(lambda e: e["type"] == "PlaybackFinished" and e["playback"]["id"] == "sample-pb-2")
        await ari("POST", f"/channels/{caller}/hold")
        await ari("DELETE", f"/channels/{caller}/hold")
        # An agent leg originated into the app, bridged with the caller, then the agent hangs up.
        leg = await ari("POST", "/channels", endpoint="Local/wait@hotline-test", app="hotline",
                        appArgs="agent,sample-uid", channelId="sample-agent-leg")
        await wait(lambda e: e["type"] == "StasisStart" and e["channel"]["id"] == leg["id"])
        await ari("POST", "/bridges/sample-bridge", type="mixing")
        await ari("POST", "/bridges/sample-bridge/addChannel", channel=f"{caller},{leg['id']}")
        await wait(lambda e: e["type"] == "ChannelEnteredBridge" and e["channel"]["id"] == leg["id"])
        await ari("DELETE", f"/channels/{leg['id']}")
        await wait(lambda e: e["type"] == "ChannelLeftBridge" and e["channel"]["id"] == leg["id"])
        await ari("DELETE", "/bridges/sample-bridge")
        await ari("POST", "/recordings/live/sample-caller/stop")
        await wait(lambda e: e["type"] == "RecordingFinished")
        await ari("DELETE", f"/channels/{phone['id']}")
        await wait(lambda e: e["type"] == "ChannelDestroyed" and e["channel"]["id"] == caller)
        # A caller handed to the dialplan fallback, hanging up there.
        phone = await ari("POST", "/channels", endpoint="Local/inbound@hotline-test", context="hotline-test",
                          extension="wait")
        second = (await wait(lambda e: start(e) and e["channel"]["id"] != caller))["channel"]["id"]
        await ari("POST", "/applications/hotline/subscription", eventSource=f"channel:{second}")
        await ari("POST", f"/channels/{second}/variable", variable="HOTLINE_CONTINUE", value="fallback")
        await ari("POST", f"/channels/{second}/continue")
        await wait(lambda e: e["type"] == "StasisEnd" and e["channel"]["id"] == second)
        await ari("DELETE", f"/channels/{phone['id']}")
        await wait(lambda e: e["type"] == "ChannelDestroyed" and e["channel"]["id"] == second)
        # A second websocket for the same app replaces the first one.
        ws2 = await connect(url.replace("http", "ws", 1) + "/ari/events?app=hotline&subscribeAll=false",
                            additional_headers=headers, proxy=None)
        await wait(lambda e: e["type"] == "ApplicationReplaced")
        await ws2.close()
        task.cancel()
        await ws.close()
    OUT.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    print(f"{len(lines)} events -> {OUT}")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
