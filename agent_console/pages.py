"""Server-rendered HTML shells; the live parts are filled by small vanilla scripts in static/ (no build step).

Every value that comes from data goes through `esc`; the page configuration is embedded as JSON in a
<script type="application/json"> block, which the browser never executes.
"""

from __future__ import annotations

import html
import json
from typing import Any

from agent_console.i18n import CATEGORIES, Catalog
from ivr.acd.workorders import TYPE_LABELS
from ivr.db.models import WorkOrderType

STATIC = "/static/console"


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _config(data: dict[str, Any]) -> str:
    # "</" inside JSON would end the script element early.
    text = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    return f'<script id="config" type="application/json">{text}</script>'


def _layout(c: Catalog, title: str, body: str, *, scripts: tuple[str, ...] = (), config: dict[str, Any] | None = None,
            header: str = "") -> str:
    other = "en" if c.lang == "zh" else "zh"
    tags = "".join(f'<script src="{STATIC}/{esc(s)}" defer></script>' for s in scripts)
    return f"""<!doctype html>
<html lang="{'zh-CN' if c.lang == 'zh' else 'en'}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title><link rel="icon" href="data:,"><link rel="stylesheet" href="{STATIC}/console.css">{tags}</head>
<body>
<header class="top"><h1>{esc(title)}</h1>{header}
<a class="lang" href="/lang?set={other}" id="lang-switch">{esc(c.t('lang.switch'))}</a></header>
{_config(config) if config is not None else ''}
{body}
</body></html>"""


def login_page(c: Catalog, *, error: str = "", next_url: str = "/", agent_id: str = "") -> str:
    err = f'<p class="error" role="alert" id="login-error">{esc(error)}</p>' if error else ""
    body = f"""<main class="login">
<form method="post" action="/login" class="card" id="login-form">
<h2>{esc(c.t('login.title'))}</h2>{err}
<label>{esc(c.t('login.agent_id'))}<input name="agent_id" id="agent_id" autocomplete="username" required
 value="{esc(agent_id)}" autofocus></label>
<label>{esc(c.t('login.password'))}<input name="password" id="password" type="password"
 autocomplete="current-password" required></label>
<input type="hidden" name="next" value="{esc(next_url)}">
<button type="submit" id="login-submit">{esc(c.t('login.submit'))}</button>
</form></main>"""
    return _layout(c, c.t("app.title"), body)


def _user_header(c: Catalog, name: str, agent_id: str, csrf: str) -> str:
    return f"""<div class="who"><span id="me-name">{esc(name)}</span> <span class="muted">{esc(c.t('login.agent_id'))}
<b id="me-id">{esc(agent_id)}</b></span>
<form method="post" action="/logout" class="inline"><input type="hidden" name="csrf" value="{esc(csrf)}">
<button type="submit" id="logout" class="link">{esc(c.t('logout'))}</button></form>
<span id="conn" class="conn off">{esc(c.t('conn.offline'))}</span></div>"""


def agent_page(c: Catalog, *, config: dict[str, Any], name: str, agent_id: str, csrf: str) -> str:
    t = c.t
    types = "".join(f'<option value="{esc(k.value)}">{esc(v)}</option>' for k, v in TYPE_LABELS.items()
                    if k is not WorkOrderType.CALLBACK_REQUEST)
    cats = "".join(f'<option>{esc(x)}</option>' for x in CATEGORIES)
    body = f"""<main class="agent">
<section class="bar card" id="state-bar">
 <span class="badge" id="state-badge" data-state="offline">{esc(t('state.offline'))}</span>
 <span id="state-reason" class="muted"></span> <span id="state-since" class="muted"></span>
 <button id="btn-login" type="button">{esc(t('btn.login_phone'))}</button>
 <button id="btn-ready" type="button">{esc(t('btn.ready'))}</button>
 <select id="reason-select" aria-label="{esc(t('reason'))}"></select>
 <button id="btn-not-ready" type="button">{esc(t('btn.not_ready'))}</button>
 <button id="btn-sign-out" type="button">{esc(t('btn.sign_out'))}</button>
 <span id="bar-error" class="error" role="alert"></span>
</section>
<section class="grid">
 <div class="col">
  <div class="card idle" id="idle">{esc(t('idle'))}</div>
  <div class="card call" id="call-card" hidden>
   <div class="call-head"><h2 id="call-title">{esc(t('incoming'))}</h2>
    <span class="muted">{esc(t('caller'))}</span> <b id="caller-number"></b>
    <span class="muted">{esc(t('queue'))}</span> <span id="call-queue"></span></div>
   <div id="ring" class="ring">
    <div class="ring-lights" id="ring-lights"></div>
    <div id="ring-text"></div>
    <div class="meter"><div id="ring-meter"></div></div>
   </div>
   <p id="ring-missed" class="error" hidden>{esc(t('ring.missed'))}</p>
   <div id="controls" class="controls" hidden>
    <button id="btn-hold" type="button">{esc(t('btn.hold'))}</button>
    <select id="transfer-queue" aria-label="{esc(t('btn.transfer'))}"></select>
    <button id="btn-transfer" type="button">{esc(t('btn.transfer'))}</button>
    <button id="btn-hangup" type="button" class="danger">{esc(t('btn.hangup'))}</button>
    <span id="held" class="warn" hidden>{esc(t('held'))}</span>
   </div>
  </div>
  <div class="card" id="pop" hidden>
   <h3>{esc(t('customer'))} <span id="verified" class="tag"></span> <span id="special" class="tag warn" hidden>
   {esc(t('customer.special'))}</span></h3>
   <dl id="customer"></dl>
   <h3>{esc(t('ivr.path'))}</h3><ol id="ivr-path" class="path"></ol>
   <h3>{esc(t('orders.open'))}</h3><ul id="orders"></ul>
   <h3>{esc(t('calls.recent'))}</h3><ul id="recent-calls"></ul>
   <h3>{esc(t('outages'))}</h3><ul id="outages"></ul>
  </div>
 </div>
 <div class="col">
  <div class="card script" id="script-card" hidden>
   <h3>{esc(t('script.greeting'))}</h3>
   <p id="apology-note" class="warn" hidden>{esc(t('script.apology_note'))}</p>
   <p class="say" id="greeting"></p>
   <h3>{esc(t('script.closing'))}</h3><p class="say" id="closing"></p>
  </div>
  <form class="card" id="wrapup" hidden>
   <h3>{esc(t('wrapup'))}</h3>
   <input type="hidden" name="call_id" id="wrapup-call">
   <label>{esc(t('wrapup.category'))}<select name="category" id="wrapup-category">{cats}</select></label>
   <label>{esc(t('wrapup.notes'))}<textarea name="notes" id="wrapup-notes" rows="3" maxlength="2000"></textarea></label>
   <label class="check"><input type="checkbox" name="create_order" id="wrapup-create"> {esc(t('wrapup.create_order'))}</label>
   <fieldset id="order-fields" disabled>
    <label>{esc(t('wrapup.order_type'))}<select name="order_type" id="order-type">{types}</select></label>
    <label>{esc(t('wrapup.complaint_level'))}<select name="complaint_level" id="complaint-level">
     <option value="3">3 一般（3小时）</option><option value="2">2 较大（24小时）</option>
     <option value="1">1 重大（48小时）</option></select></label>
    <label>{esc(t('wrapup.description'))}<textarea name="description" id="order-description" rows="3"
     maxlength="2000"></textarea></label>
   </fieldset>
   <button type="submit" id="wrapup-submit">{esc(t('wrapup.submit'))}</button>
   <p id="wrapup-result" role="status"></p>
  </form>
  <div class="card" id="forbidden-card"><h3>{esc(t('script.forbidden'))}</h3><ul id="forbidden" class="forbidden"></ul></div>
 </div>
</section></main>"""
    return _layout(c, t("app.title"), body, scripts=("console.js", "agent.js"), config=config,
                   header=_user_header(c, name, agent_id, csrf))


def wallboard_page(c: Catalog, *, config: dict[str, Any], name: str, agent_id: str, csrf: str) -> str:
    t = c.t
    tiles = "".join(f'<div class="tile"><div class="label">{esc(t(k))}</div><div class="value" id="{i}">–</div></div>'
                    for k, i in (("wall.offered", "kpi-queued"), ("wall.answered", "kpi-answered"),
                                 ("wall.answer_rate", "kpi-answer-rate"), ("wall.service_level", "kpi-service-level"),
                                 ("wall.abandoned", "kpi-abandoned"), ("wall.waiting", "kpi-waiting")))
    body = f"""<main class="wall">
<section class="tiles">{tiles}</section>
<p class="muted">{esc(t('wall.since'))} <span id="since"></span></p>
<section class="grid">
 <div class="card"><h3>{esc(t('wall.queues'))}</h3>
  <table id="queues"><thead><tr><th>{esc(t('queue'))}</th><th>{esc(t('wall.waiting'))}</th>
  <th>{esc(t('state.ringing'))}</th><th>{esc(t('wall.longest'))}</th></tr></thead><tbody></tbody></table>
  <canvas id="chart-queues" height="160"></canvas></div>
 <div class="card"><h3>{esc(t('wall.agents'))}</h3>
  <table id="agents"><thead><tr><th>{esc(t('wall.agent'))}</th><th>{esc(t('wall.state'))}</th>
  <th>{esc(t('reason'))}</th><th>{esc(t('wall.duration'))}</th></tr></thead><tbody></tbody></table></div>
 <div class="card"><h3>{esc(t('wall.compliance'))}</h3>
  <table id="compliance"><thead><tr><th>{esc(t('wall.agent'))}</th><th>{esc(t('wall.answered'))}</th>
  <th>{esc(t('wall.violations'))}</th><th>{esc(t('wall.compliance'))}</th></tr></thead><tbody></tbody></table>
  <canvas id="chart-compliance" height="160"></canvas></div>
 <div class="card"><h3>{esc(t('wall.offered'))} / {esc(t('wall.answered'))}</h3>
  <canvas id="chart-hours" height="160"></canvas></div>
</section></main>"""
    return _layout(c, t("wall.title"), body, scripts=("chart.umd.js", "console.js", "wallboard.js"), config=config,
                   header=_user_header(c, name, agent_id, csrf))
