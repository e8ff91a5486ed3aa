"""Messages of the QA pages, kept apart from the console's catalog (which another part of the console owns).

QaCatalog answers the QA keys first and falls back to the console catalog for the shared ones (login,
logout, language switch), so the QA pages and the console speak with one voice.
"""

from __future__ import annotations

from agent_console.i18n import Catalog

QA_MESSAGES: dict[str, tuple[str, str]] = {
    "qa.title": ("通话质检", "Call quality"),
    "qa.nav.list": ("质检列表", "Scored calls"),
    "qa.nav.review": ("必检队列", "Must review"),
    "qa.nav.spot": ("抽检", "Spot checks"),
    "qa.nav.calibration": ("评分校准", "Calibration"),
    "qa.c.title": ("人工复核与自动评分的分歧", "Where reviewers and the machine disagree"),
    "qa.c.intro": ("统计复核人员改分的评分项：机器判不合格而复核给满分为“误报”，机器判合格而复核扣分为“漏判”。改分率高的评分项需要调整评分表。",
                   "Rules reviewers changed: the machine failed what a reviewer passed (false alarm), or passed "
                   "what a reviewer failed (miss). A rule changed often needs its rubric tuned."),
    "qa.c.reviewed": ("已复核通话", "Reviewed calls"),
    "qa.c.changed_calls": ("有改分的通话", "Calls with a change"),
    "qa.c.agreement": ("一致率", "Agreement"),
    "qa.c.none": ("该时间段没有复核记录", "No reviews in this period"),
    "qa.c.by_rule": ("按评分项", "Per rule"),
    "qa.c.by_reviewer": ("按复核人", "Per reviewer"),
    "qa.c.rule_reviewed": ("复核通话数", "Reviewed calls"),
    "qa.c.reviewer_calls": ("复核通话数", "Calls reviewed"),
    "qa.c.changed": ("改分次数", "Changed"),
    "qa.c.rate": ("改分率", "Change rate"),
    "qa.c.false_alarm": ("误报（机器不合格→人工满分）", "False alarm (machine fail, reviewer full points)"),
    "qa.c.miss": ("漏判（机器合格→人工扣分）", "Miss (machine pass, reviewer took points)"),
    "qa.c.more": ("加分", "More points"),
    "qa.c.less": ("减分", "Fewer points"),
    "qa.c.calls": ("相关通话", "Calls"),
    "qa.nav.trends": ("团队趋势", "Team trends"),
    "qa.nav.mine": ("我的评分", "My scores"),
    "qa.nav.console": ("返回工作台", "Back to console"),
    "qa.unavailable": ("质检评分表加载失败，请联系管理员", "The QA rubric could not be loaded; ask an administrator"),
    "qa.forbidden": ("您无权查看该通话", "You may not view this call"),
    "qa.not_found": ("没有这个通话的质检记录", "No QA record for this call"),
    # filters
    "qa.f.since": ("开始日期", "From"),
    "qa.f.until": ("结束日期", "To"),
    "qa.f.agent": ("坐席", "Agent"),
    "qa.f.queue": ("队列", "Queue"),
    "qa.f.category": ("来电分类", "Category"),
    "qa.f.min": ("最低分", "Min score"),
    "qa.f.max": ("最高分", "Max score"),
    "qa.f.result": ("质检结果", "Result"),
    "qa.f.failed_rule": ("未通过项", "Failed rule"),
    "qa.f.keyword": ("关键词", "Keyword"),
    "qa.f.keyword_hint": ("如 投诉、曝光、12345", "e.g. 投诉, 曝光, 12345"),
    "qa.f.must_review": ("仅需复核", "Must review only"),
    "qa.f.team": ("班组", "Team"),
    "qa.f.any": ("全部", "All"),
    "qa.f.submit": ("筛选", "Filter"),
    "qa.f.reset": ("清空", "Reset"),
    "qa.f.export": ("导出CSV", "Export CSV"),
    "qa.f.bad": ("筛选条件有误：{error}", "Invalid filter: {error}"),
    "qa.result.pass": ("合格", "Pass"),
    "qa.result.fail": ("不合格", "Fail"),
    "qa.result.unscorable": ("无法评分", "Unscorable"),
    "qa.unscorable.short_talk": ("通话过短（不足 {min} 秒）", "Too short (under {min} s)"),
    "qa.unscorable.no_agent_speech": ("接听后无坐席语音", "No agent speech after the answer"),
    "qa.count.unscorable": ("其中无法评分 {n} 通，不计入合格率", "of which {n} unscorable, not in the pass rate"),
    "qa.t.unscorable": ("无法评分", "Unscorable"),
    "qa.result.pending": ("待转写", "Awaiting transcript"),
    "qa.pending.title": ("已按通话记录评分（三声接听、致歉、挂机顺序、保持时长），语音评分项待转写后评分",
                         "Timeline rules scored (rings, apology due, hang-up order, hold time); the speech "
                         "rules wait for the transcript"),
    "qa.count.pending": ("其中 {n} 通待转写", "{n} awaiting their transcript"),
    "qa.t.pending": ("待转写", "Awaiting transcript"),
    "qa.speech.missing": ("尚未安装语音识别模型：{n} 通通话等待转写。三声接听、致歉是否需要、挂机顺序和保持时长已按通话记录评分；"
                          "问候语、禁用语等语音评分项待安装模型、转写后评分。",
                          "No speech model is installed: {n} calls wait for transcription. Rings, whether an "
                          "apology was due, hang-up order and hold time are scored from the call records; the "
                          "speech rules (greeting, forbidden phrases, ...) wait for a model and the transcript."),
    "qa.speech.loading": ("语音识别模型加载中，{n} 通通话等待转写。", "The speech model is loading; {n} calls wait "
                          "for transcription."),
    "qa.speech.waiting": ("转写排队中：{n} 通通话等待转写，{running} 通正在转写。",
                          "Transcription queue: {n} calls waiting, {running} being transcribed."),
    "qa.speech.idle": ("语音识别模型已配置，但没有转写进程在运行：{n} 通通话等待转写。",
                       "A speech model is configured but no transcription worker is running: {n} calls wait."),
    "qa.speech.failed": ("{n} 通通话转写失败，请运维人员查看。", "{n} transcriptions failed; an operator must look."),
    # table
    "qa.col.time": ("通话时间", "Time"),
    "qa.col.agent": ("坐席", "Agent"),
    "qa.col.caller": ("来电号码", "Caller"),
    "qa.col.queue": ("队列", "Queue"),
    "qa.col.category": ("分类", "Category"),
    "qa.col.score": ("得分", "Score"),
    "qa.col.result": ("结果", "Result"),
    "qa.col.failed": ("未通过项", "Failed rules"),
    "qa.col.reasons": ("复核原因", "Why review"),
    "qa.col.open": ("详情", "Detail"),
    "qa.open": ("查看", "Open"),
    "qa.count": ("共 {n} 通", "{n} calls"),
    "qa.none": ("没有符合条件的通话", "No matching calls"),
    "qa.prev": ("上一页", "Previous"),
    "qa.next": ("下一页", "Next"),
    "qa.page": ("第 {page} / {pages} 页", "Page {page} of {pages}"),
    "qa.tag.instant": ("一票否决", "Instant fail"),
    "qa.tag.review": ("需复核", "Review"),
    "qa.tag.reviewed": ("已复核", "Reviewed"),
    "qa.tag.overridden": ("已改分", "Overridden"),
    "qa.queue.intro": ("不合格、一票否决、投诉/曝光/12345 等风险词、客户评价不满意的通话须人工复核，“复核原因”列说明每通为何在此；"
                       "提交整通复核意见后移出队列。",
                       "Failed calls, instant fails, complaint and risk words and unhappy callers need a human "
                       "review; the last column says why each call is here. A whole-call conclusion takes the "
                       "call off this queue."),
    "qa.spot.intro": ("从合格且无需复核的通话中按评分表比例随机抽取（抽检），核对自动评分是否可信；提交整通复核意见后移出列表。",
                      "A random share (set in the rubric) of the passing calls that need no review, to check "
                      "that the automatic score can be trusted; a whole-call conclusion takes a call off."),
    "qa.spot.empty": ("抽检列表已清空", "No spot checks left"),
    "qa.spot.why": ("随机抽检（自动评分合格）", "Random spot check (passed automatically)"),
    "qa.queue.empty": ("复核队列已清空", "Nothing left to review"),
    # detail
    "qa.d.title": ("通话质检详情", "Call QA detail"),
    "qa.d.call": ("通话信息", "Call"),
    "qa.d.started": ("开始时间", "Started"),
    "qa.d.talk": ("通话时长", "Talk time"),
    "qa.d.hangup": ("挂机方", "Hung up by"),
    "qa.d.rubric": ("评分表版本", "Rubric"),
    "qa.d.score": ("质检得分", "Score"),
    "qa.d.auto": ("自动评分 {n}", "automatic {n}"),
    "qa.d.audio": ("通话录音", "Recording"),
    "qa.d.no_audio": ("该通话没有可播放的录音", "No playable recording for this call"),
    "qa.d.track.mixed": ("双方混音", "Both sides"),
    "qa.d.track.caller": ("客户声道", "Caller track"),
    "qa.d.track.agent": ("坐席声道", "Agent track"),
    "qa.d.purged": ("录音已按保存期限删除", "Recording purged (retention)"),
    "qa.d.transcript": ("通话转写", "Transcript"),
    "qa.d.no_transcript": ("暂无转写文本", "No transcript yet"),
    "qa.d.masked": ("已按隐私规定隐藏身份证号、电话号码和银行卡号", "ID, phone and bank numbers are masked"),
    "qa.d.rules": ("评分明细", "Rule breakdown"),
    "qa.d.rule": ("评分项", "Rule"),
    "qa.d.points": ("得分", "Points"),
    "qa.d.evidence": ("证据", "Evidence"),
    "qa.d.na": ("不适用", "Not applicable"),
    "qa.d.override": ("改分", "Override"),
    "qa.d.override.points": ("复核分数", "Points"),
    "qa.d.override.reason": ("理由", "Reason"),
    "qa.d.override.save": ("保存改分", "Save"),
    "qa.d.reviews": ("复核记录", "Reviews"),
    "qa.d.no_reviews": ("暂无复核记录", "No reviews yet"),
    "qa.d.review.whole": ("整通复核意见", "Whole-call conclusion"),
    "qa.d.review.comment": ("复核意见", "Comment"),
    "qa.d.review.save": ("提交复核意见", "Submit review"),
    "qa.d.review.saved": ("已保存", "Saved"),
    "qa.d.review.rule_all": ("整通", "Whole call"),
    "qa.d.review.who": ("复核人", "Reviewer"),
    "qa.d.review.when": ("时间", "When"),
    "qa.d.review.change": ("改分", "Points"),
    "qa.d.reasons": ("复核原因", "Why review"),
    "qa.speaker.agent": ("坐席", "Agent"),
    "qa.speaker.caller": ("客户", "Caller"),
    "qa.speaker.timeline": ("通话记录", "Timeline"),
    # trends
    "qa.t.title": ("团队质检趋势", "Team QA trends"),
    "qa.t.calls": ("质检通话", "Scored calls"),
    "qa.t.average": ("平均分", "Average score"),
    "qa.t.pass_rate": ("合格率", "Pass rate"),
    "qa.t.by_day": ("每日平均分与合格率", "Average score and pass rate per day"),
    "qa.t.by_agent": ("坐席平均分", "Average score per agent"),
    "qa.t.rules": ("最常未通过的评分项", "Most-failed rules"),
    "qa.t.failed": ("未通过次数", "Failed"),
    "qa.t.share": ("占比", "Share"),
    "qa.t.day": ("日期", "Day"),
    "qa.t.none": ("该时间段没有质检数据", "No scores in this period"),
    "qa.mine.title": ("我的质检评分", "My QA scores"),
    "qa.mine.intro": ("只显示您本人接听的通话。", "Only calls you answered are shown."),
}


class QaCatalog(Catalog):
    def t(self, key: str, **kw: object) -> str:
        pair = QA_MESSAGES.get(key)
        if pair is None:
            return super().t(key, **kw)
        text = pair[self._i]
        return text.format(**kw) if kw else text

    def for_js(self) -> dict[str, str]:
        return {**super().for_js(), **{k: v[self._i] for k, v in QA_MESSAGES.items()}}


def clashes() -> set[str]:
    """QA keys that the console catalog also defines (must stay empty: the test checks it)."""
    from agent_console.i18n import MESSAGES

    return set(QA_MESSAGES) & set(MESSAGES)
