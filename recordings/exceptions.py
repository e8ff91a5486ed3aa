"""Recording errors: a stable error_id each; str() names the file and the problem."""

from __future__ import annotations

from ivr.errors import InvalidInput


class RecordingError(InvalidInput):
    """A recording file that cannot be used."""

    error_id = "recordings.unusable_file"
