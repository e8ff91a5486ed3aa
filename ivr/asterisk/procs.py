"""Is a pid still our running Asterisk? (/proc based; Linux only, like the rest of the provisioning.)"""

from __future__ import annotations

import os


def proc_alive(pid: int) -> bool:
    # A zombie has exited (its parent just has not reaped it), but a zombie *leader* with live threads is
    # still Asterisk shutting down and holding its sockets: so look at every thread, not the leader.
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", encoding="ascii", errors="replace") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in ("Z", "X"):
            return True
    return False


def proc_cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return [p.decode(errors="replace") for p in fh.read().split(b"\0") if p]
    except OSError:
        return []
