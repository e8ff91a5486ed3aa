"""Where Asterisk comes from: the host's own (>= 20) or a Debian sid chroot we build and own.

Debian bookworm ships no Asterisk and sid's needs a newer glibc, so the sandbox is a `debootstrap
--variant=minbase sid` tree next to the project; the host stays untouched. Everything here is blocking
(debootstrap, apt, mount) and meant for sync code (the CLI, a session fixture) or `asyncio.to_thread`.

Every gotcha from the reference notes is applied here and not by hand: apt's Valid-Until check, no
recommends, no service starts (policy-rc.d), an /etc/hosts naming this host (res_pjsip resolves it at
load), a blank resolv.conf after apt (no DNS leaves the machine), /proc and /dev/pts mounted, /run/asterisk.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Literal

from ivr.settings import Settings

PACKAGES = ("asterisk", "asterisk-modules", "asterisk-core-sounds-en", "asterisk-core-sounds-en-gsm")
MIN_SYSTEM_MAJOR = 20
# Bump when the recipe below changes so existing trees are rebuilt instead of silently lacking a step.
RECIPE = "hotline-asterisk-sandbox v1: " + " ".join(PACKAGES)
MARKER = ".hotline-sandbox-complete"
SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
FALLBACK_MIRROR = "http://deb.debian.org/debian"


class SandboxError(Exception):
    """Asterisk cannot be provided; str() says what failed and, where useful, the tail of its output."""


@dataclass(frozen=True)
class Runtime:
    """An Asterisk we can run: `root` is its "/" on the host ("/" for the system one)."""

    kind: Literal["system", "sandbox"]
    root: Path
    version: str
    datadir: str = "/usr/share/asterisk"  # the packaged astdatadir (sounds, documentation, rest-api)

    def command(self, *args: str) -> list[str]:
        if self.kind == "system":
            return [shutil.which("asterisk") or "/usr/sbin/asterisk", *args]
        return ["chroot", str(self.root), "/usr/sbin/asterisk", *args]

    def host_path(self, ast_path: str | os.PathLike[str]) -> Path:
        """A path as Asterisk sees it -> the same file on the host."""
        p = Path(ast_path)
        if not p.is_absolute():
            raise ValueError(f"Asterisk path must be absolute: {p}")
        return self.root / p.relative_to("/") if self.kind == "sandbox" else p

    def asterisk_path(self, host_path: str | os.PathLike[str]) -> str:
        """A host path -> the path Asterisk sees; ValueError when the sandbox cannot see it at all."""
        p = Path(host_path).absolute()
        if self.kind == "system":
            return str(p)
        try:
            return "/" + str(p.relative_to(self.root))
        except ValueError:
            raise ValueError(f"{p} is outside the Asterisk sandbox {self.root}: Asterisk cannot read it; "
                             "put it below the instance's sounds or recordings dir") from None


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _run(cmd: list[str], *, what: str, env: dict[str, str] | None = None, timeout: float = 900) -> str:
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, errors="replace", env=env, timeout=timeout, check=False)
    except FileNotFoundError:
        raise SandboxError(f"{what}: {cmd[0]} is not installed") from None
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout if isinstance(exc.stdout, str) else ""
        raise SandboxError(f"{what}: no result after {timeout:.0f} s\n{_tail(out)}") from None
    if proc.returncode != 0:
        raise SandboxError(f"{what} failed (exit {proc.returncode}):\n{_tail(proc.stdout)}")
    return proc.stdout


def system_asterisk_version() -> str | None:
    """`asterisk -V` of the host's Asterisk, or None when there is none."""
    exe = shutil.which("asterisk") or ("/usr/sbin/asterisk" if Path("/usr/sbin/asterisk").exists() else None)
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "-V"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"Asterisk\s+(\S+)", out)
    return m.group(1) if m else None


def _system_datadir() -> str:
    try:
        text = Path("/etc/asterisk/asterisk.conf").read_text(errors="replace")
    except OSError:
        text = ""
    m = re.search(r"^\s*astdatadir\s*=>?\s*(\S+)", text, re.M)
    if m:
        return m.group(1)
    return "/usr/share/asterisk" if Path("/usr/share/asterisk/sounds").is_dir() else "/var/lib/asterisk"


def _major(version: str) -> int:
    m = re.match(r"(\d+)", version)
    return int(m.group(1)) if m else 0


def host_mirror() -> str:
    """The Debian mirror the host's apt uses (first non-security URI), as the reference setup does."""
    files: list[Path] = []
    for src in SOURCES:
        if src.is_dir():
            files += sorted(p for p in src.iterdir() if p.suffix in (".list", ".sources"))
        elif src.is_file():
            files.append(src)
    for f in files:
        try:
            text = f.read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            m = re.match(r"^\s*(?:URIs:|deb)\s+(?:\[[^\]]*\]\s+)?(https?://\S+)", line)
            if m and "security" not in m.group(1):
                return m.group(1)
    return FALLBACK_MIRROR


class Sandbox:
    """The sid chroot at `root` (absolute); build() is idempotent and safe against concurrent builders."""

    def __init__(self, root: Path, *, mirror: str = "") -> None:
        self.root = root.expanduser().absolute()
        self.mirror = mirror or host_mirror()
        self.lock_path = self.root.parent / (self.root.name + ".lock")
        self.build_log = self.root.parent / (self.root.name + ".build.log")

    @property
    def marker(self) -> Path:
        return self.root / MARKER

    def is_built(self) -> bool:
        try:
            return self.marker.read_text().strip() == RECIPE
        except OSError:
            return False

    @contextmanager
    def locked(self) -> Iterator[None]:
        self.root.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def ensure(self) -> Runtime:
        """Build the tree if it is missing or half-built, then make it runnable (mounts, hosts, dirs)."""
        if os.geteuid() != 0:
            raise SandboxError("the Asterisk sandbox needs root (debootstrap, chroot and mount); "
                               "run as root or install Asterisk >= 20 on the host and set asterisk.mode = \"system\"")
        with self.locked():
            if not self.is_built():
                self._build()
            self._prepare_runtime()
        return Runtime("sandbox", self.root, self._version())

    # --- building ---------------------------------------------------------------------------------------

    def _log(self, text: str) -> None:
        with open(self.build_log, "a", encoding="utf-8") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")

    def _step(self, what: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
        t0 = time.monotonic()
        self._log(f"$ {' '.join(cmd)}")
        try:
            out = _run(cmd, what=what, env=env)
        except SandboxError as exc:
            self._log(str(exc))
            raise SandboxError(f"building the Asterisk sandbox in {self.root}: {exc}\n"
                               f"(full log: {self.build_log})") from None
        self._log(out)
        self._log(f"# {what}: {time.monotonic() - t0:.1f} s")

    def _build(self) -> None:
        if self.root.exists():
            self._remove_tree()
        self.build_log.write_text(f"# building {self.root} from {self.mirror}\n", encoding="utf-8")
        self._step("debootstrap", ["debootstrap", "--variant=minbase", "sid", str(self.root), self.mirror])
        apt_conf = self.root / "etc/apt/apt.conf.d"
        # The mirror's sid Release file is older than this machine's clock: apt refuses it unless told.
        (apt_conf / "99hotline-no-check-valid-until").write_text('Acquire::Check-Valid-Until "false";\n')
        (apt_conf / "99hotline-no-recommends").write_text('APT::Install-Recommends "false";\n')
        policy = self.root / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\n# no service starts inside the hotline sandbox\nexit 101\n")
        policy.chmod(0o755)
        self._write_hosts()
        shutil.copyfile("/etc/resolv.conf", self.root / "etc/resolv.conf")  # only for apt; blanked below
        try:
            self._mount()
            chroot = ["chroot", str(self.root)]
            env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive", "LANG": "C"}
            self._step("apt-get update", [*chroot, "apt-get", "-q", "update"], env)
            self._step("apt-get install", [*chroot, "apt-get", "-q", "install", "-y", "--no-install-recommends",
                                           *PACKAGES], env)
            self._step("apt-get clean", [*chroot, "apt-get", "clean"], env)
        finally:
            self._blank_resolv()
        shutil.rmtree(self.root / "var/lib/apt/lists", ignore_errors=True)  # ~190 MB; apt-get update restores
        (self.root / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
        dist = self.root / "etc/asterisk"
        if dist.is_dir() and not (self.root / "etc/asterisk.dist").exists():
            # Packaged sample configs would be loaded by any instance that forgets a file: keep them aside.
            dist.rename(self.root / "etc/asterisk.dist")
        self.marker.write_text(RECIPE + "\n")
        self._log("# sandbox complete")

    def _remove_tree(self) -> None:
        self._unmount()
        # --one-file-system: never descend into a mount we failed to detach (the host's /proc, /dev/pts).
        _run(["rm", "-rf", "--one-file-system", str(self.root)], what=f"removing half-built {self.root}")

    # --- runtime ----------------------------------------------------------------------------------------

    def _mounts(self) -> list[tuple[Path, list[str]]]:
        return [
            (self.root / "proc", ["mount", "-t", "proc", "proc"]),
            (self.root / "dev/pts", ["mount", "-t", "devpts", "devpts", "-o", "newinstance,ptmxmode=0666"]),
        ]

    def _mount(self) -> None:
        for target, cmd in self._mounts():
            target.mkdir(parents=True, exist_ok=True)
            if not os.path.ismount(target):
                _run([*cmd, str(target)], what=f"mounting {target}")

    def _unmount(self) -> None:
        for target, _ in reversed(self._mounts()):
            if os.path.ismount(target):
                try:
                    _run(["umount", str(target)], what=f"unmounting {target}")
                except SandboxError:
                    _run(["umount", "-l", str(target)], what=f"lazily unmounting {target}")

    def _write_hosts(self) -> None:
        name = socket.gethostname()
        text = (f"127.0.0.1\tlocalhost {name}\n::1\tlocalhost ip6-localhost ip6-loopback {name}\n")
        hosts = self.root / "etc/hosts"
        if not hosts.exists() or hosts.read_text() != text:
            hosts.write_text(text)

    def _blank_resolv(self) -> None:
        resolv = self.root / "etc/resolv.conf"
        text = "# intentionally empty: the hotline Asterisk sandbox does no DNS\n"
        if resolv.is_symlink() or not resolv.exists() or resolv.read_text() != text:
            resolv.unlink(missing_ok=True)
            resolv.write_text(text)

    def _prepare_runtime(self) -> None:
        self._write_hosts()
        self._blank_resolv()
        self._mount()
        (self.root / "run/asterisk").mkdir(parents=True, exist_ok=True)

    def _version(self) -> str:
        out = _run(["chroot", str(self.root), "/usr/sbin/asterisk", "-V"], what="asterisk -V in the sandbox")
        m = re.search(r"Asterisk\s+(\S+)", out)
        return m.group(1) if m else out.strip()

    def unmount(self) -> None:
        """Detach /proc and /dev/pts (before deleting the tree); running instances must be stopped first."""
        with self.locked():
            self._unmount()

    def users(self) -> list[int]:
        """Pids of processes chrooted into this tree (any instance, ours or another checkout's)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if Path(os.readlink(entry / "root")) == self.root:
                    pids.append(int(entry.name))
            except OSError:  # gone meanwhile, or not ours to look at
                continue
        return pids

    def release(self) -> bool:
        """Detach the runtime mounts once nothing runs inside: a stopped hotline leaves no /proc mounted in
        the project tree (a later `rm -rf` of the checkout, or a CI cleaning up, must not meet one).
        False when an instance still runs there (its mounts stay). The next start mounts them again."""
        with self.locked():
            if self.users():
                return False
            self._unmount()
            return True


def release_runtime(runtime: Runtime) -> bool:
    """After the last instance stopped: detach the sandbox's mounts (nothing to do for a system Asterisk)."""
    return runtime.kind == "sandbox" and Sandbox(runtime.root).release()


def sandbox_for(settings: Settings) -> Sandbox:
    return Sandbox(Path(settings.asterisk.sandbox_dir).expanduser().absolute(), mirror=settings.asterisk.mirror)


def resolve_runtime(settings: Settings, *, build: bool = True) -> Runtime:
    """The Asterisk to run for these settings; builds the sandbox when needed and `build` allows it."""
    mode = settings.asterisk.mode
    if mode in ("auto", "system"):
        version = system_asterisk_version()
        if version is not None and _major(version) >= MIN_SYSTEM_MAJOR:
            return Runtime("system", Path("/"), version, _system_datadir())
        if mode == "system":
            found = f"found Asterisk {version}" if version else "no `asterisk` on this machine"
            raise SandboxError(f"asterisk.mode = \"system\" needs Asterisk >= {MIN_SYSTEM_MAJOR} installed "
                               f"({found}); use mode \"sandbox\" or \"auto\"")
    sandbox = sandbox_for(settings)
    if not build and not sandbox.is_built():
        raise SandboxError(f"the Asterisk sandbox {sandbox.root} is not built yet; run `hotline asterisk up`")
    return sandbox.ensure()
