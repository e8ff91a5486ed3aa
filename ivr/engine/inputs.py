"""Nodes that wait for the caller: menu (keys and speech), collect digits, verify identity, survey.

Every one follows the same contract: up to retries+1 attempts; a timeout plays timeout_prompt, a wrong key
or unmatched word plays invalid_prompt, then the node's prompt again; after the last attempt the call goes
to on_fail (by default a person). Key 0 at any menu goes to zero_out. Keys are always accepted, also while
a speech menu listens; an emergency keyword in any utterance jumps to the emergency path, and so does the
flow's emergency key at a menu that has no option of its own for it. Keys typed during earlier prompts wait
in the channel's buffer and are the first the next input reads (type-ahead).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Sequence

from call_flows import say
from call_flows.graph import speech_on
from call_flows.schema import CollectNode, MenuNode, SurveyNode, VerifyNode
from ivr.channel import OperationFailed, Unsupported
from ivr.engine.context import CallContext, Jump
from ivr.phones import phone_key
from ivr.speech.recognizer import SpeechError

if TYPE_CHECKING:
    from ivr.engine.runner import FlowEngine

# How long to look for a key already pressed (during a prompt or a recording): adapters keep such keys
# for the next collect_digits, so a short wait only picks up what is there.
POLL_SECONDS = 0.1


@dataclass(frozen=True)
class Reply:
    kind: Literal["key", "speech", "timeout", "invalid"]
    value: str = ""


def _setting(ctx: CallContext, node: Any, name: str) -> Any:
    return ctx.flow.input_setting(node, name)


async def drain_key(ctx: CallContext) -> str:
    r = await ctx.channel.collect_digits(max_digits=1, first_timeout=POLL_SECONDS, inter_timeout=POLL_SECONDS,
                                         terminators="")
    return r.digits


async def _after_failure(eng: "FlowEngine", ctx: CallContext, node: Any, kind: str) -> None:
    pid = _setting(ctx, node, "timeout_prompt" if kind == "timeout" else "invalid_prompt")
    if pid:
        await ctx.channel.play(eng.prompts(ctx, pid))


async def _exhausted(eng: "FlowEngine", ctx: CallContext, nid: str, node: Any) -> str:
    target = _setting(ctx, node, "on_fail")
    await eng.event(ctx, "ivr.retries_exhausted", {"node": nid, "to": target})
    return str(target)


async def _keys_only(ctx: CallContext, timeout: float) -> Reply:
    r = await ctx.channel.collect_digits(max_digits=1, first_timeout=timeout, inter_timeout=timeout, terminators="")
    return Reply("key", r.digits) if r.digits else Reply("timeout")


async def listen(eng: "FlowEngine", ctx: CallContext, nid: str, phrases: Sequence[str], timeout: float, *,
                 private: bool = False) -> Reply:
    """Record one utterance and match it against `phrases`; a key pressed meanwhile wins.

    private: the words are personal data (a name): the timeline gets the confidence, not the text."""
    sp = ctx.flow.header.speech
    em = ctx.flow.header.emergency
    try:
        path = await ctx.channel.record(ctx.next_recording_name(nid), max_seconds=sp.max_seconds,
                                        silence_seconds=sp.silence_seconds, beep=False)
    except (OperationFailed, Unsupported) as exc:
        ctx.speech_ok = False  # this channel cannot give us audio: keys only from now on
        await eng.event(ctx, "ivr.speech", {"node": nid, "error": f"cannot record: {exc}"})
        return await _keys_only(ctx, timeout)
    key = await drain_key(ctx)
    if key:
        return Reply("key", key)
    try:
        rec = await eng.recognizer.recognize(path, phrases, emergency=em.keywords if em else (),
                                             min_confidence=sp.min_confidence, private=private)
    except SpeechError as exc:
        ctx.speech_ok = False
        await eng.event(ctx, "ivr.speech", {"node": nid, "recording": path, "error": str(exc)})
        return await _keys_only(ctx, timeout)
    said: dict[str, Any] = {"text": rec.text, "heard": rec.heard, "phrase": rec.phrase}
    if private:
        said = {k: ("*" * len(v) if v else v) for k, v in said.items()}
    await eng.event(ctx, "ivr.speech", {
        "node": nid, "recording": path, **said, "confidence": rec.confidence, "emergency": rec.emergency,
        "audio_seconds": round(rec.audio_seconds, 2)})
    await eng.jump_if_emergency(ctx, nid, rec.emergency)
    if rec.phrase:
        return Reply("speech", rec.phrase)
    return Reply("timeout") if rec.silent else Reply("invalid", rec.text)


async def _choice(eng: "FlowEngine", ctx: CallContext, nid: str, prompt: list[str], timeout: float,
                  phrases: Sequence[str] | None) -> Reply:
    ch = ctx.channel
    if phrases is None or eng.recognizer is None or not ctx.speech_ok:
        r = await ch.collect_digits(max_digits=1, first_timeout=timeout, inter_timeout=timeout, terminators="",
                                    prompt=prompt)
        return Reply("key", r.digits) if r.digits else Reply("timeout")
    key = await ch.play(prompt, interrupt_dtmf=True)
    if key:
        return Reply("key", (await drain_key(ctx)) or key)
    return await listen(eng, ctx, nid, phrases, timeout)


async def menu(eng: "FlowEngine", ctx: CallContext, nid: str, node: MenuNode) -> str:
    flow = ctx.flow
    # A speech menu listens even when its options have no words: for the flow's emergency keywords, which
    # count anywhere the caller may speak (漏气 said at a "press 1 to retry" menu must still be heard).
    em = flow.header.emergency
    phrases: list[str] | None = [w for opt in node.options for w in opt.say] if speech_on(flow, node) else None
    if phrases is not None and not phrases and not (em and em.keywords):
        phrases = None
    prompt = eng.prompts(ctx, node.prompt)
    timeout = _setting(ctx, node, "timeout")
    for attempt in range(1, _setting(ctx, node, "retries") + 2):
        reply = await _choice(eng, ctx, nid, prompt, timeout, phrases)
        target = _target(ctx, node, reply)
        if target is None and reply.kind == "key":
            # A key this menu does not use may be the flow's emergency key (e.g. typed during the welcome).
            await eng.emergency_key(ctx, nid, reply.value, consume=False)
        if target is None and reply.kind in ("key", "speech"):
            reply = Reply("invalid", reply.value)
        label = flow.nodes[target].label if target in flow.nodes else None
        await eng.event(ctx, "ivr.input", {"node": nid, "attempt": attempt, "kind": reply.kind,
                                           "value": reply.value, "to": target}
                        | ({"to_label": label} if label else {}))  # what the caller chose, for agents
        if target == flow.header.zero_out and reply.value == "0":
            await eng.event(ctx, "ivr.zero_out", {"node": nid, "to": target})
        if target is not None:
            return target
        await _after_failure(eng, ctx, node, reply.kind)
    return await _exhausted(eng, ctx, nid, node)


def _target(ctx: CallContext, node: MenuNode, reply: Reply) -> str | None:
    if reply.kind == "key":
        if reply.value == "0":
            return ctx.flow.header.zero_out
        return next((opt.goto for opt in node.options if opt.key == reply.value), None)
    if reply.kind == "speech":
        return next((opt.goto for opt in node.options if reply.value in opt.say), None)
    return None


async def _confirm(eng: "FlowEngine", ctx: CallContext, nid: str, node: CollectNode, digits: str) -> bool:
    assert node.confirm is not None
    media = (eng.prompts(ctx, node.confirm.prompt) + eng.say(ctx, say.digits(digits), native=[f"digits:{digits}"])
             + eng.prompts(ctx, node.confirm.question))
    r = await ctx.channel.collect_digits(max_digits=1, first_timeout=_setting(ctx, node, "timeout"),
                                         terminators="", prompt=media)
    await eng.event(ctx, "ivr.input", {"node": nid, "kind": "confirm", "value": r.digits})
    if r.digits == "0":
        await eng.event(ctx, "ivr.zero_out", {"node": nid, "to": ctx.flow.header.zero_out})
        raise Jump(ctx.flow.header.zero_out, "zero-out at confirmation")
    return r.digits == "1"


async def _digits(ctx: CallContext, prompt: list[str], *, max_digits: int, timeout: float, inter: float,
                  terminator: str) -> str:
    r = await ctx.channel.collect_digits(max_digits=max_digits, first_timeout=timeout, inter_timeout=inter,
                                         terminators=terminator, prompt=prompt)
    return r.digits


async def collect(eng: "FlowEngine", ctx: CallContext, nid: str, node: CollectNode) -> str:
    prompt = eng.prompts(ctx, node.prompt)
    inter = node.inter_timeout or ctx.flow.header.defaults.inter_timeout
    for attempt in range(1, _setting(ctx, node, "retries") + 2):
        digits = await _digits(ctx, prompt, max_digits=node.max_digits, timeout=_setting(ctx, node, "timeout"),
                               inter=inter, terminator=node.terminator)
        kind = "timeout" if not digits else ("invalid" if len(digits) < node.min_digits else "digits")
        await eng.event(ctx, "ivr.input", {"node": nid, "attempt": attempt, "kind": kind,
                                           "value": "*" * len(digits) if node.mask else digits})
        if kind == "digits" and (node.confirm is None or await _confirm(eng, ctx, nid, node, digits)):
            ctx.vars[node.var] = digits
            return node.next
        if kind == "digits":
            continue  # the caller chose to enter it again: the prompt follows, no error message
        await _after_failure(eng, ctx, node, kind)
    return await _exhausted(eng, ctx, nid, node)


async def _verify_method(eng: "FlowEngine", ctx: CallContext, nid: str, node: VerifyNode,
                         method: str) -> bool | None:
    """True/False: passed or not; None: this method cannot be used on this call."""
    customer = ctx.customer
    assert customer is not None
    registered = {phone_key(p) for p in customer.phones}
    if method == "caller_phone":
        return phone_key(ctx.caller_number) in registered
    # A grammar of one name forces any speech onto that name unless the model has a garbage word ([unk]):
    # without one, saying any name would pass, so the method is not offered.
    if method == "name" and (eng.recognizer is None or not ctx.speech_ok or not eng.recognizer.rejects_unknown):
        return None
    prompt = eng.prompts(ctx, getattr(node.prompts, method))
    timeout = _setting(ctx, node, "timeout")
    inter = ctx.flow.header.defaults.inter_timeout
    for attempt in range(1, _setting(ctx, node, "retries") + 2):
        if method == "id_tail":
            # A Chinese ID may end in X; callers key it as * (the prompt says so).
            expected = customer.id_number[-node.id_tail_digits:].upper().replace("X", "*")
            got = await _digits(ctx, prompt, max_digits=node.id_tail_digits, timeout=timeout, inter=inter,
                                terminator="#")
            ok = len(expected) == node.id_tail_digits and got == expected
        elif method == "phone":
            got = await _digits(ctx, prompt, max_digits=12, timeout=timeout, inter=inter, terminator="#")
            ok = bool(got) and phone_key(got) in registered
        else:  # name, said aloud and matched against the registered name only
            await ctx.channel.play(prompt)
            reply = await listen(eng, ctx, nid, [customer.name], timeout, private=True)
            got, ok = reply.value, reply.kind == "speech" and reply.value == customer.name
        kind = "timeout" if not got else ("ok" if ok else "invalid")
        await eng.event(ctx, "ivr.input", {"node": nid, "attempt": attempt, "method": method, "kind": kind,
                                           "value": "*" * len(got)})  # never the caller's personal data
        if ok:
            return True
        await _after_failure(eng, ctx, node, kind)
    return False


async def verify(eng: "FlowEngine", ctx: CallContext, nid: str, node: VerifyNode) -> str:
    if ctx.verified:
        await eng.event(ctx, "ivr.verify", {"node": nid, "ok": True, "already": True})
        return node.next
    if ctx.customer is None:
        target = node.on_unknown or str(_setting(ctx, node, "on_fail"))
        await eng.event(ctx, "ivr.verify", {"node": nid, "ok": False, "reason": "no customer", "to": target})
        return target
    passed: list[str] = []
    for method in node.methods:
        ok = await _verify_method(eng, ctx, nid, node, method)
        await eng.event(ctx, "ivr.verify", {"node": nid, "method": method, "ok": bool(ok)}
                        | ({"unavailable": True} if ok is None else {}))
        if ok:
            passed.append(method)
        if len(passed) >= node.require:
            break
    if len(passed) >= node.require:
        ctx.verified = True
        ctx.flags.add("verified")
        await eng.update(ctx, verified=True, customer_id=ctx.customer.id)
        return node.next
    if node.failed_prompt:
        await ctx.channel.play(eng.prompts(ctx, node.failed_prompt))
    return await _exhausted(eng, ctx, nid, node)


async def survey(eng: "FlowEngine", ctx: CallContext, nid: str, node: SurveyNode) -> str:
    prompt = eng.prompts(ctx, node.prompt)
    timeout = _setting(ctx, node, "timeout")
    for attempt in range(1, _setting(ctx, node, "retries") + 2):
        r = await ctx.channel.collect_digits(max_digits=1, first_timeout=timeout, terminators="", prompt=prompt)
        kind = "timeout" if not r.digits else ("score" if r.digits in "12345" else "invalid")
        await eng.event(ctx, "ivr.input", {"node": nid, "attempt": attempt, "kind": kind, "value": r.digits})
        if kind == "score":
            score = int(r.digits)
            await eng.update(ctx, satisfaction=score)
            await eng.event(ctx, "ivr.survey", {"node": nid, "satisfaction": score})
            if node.thanks_prompt:
                await ctx.channel.play(eng.prompts(ctx, node.thanks_prompt))
            return node.next
        await _after_failure(eng, ctx, node, kind)
    await eng.event(ctx, "ivr.survey", {"node": nid, "satisfaction": None})
    return await _exhausted(eng, ctx, nid, node)
