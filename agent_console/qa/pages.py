"""HTML of the QA pages. Lists are rendered on the server (they work without scripts); the call detail and the
trend charts are drawn by scripts in static/qa/ from the JSON embedded in the page.

Every value from data goes through `esc`. The console's layout is reused so both look and switch language
alike; pages carry no inline style or script (the console's Content-Security-Policy forbids them).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any, Iterable

from agent_console.pages import _layout, esc
from agent_console.qa.filters import CHINA, KEYWORD_HINTS, PAGE_SIZE, Choices, query_string
from agent_console.qa.i18n import QaCatalog
from ivr.db.models import Role
from recordings.qa.service import ScoreItem
from recordings.qa.trends import Trends

CSS = '<link rel="stylesheet" href="/static/console/qa/qa.css">'
REVIEW_ROLES = (Role.QA, Role.SUPERVISOR, Role.ADMIN)


@dataclass(frozen=True)
class Who:
    name: str
    agent_id: str
    role: Role
    csrf: str


def local(at: dt.datetime | None) -> str:
    return at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M") if at else ""


def num(value: float | None) -> str:
    return "–" if value is None else f"{value:g}"


def _nav(c: QaCatalog, who: Who, current: str) -> str:
    links: list[tuple[str, str, str]] = []
    if who.role in REVIEW_ROLES:
        links += [("list", "/qa", "qa.nav.list"), ("review", "/qa/review", "qa.nav.review"),
                  ("trends", "/qa/trends", "qa.nav.trends")]
    if who.role is not Role.QA:
        links.append(("mine", "/qa/mine", "qa.nav.mine"))
    home = {Role.AGENT: "/agent", Role.SUPERVISOR: "/wallboard", Role.ADMIN: "/agent"}.get(who.role)
    if home:
        links.append(("console", home, "qa.nav.console"))
    on = ' class="on"'
    items = "".join(f'<a href="{esc(href)}" id="nav-{key}"{on if key == current else ""}>{esc(c.t(label))}</a>'
                    for key, href, label in links)
    return f'<nav class="qa-nav">{items}</nav>'


def _header(c: QaCatalog, who: Who, current: str) -> str:
    return f"""{_nav(c, who, current)}<div class="who"><span id="me-name">{esc(who.name)}</span>
<span class="muted">{esc(c.t('login.agent_id'))} <b id="me-id">{esc(who.agent_id)}</b></span>
<form method="post" action="/logout" class="inline"><input type="hidden" name="csrf" value="{esc(who.csrf)}">
<button type="submit" id="logout" class="link">{esc(c.t('logout'))}</button></form></div>"""


def _page(c: QaCatalog, who: Who, current: str, title: str, body: str, *, scripts: tuple[str, ...] = (),
          config: dict[str, Any] | None = None) -> str:
    cfg = None
    if config is not None:
        cfg = {"csrf": who.csrf, "role": who.role.value, "lang": c.lang, "i18n": c.for_js(), **config}
    return _layout(c, title, CSS + body, scripts=scripts, config=cfg, header=_header(c, who, current))


def message_page(c: QaCatalog, who: Who, text: str) -> str:
    return _page(c, who, "", c.t("qa.title"), f'<main class="qa"><p class="card error" id="qa-message" '
                                               f'role="alert">{esc(text)}</p></main>')


# --- lists -------------------------------------------------------------------------------------------------


def _options(pairs: Iterable[tuple[str, str]], selected: str, any_label: str) -> str:
    out = [f'<option value="">{esc(any_label)}</option>']
    for value, label in pairs:
        sel = " selected" if value == selected else ""
        out.append(f'<option value="{esc(value)}"{sel}>{esc(label)}</option>')
    return "".join(out)


def filter_form(c: QaCatalog, form: dict[str, str], choices: Choices, errors: list[str]) -> str:
    t = c.t
    any_ = t("qa.f.any")
    agents = _options(((aid, f"{aid} {name}") for _, aid, name in choices.agents), form["agent"], any_)
    queues = _options(choices.queues, form["queue"], any_)
    cats = _options(((x, x) for x in choices.categories), form["category"], any_)
    teams = _options(((x, x) for x in choices.teams), form["team"], any_)
    rules = _options(choices.rules, form["failed_rule"], any_)
    result = _options((("pass", t("qa.result.pass")), ("fail", t("qa.result.fail"))), form["result"], any_)
    hints = "".join(f'<option value="{esc(h)}">' for h in KEYWORD_HINTS)
    checked = " checked" if form["must_review"] else ""
    errs = "".join(f'<li>{esc(e)}</li>' for e in errors)
    err_box = f'<ul class="error" id="filter-errors" role="alert">{errs}</ul>' if errors else ""
    export = query_string(form)

    def field(key: str, label: str, control: str) -> str:
        return f'<label class="f-{key}">{esc(t(label))}{control}</label>'

    return f"""<form method="get" action="/qa" class="card qa-filters" id="qa-filters">{err_box}
{field('since', 'qa.f.since', f'<input type="date" name="since" id="f-since" value="{esc(form["since"])}">')}
{field('until', 'qa.f.until', f'<input type="date" name="until" id="f-until" value="{esc(form["until"])}">')}
{field('agent', 'qa.f.agent', f'<select name="agent" id="f-agent">{agents}</select>')}
{field('queue', 'qa.f.queue', f'<select name="queue" id="f-queue">{queues}</select>')}
{field('category', 'qa.f.category', f'<select name="category" id="f-category">{cats}</select>')}
{field('team', 'qa.f.team', f'<select name="team" id="f-team">{teams}</select>') if choices.teams else ''}
{field('min', 'qa.f.min', f'<input type="number" name="min" id="f-min" min="0" step="any" value="{esc(form["min"])}">')}
{field('max', 'qa.f.max', f'<input type="number" name="max" id="f-max" min="0" step="any" value="{esc(form["max"])}">')}
{field('result', 'qa.f.result', f'<select name="result" id="f-result">{result}</select>')}
{field('failed_rule', 'qa.f.failed_rule', f'<select name="failed_rule" id="f-failed-rule">{rules}</select>')}
{field('keyword', 'qa.f.keyword', f'<input name="keyword" id="f-keyword" list="keyword-hints" maxlength="50" '
       f'placeholder="{esc(t("qa.f.keyword_hint"))}" value="{esc(form["keyword"])}"><datalist id="keyword-hints">'
       f'{hints}</datalist>')}
<label class="check"><input type="checkbox" name="must_review" value="1" id="f-must-review"{checked}>
 {esc(t('qa.f.must_review'))}</label>
<div class="actions"><button type="submit" id="f-submit">{esc(t('qa.f.submit'))}</button>
<a href="/qa" id="f-reset">{esc(t('qa.f.reset'))}</a>
<a href="/qa/export.csv{('?' + esc(export)) if export else ''}" id="export-csv" class="button" download>
{esc(t('qa.f.export'))}</a></div>
</form>"""


def _tags(c: QaCatalog, i: ScoreItem) -> str:
    tags = [f'<span class="tag {"ok" if i.passed else "bad"} result">'
            f'{esc(c.t("qa.result.pass" if i.passed else "qa.result.fail"))}</span>']
    if i.instant_fail:
        tags.append(f'<span class="tag bad">{esc(c.t("qa.tag.instant"))}</span>')
    if i.must_review and not i.reviewed:
        tags.append(f'<span class="tag warn">{esc(c.t("qa.tag.review"))}</span>')
    if i.reviewed:
        tags.append(f'<span class="tag">{esc(c.t("qa.tag.reviewed"))}</span>')
    return " ".join(tags)


def score_table(c: QaCatalog, items: list[ScoreItem], titles: dict[str, str], queues: dict[str, str], *,
                table_id: str, reasons: bool = False, agent: bool = True) -> str:
    t = c.t
    if not items:
        return f'<p class="muted" id="{esc(table_id)}-empty">{esc(t("qa.none"))}</p>'
    head = [t("qa.col.time")] + ([t("qa.col.agent")] if agent else []) + [
        t("qa.col.caller"), t("qa.col.queue"), t("qa.col.category"), t("qa.col.score"), t("qa.col.result"),
        t("qa.col.reasons") if reasons else t("qa.col.failed"), t("qa.col.open")]
    rows = []
    for i in items:
        score = f'<b class="score">{num(i.effective_total)}</b>'
        if i.effective_total != i.total:
            score += f' <s class="muted" title="{esc(t("qa.tag.overridden"))}">{num(i.total)}</s>'
        last = ("；".join(i.review_reasons) if reasons
                else "、".join(titles.get(r, r) for r in i.failed_rules))
        cells = [local(i.started_at)] + ([f"{i.agent_id} {i.agent_name}"] if agent else []) + [
            i.caller_number, queues.get(i.queue, i.queue), i.category]
        tds = "".join(f"<td>{esc(x)}</td>" for x in cells)
        rows.append(f'<tr data-call="{i.call_id}">{tds}<td class="num">{score}</td><td>{_tags(c, i)}</td>'
                    f'<td class="why">{esc(last)}</td><td><a href="/qa/calls/{i.call_id}" class="open">'
                    f'{esc(t("qa.open"))}</a></td></tr>')
    ths = "".join(f"<th>{esc(h)}</th>" for h in head)
    return f'<table id="{esc(table_id)}" class="qa-table"><thead><tr>{ths}</tr></thead><tbody>{"".join(rows)}' \
           f'</tbody></table>'


def _pager(c: QaCatalog, form: dict[str, str], page: int, total: int, base: str) -> str:
    pages = max(1, math.ceil(total / PAGE_SIZE))
    prev = (f'<a href="{base}?{esc(query_string(form, page=page - 1))}" id="page-prev">{esc(c.t("qa.prev"))}</a>'
            if page > 1 else "")
    nxt = (f'<a href="{base}?{esc(query_string(form, page=page + 1))}" id="page-next">{esc(c.t("qa.next"))}</a>'
           if page < pages else "")
    return f'<p class="pager"><span id="result-count">{esc(c.t("qa.count", n=total))}</span> ' \
           f'{esc(c.t("qa.page", page=page, pages=pages))} {prev} {nxt}</p>'


def list_page(c: QaCatalog, who: Who, *, form: dict[str, str], choices: Choices, errors: list[str],
              items: list[ScoreItem], total: int, page: int) -> str:
    titles = dict(choices.rules)
    body = f"""<main class="qa">{filter_form(c, form, choices, errors)}
<section class="card">{_pager(c, form, page, total, '/qa')}
{score_table(c, items, titles, dict(choices.queues), table_id="scores")}</section></main>"""
    return _page(c, who, "list", c.t("qa.title"), body)


def queue_page(c: QaCatalog, who: Who, items: list[ScoreItem], queues: dict[str, str]) -> str:
    table = score_table(c, items, {}, queues, table_id="review-queue", reasons=True)
    if not items:
        table = f'<p class="muted" id="review-queue-empty">{esc(c.t("qa.queue.empty"))}</p>'
    body = f"""<main class="qa"><section class="card"><h2>{esc(c.t('qa.nav.review'))}</h2>
<p class="muted">{esc(c.t('qa.queue.intro'))}</p>{table}</section></main>"""
    return _page(c, who, "review", c.t("qa.nav.review"), body)


def _tiles(c: QaCatalog, trends: Trends) -> str:
    pct = "–" if trends.pass_rate is None else f"{trends.pass_rate:g}%"
    tiles = ((c.t("qa.t.calls"), str(trends.calls), "kpi-calls"), (c.t("qa.t.average"), num(trends.average),
             "kpi-average"), (c.t("qa.t.pass_rate"), pct, "kpi-pass-rate"))
    return '<section class="tiles qa-tiles">' + "".join(
        f'<div class="tile"><div class="label">{esc(label)}</div><div class="value" id="{i}">{esc(v)}</div></div>'
        for label, v, i in tiles) + "</section>"


def mine_page(c: QaCatalog, who: Who, items: list[ScoreItem], total: int, trends: Trends, titles: dict[str, str],
              queues: dict[str, str]) -> str:
    body = f"""<main class="qa"><section class="card"><h2>{esc(c.t('qa.mine.title'))}</h2>
<p class="muted">{esc(c.t('qa.mine.intro'))}</p>{_tiles(c, trends)}
<p id="result-count">{esc(c.t('qa.count', n=total))}</p>
{score_table(c, items, titles, queues, table_id="my-scores", agent=False)}</section></main>"""
    return _page(c, who, "mine", c.t("qa.mine.title"), body)


def trends_page(c: QaCatalog, who: Who, trends: Trends, *, since: str, until: str, team: str,
                teams: list[str]) -> str:
    t = c.t
    team_select = ""
    if teams:
        team_select = (f'<label>{esc(t("qa.f.team"))}<select name="team" id="t-team">'
                       f'{_options(((x, x) for x in teams), team, t("qa.f.any"))}</select></label>')
    days = "".join(f'<tr><td>{esc(b.key)}</td><td>{b.calls}</td><td>{num(b.average)}</td><td>{num(b.pass_rate)}%</td>'
                   f'</tr>' for b in trends.days)
    agents = "".join(f'<tr data-agent="{esc(b.key)}"><td>{esc(b.label)}</td><td>{b.calls}</td><td>{num(b.average)}'
                     f'</td><td>{num(b.pass_rate)}%</td></tr>' for b in trends.agents)
    rules = "".join(f'<tr data-rule="{esc(r.rule_id)}"><td>{esc(r.title)}</td><td>{r.failed}</td><td>{num(r.share)}%'
                    f'</td></tr>' for r in trends.rules)
    cols = (f'<th>{esc(t("qa.t.calls"))}</th><th>{esc(t("qa.t.average"))}</th>'
            f'<th>{esc(t("qa.t.pass_rate"))}</th>')
    empty = f'<p class="muted" id="trends-empty">{esc(t("qa.t.none"))}</p>' if not trends.calls else ""
    body = f"""<main class="qa">
<form method="get" action="/qa/trends" class="card qa-filters" id="trend-filters">
<label>{esc(t('qa.f.since'))}<input type="date" name="since" id="t-since" value="{esc(since)}"></label>
<label>{esc(t('qa.f.until'))}<input type="date" name="until" id="t-until" value="{esc(until)}"></label>
{team_select}<div class="actions"><button type="submit" id="t-submit">{esc(t('qa.f.submit'))}</button></div>
</form>{_tiles(c, trends)}{empty}
<section class="qa-charts">
<div class="card"><h3>{esc(t('qa.t.by_day'))}</h3><canvas id="chart-days" height="180"></canvas>
<table id="trend-days"><thead><tr><th>{esc(t('qa.t.day'))}</th>{cols}</tr></thead><tbody>{days}</tbody></table></div>
<div class="card"><h3>{esc(t('qa.t.by_agent'))}</h3><canvas id="chart-agents" height="180"></canvas>
<table id="trend-agents"><thead><tr><th>{esc(t('qa.col.agent'))}</th>{cols}</tr></thead><tbody>{agents}</tbody>
</table></div>
<div class="card"><h3>{esc(t('qa.t.rules'))}</h3><canvas id="chart-rules" height="180"></canvas>
<table id="trend-rules"><thead><tr><th>{esc(t('qa.d.rule'))}</th><th>{esc(t('qa.t.failed'))}</th>
<th>{esc(t('qa.t.share'))}</th></tr></thead><tbody>{rules}</tbody></table></div>
</section></main>"""
    return _page(c, who, "trends", t("qa.t.title"), body, scripts=("chart.umd.js", "console.js", "qa/qa-trends.js"),
                 config={"trends": trends.as_json()})


def detail_page(c: QaCatalog, who: Who, detail: dict[str, Any], *, may_review: bool) -> str:
    t = c.t
    review_form = ""
    if may_review:
        review_form = f"""<form class="card" id="review-form"><h3>{esc(t('qa.d.review.whole'))}</h3>
<label>{esc(t('qa.d.review.comment'))}
<textarea id="review-comment" rows="3" maxlength="2000" required></textarea></label>
<button type="submit" id="review-submit">{esc(t('qa.d.review.save'))}</button>
<span id="review-result" role="status"></span><p id="review-error" class="error" role="alert"></p></form>"""
    body = f"""<main class="qa qa-detail" id="qa-detail">
<section class="grid">
 <div class="col">
  <div class="card" id="score-card"><h3>{esc(t('qa.d.score'))}</h3><div id="score-box"></div>
   <div id="reasons-box" hidden><h4>{esc(t('qa.d.reasons'))}</h4><ul id="review-reasons" class="reasons"></ul></div>
  </div>
  <div class="card"><h3>{esc(t('qa.d.call'))}</h3><dl id="call-facts"></dl></div>
  <div class="card" id="audio-card"><h3>{esc(t('qa.d.audio'))}</h3><div id="tracks" class="tracks"></div>
   <audio id="player" controls preload="metadata"></audio>
   <p id="no-audio" class="muted" hidden>{esc(t('qa.d.no_audio'))}</p></div>
  <div class="card"><h3>{esc(t('qa.d.transcript'))}</h3>
   <p id="masked-note" class="muted" hidden>{esc(t('qa.d.masked'))}</p>
   <ol id="transcript" class="transcript"></ol></div>
 </div>
 <div class="col">
  <div class="card"><h3>{esc(t('qa.d.rules'))}</h3><p id="rule-error" class="error" role="alert"></p>
   <table id="rules" class="qa-table rules"><thead><tr><th>{esc(t('qa.d.rule'))}</th><th>{esc(t('qa.d.points'))}</th>
   <th>{esc(t('qa.d.evidence'))}</th></tr></thead><tbody></tbody></table></div>
  {review_form}
  <div class="card"><h3>{esc(t('qa.d.reviews'))}</h3>
   <table id="reviews" class="qa-table"><thead><tr><th>{esc(t('qa.d.review.when'))}</th>
   <th>{esc(t('qa.d.review.who'))}</th><th>{esc(t('qa.d.rule'))}</th><th>{esc(t('qa.d.review.change'))}</th>
   <th>{esc(t('qa.d.review.comment'))}</th></tr></thead><tbody></tbody></table></div>
 </div>
</section></main>"""
    return _page(c, who, "", t("qa.d.title"), body, scripts=("console.js", "qa/qa-detail.js"),
                 config={"detail": detail, "may_review": may_review})
