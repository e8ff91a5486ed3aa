"""Where one Asterisk instance keeps its files, as Asterisk sees the paths (inside the chroot for the sandbox).

Pure: the config generator (config.py, dialplan.py) and the instance (instance.py) both read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

__all__ = ["Layout"]


@dataclass(frozen=True)
class Layout:
    """An instance's directories as Asterisk sees them (inside the chroot for the sandbox)."""

    name: str
    home: PurePosixPath

    @property
    def etc(self) -> PurePosixPath:
        return self.home / "etc"

    @property
    def run(self) -> PurePosixPath:
        return self.home / "run"

    @property
    def log(self) -> PurePosixPath:
        return self.home / "log"

    @property
    def spool(self) -> PurePosixPath:
        return self.home / "spool"

    @property
    def lib(self) -> PurePosixPath:
        return self.home / "lib"

    @property
    def cache(self) -> PurePosixPath:
        return self.home / "cache"

    @property
    def data(self) -> PurePosixPath:
        # astdatadir: symlinks to the packaged data dir, except sounds/, so each instance has its own
        # sounds/hotline (our prompts) next to the packaged languages.
        return self.home / "data"

    @property
    def sounds(self) -> PurePosixPath:
        """Asterisk's sounds dir for this instance: `sound:hotline/zh/gas/x` is <sounds>/hotline/zh/gas/x."""
        return self.data / "sounds"

    @property
    def prompts(self) -> PurePosixPath:
        return self.sounds / "hotline"

    @property
    def moh(self) -> PurePosixPath:
        return self.home / "moh"

    @property
    def recordings(self) -> PurePosixPath:
        # ARI's stored recordings live in <astspooldir>/recording; the fallback's messages go there too.
        return self.spool / "recording"

    @property
    def config_file(self) -> PurePosixPath:
        return self.etc / "asterisk.conf"

    def dirs(self) -> tuple[PurePosixPath, ...]:
        return (self.etc, self.run, self.log, self.spool, self.recordings, self.lib, self.cache, self.data,
                self.sounds, self.prompts, self.moh)
