"""Handing a call to the dialplan fallback, including when Asterisk refuses the normal way."""

from __future__ import annotations

from typing import Sequence

import pytest

from ivr.calls.fallback import FallbackResult, continue_to_fallback
from ivr.channel import CallerInfo, ChannelHungUp, OperationFailed


class Refusing:
    """Just the calls continue_to_fallback makes; `refuse` lists how many continue attempts fail."""

    def __init__(self, refuse: Sequence[Exception] = (), hung_up: bool = False) -> None:
        self.refuse = list(refuse)
        self.variables: dict[str, str] = {}
        self.continued: list[tuple[str | None, str | None, int | None]] = []
        self.hung_up = hung_up
        self.id = "c1"
        self.info = CallerInfo(channel_id="c1", caller_number="1")

    async def set_variable(self, name: str, value: str) -> None:
        self.variables[name] = value

    async def continue_in_dialplan(self, context: str | None = None, extension: str | None = None,
                                   priority: int | None = None) -> None:
        self.continued.append((context, extension, priority))
        if self.refuse:
            raise self.refuse.pop(0)


async def test_normal_path_sets_the_marker_and_continues_at_the_next_priority() -> None:
    ch = Refusing()
    assert await continue_to_fallback(ch, "handler failed: KeyError: 'x'") is FallbackResult.CONTINUED  # type: ignore[arg-type]
    assert ch.variables["HOTLINE_CONTINUE"] == "fallback"
    assert ch.variables["HOTLINE_FALLBACK_DETAIL"] == "handler failed: KeyError: _x_"
    assert ch.continued == [(None, None, None)]


async def test_refused_next_priority_goes_straight_to_the_fallback_context(caplog: pytest.LogCaptureFixture) -> None:
    ch = Refusing([OperationFailed("412 invalid state")])
    assert await continue_to_fallback(ch, "boom") is FallbackResult.CONTINUED  # type: ignore[arg-type]
    assert ch.continued == [(None, None, None), ("hotline-fallback", "s", 1)]
    assert ch.variables["HOTLINE_FALLBACK_REASON"] == "app-requested"


async def test_refused_twice_is_logged_loudly(caplog: pytest.LogCaptureFixture) -> None:
    ch = Refusing([OperationFailed("no"), OperationFailed("still no")])
    assert await continue_to_fallback(ch, "boom") is FallbackResult.FAILED  # type: ignore[arg-type]
    assert "CALL AT RISK" in caplog.text


async def test_caller_already_gone() -> None:
    assert await continue_to_fallback(Refusing(hung_up=True), "x") is FallbackResult.GONE  # type: ignore[arg-type]
    ch = Refusing([ChannelHungUp("gone")])
    assert await continue_to_fallback(ch, "x") is FallbackResult.GONE  # type: ignore[arg-type]
