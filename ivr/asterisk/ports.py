"""Free loopback ports for test instances, sipp and benches when several sessions share one machine.

Ports are picked at random from a range outside Linux's ephemeral range (32768-60999), so outgoing
connections do not take them, and checked by binding. Another process can still grab one between the check
and its use: callers that bind (Asterisk start, sipp) report "in use" clearly and may retry with new ports.
"""

from __future__ import annotations

import errno
import random
import socket
from typing import Literal

Kind = Literal["tcp", "udp"]


def port_free(port: int, kind: Kind, host: str = "127.0.0.1") -> bool:
    """Could a server bind host:port now? TCP as Asterisk binds it (SO_REUSEADDR: TIME_WAIT leftovers of an
    earlier run do not count); UDP strictly (pjsip and sipp do not share)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM) as s:
        if kind == "tcp":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


class PortAllocator:
    """Hands out ports not handed out before by this allocator and free right now."""

    def __init__(self, low: int = 20000, high: int = 32000, *, seed: int | None = None) -> None:
        if not 1024 <= low < high <= 65535:
            raise ValueError(f"bad port range {low}-{high}")
        self.low, self.high = low, high
        self._rng = random.Random(seed)
        self._claimed: set[int] = set()

    def _candidates(self, step: int = 1) -> list[int]:
        ports = list(range(self.low, self.high, step))
        self._rng.shuffle(ports)
        return ports

    def port(self, kind: Kind = "udp") -> int:
        for p in self._candidates():
            # SIP over UDP and RTP pairs: keep both protocols free so the port serves either.
            if p not in self._claimed and port_free(p, kind) and port_free(p, "udp" if kind == "tcp" else "tcp"):
                self._claimed.add(p)
                return p
        raise RuntimeError(f"no free {kind} port in {self.low}-{self.high}")

    def udp(self) -> int:
        return self.port("udp")

    def tcp(self) -> int:
        return self.port("tcp")

    def block(self, size: int) -> tuple[int, int]:
        """An even-aligned range of `size` ports (RTP: Asterisk skips busy ones inside its range)."""
        for start in self._candidates(step=size):
            if start % 2:
                start += 1
            block = range(start, start + size)
            if block[-1] >= self.high or any(p in self._claimed for p in block):
                continue
            if port_free(start, "udp") and port_free(start + size - 2, "udp"):
                self._claimed.update(block)
                return start, start + size - 1
        raise RuntimeError(f"no free block of {size} ports in {self.low}-{self.high}")
