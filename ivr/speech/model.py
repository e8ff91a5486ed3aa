"""Loading a Vosk model the same way for menus (ivr/speech) and transcription (recordings): reproducibly."""

from __future__ import annotations

import hashlib
import shutil
import re
import tempfile
from pathlib import Path


def without_dither(model_dir: Path, cache_root: Path | None = None) -> Path:
    """A view of the model with MFCC dithering off, so the same audio always gives the same transcript.

    Kaldi adds random dither to every frame by default; with it, transcribing a call twice can give
    different words and so a different QA score. The view is a directory of symlinks to the model's files
    plus its own conf/mfcc.conf with --dither=0; the model itself is never modified. Models that already set
    dither explicitly are used as they are.
    """
    conf = model_dir / "conf" / "mfcc.conf"
    if not conf.is_file():
        return model_dir
    text = conf.read_text(encoding="utf-8")
    if re.search(r"^--dither\s*=", text, re.M):
        return model_dir
    root = cache_root or Path(tempfile.gettempdir())
    key = hashlib.sha256(f"{model_dir.resolve()}\n{text}".encode()).hexdigest()[:16]
    dest = root / f"hotline-vosk-{key}"
    if (dest / "conf" / "mfcc.conf").is_file():
        return dest
    build = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=root))
    for entry in model_dir.iterdir():
        if entry.name != "conf":
            (build / entry.name).symlink_to(entry.resolve())
    (build / "conf").mkdir()
    for entry in (model_dir / "conf").iterdir():
        if entry.name != "mfcc.conf":
            (build / "conf" / entry.name).symlink_to(entry.resolve())
    (build / "conf" / "mfcc.conf").write_text(text.rstrip("\n") + "\n--dither=0\n", encoding="utf-8")
    try:
        build.rename(dest)
    except OSError:  # another worker made it first: use theirs
        shutil.rmtree(build, ignore_errors=True)
    return dest
