"""Typed objects for a call-flow file. The loader validates each node on its own so errors keep their line.

Node kinds (the `type:` field): play, menu, collect, verify, lookup, outages, balance, branch, set, queue,
message, transfer, survey, hangup. Input nodes (menu, collect, verify, survey) carry timeout/retries/
invalid/timeout prompts and on_fail; unset values come from the flow's `defaults:`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from call_flows.yamlloc import locate

ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
KEYS = "0123456789*#"
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
BUILTIN_FLAGS = frozenset({
    "known_customer",   # lookup found the caller
    "special_care",     # 老弱病残 registered customer (priority service)
    "has_arrears",
    "outage_in_area",   # an active or planned outage was announced
    "verified",
    "emergency",        # an emergency keyword was heard or the emergency key pressed
    "repeat_caller",    # called within the last 24 hours
})


def _check_id(v: str) -> str:
    if not ID_RE.match(v):
        raise ValueError(f"{v!r} is not a valid id (lowercase letters, digits and _, starting with a letter)")
    return v


Id = Annotated[str, AfterValidator(_check_id)]


def _as_list(v: Any) -> Any:
    return [v] if isinstance(v, str) else v


def _key(v: Any) -> Any:
    if v is None:
        raise ValueError("key is empty: write '#' and '*' in quotes, YAML reads an unquoted # as a comment")
    if isinstance(v, bool):
        raise ValueError(f"key {v!r} is not a phone key (0-9, * or #)")
    if isinstance(v, int) and 0 <= v <= 9:
        return str(v)
    if not isinstance(v, str) or len(v) != 1 or v not in KEYS:
        raise ValueError(f"key {v!r} is not a single phone key (0-9, * or #)")
    return v


def _hhmm(v: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", v.strip())
    if not m or int(m.group(1)) > 24 or int(m.group(2)) > 59 or (int(m.group(1)) == 24 and m.group(2) != "00"):
        raise ValueError(f"{v.strip()!r} is not a time of day (HH:MM, 00:00-24:00)")
    return int(m.group(1)), int(m.group(2))


def _time_range(v: str) -> str:
    if not isinstance(v, str) or v.count("-") != 1:
        raise ValueError(f"time range {v!r} must look like '08:00-21:00'")
    a, b = v.split("-")
    if _hhmm(a) == _hhmm(b):
        raise ValueError(f"time range {v!r} is empty (start equals end)")
    return v


PromptList = Annotated[list[Id], BeforeValidator(_as_list), Field(min_length=1)]
PhraseList = Annotated[list[Annotated[str, Field(min_length=1, max_length=40)]], BeforeValidator(_as_list)]
Key = Annotated[str, BeforeValidator(_key)]
Seconds = Annotated[float, Field(gt=0, le=120)]
Priority = Annotated[int, Field(ge=0, le=100)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _tidy_text(v: Any) -> Any:
    # A folded YAML block turns line breaks into spaces, which do not belong between Chinese characters.
    if isinstance(v, str):
        if not v.strip():
            raise ValueError("prompt text is empty: write what the caller hears (also for recorded prompts)")
        v = re.sub(r"\s*\n\s*", " ", v.strip())
        v = re.sub(r"(?<=[\u3000-\u9fff\uff00-\uffef])\s+(?=[\u3000-\u9fff\uff00-\uffef])", "", v)
    return v


class Prompt(_Model):
    text: Annotated[str, BeforeValidator(_tidy_text), Field(min_length=1, max_length=1000)]
    file: str | None = None  # a recorded file (relative to the flow file) used instead of synthesis
    voice: str | None = None  # espeak-ng voice override


class Defaults(_Model):
    timeout: Seconds = 6.0
    inter_timeout: Seconds = 3.0
    retries: Annotated[int, Field(ge=0, le=5)] = 2
    invalid_prompt: Id | None = None
    timeout_prompt: Id | None = None
    on_fail: Id | None = None


class SpeechConfig(_Model):
    enabled: bool = False
    min_confidence: Annotated[float, Field(ge=0, le=1)] | None = None  # None: settings.vosk.min_confidence
    max_seconds: Seconds = 5.0
    silence_seconds: Annotated[float, Field(gt=0, le=10)] = 1.2


class EmergencyConfig(_Model):
    """Heard or pressed from the first second of the call: keywords wherever the caller may speak, keys during
    every prompt where the key means nothing else (play nodes, menus that do not list it)."""

    keywords: PhraseList = []
    keys: Annotated[list[Key], BeforeValidator(lambda v: [v] if isinstance(v, (str, int)) else v)] = []
    goto: Id

    @model_validator(mode="after")
    def _something(self) -> "EmergencyConfig":
        if not self.keywords and not self.keys:
            raise ValueError("emergency needs keywords, keys or both")
        if "0" in self.keys:
            raise ValueError("key 0 is the way to a person at every menu: it cannot be an emergency key")
        return self


Label = Annotated[str, Field(min_length=1, max_length=24)]


class _Node(_Model):
    # What agents and QA staff read for this step (the pop's 语音导航路径), in Chinese: 主菜单, 故障报修.
    label: Label | None = None


class _Input(_Node):
    timeout: Seconds | None = None
    retries: Annotated[int, Field(ge=0, le=5)] | None = None
    invalid_prompt: Id | None = None
    timeout_prompt: Id | None = None
    on_fail: Id | None = None


class PlayNode(_Node):
    type: Literal["play"]
    prompt: PromptList
    next: Id
    # False for legal notices: the prompt plays to its end; keys pressed meanwhile are still kept (type-ahead).
    interruptible: bool = True


class MenuOption(_Model):
    key: Key | None = None
    say: PhraseList = []
    goto: Id

    @model_validator(mode="before")
    @classmethod
    def _key_present(cls, data: Any) -> Any:
        # `key: '#'` written without quotes arrives as key=None: say so instead of "no key".
        if isinstance(data, dict) and "key" in data and data["key"] is None:
            _key(None)
        return data

    @model_validator(mode="after")
    def _needs_a_way_in(self) -> "MenuOption":
        if self.key is None and not self.say:
            raise ValueError("option needs a key, spoken words (say), or both")
        return self


class MenuNode(_Input):
    type: Literal["menu"]
    prompt: PromptList
    options: Annotated[list[MenuOption], Field(min_length=1)]
    speech: bool | None = None  # None: the flow's speech.enabled


class Confirm(_Model):
    prompt: Id  # "您输入的是" (then the digits are read back)
    question: Id  # "确认请按1，重新输入请按2"


class CollectNode(_Input):
    type: Literal["collect"]
    prompt: PromptList
    var: Id
    min_digits: Annotated[int, Field(ge=1, le=32)] = 1
    max_digits: Annotated[int, Field(ge=1, le=32)]
    terminator: Literal["#", "*", ""] = "#"
    inter_timeout: Seconds | None = None
    confirm: Confirm | None = None
    mask: bool = False  # never write the digits to the timeline
    next: Id

    @model_validator(mode="after")
    def _digit_range(self) -> "CollectNode":
        if self.min_digits > self.max_digits:
            raise ValueError(f"min_digits ({self.min_digits}) is larger than max_digits ({self.max_digits})")
        return self


VerifyMethod = Literal["id_tail", "phone", "name", "caller_phone"]


class VerifyPrompts(_Model):
    id_tail: Id | None = None  # "请输入身份证号码后四位"
    phone: Id | None = None  # "请输入您登记的电话号码"
    name: Id | None = None  # "请说出户主姓名"


class VerifyNode(_Input):
    type: Literal["verify"]
    methods: Annotated[list[VerifyMethod], Field(min_length=1)]
    require: Annotated[int, Field(ge=1, le=4)] = 1
    id_tail_digits: Annotated[int, Field(ge=4, le=6)] = 4
    prompts: VerifyPrompts = VerifyPrompts()
    failed_prompt: Id | None = None
    next: Id
    on_unknown: Id | None = None  # no customer to verify against; default on_fail

    @model_validator(mode="after")
    def _consistent(self) -> "VerifyNode":
        if len(set(self.methods)) != len(self.methods):
            raise ValueError("a verification method is listed twice")
        if self.require > len(self.methods):
            raise ValueError(f"require is {self.require} but only {len(self.methods)} method(s) are listed")
        for m in self.methods:
            if m != "caller_phone" and getattr(self.prompts, m) is None:
                raise ValueError(f"method {m!r} needs prompts.{m}")
        return self


class LookupNode(_Node):
    type: Literal["lookup"]
    by: Literal["caller_number", "account_no"]
    var: Id = "account_no"  # the collected variable holding the account number (by: account_no)
    # Account numbers like G2024000001 cannot be keyed: the caller keys the digits, we try each prefix.
    prefixes: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,8}$")]] = []
    found: Id
    not_found: Id


class OutagesNode(_Node):
    type: Literal["outages"]
    utility: Literal["gas", "water", "heat"] | None = None  # None: the flow's utility
    ahead_hours: Annotated[float, Field(ge=0, le=24 * 14)] = 72.0
    intro_prompt: Id  # "您所在区域有以下停气安排："
    none_prompt: Id | None = None  # played when there is nothing to announce (menu choice "停气信息")
    next: Id


class BalanceNode(_Node):
    type: Literal["balance"]
    balance_prompt: Id  # "您的账户余额为"
    arrears_prompt: Id  # "您目前欠费"
    no_arrears_prompt: Id  # "您目前没有欠费"
    next: Id
    on_unverified: Id
    on_no_account: Id


class Condition(_Model):
    flag: Id | None = None
    not_flag: Id | None = None
    time: Annotated[str, AfterValidator(_time_range)] | None = None  # local time, may wrap midnight
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] | None = None
    emergency: bool | None = None
    customer: Literal["known", "unknown"] | None = None
    verified: bool | None = None
    var: Id | None = None
    equals: str | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> "Condition":
        if all(v is None for v in self.__dict__.values()):
            raise ValueError("condition is empty: use flag, not_flag, time, days, emergency, customer, "
                             "verified or var/equals")
        if (self.var is None) != (self.equals is None):
            raise ValueError("var and equals go together")
        return self


class Rule(_Model):
    when: Condition
    goto: Id


class BranchNode(_Node):
    type: Literal["branch"]
    rules: Annotated[list[Rule], Field(min_length=1)]
    default: Id


class SetNode(_Node):
    type: Literal["set"]
    priority: Priority | None = None
    skill: Id | None = None
    category: Annotated[str, Field(min_length=1, max_length=64)] | None = None  # calls.category, e.g. repair
    flags: list[Id] = []
    next: Id

    @model_validator(mode="after")
    def _sets_something(self) -> "SetNode":
        if self.priority is None and self.skill is None and self.category is None and not self.flags:
            raise ValueError("set node sets nothing: give priority, skill, category or flags")
        return self


class QueueNode(_Node):
    type: Literal["queue"]
    queue: Id
    skill: Id | None = None
    priority: Priority | None = None
    prompt: PromptList | None = None


OrderType = Literal["callback_request", "consultation", "repair", "service_application", "complaint", "report",
                    "opinion", "suggestion", "praise"]


class MessageNode(_Node):
    """Record a message and open a work order for it (type callback_request unless stated)."""

    type: Literal["message"]
    prompt: PromptList
    order_type: OrderType = "callback_request"
    max_seconds: Annotated[float, Field(ge=5, le=600)] = 90.0
    silence_seconds: Annotated[float, Field(gt=0, le=30)] = 4.0
    saved_prompt: Id | None = None
    next: Id


class TransferNode(_Node):
    type: Literal["transfer"]
    context: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_\-]+$")]
    extension: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_+*#\-]+$")]
    priority: Annotated[int, Field(ge=1)] = 1
    prompt: PromptList | None = None


class SurveyNode(_Input):
    type: Literal["survey"]
    prompt: PromptList
    thanks_prompt: Id | None = None
    next: Id


class HangupNode(_Node):
    type: Literal["hangup"]
    prompt: PromptList | None = None


Node = Union[PlayNode, MenuNode, CollectNode, VerifyNode, LookupNode, OutagesNode, BalanceNode, BranchNode,
             SetNode, QueueNode, MessageNode, TransferNode, SurveyNode, HangupNode]
NODE_TYPES: dict[str, type[BaseModel]] = {
    "play": PlayNode, "menu": MenuNode, "collect": CollectNode, "verify": VerifyNode, "lookup": LookupNode,
    "outages": OutagesNode, "balance": BalanceNode, "branch": BranchNode, "set": SetNode, "queue": QueueNode,
    "message": MessageNode, "transfer": TransferNode, "survey": SurveyNode, "hangup": HangupNode,
}
INPUT_TYPES = (MenuNode, CollectNode, VerifyNode, SurveyNode)
TERMINAL_TYPES = (QueueNode, TransferNode, HangupNode)


class FlowHeader(_Model):
    """Everything at the top of a flow file except `prompts:` and `nodes:` (validated entry by entry)."""

    flow: Id  # also the folder of its sounds: sound:hotline/<language>/<flow>/<prompt>
    title: str = ""
    language: Literal["zh", "en"] = "zh"
    timezone: str = "Asia/Shanghai"
    utility: Literal["gas", "water", "heat"] = "gas"
    start: Id
    zero_out: Id  # where key 0 goes at every menu: a person
    defaults: Defaults = Defaults()
    speech: SpeechConfig = SpeechConfig()
    emergency: EmergencyConfig | None = None
    entries: dict[Id, Id] = {}  # extra entry points, e.g. survey: post_call_survey (run by the ACD)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {v!r} (e.g. Asia/Shanghai)") from None
        return v


@dataclass
class Flow:
    """A loaded, checked flow: header, prompts and nodes plus where each came from in the file."""

    header: FlowHeader
    prompts: dict[str, Prompt]
    nodes: dict[str, Node]
    path: str
    node_lines: dict[str, int] = field(default_factory=dict)
    node_src: dict[str, Any] = field(default_factory=dict)  # the located YAML of each node (for lines)
    prompt_lines: dict[str, int] = field(default_factory=dict)
    header_src: Any = None

    @property
    def name(self) -> str:
        return self.header.flow

    def line_of(self, node_id: str, *path: Any) -> int:
        """Line of a node, or of a field inside it: line_of("menu", "options", 2, "goto")."""
        src = self.node_src.get(node_id)
        if src is None or not path:
            return self.node_lines.get(node_id, 1)
        return locate(src, path)

    def header_line(self, *path: Any) -> int:
        return locate(self.header_src, path) if self.header_src is not None else 1

    def input_setting(self, node: Any, name: str) -> Any:
        """An input node's own timeout/retries/prompts/on_fail, else the flow default."""
        own = getattr(node, name, None)
        return own if own is not None else getattr(self.header.defaults, name)


def time_in_range(spec: str, t: dt.time) -> bool:
    a, b = (_hhmm(x) for x in spec.split("-"))
    minutes = t.hour * 60 + t.minute
    start, end = a[0] * 60 + a[1], b[0] * 60 + b[1]
    return start <= minutes < end if start < end else (minutes >= start or minutes < end)
