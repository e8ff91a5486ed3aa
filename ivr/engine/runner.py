"""The flow engine: runs a loaded flow over any Channel (ARI or FastAGI) and writes the path to the timeline.

    engine = FlowEngine(db, orders=WorkOrderService(db, zone), recognizer=recognizer, sounds_dir=sounds)
    result = await engine.run(flow, channel)            # opens/gets the call row from channel.info
    if result.outcome is Outcome.QUEUE: acd.enqueue(result.queue)

The engine never drops a call: a failing database write is logged and the flow goes on; any other failure
of ours records `ivr.error` and raises FlowFailed, which both adapters turn into the dialplan fallback.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any, Callable, Sequence
from zoneinfo import ZoneInfo

from call_flows import say
from call_flows.prompts import SAY_NAMESPACE, PromptError, render_dynamic
from call_flows.prompts import media as prompt_media
from call_flows.schema import (
    DAY_NAMES,
    BalanceNode,
    BranchNode,
    CollectNode,
    Condition,
    Flow,
    HangupNode,
    LookupNode,
    MenuNode,
    MessageNode,
    OutagesNode,
    PlayNode,
    QueueNode,
    SetNode,
    SurveyNode,
    TransferNode,
    VerifyNode,
    time_in_range,
)
from ivr.callers import CallerDirectory, OutageView
from ivr.calls.timeline import Timeline
from ivr.channel import (
    Channel,
    ChannelError,
    ChannelGone,
    ChannelHungUp,
    OperationFailed,
    Unsupported,
)
from ivr.db import Database
from ivr.db.models import WorkOrderType, utcnow
from ivr.engine import inputs
from ivr.engine.context import (
    CallContext,
    FlowFailed,
    FlowResult,
    Jump,
    Outcome,
    QueueRequest,
)
from ivr.workorders import NewWorkOrder, OrderSource, WorkOrderService

log = logging.getLogger(__name__)
Observer = Callable[[str, dict[str, Any]], None]


class FlowEngine:
    def __init__(self, db: Database, *, orders: WorkOrderService, recognizer: Any = None,
                 sounds_dir: Path | None = None,
                 clock: Callable[[], dt.datetime] = utcnow, observer: Observer | None = None,
                 max_steps: int = 300) -> None:
        self.db = db
        self.timeline = Timeline(db)
        self.callers = CallerDirectory(db)
        self.orders = orders
        self.recognizer = recognizer  # ivr.speech.Recognizer or None (keys only)
        self.sounds_dir = sounds_dir  # where outage notices are rendered; None: composed read-out only
        self.clock = clock
        self.observer = observer
        self.max_steps = max_steps

    # --- timeline (never lets a database problem end the call) ---------------------------------------

    async def event(self, ctx: CallContext, kind: str, data: dict[str, Any]) -> None:
        if self.observer is not None:
            self.observer(kind, data)
        try:
            await self.timeline.add_event(ctx.call_id, kind, data, at=self.clock())
        except Exception:  # noqa: BLE001 - the caller must not lose the call over a lost event
            log.exception("call %s: could not record %s", ctx.call_id, kind)

    async def update(self, ctx: CallContext, **fields: Any) -> None:
        try:
            await self.timeline.update(ctx.call_id, **fields)
        except Exception:  # noqa: BLE001
            log.exception("call %s: could not update %s", ctx.call_id, ", ".join(fields))

    # --- media ------------------------------------------------------------------------------------------

    def prompts(self, ctx: CallContext, ids: Sequence[str] | str | None) -> list[str]:
        if ids is None:
            return []
        lang = ctx.flow.header.language
        return [prompt_media(lang, ctx.flow.name, pid) for pid in ([ids] if isinstance(ids, str) else ids)]

    def say(self, ctx: CallContext, tokens: list[str], *, native: list[str]) -> list[str]:
        """Chinese read-outs from our own word sounds; other languages use Asterisk's digits:/number:."""
        lang = ctx.flow.header.language
        if lang != "zh":
            return native
        return [prompt_media(lang, SAY_NAMESPACE, t) for t in tokens]

    def local(self, ctx: CallContext, when: dt.datetime | None = None) -> dt.datetime:
        return (when or self.clock()).astimezone(ZoneInfo(ctx.flow.header.timezone))

    # --- running ----------------------------------------------------------------------------------------

    async def run(self, flow: Flow, channel: Channel, *, call_id: int | None = None, start: str | None = None,
                  answer: bool = True) -> FlowResult:
        """Run `flow` from `start` (default: its start node) until it queues, transfers or hangs up.

        Returns a FlowResult (also when the caller hangs up). Raises FlowFailed when our side fails; the
        adapters (ARI CallService, AGI server) answer that by handing the call to the dialplan fallback.
        """
        info = channel.info
        if call_id is None:
            try:
                call, _ = await self.timeline.open_call(channel_id=info.channel_id, protocol=info.protocol or "ari",
                                                        caller_number=info.caller_number,
                                                        caller_name=info.caller_name, dialed=info.dialed,
                                                        flow=flow.name, at=self.clock())
                call_id = call.id
            except Exception as exc:  # no database: the dialplan's fallback queue serves the caller
                raise FlowFailed(f"cannot open the call row: {type(exc).__name__}: {exc}") from exc
        ctx = CallContext(call_id=call_id, channel=channel, flow=flow, caller_number=info.caller_number)
        node_id = start or flow.header.start
        await self.event(ctx, "ivr.start", {"flow": flow.name, "start": node_id})
        try:
            if answer:
                await channel.answer()  # first: the caller is ringing (rules: answer within 3 rings)
            await self.update(ctx, flow=flow.name)
            await self._repeat_caller(ctx)
            return await self._loop(ctx, node_id)
        except (ChannelHungUp, ChannelGone):
            return await self._hung_up(ctx, node_id)
        except Exception as exc:
            if isinstance(exc, ChannelError) and channel.hung_up:
                # An operation the hang-up made fail (a refused command on a channel that is going away): the
                # caller ended the call, which is a normal end and not our failure.
                return await self._hung_up(ctx, node_id)
            at = ctx.path[-1] if ctx.path else node_id
            reason = f"{type(exc).__name__}: {exc}"
            log.exception("call %s: flow %s failed at %s", ctx.call_id, flow.name, at)
            await self.event(ctx, "ivr.error", {"node": at, "error": reason[:300]})
            raise FlowFailed(f"flow {flow.name} failed at {at}: {reason}", path=tuple(ctx.path)) from exc

    async def _hung_up(self, ctx: CallContext, node_id: str) -> FlowResult:
        at = ctx.path[-1] if ctx.path else node_id
        await self.event(ctx, "ivr.hangup", {"node": at})
        return FlowResult(Outcome.CALLER_HANGUP, ctx.call_id, tuple(ctx.path))

    async def _loop(self, ctx: CallContext, node_id: str) -> FlowResult:
        flow = ctx.flow
        for _ in range(self.max_steps):
            node = flow.nodes[node_id]
            ctx.path.append(node_id)
            await self.event(ctx, "ivr.node", {"node": node_id, "type": node.type}
                             | ({"label": node.label} if node.label else {}))
            try:
                step = await self._visit(ctx, node_id, node)
            except Jump as jump:
                await self.event(ctx, "ivr.jump", {"node": node_id, "to": jump.target, "reason": jump.reason})
                step = jump.target
            if isinstance(step, FlowResult):
                await self.event(ctx, "ivr.end", {"outcome": step.outcome.value, "node": node_id})
                return step
            node_id = step
        raise RuntimeError(f"flow {flow.name} went through {self.max_steps} nodes without ending")

    async def _visit(self, ctx: CallContext, nid: str, node: Any) -> str | FlowResult:
        ch = ctx.channel
        if isinstance(node, PlayNode):
            # Type-ahead: a key stops an interruptible prompt and stays in the channel's buffer for the next
            # input node; an uninterruptible one plays on and keeps its keys just the same.
            key = await ch.play(self.prompts(ctx, node.prompt), interrupt_dtmf=node.interruptible)
            if key is not None:
                await self.emergency_key(ctx, nid, key, consume=True)
            return node.next
        if isinstance(node, MenuNode):
            return await inputs.menu(self, ctx, nid, node)
        if isinstance(node, CollectNode):
            return await inputs.collect(self, ctx, nid, node)
        if isinstance(node, VerifyNode):
            return await inputs.verify(self, ctx, nid, node)
        if isinstance(node, SurveyNode):
            return await inputs.survey(self, ctx, nid, node)
        if isinstance(node, LookupNode):
            return await self._lookup(ctx, nid, node)
        if isinstance(node, OutagesNode):
            return await self._outages(ctx, nid, node)
        if isinstance(node, BalanceNode):
            return await self._balance(ctx, nid, node)
        if isinstance(node, BranchNode):
            for i, rule in enumerate(node.rules):
                if self._holds(ctx, rule.when):
                    await self.event(ctx, "ivr.branch", {"node": nid, "rule": i, "to": rule.goto})
                    return rule.goto
            await self.event(ctx, "ivr.branch", {"node": nid, "rule": None, "to": node.default})
            return node.default
        if isinstance(node, SetNode):
            fields: dict[str, Any] = {}
            if node.priority is not None:
                ctx.priority = fields["priority"] = node.priority
            if node.skill is not None:
                ctx.skill = fields["skill"] = node.skill
            if node.category is not None:
                ctx.category = fields["category"] = node.category
            ctx.flags.update(node.flags)
            if "emergency" in node.flags:
                ctx.emergency = True
            if fields:
                await self.update(ctx, **fields)
            return node.next
        if isinstance(node, QueueNode):
            return await self._queue(ctx, nid, node)
        if isinstance(node, MessageNode):
            return await self._message(ctx, nid, node)
        if isinstance(node, TransferNode):
            if node.prompt:
                await ch.play(self.prompts(ctx, node.prompt))
            await self.event(ctx, "ivr.transfer", {"node": nid, "context": node.context,
                                                   "extension": node.extension})
            await ch.transfer(node.context, node.extension, node.priority)
            return FlowResult(Outcome.TRANSFERRED, ctx.call_id, tuple(ctx.path))
        if isinstance(node, HangupNode):
            if node.prompt:
                await ch.play(self.prompts(ctx, node.prompt))
            await ch.hangup()
            return FlowResult(Outcome.HANGUP, ctx.call_id, tuple(ctx.path))
        raise TypeError(f"no handler for node type {type(node).__name__}")

    # --- nodes that read data -------------------------------------------------------------------------

    async def _repeat_caller(self, ctx: CallContext) -> None:
        try:
            since = self.clock() - dt.timedelta(hours=24)
            if await self.callers.recent_calls(ctx.caller_number, since, ctx.call_id):
                ctx.flags.add("repeat_caller")
        except Exception:  # noqa: BLE001 - a flag is not worth a call
            log.exception("call %s: repeat-caller check failed", ctx.call_id)

    async def _lookup(self, ctx: CallContext, nid: str, node: LookupNode) -> str:
        try:
            if node.by == "caller_number":
                found = await self.callers.customers_by_phone(ctx.caller_number)
                # One phone registered to several customers proves nothing: ask for the account number.
                customer = found[0] if len(found) == 1 else None
                account = None
                if customer is not None:
                    mine = [a for a in customer.accounts if a.utility == ctx.flow.header.utility]
                    account = mine[0] if len(mine) == 1 else None
                detail: dict[str, Any] = {"matches": len(found)}
            else:
                pair = await self.callers.customer_by_account(ctx.vars.get(node.var, ""), node.prefixes)
                customer, account = pair if pair else (None, None)
                detail = {}
        except Exception:  # noqa: BLE001 - unknown caller is a valid, safe answer
            log.exception("call %s: lookup failed", ctx.call_id)
            customer, account, detail = None, None, {"error": True}
        if customer is not None and ctx.customer is not None and customer.id != ctx.customer.id:
            ctx.verified = False  # a different customer: earlier verification does not carry over
            ctx.flags.discard("verified")
        ctx.customer = customer or ctx.customer
        ctx.account = account or (ctx.account if customer is None else None)
        await self.event(ctx, "ivr.lookup", {"node": nid, "by": node.by, "found": customer is not None,
                                             "customer_id": customer.id if customer else None, **detail})
        if customer is None:
            return node.not_found
        ctx.flags.add("known_customer")
        if customer.special_care:
            ctx.flags.add("special_care")
        if any(a.arrears > 0 for a in customer.accounts):
            ctx.flags.add("has_arrears")
        await self.update(ctx, customer_id=customer.id, account_id=ctx.account.id if ctx.account else None,
                          verified=ctx.verified)
        return node.found

    async def _outages(self, ctx: CallContext, nid: str, node: OutagesNode) -> str:
        area = ctx.customer.area_code if ctx.customer else None
        found: list[OutageView] = []
        if area:
            try:
                found = await self.callers.outages(area, [node.utility or ctx.flow.header.utility], self.clock(),
                                                   dt.timedelta(hours=node.ahead_hours))
            except Exception:  # noqa: BLE001
                log.exception("call %s: outage query failed", ctx.call_id)
        await self.event(ctx, "ivr.outage", {"node": nid, "area": area, "outages": [o.id for o in found]})
        if not found:
            if node.none_prompt:
                await ctx.channel.play(self.prompts(ctx, node.none_prompt))
            return node.next
        ctx.flags.add("outage_in_area")
        media = self.prompts(ctx, node.intro_prompt)
        for o in found:
            media += await self._outage_media(ctx, o)
        await ctx.channel.play(media)
        return node.next

    async def _outage_media(self, ctx: CallContext, o: OutageView) -> list[str]:
        if o.notice and self.sounds_dir is not None:
            try:
                return [await render_dynamic(o.notice, self.sounds_dir, ctx.flow.header.language)]
            except PromptError:
                log.exception("call %s: cannot render outage notice %s; reading the times", ctx.call_id, o.id)
        tokens = say.moment(self.local(ctx, o.starts_at))
        if o.ends_at is not None:
            end = self.local(ctx, o.ends_at)
            tokens += ["to"] + say.moment(end, with_date=end.date() != self.local(ctx, o.starts_at).date())
        # Asterisk's English say-family has no date words worth stringing together: the intro prompt says it.
        return self.say(ctx, tokens, native=[])

    async def _balance(self, ctx: CallContext, nid: str, node: BalanceNode) -> str:
        if not ctx.verified or ctx.customer is None:
            await self.event(ctx, "ivr.balance", {"node": nid, "refused": "not verified"})
            return node.on_unverified
        mine = [a for a in ctx.customer.accounts if a.utility == ctx.flow.header.utility]
        account = ctx.account if ctx.account is not None and ctx.account in ctx.customer.accounts else (
            mine[0] if mine else None)
        if account is None:
            await self.event(ctx, "ivr.balance", {"node": nid, "refused": "no account"})
            return node.on_no_account
        ctx.account = account
        media = self.prompts(ctx, node.balance_prompt) + self.say(
            ctx, say.money(account.balance), native=[f"number:{int(account.balance)}"])
        if account.arrears > 0:
            media += self.prompts(ctx, node.arrears_prompt) + self.say(
                ctx, say.money(account.arrears), native=[f"number:{int(account.arrears)}"])
        else:
            media += self.prompts(ctx, node.no_arrears_prompt)
        await self.event(ctx, "ivr.balance", {"node": nid, "account_id": account.id})
        await self.update(ctx, account_id=account.id)
        await ctx.channel.play(media)
        return node.next

    def _holds(self, ctx: CallContext, cond: Condition) -> bool:
        now = self.local(ctx)
        checks = [
            cond.flag is None or cond.flag in ctx.flags,
            cond.not_flag is None or cond.not_flag not in ctx.flags,
            cond.time is None or time_in_range(cond.time, now.time()),
            cond.days is None or DAY_NAMES[now.weekday()] in cond.days,
            cond.emergency is None or cond.emergency == ctx.emergency,
            cond.customer is None or (cond.customer == "known") == (ctx.customer is not None),
            cond.verified is None or cond.verified == ctx.verified,
            cond.var is None or ctx.vars.get(cond.var) == cond.equals,
        ]
        return all(checks)

    # --- nodes that end or hand over ------------------------------------------------------------------

    async def _queue(self, ctx: CallContext, nid: str, node: QueueNode) -> FlowResult:
        skill = node.skill or ctx.skill or node.queue
        priority = node.priority if node.priority is not None else ctx.priority
        request = QueueRequest(
            call_id=ctx.call_id, queue=node.queue, skill=skill, priority=priority, flow=ctx.flow.name, node=nid,
            customer_id=ctx.customer.id if ctx.customer else None, account_id=ctx.account.id if ctx.account else None,
            verified=ctx.verified, emergency=ctx.emergency, category=ctx.category, flags=frozenset(ctx.flags))
        await self.update(ctx, queue_name=node.queue, skill=skill, priority=priority)
        await self.event(ctx, "ivr.queue", {"node": nid, "queue": node.queue, "skill": skill, "priority": priority,
                                            "emergency": ctx.emergency, "flags": sorted(ctx.flags)})
        if node.prompt:
            await ctx.channel.play(self.prompts(ctx, node.prompt))
        return FlowResult(Outcome.QUEUE, ctx.call_id, tuple(ctx.path), queue=request)

    async def _message(self, ctx: CallContext, nid: str, node: MessageNode) -> str:
        ch = ctx.channel
        await ch.play(self.prompts(ctx, node.prompt))
        try:
            path = await ch.record(ctx.next_recording_name("message"), max_seconds=node.max_seconds,
                                   silence_seconds=node.silence_seconds, beep=True)
        except (OperationFailed, Unsupported) as exc:
            await self.event(ctx, "ivr.message", {"node": nid, "error": f"cannot record: {exc}"})
            raise Jump(ctx.flow.header.zero_out, "message could not be recorded") from None
        try:
            number = (await self.orders.create(NewWorkOrder(
                type=WorkOrderType(node.order_type), source=OrderSource.IVR,
                description=f"来电留言（{ctx.flow.name}/{nid}），录音：{path}", call_id=ctx.call_id,
                customer_id=ctx.customer.id if ctx.customer else None, contact_phone=ctx.caller_number,
                address=ctx.customer.address if ctx.customer else "", recording=path), at=self.clock())).number
        except Exception as exc:  # noqa: BLE001 - the message exists; a person must take the request
            log.exception("call %s: no work order for message %s", ctx.call_id, path)
            await self.event(ctx, "ivr.message", {"node": nid, "recording": path, "error": f"no work order: {exc}"})
            raise Jump(ctx.flow.header.zero_out, "work order could not be created") from None
        await self.event(ctx, "ivr.message", {"node": nid, "recording": path, "work_order": number,
                                              "order_type": node.order_type})
        if node.saved_prompt:
            await ch.play(self.prompts(ctx, node.saved_prompt))
        return node.next

    async def emergency_key(self, ctx: CallContext, nid: str, key: str, *, consume: bool) -> None:
        """Jump to the emergency path when `key` is one of the flow's emergency keys (not yet on it).

        consume: the key is still in the channel's buffer (it stopped a prompt) and is taken out first."""
        em = ctx.flow.header.emergency
        if em is None or key not in em.keys or ctx.emergency:
            return
        if consume:
            await inputs.drain_key(ctx)
        ctx.emergency = True
        ctx.flags.add("emergency")
        await self.event(ctx, "ivr.emergency", {"node": nid, "key": key})
        raise Jump(em.goto, f"emergency key {key}")

    async def jump_if_emergency(self, ctx: CallContext, nid: str, keyword: str | None) -> None:
        em = ctx.flow.header.emergency
        if keyword and em is not None:
            ctx.emergency = True
            ctx.flags.add("emergency")
            await self.event(ctx, "ivr.emergency", {"node": nid, "keyword": keyword})
            raise Jump(em.goto, f"emergency keyword {keyword}")

