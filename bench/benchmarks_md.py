"""Write one section of BENCHMARKS.md, between <!-- bench:NAME --> markers, with the machine and date.

Each bench script owns its section; running it again replaces only that section, so scripts (and helpers)
never overwrite each other's numbers.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FILE = REPO / "BENCHMARKS.md"
HEADER = "# Benchmarks\n\nNumbers from the scripts in bench/; each section says how to reproduce it.\n"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (f"{cpu}, {os.cpu_count()} cores{mem}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}")


def write_section(name: str, title: str, body: str, path: Path = FILE) -> None:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    block = (f"<!-- bench:{name} -->\n## {title}\n\nMachine: {machine()}  \nDate: {stamp}\n\n{body.strip()}\n"
             f"<!-- /bench:{name} -->")
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
