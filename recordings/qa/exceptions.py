"""QA errors: each has a stable error_id the console maps to a status and zh/en text (agent_console/errors.py);
str() is an English sentence for logs."""

from __future__ import annotations

from ivr.errors import Forbidden, HotlineError, InvalidInput, NotFound


class QaError(HotlineError):
    error_id = "qa.error"


class AccessDenied(Forbidden, QaError):
    """The viewer's role does not allow this."""

    error_id = "qa.access_denied"


class ReviewRolesOnly(AccessDenied):
    """Review queue, reviews and overrides: QA staff, supervisors and admins."""

    error_id = "qa.review_roles_only"


class OwnCallsOnly(AccessDenied):
    """An agent may read (and listen to, and see the trends of) their own calls only."""

    error_id = "qa.own_calls_only"


class AgentsCannotExport(AccessDenied):
    error_id = "qa.agents_cannot_export"


class QaNotFound(NotFound, QaError):
    error_id = "qa.not_found"


class CallNotFound(QaNotFound):
    error_id = "qa.call_not_found"


class RecordingNotFound(QaNotFound):
    error_id = "qa.recording_not_found"


class RecordingPurged(QaNotFound):
    """details: purged_on (the local date the retention period removed it)."""

    error_id = "qa.recording_purged"


class RecordingFileMissing(QaNotFound):
    """The row is there but the file is not: the operator must look (logged as an error)."""

    error_id = "qa.recording_file_missing"


class ScoreNotFound(QaNotFound):
    error_id = "qa.score_not_found"


class NotScored(QaNotFound):
    """details: call_id, rubric_version."""

    error_id = "qa.not_scored"


class ReviewError(InvalidInput, QaError):
    """A review that cannot be stored."""

    error_id = "qa.review_invalid"


class WholeCallHasNoPoints(ReviewError):
    error_id = "qa.review_whole_call_points"


class CommentRequired(ReviewError):
    error_id = "qa.review_comment_required"


class UnknownRule(ReviewError):
    """details: rule_id, rubric_version."""

    error_id = "qa.review_unknown_rule"


class PointsOutOfRange(ReviewError):
    """details: title, max_points."""

    error_id = "qa.review_points_out_of_range"


class ReasonRequired(ReviewError):
    """details: title."""

    error_id = "qa.review_reason_required"


class EmptyReview(ReviewError):
    error_id = "qa.review_empty"


class PointsNotANumber(ReviewError):
    error_id = "qa.review_points_nan"


class CommentTooLong(ReviewError):
    """details: max."""

    error_id = "qa.review_comment_too_long"
