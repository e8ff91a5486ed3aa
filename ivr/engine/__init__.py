"""The flow engine: runs call_flows/*.yaml over the Channel interface (ARI or FastAGI)."""

from ivr.engine.context import (
           CallContext,
           FlowFailed,
           FlowResult,
           Outcome,
           QueueRequest,
)
from ivr.engine.runner import FlowEngine
from ivr.engine.scripted import ScriptedChannel, ScriptError, parse_script

__all__ = ["CallContext", "FlowEngine", "FlowFailed", "FlowResult", "Outcome", "QueueRequest", "ScriptError",
           "ScriptedChannel", "parse_script"]
