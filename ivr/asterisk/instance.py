"""One running Asterisk: its own name, config dir, run/log/spool/lib dirs and ports, from one shared tree.

Several instances run at once from the same sandbox (developers' and CI's pytest sessions on one machine),
so nothing here is global: `asterisk -C <home>/etc/asterisk.conf` points every directory at the instance's
home, ports come from its Settings, and its identity is checked through ARI (entity id) so we never mistake
another instance on a recycled port for ours.

Blocking by design (subprocess, polling); call from sync code or through the `a*` wrappers.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Sequence

from ivr.asterisk.config import NAME_RE, AgentPhone, Layout, QueueSpec, SipTimers, ari_port, entity_id, generate
from ivr.asterisk.media import hold_tune_wav
from ivr.asterisk.ports import port_free
from ivr.asterisk.procs import proc_alive, proc_cmdline
from ivr.asterisk.sandbox import Runtime
from ivr.settings import Settings

SANDBOX_HOMES = PurePosixPath("/var/lib/hotline/instances")
PID_FILE = "hotline.pid"
# A reload does not apply these (directories, loaded modules, HTTP bind, RTP range): restart instead.
RESTART_FILES = frozenset({"asterisk.conf", "modules.conf", "http.conf", "rtp.conf", "logger.conf"})
CONSOLE_LOG = "console.log"


class AsteriskError(Exception):
    """Asterisk could not be started, stopped or asked something; str() carries the log tail."""


@dataclass(frozen=True)
class Status:
    name: str
    running: bool
    pid: int | None
    ari_ok: bool
    ari_url: str
    sip: str
    detail: str = ""


def layout_for(runtime: Runtime, settings: Settings, name: str) -> Layout:
    if runtime.kind == "sandbox":
        return Layout(name, SANDBOX_HOMES / name)
    # The host's own Asterisk: homes next to where the sandbox would live (writable by the project user).
    base = Path(settings.asterisk.sandbox_dir).expanduser().absolute().parent / "asterisk-instances"
    return Layout(name, PurePosixPath(base / name))


def list_instances(runtime: Runtime, settings: Settings) -> list[str]:
    """Names of the instances that have a home (running or not) for this runtime."""
    base = runtime.host_path(layout_for(runtime, settings, "x").home.parent)
    try:
        return sorted(p.name for p in base.iterdir() if (p / "etc" / "asterisk.conf").exists())
    except OSError:
        return []


class AsteriskInstance:
    def __init__(self, runtime: Runtime, settings: Settings, *, name: str | None = None,
                 agents: Sequence[AgentPhone] = (), queues: Sequence[QueueSpec] = (),
                 sip_timers: SipTimers | None = None) -> None:
        self.runtime = runtime
        self.settings = settings
        self.name = name or settings.asterisk.instance
        if not NAME_RE.match(self.name):
            # The name becomes a path, Asterisk's systemname and so part of every UNIQUEID the dialplan uses.
            raise AsteriskError(f"instance name {self.name!r}: use letters, digits, '-', '_', '.'")
        self.agents: tuple[AgentPhone, ...] = tuple(agents)
        self.queues: tuple[QueueSpec, ...] = tuple(queues)  # the database's; generate() makes app_queue queues
        self.sip_timers = sip_timers  # None: pjsip's defaults (only test instances shorten them)
        self.layout = layout_for(runtime, settings, self.name)

    # --- what others need to know ------------------------------------------------------------------------

    @property
    def ari_url(self) -> str:
        return self.settings.asterisk.ari_url

    @property
    def ari_user(self) -> str:
        return self.settings.asterisk.ari_user

    @property
    def ari_password(self) -> str:
        return self.settings.asterisk.ari_password

    @property
    def app(self) -> str:
        return self.settings.asterisk.app

    @property
    def ari_port(self) -> int:
        return ari_port(self.settings)

    @property
    def sip_host(self) -> str:
        return self.settings.asterisk.sip_host

    @property
    def sip_port(self) -> int:
        return self.settings.asterisk.sip_port

    @property
    def inbound_extension(self) -> str:
        return self.settings.asterisk.inbound_extension

    @property
    def entity_id(self) -> str:
        return entity_id(self.name)

    def host_path(self, ast_path: str | os.PathLike[str]) -> Path:
        """A path as this Asterisk sees it (e.g. a recording's) -> the same file on the host."""
        return self.runtime.host_path(ast_path)

    @property
    def home_host(self) -> Path:
        return self.host_path(self.layout.home)

    @property
    def recordings_dir(self) -> PurePosixPath:
        """Where ARI recordings (name only, no dir) and the fallback messages land, as Asterisk sees it."""
        return self.layout.recordings

    @property
    def recordings_dir_host(self) -> Path:
        return self.host_path(self.layout.recordings)

    @property
    def sounds_dir(self) -> PurePosixPath:
        """This instance's Asterisk sounds dir: `sound:hotline/zh/gas/welcome` plays
        <sounds_dir>/hotline/zh/gas/welcome.wav (packaged languages are linked in next to `hotline`)."""
        return self.layout.sounds

    @property
    def sounds_dir_host(self) -> Path:
        """Where to write prompts so this Asterisk plays them (`hotline prompts build --out` this dir)."""
        return self.host_path(self.layout.sounds)

    def asterisk_path(self, host_path: str | os.PathLike[str]) -> str:
        """A host path -> the path this Asterisk sees (ValueError if the sandbox cannot see it)."""
        return self.runtime.asterisk_path(host_path)

    @property
    def log_file_host(self) -> Path:
        return self.host_path(self.layout.log / "messages.log")

    @property
    def console_log_host(self) -> Path:
        return self.host_path(self.layout.log / CONSOLE_LOG)

    @property
    def pid_file_host(self) -> Path:
        return self.host_path(self.layout.run / PID_FILE)

    def agent_port(self, endpoint: str) -> int:
        """The UDP port of an agent's static contact (where a test UAS must listen to be that phone)."""
        for ag in self.agents:
            if ag.endpoint == endpoint and ag.contact:
                return int(ag.contact.rsplit(":", 1)[1])
        raise KeyError(f"{endpoint} has no static contact in instance {self.name}")

    # --- config -------------------------------------------------------------------------------------------

    def config_files(self) -> dict[str, str]:
        return generate(self.settings, self.agents, self.layout, queues=self.queues, sip_timers=self.sip_timers)

    def write_config(self) -> set[str]:
        """Create the instance's dirs and (re)write its config; returns the names of the changed files."""
        for d in self.layout.dirs():
            self.host_path(d).mkdir(parents=True, exist_ok=True)
        etc = self.host_path(self.layout.etc)
        files = self.config_files()
        changed: set[str] = set()
        for name, text in files.items():
            path = etc / name
            if path.exists() and path.read_text(encoding="utf-8") == text:
                continue
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
            changed.add(name)
        for stale in etc.glob("*.conf"):
            if stale.name not in files:  # a file from an older generator would still be loaded
                stale.unlink()
                changed.add(stale.name)
        moh = self.host_path(self.layout.moh)
        if not any(moh.iterdir()):
            (moh / "hotline-hold.wav").write_bytes(hold_tune_wav())
        self._link_data_dir()
        return changed

    def _link_data_dir(self) -> None:
        """astdatadir = links to the packaged one (as Asterisk sees paths), but sounds/hotline is ours."""
        packaged = PurePosixPath(self.runtime.datadir)
        for src_dir, dst_dir, skip in ((packaged, self.layout.data, "sounds"),
                                       (packaged / "sounds", self.layout.sounds, "hotline")):
            dst_host = self.host_path(dst_dir)
            try:
                entries = sorted(os.listdir(self.host_path(src_dir)))
            except OSError:
                entries = []
            for entry in entries:
                if entry == skip:
                    continue
                link = dst_host / entry
                target = str(src_dir / entry)
                if link.is_symlink() and os.readlink(link) == target:
                    continue
                if link.is_symlink():
                    link.unlink()
                elif link.exists():
                    continue  # a real file or dir someone put there on purpose
                link.symlink_to(target)

    def install_sounds(self, src: Path) -> int:
        """Copy a prompt tree (a dir holding `hotline/`, as `hotline prompts build` writes it) into this
        instance; returns how many files were new or changed."""
        src_prompts = src / "hotline"
        if not src_prompts.is_dir():
            raise AsteriskError(f"{src} has no hotline/ prompt tree (run `hotline prompts build` first)")
        dst_root = self.host_path(self.layout.prompts)
        copied = 0
        for path in sorted(src_prompts.rglob("*")):
            if not path.is_file() or ".tmp." in path.name or ".espeak." in path.name or path.suffix == ".part":
                continue
            dst = dst_root / path.relative_to(src_prompts)
            data = path.read_bytes()
            if dst.exists() and dst.read_bytes() == data:
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_name(dst.name + ".part")
            tmp.write_bytes(data)
            tmp.replace(dst)  # a call playing it meanwhile gets the old or the new file, never half of one
            copied += 1
        return copied

    # --- process -------------------------------------------------------------------------------------------

    def pid(self) -> int | None:
        """The pid of this instance's Asterisk if it is running (and really is ours), else None."""
        try:
            pid = int(self.pid_file_host.read_text().strip())
        except (OSError, ValueError):
            return None
        if not proc_alive(pid):
            return None
        cmd = proc_cmdline(pid)
        if not any(c.endswith("asterisk") for c in cmd) or str(self.layout.config_file) not in cmd:
            return None  # stale pid file and a recycled pid: never signal someone else's process
        return pid

    def is_running(self) -> bool:
        return self.pid() is not None

    def log_tail(self, lines: int = 30) -> str:
        """The end of the console output plus the last errors/warnings: what an operator needs to see."""
        out: list[str] = []
        try:
            console = self.console_log_host.read_text(encoding="utf-8", errors="replace").rstrip().splitlines()
        except OSError:
            console = []
        if console:
            out.append(f"--- {self.console_log_host} (last {min(lines, len(console))} lines)")
            out += console[-lines:]
        try:
            messages = self.log_file_host.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            messages = []
        problems = [m for m in messages if (" ERROR[" in m or " WARNING[" in m) and "declined to load" not in m]
        if problems:
            out.append(f"--- errors and warnings in {self.log_file_host} (last {min(10, len(problems))})")
            out += problems[-10:]
        return "\n".join(out) if out else "(no Asterisk log written)"

    def _ari_info(self, timeout: float = 1.0) -> tuple[int, dict[str, object] | None]:
        token = base64.b64encode(f"{self.ari_user}:{self.ari_password}".encode()).decode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.ari_port}/ari/asterisk/info",
                                     headers={"Authorization": f"Basic {token}"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read().decode())
        except urllib.error.HTTPError as exc:
            exc.close()
            return exc.code, None
        except (OSError, ValueError):
            return 0, None

    def ari_ok(self) -> bool:
        status, info = self._ari_info()
        if status != 200 or not isinstance(info, dict):
            return False
        system = info.get("system")
        return isinstance(system, dict) and system.get("entity_id") == self.entity_id

    def _check_ports_free(self) -> None:
        if not port_free(self.ari_port, "tcp"):
            raise AsteriskError(f"cannot start Asterisk instance {self.name}: ARI/HTTP port 127.0.0.1:"
                                f"{self.ari_port} is already in use (another Asterisk or program); "
                                "change asterisk.ari_url")
        if not port_free(self.sip_port, "udp", self.sip_host):
            raise AsteriskError(f"cannot start Asterisk instance {self.name}: SIP port {self.sip_host}:"
                                f"{self.sip_port}/udp is already in use; change asterisk.sip_port")

    def start(self, timeout: float = 30.0) -> None:
        """Write config, launch `asterisk -f` detached, wait for ARI; AsteriskError with the log tail if not."""
        if self.is_running():
            raise AsteriskError(f"Asterisk instance {self.name} is already running (pid {self.pid()})")
        ctl = str(self.host_path(self.layout.run / "asterisk.ctl"))
        if len(str(self.layout.run / "asterisk.ctl")) > 100 or len(ctl) > 107:
            raise AsteriskError(f"instance home {self.layout.home} is too deep: the control socket path "
                                "would pass the 108-byte UNIX socket limit; use a shorter sandbox_dir")
        self.write_config()
        self._check_ports_free()
        console = self.console_log_host
        with open(console, "a", encoding="utf-8") as fh:
            fh.write(f"\n=== hotline: starting instance {self.name} at {time.strftime('%F %T')}\n")
        booted_from = console.stat().st_size  # this start's console output begins here
        cmd = ["setsid", *self.runtime.command("-C", str(self.layout.config_file), "-f", "-g", "-n")]
        # sh backgrounds it and exits: Asterisk is re-parented (no zombie here, no Popen left to warn about).
        script = f"{shlex.join(cmd)} </dev/null >>{shlex.quote(str(console))} 2>&1 & echo $!"
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root"}
        out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env, timeout=30,
                             check=False)
        try:
            pid = int(out.stdout.strip())
        except ValueError:
            raise AsteriskError(f"cannot launch Asterisk: {out.stderr.strip() or out.stdout.strip()}") from None
        self.pid_file_host.write_text(f"{pid}\n")
        try:
            self._await_ready(pid, timeout, booted_from)
        except BaseException:
            self._kill(pid)  # never leave a half-started Asterisk holding the ports
            raise

    def _booted(self, console_offset: int) -> bool:
        """Has this start printed "Asterisk Ready" (every module loaded, HTTP bound if enabled)?"""
        try:
            with open(self.console_log_host, "rb") as fh:
                fh.seek(console_offset)
                return b"Asterisk Ready" in fh.read()
        except OSError:
            return False

    def _ari_refused(self) -> bool:
        # The kernel refuses, however busy the machine: nothing listens, and after boot nothing will.
        try:
            with socket.create_connection(("127.0.0.1", self.ari_port), timeout=5):
                return False
        except ConnectionRefusedError:
            return True
        except OSError:
            return False

    def _await_ready(self, pid: int, timeout: float, console_offset: int = 0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not proc_alive(pid):
                raise AsteriskError(f"Asterisk instance {self.name} exited during start-up\n{self.log_tail()}")
            if self.ari_ok():
                break
            if self._booted(console_offset) and self._ari_refused():
                raise AsteriskError(f"Asterisk instance {self.name} did not answer ARI on {self.ari_url}: it "
                                    "finished booting but nothing listens there (HTTP disabled in http.conf, or "
                                    f"another bind address?); stopped it\n{self.log_tail()}")
            if time.monotonic() > deadline:
                status, _ = self._ari_info()
                raise AsteriskError(f"Asterisk instance {self.name} did not answer ARI on {self.ari_url} "
                                    f"within {timeout:.0f} s (last HTTP status {status or 'none'}); "
                                    f"stopped it\n{self.log_tail()}")
            time.sleep(0.1)
        self.rtx("core waitfullybooted", timeout=max(5.0, deadline - time.monotonic()))
        if port_free(self.sip_port, "udp", self.sip_host):
            raise AsteriskError(f"Asterisk instance {self.name} started but its SIP transport did not bind "
                                f"{self.sip_host}:{self.sip_port}/udp; stopped it\n{self.log_tail()}")

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop gracefully (`core stop now`), else SIGTERM, else SIGKILL; False if it was not running."""
        pid = self.pid()
        if pid is None:
            self.pid_file_host.unlink(missing_ok=True)
            return False
        try:
            self.rtx("core stop now", timeout=timeout)
        except AsteriskError:
            pass
        if not self._wait_gone(pid, timeout):
            self._kill(pid)
        self.pid_file_host.unlink(missing_ok=True)
        return True

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while proc_alive(pid):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def _kill(self, pid: int) -> None:
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            if self._wait_gone(pid, wait):
                return

    def restart(self, timeout: float = 30.0) -> None:
        self.stop()
        self.start(timeout)

    def ensure_running(self, timeout: float = 30.0) -> str:
        """`hotline asterisk up`: start, or apply a config change (reload or restart); says what it did."""
        if not self.is_running():
            self.start(timeout)
            return "started"
        if not self.ari_ok():
            self.write_config()
            self.restart(timeout)
            return "restarted (ARI was not answering)"
        return self.apply_config(timeout)

    def apply_config(self, timeout: float = 30.0) -> str:
        """Write the config; a running instance reloads it, or restarts when a reload cannot apply it."""
        before = self._restart_relevant()
        changed = self.write_config()
        if not self.is_running():
            return "config written (instance not running)"
        if not changed:
            return "already running, config unchanged"
        if changed & RESTART_FILES or self._restart_relevant() != before:
            self.restart(timeout)
            return f"restarted ({', '.join(sorted(changed))} changed)"
        self.rtx("core reload")
        return f"reloaded ({', '.join(sorted(changed))} changed)"

    def _restart_relevant(self) -> str:
        # pjsip cannot rebind a transport on reload: a changed [transport-udp] needs a restart.
        try:
            text = (self.host_path(self.layout.etc) / "pjsip.conf").read_text(encoding="utf-8")
        except OSError:
            return ""
        m = re.search(r"^\[transport-udp\]\n(?:[^\[\n].*\n|\n)*", text, re.M)
        return m.group(0) if m else ""

    def status(self) -> Status:
        pid = self.pid()
        ari = pid is not None and self.ari_ok()
        detail = "" if pid is None or ari else "process alive but ARI does not answer as this instance"
        return Status(self.name, pid is not None, pid, ari, self.ari_url, f"{self.sip_host}:{self.sip_port}/udp",
                      detail)

    def remove(self) -> None:
        """Delete the instance's home (config, logs, recordings); it must be stopped."""
        if self.is_running():
            raise AsteriskError(f"instance {self.name} is running; stop it first")
        subprocess.run(["rm", "-rf", "--one-file-system", str(self.home_host)], check=False)

    # --- CLI access -----------------------------------------------------------------------------------------

    def rtx(self, command: str, timeout: float = 15.0) -> str:
        """Run one CLI command in this instance (`asterisk -rx`) and return its output."""
        cmd = self.runtime.command("-C", str(self.layout.config_file), "-rx", command)
        try:
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  errors="replace", timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise AsteriskError(f"asterisk -rx {command!r} gave no answer within {timeout:.0f} s") from None
        if proc.returncode != 0:
            raise AsteriskError(f"asterisk -rx {command!r} failed (exit {proc.returncode}): "
                                f"{(proc.stderr or proc.stdout).strip()}")
        return proc.stdout

    async def arx(self, command: str, timeout: float = 15.0) -> str:
        return await asyncio.to_thread(self.rtx, command, timeout)

    async def astart(self, timeout: float = 30.0) -> None:
        await asyncio.to_thread(self.start, timeout)

    async def astop(self, timeout: float = 10.0) -> bool:
        return await asyncio.to_thread(self.stop, timeout)
