"""Asterisk's side of a FastAGI session, over a real TCP socket: the environment block, then one reply per
command, byte for byte as res_agi.c writes them. Tests script the conversation line by line."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

# What Asterisk 22 sends for AGI(agi://127.0.0.1:<port>/<script>) on a Local channel (res_agi.c setup_env).
ENV_TEMPLATE: dict[str, str] = {
    "agi_network": "yes",
    "agi_network_script": "lookup",
    "agi_request": "agi://127.0.0.1:4573/lookup",
    "agi_channel": "Local/gas@hotline-agi-00000001;2",
    "agi_language": "en",
    "agi_type": "Local",
    "agi_uniqueid": "1763900000.17",
    "agi_version": "22.5.2",
    "agi_callerid": "13800138000",
    "agi_calleridname": "张三",
    "agi_callingpres": "0",
    "agi_callingani2": "0",
    "agi_callington": "0",
    "agi_callingtns": "0",
    "agi_dnid": "95598",
    "agi_rdnis": "unknown",
    "agi_context": "hotline-agi",
    "agi_extension": "gas",
    "agi_priority": "3",
    "agi_enhanced": "0.0",
    "agi_accountcode": "",
    "agi_threadid": "140245191878336",
}


def env_block(script: str = "lookup", overrides: Mapping[str, str] | None = None, port: int = 4573) -> bytes:
    env = dict(ENV_TEMPLATE)
    env["agi_network_script"] = script
    env["agi_request"] = f"agi://127.0.0.1:{port}/{script}"
    env.update(overrides or {})
    return b"".join(f"{k}: {v}\n".encode() for k, v in env.items()) + b"\n"


def asterisk_parse_args(line: str) -> list[str]:
    """A line-for-line port of res_agi.c parse_args(): how Asterisk splits the command we send."""
    argv: list[str] = []
    cur: list[str] | None = None
    quoted = escaped = False
    whitespace = True
    for ch in line:
        if ch == '"' and not escaped:
            quoted = not quoted
            if quoted and whitespace:
                cur = []
                argv.append("")
                whitespace = False
            escaped = False
            continue
        if ch in " \t" and not quoted and not escaped:
            if cur is not None and not whitespace:
                argv[-1] = "".join(cur)
            whitespace = True
            continue
        if ch == "\\" and not escaped:
            escaped = True
            continue
        if whitespace:
            cur = []
            argv.append("")
            whitespace = False
        assert cur is not None
        cur.append(ch)
        escaped = False
        argv[-1] = "".join(cur)
    return argv


class FakeAsterisk:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.commands: list[str] = []

    @classmethod
    async def connect(cls, port: int) -> FakeAsterisk:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    @classmethod
    async def start(cls, port: int, script: str = "lookup", overrides: Mapping[str, str] | None = None
                    ) -> FakeAsterisk:
        fake = await cls.connect(port)
        await fake.send(env_block(script, overrides, port))
        return fake

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def command(self) -> str:
        """The next command line the server sent; AssertionError if it closed the connection instead."""
        line = await self.reader.readline()
        if not line.endswith(b"\n"):
            raise AssertionError(f"server closed the connection (partial {line!r}); commands: {self.commands}")
        text = line[:-1].decode()
        self.commands.append(text)
        return text

    async def reply(self, *lines: str | bytes) -> None:
        await self.send(b"".join((x if isinstance(x, bytes) else x.encode()) + b"\n" for x in lines))

    async def answer(self, *lines: str | bytes) -> str:
        cmd = await self.command()
        await self.reply(*lines or ("200 result=1",))
        return cmd

    async def answer_all(self, reply: str = "200 result=1") -> list[str]:
        """Reply `reply` to every command until the server closes; returns the commands."""
        got = []
        while True:
            line = await self.reader.readline()
            if not line:
                return got
            text = line.rstrip(b"\n").decode()
            self.commands.append(text)
            got.append(text)
            await self.reply(reply)

    async def wait_closed_by_server(self) -> bytes:
        """Everything the server still sent, once it closed its end (EOF).

        A server that closes with our unread bytes in its receive buffer makes the kernel send RST instead of
        FIN: Asterisk sees the same, and it ends AGI() the same way, so a reset counts as closed.
        """
        try:
            return await self.reader.read()
        except ConnectionResetError:
            return b""

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass
