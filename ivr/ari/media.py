"""Channel-interface media URIs -> ARI media URIs, checked before anything reaches Asterisk.

Flows speak in "sound:x", "recording:x", "digits:123", "number:42" and "file:/abs/path.wav". ARI plays the
first four natively (sound/digits/number/characters/tone are Asterisk's say-family URIs); a file is played as
`sound:<path without extension>` because Asterisk chooses the format itself. The path is translated to what
Asterisk sees (a chroot sandbox sees a different "/") by an injected mapper.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Callable, Iterable

PathMapper = Callable[[str], str]
NATIVE = ("sound", "recording", "digits", "number", "characters", "tone")


class MediaError(ValueError):
    """A media URI the channel cannot play; str() names the URI and the problem."""


def _identity(path: str) -> str:
    return path


def to_ari_media(uri: str, *, asterisk_path: PathMapper = _identity) -> str:
    if not isinstance(uri, str) or ":" not in uri:
        raise MediaError(f"media {uri!r}: expected scheme:value (sound:, recording:, digits:, number:, file:)")
    scheme, _, value = uri.partition(":")
    if not value:
        raise MediaError(f"media {uri!r}: empty value")
    if "," in value:
        # ARI takes several media as one comma-separated parameter: a comma inside one would split it.
        raise MediaError(f"media {uri!r}: commas are not allowed in a media URI")
    if scheme == "digits":
        if not re.fullmatch(r"[0-9*#A-Da-d]+", value):
            raise MediaError(f"media {uri!r}: digits may only be 0-9 * # A-D")
        return uri
    if scheme == "number":
        if not re.fullmatch(r"-?\d+", value):
            raise MediaError(f"media {uri!r}: number must be an integer")
        return uri
    if scheme == "file":
        path = PurePosixPath(value)
        if not path.is_absolute():
            raise MediaError(f"media {uri!r}: file paths must be absolute")
        mapped = PurePosixPath(asterisk_path(str(path)))
        return "sound:" + str(mapped.with_suffix("")) if mapped.suffix else "sound:" + str(mapped)
    if scheme in NATIVE:
        return uri
    raise MediaError(f"media {uri!r}: unknown scheme {scheme!r} (use sound, recording, digits, number, file)")


def to_ari_media_list(media: Iterable[str], *, asterisk_path: PathMapper = _identity) -> list[str]:
    if isinstance(media, str):
        raise MediaError(f"media must be a list of URIs, got the string {media!r}")
    return [to_ari_media(m, asterisk_path=asterisk_path) for m in media]
