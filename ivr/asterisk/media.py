"""Audio the instance needs that no Debian package gives us without recommends: a hold tune.

Generated (not shipped) so the repository carries no binary and the tune needs no licence review.
"""

from __future__ import annotations

import io
import math
import struct
import wave

RATE = 8000


def hold_tune_wav(seconds_per_note: float = 0.6, repeats: int = 4) -> bytes:
    """A quiet pentatonic phrase, 8 kHz 16-bit mono WAV (Asterisk's native slin rate)."""
    notes = (523.25, 587.33, 659.25, 783.99, 880.00, 783.99, 659.25, 587.33)  # C D E G A G E D
    frames = bytearray()
    n = int(RATE * seconds_per_note)
    for _ in range(repeats):
        for f in notes:
            for i in range(n):
                # Soft attack and long decay: a chime, not a beep, so waiting callers are not startled.
                env = min(1.0, i / (0.02 * RATE)) * math.exp(-3.0 * i / n)
                v = 0.18 * env * (math.sin(2 * math.pi * f * i / RATE) + 0.3 * math.sin(4 * math.pi * f * i / RATE))
                frames += struct.pack("<h", int(v * 32767 / 1.3))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(bytes(frames))
    return buf.getvalue()
