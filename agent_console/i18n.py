"""The console's message catalog: Simplified Chinese first, English for visitors and developers.

Pages render with `Catalog.t`; the browser scripts get the same strings as JSON (`for_js`) so nothing on
screen is written twice. Scripts read to callers (greeting, closing) are settings, never translated.
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web

from agent_console.order_texts import ORDER_MESSAGES
from ivr import keys

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")

MESSAGES: dict[str, tuple[str, str]] = {
    # common
    "app.title": ("坐席工作台", "Agent console"),
    "wall.title": ("班长监控大屏", "Supervisor wallboard"),
    "lang.switch": ("English", "中文"),
    "logout": ("退出登录", "Log out"),
    "login.title": ("坐席登录", "Agent login"),
    "login.agent_id": ("工号", "Agent ID"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Log in"),
    "login.failed": ("工号或密码错误", "Wrong agent ID or password"),
    "login.locked": ("登录失败次数过多，请{minutes}分钟后再试", "Too many failed attempts; try again in {minutes} min"),
    "login.busy": ("登录人数较多，请稍后再试", "Too many logins at once; try again in a moment"),
    "pop.refused": ("质检人员请在质检页面查看通话（已脱敏）", "QA staff: open the call on the QA pages (masked)"),
    "login.inactive": ("该账号已停用", "This account is disabled"),
    "conn.online": ("已连接", "Connected"),
    "conn.offline": ("连接中断，正在重连…", "Disconnected, reconnecting…"),
    # states
    "state.offline": ("未签入", "Signed out"),
    "state.ready": ("就绪", "Ready"),
    "state.not_ready": ("示忙", "Not ready"),
    "state.ringing": ("振铃中", "Ringing"),
    "state.talking": ("通话中", "Talking"),
    "state.wrap_up": ("话后处理", "Wrap-up"),
    "btn.login_phone": ("签入", "Sign in"),
    "btn.ready": ("就绪", "Ready"),
    "btn.not_ready": ("示忙", "Not ready"),
    "btn.sign_out": ("签出", "Sign out"),
    "reason": ("原因", "Reason"),
    # incoming call / pop
    "incoming": ("来电振铃", "Incoming call"),
    "ring.of": ("第 {n} / {count} 声", "Ring {n} of {count}"),
    "ring.left": ("剩余 {s} 秒，请在三声内接听", "{s} s left: answer within 3 rings"),
    "missed.title": ("未及时接听", "Missed"),
    "ring.missed": ("未及时接听，来电已转给其他坐席", "Not answered in time; the call went to another agent"),
    "caller": ("来电号码", "Caller"),
    "customer": ("客户信息", "Customer"),
    "customer.none": ("未识别的来电号码", "Unknown caller"),
    "customer.name": ("姓名", "Name"),
    "customer.id_number": ("身份证号", "ID number"),
    "customer.address": ("地址", "Address"),
    "customer.area": ("片区", "Area"),
    "customer.phones": ("联系电话", "Phones"),
    "customer.accounts": ("户号", "Accounts"),
    "customer.special": ("重点关爱客户", "Special-care customer"),
    "verified.yes": ("已通过身份验证", "Identity verified"),
    "verified.no": ("未验证身份", "Identity not verified"),
    "ivr.path": ("语音导航路径", "IVR path"),
    "ivr.none": ("无导航记录", "No IVR steps"),
    "orders.open": ("未办结工单", "Open work orders"),
    "orders.none": ("无未办结工单", "No open work orders"),
    "calls.recent": ("近期来电", "Recent calls"),
    "calls.none": ("无近期来电", "No recent calls"),
    "outages": ("所在片区停供信息", "Outages in the caller's area"),
    "outages.none": ("所在片区暂无停供", "No outages in the caller's area"),
    "queue": ("队列", "Queue"),
    "waited": ("已等待", "Waited"),
    "seconds": ("秒", "s"),
    # talking
    "script.greeting": ("开场白", "Greeting"),
    "script.closing": ("结束语", "Closing"),
    "script.forbidden": ("服务禁用语（切勿使用）", "Forbidden phrases (never say)"),
    "script.apology_note": ("客户等待已超过三声，请先致歉", "The caller waited over 3 rings: apologise first"),
    "btn.hold": ("保持", "Hold"),
    "btn.unhold": ("恢复通话", "Resume"),
    "btn.transfer": ("转接", "Transfer"),
    "btn.hangup": ("挂断", "Hang up"),
    "held": ("客户保持中", "Caller on hold"),
    # wrap-up
    "wrapup": ("话后处理", "Wrap-up"),
    "wrapup.category": ("来电分类", "Category"),
    "wrapup.notes": ("通话小结", "Notes"),
    "wrapup.create_order": ("创建工单", "Create a work order"),
    "wrapup.order_type": ("工单类型", "Order type"),
    "wrapup.complaint_level": ("投诉等级", "Complaint level"),
    "wrapup.description": ("工单内容", "Description"),
    "wrapup.submit": ("提交并就绪", "Submit and get ready"),
    "wrapup.saved": ("已保存", "Saved"),
    "wrapup.order_created": ("已创建工单 {number}", "Work order {number} created"),
    "idle": ("等待来电", "Waiting for calls"),
    # wallboard
    "wall.queues": ("队列实况", "Queues"),
    "wall.waiting": ("排队数", "Waiting"),
    "wall.longest": ("最长等待", "Longest wait"),
    "wall.agents": ("坐席状态", "Agents"),
    "wall.answer_rate": ("接通率", "Answer rate"),
    "wall.service_level": ("三声内接通率", "Answered within 3 rings"),
    "wall.abandoned": ("放弃呼叫", "Abandoned"),
    "wall.offered": ("进线量", "Calls queued"),
    "wall.answered": ("接通量", "Answered"),
    "wall.compliance": ("三声接听达标率", "Ring-within-3 compliance"),
    "wall.violations": ("未及时接听次数", "Missed rings"),
    "wall.since": ("统计自", "Since"),
    "wall.agent": ("坐席", "Agent"),
    "wall.state": ("状态", "State"),
    "wall.duration": ("持续", "For"),
    **ORDER_MESSAGES,  # the work-order pages (agent_console/order_texts.py)
}

CATEGORIES = ("燃气泄漏报警", "故障报修", "业务办理", "账单缴费", "停气咨询", "投诉", "建议", "表扬", "其他咨询")


# Work-order types as agents and callers name them (the rules' categories, 004 §14).
ORDER_TYPE_TEXTS: dict[str, tuple[str, str]] = {
    "consultation": ("咨询", "Consultation"), "emergency": ("报警（紧急）", "Emergency"),
    "repair": ("故障报修", "Repair"), "service_application": ("业务申请", "Service application"),
    "complaint": ("投诉", "Complaint"), "report": ("举报", "Report"), "opinion": ("意见", "Opinion"),
    "suggestion": ("建议", "Suggestion"), "praise": ("表扬", "Praise"),
    "callback_request": ("预约回电", "Callback request"),
}


def order_type_label(kind: str, lang: Lang = "zh") -> str:
    zh, en = ORDER_TYPE_TEXTS.get(kind, (kind, kind))
    return en if lang == "en" else zh


# The zh labels by type, for pages and pops that are rendered in Chinese whatever the visitor's language.
TYPE_LABELS: dict[str, str] = {kind: zh for kind, (zh, _en) in ORDER_TYPE_TEXTS.items()}


class Catalog:
    def __init__(self, lang: Lang) -> None:
        self.lang: Lang = lang if lang in LANGS else "zh"
        self._i = LANGS.index(self.lang)

    def t(self, key: str, **kw: object) -> str:
        pair = MESSAGES.get(key)
        if pair is None:
            raise KeyError(f"no console message {key!r}")
        text = pair[self._i]
        return text.format(**kw) if kw else text

    def for_js(self) -> dict[str, str]:
        return {k: v[self._i] for k, v in MESSAGES.items()}


LANG_COOKIE = "hotline_lang"


def request_catalog(request: web.Request) -> Catalog:
    """The visitor's language (the language cookie, else the site's [hotline] language)."""
    lang = request.cookies.get(LANG_COOKIE) or request.app[keys.SETTINGS].hotline.language
    return Catalog(lang if lang in LANGS else "zh")  # type: ignore[arg-type]
