"""What a rule sees: the call facts, settings, and each speaker's transcript as one searchable track."""

from __future__ import annotations

from dataclasses import dataclass, field

from ivr.settings import Settings
from recordings.qa.model import CallFacts, Evidence, Segment
from recordings.qa.rubric import Rubric
from recordings.qa.text import BREAK, Normalized

BREAK_GAP_SECONDS = 1.5


class Track:
    """One speaker's segments (optionally a time window of them) joined into one text with a time map."""

    def __init__(self, speaker: str, segments: list[Segment], rubric: Rubric, *, within: "Track | None" = None,
                 first: int = 0) -> None:
        """within: the speaker's whole track when segments are segments[first:...] of it; the window then reads
        its matching form out of the whole track's instead of normalising (and looking up pinyin) again."""
        self.speaker = speaker
        self.segments = segments
        self._rubric = rubric
        self._within = within
        self._first = first
        parts: list[str] = []
        self._offsets: list[int] = []
        pos = 0
        prev: Segment | None = None
        for seg in segments:
            if prev is not None and seg.start - prev.end > BREAK_GAP_SECONDS:
                parts.append(BREAK)
                pos += 1
            self._offsets.append(pos)
            parts.append(seg.text)
            pos += len(seg.text)
            prev = seg
        self.text = "".join(parts)
        self._norm: dict[bool, Normalized] = {}

    def norm(self, *, fold_numbers: bool = False) -> Normalized:
        got = self._norm.get(fold_numbers)
        if got is None:
            whole = self._within
            # Cut out of the whole track's form when that exists or this window is most of it; a short window
            # (the greeting of a long call) is cheaper on its own.
            if whole is not None and self.segments and (fold_numbers in whole._norm
                                                        or 2 * len(self.text) >= len(whole.text)):
                start = whole._offsets[self._first]
                got = whole.norm(fold_numbers=fold_numbers).window(start, start + len(self.text))
            else:
                got = self._rubric.codebook.normalize(self.text, fold_numbers=fold_numbers)
            self._norm[fold_numbers] = got
        return got

    def _locate(self, pos: int) -> tuple[int, int]:
        """(segment index, position inside it) for a text position."""
        idx = 0
        for i, off in enumerate(self._offsets):
            if off <= pos:
                idx = i
            else:
                break
        return idx, pos - self._offsets[idx]

    def evidence(self, start: int, end: int, *, context: int = 0) -> Evidence:
        """Evidence for text[start:end]: the audio time range and the text (widened by `context` chars)."""
        if not self.segments:
            return Evidence(self.speaker, 0.0, 0.0, "")
        si, sp = self._locate(start)
        ei, ep = self._locate(max(end - 1, start))
        t0 = self.segments[si].time_at(sp)
        t1 = self.segments[ei].time_at(ep + 1, end=True)
        a, b = max(0, start - context), min(len(self.text), end + context)
        return Evidence(self.speaker, round(t0, 2), round(max(t1, t0), 2), self.text[a:b].replace(BREAK, " "))

    def segment_evidence(self, seg: Segment) -> Evidence:
        return Evidence(self.speaker, round(seg.start, 2), round(seg.end, 2), seg.text)


@dataclass
class Context:
    segments: list[Segment]
    facts: CallFacts
    rubric: Rubric
    settings: Settings
    transcribed: bool = True  # False: scored at hang-up from the timeline, the transcript still to come
    _tracks: dict[tuple[str, float, float], Track] = field(default_factory=dict)

    def speaker_segments(self, speaker: str) -> list[Segment]:
        return [s for s in self.segments if s.speaker == speaker]

    def track(self, speaker: str, t_from: float = float("-inf"), t_to: float = float("inf")) -> Track:
        """Segments of a speaker that start in [t_from, t_to) (or end after t_from for the closing window)."""
        key = (speaker, t_from, t_to)
        got = self._tracks.get(key)
        if got is None:
            every = self.speaker_segments(speaker)
            segs = [s for s in every if s.end > t_from and s.start < t_to]
            whole = None if len(segs) == len(every) else self.track(speaker)
            first = every.index(segs[0]) if whole is not None and segs else 0
            # A window is a run of the whole track (it is, unless one speaker's segments overlap): then it
            # shares the whole track's normalisation, which is where the time goes (pinyin).
            if whole is not None and every[first:first + len(segs)] != segs:
                whole = None
            got = Track(speaker, segs, self.rubric, within=whole, first=first)
            self._tracks[key] = got
        return got

    @property
    def end_time(self) -> float:
        ends = [s.end for s in self.segments]
        if self.facts.talk_seconds is not None:
            ends.append(self.facts.talk_seconds)
        return max(ends, default=0.0)

    @property
    def ring_limit(self) -> float:
        return self.settings.ring.limit_seconds
