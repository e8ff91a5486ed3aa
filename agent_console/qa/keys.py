"""AppKeys of the QA pages."""

from __future__ import annotations

from aiohttp import web

from recordings.qa.pending import TimelineScorer
from recordings.qa.service import QaService

# Missing when the rubric could not be loaded: the pages then say so (503) and the rest of the console runs.
QA_SERVICE: web.AppKey[QaService] = web.AppKey("qa_service", QaService)
# Scores ended calls from their timeline (qa_ctx runs it at each hang-up and in a sweep; tests call it).
QA_TIMELINE: web.AppKey[TimelineScorer] = web.AppKey("qa_timeline", TimelineScorer)
