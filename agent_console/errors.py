"""One error shape for the whole console: services raise HotlineError subclasses with an error_id; this
middleware turns them, and every bad input, into a 4xx with zh/en text, never a 500 with a traceback.

Shape (JSON): {"error": "<text in the visitor's language>", "error_id": "<stable id>", "details": {...}}.
`error` stays a plain string so the pages' scripts and API clients read it as before; `error_id` is what a
program should branch on. A bug of ours is still a 500, logged with its traceback, answered with no detail.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from agent_console.i18n import Catalog, request_catalog
from ivr.errors import Conflict, Forbidden, HotlineError, InvalidInput, NotFound, Unavailable

log = logging.getLogger(__name__)

# error_id -> (zh, en); {name} placeholders come from the error's details.
ERROR_TEXTS: dict[str, tuple[str, str]] = {
    "hotline.error": ("操作失败", "The request failed"),
    "hotline.not_found": ("没有找到", "Not found"),
    "hotline.invalid_input": ("请求格式错误", "Malformed request"),
    "hotline.conflict": ("当前状态下不能这样操作", "Not possible in the current state"),
    "hotline.forbidden": ("无权访问", "Not allowed"),
    "hotline.unavailable": ("服务暂不可用，请稍后再试", "Temporarily unavailable; try again shortly"),
    "console.internal": ("系统内部错误，已记录，请稍后再试", "Internal error (logged); try again shortly"),
    # ACD
    "acd.agent_state": ("当前状态下不能切换", "Not possible in the current state"),
    "acd.agent_inactive": ("坐席不存在或已停用", "The agent does not exist or is disabled"),
    "acd.not_signed_in": ("请先签入", "Sign in first"),
    "acd.busy_on_call": ("通话中不能切换状态", "Not possible during a call"),
    "acd.no_phone": ("该坐席未配置分机，不能接听来电", "No phone is configured for this agent"),
    "acd.unknown_reason": ("未知的示忙原因：{reason}", "Unknown not-ready reason: {reason}"),
    "acd.call_control": ("操作失败", "The call command failed"),
    "acd.not_your_call": ("该通话不在您的坐席上", "This call is not on your line"),
    "acd.unknown_queue": ("没有名为 {queue} 的队列", "No queue named {queue}"),
    "acd.hold_failed": ("保持/恢复失败，请重试", "Hold/resume failed; try again"),
    # work orders and wrap-up
    "workorders.error": ("工单操作失败", "The work order could not be saved"),
    "workorders.empty_description": ("请填写工单内容", "Describe the work order"),
    "workorders.invalid_complaint_level": ("投诉等级应为1、2或3", "Complaint level must be 1, 2 or 3"),
    "workorders.naive_time": ("时间缺少时区", "Time without a timezone"),
    "workorders.number_exhausted": ("工单编号分配失败，请重试", "No free order number; try again"),
    "workorders.calendar_file": ("节假日文件有误：{file}", "The holiday file cannot be read: {file}"),
    "workorders.not_found": ("没有这个工单", "No such work order"),
    "workorders.invalid_transition": ("工单当前状态不能执行该操作", "Not possible for an order in this state"),
    "workorders.not_allowed": ("您的角色不能执行该操作", "Your role may not do this"),
    "workorders.not_your_unit": ("该工单不在本单位", "This order is not at your unit"),
    "workorders.unknown_unit": ("没有这个责任单位：{unit}", "No such responsible unit: {unit}"),
    "workorders.same_unit": ("工单已在该单位", "The order is at that unit already"),
    "workorders.unknown_event": ("未知的工单操作：{event}", "Unknown work-order action: {event}"),
    "workorders.reason_required": ("请填写原因", "Give a reason"),
    "workorders.result_required": ("请填写办理结果", "Describe the result"),
    "workorders.unknown_return_reason": ("未知的退单原因", "Unknown reason for returning the order"),
    "workorders.text_too_long": ("内容不能超过{max}字", "Limited to {max} characters"),
    "workorders.deadline_in_past": ("新的期限已过，请选择将来的时间", "The new deadline is in the past"),
    "workorders.deadline_not_later": ("延期后的期限应晚于原期限", "An extension must end after the current deadline"),
    "workorders.extension_after_deadline": ("已超过办理期限，不能再申请延期", "The deadline has passed: too late for an extension"),
    "workorders.extension_pending": ("已有待审批的延期申请", "An extension request is already pending"),
    "workorders.no_extension": ("该工单没有待审批的延期申请", "No extension request to decide"),
    "workorders.changed_meanwhile": ("工单已被他人修改，请刷新后重试", "The order was changed meanwhile; reload and retry"),
    "workorders.unknown_outage": ("没有这个停供信息", "No such outage"),
    "workorders.invalid_forwarded": ("12345转办工单格式有误：{field} {problem}", "Malformed 12345 order: {field} {problem}"),
    "wrapup.category_required": ("请选择来电分类", "Choose a call category"),
    "wrapup.text_too_long": ("{field_label}不能超过{max}字", "{field_label_en} is limited to {max} characters"),
    "wrapup.unknown_order_type": ("未知的工单类型：{value}", "Unknown work-order type: {value}"),
    "wrapup.system_order_type": ("预约回电工单由系统创建", "Callback orders are created by the system"),
    "wrapup.not_your_call": ("没有这个通话，或该通话不是您接听的", "No such call, or you did not answer it"),
    "wrapup.already_done": ("该通话的话后处理已提交", "The wrap-up of this call was already submitted"),
    "recordings.unusable_file": ("录音文件不可用", "The recording file cannot be used"),
    # QA
    "qa.error": ("质检操作失败", "The QA request failed"),
    "qa.access_denied": ("无权访问", "Not allowed"),
    "qa.review_roles_only": ("只有质检员、班长和管理员可以复核评分", "Only QA staff, supervisors and admins review scores"),
    "qa.own_calls_only": ("坐席只能查看、收听自己的通话", "Agents see and hear their own calls only"),
    "qa.agents_cannot_export": ("坐席不能导出质检数据", "Agents cannot export QA data"),
    "qa.not_found": ("没有找到", "Not found"),
    "qa.call_not_found": ("没有这个通话", "No such call"),
    "qa.recording_not_found": ("没有这个录音", "No such recording"),
    "qa.recording_purged": ("录音已于 {purged_on} 按保存期限删除", "The recording was deleted on {purged_on} (retention)"),
    "qa.recording_file_missing": ("录音文件缺失，请联系管理员", "The recording file is missing; tell an administrator"),
    "qa.score_not_found": ("没有这个评分", "No such score"),
    "qa.not_scored": ("该通话还没有评分表 {rubric_version} 的质检评分", "The call has no score under rubric {rubric_version} yet"),
    "qa.review_invalid": ("复核内容有误", "The review cannot be stored"),
    "qa.review_whole_call_points": ("整通复核不能改分，请指定评分项", "A whole-call review changes no points: choose a rule"),
    "qa.review_comment_required": ("整通复核需要填写复核意见", "A whole-call review needs a comment"),
    "qa.review_unknown_rule": ("评分项 {rule_id} 不在评分表 {rubric_version} 中", "Rule {rule_id} is not in rubric {rubric_version}"),
    "qa.review_points_out_of_range": ("{title} 的分数必须在 0 到 {max_points} 之间", "{title}: points must be between 0 and {max_points}"),
    "qa.review_reason_required": ("修改“{title}”的得分需要填写理由", "Changing the points of {title} needs a reason"),
    "qa.review_empty": ("请填写分数或复核意见", "Give points or a comment"),
    "qa.review_points_nan": ("分数必须是数字", "Points must be a number"),
    "qa.review_comment_too_long": ("复核意见不能超过 {max} 字", "A comment is limited to {max} characters"),
}


def status_of(exc: HotlineError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, Unavailable):
        return 503
    if isinstance(exc, InvalidInput):
        return 400
    return 400


def error_text(c: Catalog, error_id: str, details: dict[str, Any]) -> str:
    pair = ERROR_TEXTS.get(error_id) or ERROR_TEXTS["hotline.error"]
    text = pair[1] if c.lang == "en" else pair[0]
    try:
        return text.format(**details)
    except (KeyError, IndexError, ValueError):
        return (ERROR_TEXTS["hotline.error"][1] if c.lang == "en" else ERROR_TEXTS["hotline.error"][0])


def _safe_details(details: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, (str, int, float, bool)) or v is None else str(v) for k, v in details.items()}


def error_response(request: web.Request, error_id: str, status: int, details: dict[str, Any] | None = None
                   ) -> web.Response:
    d = _safe_details(details or {})
    body = {"error": error_text(request_catalog(request), error_id, d), "error_id": error_id, "details": d}
    return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})


@web.middleware
async def errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPException:
        raise
    except HotlineError as exc:
        return error_response(request, exc.error_id, status_of(exc), exc.details)
    except (json.JSONDecodeError, RecursionError, UnicodeError, OverflowError) as exc:
        # A body nested past the parser's depth, bytes that are not UTF-8, a number past 64 bits.
        log.info("%s %s: bad input (%s)", request.method, request.path, type(exc).__name__)
        return error_response(request, InvalidInput.error_id, 400)
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return error_response(request, "console.internal", 500)
