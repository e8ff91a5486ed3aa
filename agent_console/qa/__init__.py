"""QA pages of the console: scored-call list with filters, must-review queue, spot-check list, call detail with the audio synced
to the transcript, overrides and comments, CSV export, team trends, and each agent's own scores.

    setup_qa(app)   # called by agent_console.setup_console; needs keys.SETTINGS and keys.DB
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import AsyncIterator

from aiohttp import web

from agent_console.qa import views
from agent_console.qa.keys import QA_SERVICE, QA_TIMELINE
from ivr import keys
from ivr.calls.notifier import NOTIFIER
from ivr.periodic import in_background, repeat
from recordings.qa.pending import TimelineScorer
from recordings.qa.rubric import RubricError, load_rubric
from recordings.qa.service import QaService

log = logging.getLogger(__name__)
TIMELINE_SWEEP_EVERY = 60.0  # seconds; hang-ups the notifier reports are scored at once


async def qa_ctx(app: web.Application) -> AsyncIterator[None]:
    """The QA service, and the timeline scores of ended calls: at each hang-up the call notifier reports (ARI
    calls), and a sweep for the rest (AGI calls, calls that ended while the service was down)."""
    settings = app[keys.SETTINGS]
    try:
        rubric = await asyncio.to_thread(load_rubric, settings.qa.rubric)
    except RubricError as exc:
        # The agents' console must keep working: only the QA pages go dark, and say why.
        log.error("qa pages disabled: %s", exc)
        yield
        return
    db = app[keys.DB]
    app[QA_SERVICE] = QaService(db, settings, rubric)
    scorer = app[QA_TIMELINE] = TimelineScorer(db, rubric, settings)
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(in_background(
            repeat(scorer.sweep, every=TIMELINE_SWEEP_EVERY, what="QA timeline scores", first_after=0),
            "qa-timeline-sweep"))
        notifier = app.get(NOTIFIER)
        if notifier is not None:
            hangups = notifier.subscribe(accept=lambda n: n.kind in ("hangup", "call_ended"))
            stack.callback(hangups.close)
            await stack.enter_async_context(in_background(
                scorer.follow(hangups, lambda n: getattr(n, "call_id", None)), "qa-timeline-hangups"))
        yield


def setup_qa(app: web.Application) -> None:
    r = app.router
    r.add_get("/qa", views.qa_list)
    r.add_get("/qa/review", views.qa_review_queue)
    r.add_get("/qa/spot-check", views.qa_spot_checks)
    r.add_get("/qa/calibration", views.qa_calibration)
    r.add_get("/qa/mine", views.qa_mine)
    r.add_get("/qa/trends", views.qa_trends)
    r.add_get("/qa/export.csv", views.qa_export)
    r.add_get("/qa/calls/{call_id}", views.qa_call_page)
    r.add_get("/qa/recordings/{recording_id}/audio", views.qa_audio)
    r.add_get("/api/qa/calls/{call_id}", views.api_call)
    r.add_post("/api/qa/calls/{call_id}/reviews", views.api_review)
    app.cleanup_ctx.append(qa_ctx)


__all__ = ["setup_qa", "qa_ctx", "QA_SERVICE"]
