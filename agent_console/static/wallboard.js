/* Supervisor wallboard: live queues and agent states from the socket, daily figures every few seconds,
   Chart.js charts (vendored chart.umd.js, no CDN). */
"use strict";
(function () {
  const { t, el, Live } = window.Hotline;
  const $ = (id) => document.getElementById(id);
  const agents = new Map();   // pk -> agent view
  let queues = [];
  const orders = new Map();  // number -> the order's alert (nearly due / overdue), from the snapshot and `order`
  let clockOffset = 0;
  const charts = {};

  function chart(id, type, labels, datasets, opts) {
    if (!window.Chart) return;  // the board still works as tables
    if (!charts[id]) {
      charts[id] = new window.Chart($(id), { type, data: { labels, datasets },
        options: Object.assign({ animation: false, responsive: true, plugins: { legend: { display: datasets.length > 1 } } }, opts || {}) });
    } else {
      charts[id].data.labels = labels;
      charts[id].data.datasets.forEach((d, i) => { d.data = datasets[i].data; });
      charts[id].update("none");
    }
  }
  const secs = (s) => (s >= 60 ? `${Math.floor(s / 60)}分${Math.round(s % 60)}秒` : `${Math.round(s)}${t("seconds")}`);
  const pct = (v) => (v === null || v === undefined ? "–" : v.toFixed(1) + "%");

  function renderAgents() {
    const body = $("agents").tBodies[0];
    body.replaceChildren();
    const list = [...agents.values()].sort((a, b) => a.agent_id.localeCompare(b.agent_id));
    for (const a of list) {
      const since = a.since ? (Date.now() + clockOffset - new Date(a.since).getTime()) / 1000 : 0;
      const row = el("tr", { "data-agent": a.agent_id, "data-state": a.state },
        el("td", { text: `${a.agent_id} ${a.name}` }),
        el("td", { text: t("state." + a.state), class: a.state === "not_ready" && a.reason === "未及时接听" ? "bad" : "" }),
        el("td", { text: a.reason || "" }), el("td", { text: secs(Math.max(0, since)) }));
      body.append(row);
    }
  }
  function renderQueues() {
    const body = $("queues").tBodies[0];
    body.replaceChildren();
    let waiting = 0;
    for (const q of queues) {
      waiting += q.waiting;
      body.append(el("tr", { "data-queue": q.name }, el("td", { text: q.label }),
        el("td", { text: String(q.waiting), class: "waiting" }), el("td", { text: String(q.ringing) }),
        el("td", { text: q.waiting ? secs(q.longest) : "–" })));
    }
    $("kpi-waiting").textContent = String(waiting);
    chart("chart-queues", "bar", queues.map((q) => q.label),
      [{ label: t("wall.waiting"), data: queues.map((q) => q.waiting), backgroundColor: "#1565c0" }],
      { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } });
  }
  function renderStats(s) {
    $("kpi-queued").textContent = String(s.queued);
    $("kpi-answered").textContent = String(s.answered);
    $("kpi-answer-rate").textContent = pct(s.answer_rate);
    $("kpi-service-level").textContent = pct(s.service_level);
    $("kpi-abandoned").textContent = String(s.abandoned);
    $("since").textContent = new Date(s.since).toLocaleString("zh-CN", { hour12: false, timeZone: "Asia/Shanghai" });
    const body = $("compliance").tBodies[0];
    body.replaceChildren();
    for (const c of s.compliance) {
      body.append(el("tr", { "data-agent": c.agent_id }, el("td", { text: `${c.agent_id} ${c.name}` }),
        el("td", { text: `${c.answered}/${c.offers}` }),
        el("td", { text: String(c.violations), class: c.violations ? "bad" : "" }),
        el("td", { text: pct(c.compliance), class: "compliance" })));
    }
    chart("chart-compliance", "bar", s.compliance.map((c) => c.agent_id),
      [{ label: t("wall.compliance"), data: s.compliance.map((c) => c.compliance), backgroundColor: "#2e7d32" }],
      { scales: { y: { beginAtZero: true, max: 100 } } });
    const hours = s.hours.filter((h) => h.queued || h.answered);
    chart("chart-hours", "line", hours.map((h) => `${h.hour}:00`), [
      { label: t("wall.offered"), data: hours.map((h) => h.queued), borderColor: "#1565c0" },
      { label: t("wall.answered"), data: hours.map((h) => h.answered), borderColor: "#2e7d32" }],
      { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } });
  }

  function renderOrders() {
    const box = $("wall-orders");
    const list = [...orders.values()].sort((a, b) => (a.due_at || "").localeCompare(b.due_at || ""));
    box.replaceChildren();
    if (!list.length) { box.append(el("li", { class: "muted", text: t("wall.orders.none") })); return; }
    for (const o of list) {
      const due = o.due_at ? new Date(o.due_at).toLocaleString("zh-CN", { hour12: false, timeZone: "Asia/Shanghai" }) : "";
      box.append(el("li", { class: o.clock_state, "data-order": o.number, "data-clock": o.clock_state },
        el("a", { href: `/orders/${o.id}`, text: o.number }),
        ` ${t("wo.clock." + o.clock_state)} · ${o.unit_name || "—"} · ${t("wo.stage." + (o.clock_stage || ""))} ${due}`
        + (o.escalated ? ` · ${t("wo.escalated")}` : o.urged ? ` · ${t("wo.urged")}` : "")));
    }
  }
  function orderChanged(o) {
    const before = orders.get(o.number) || {};
    if (o.clock_state === "near" || o.clock_state === "overdue") {
      orders.set(o.number, Object.assign({}, before, o, { urged: o.urged || before.urged, escalated: o.escalated || before.escalated }));
    } else {
      orders.delete(o.number);  // on time again (dispatched, extended), paused or done
    }
    renderOrders();
  }

  const live = new Live("wall", {
    snapshot(m) {
      clockOffset = new Date(m.server_time).getTime() - Date.now();
      agents.clear();
      for (const a of m.agents) agents.set(a.pk, a);
      queues = m.queues;
      orders.clear();
      for (const o of m.orders || []) orders.set(o.number, o);
      renderAgents(); renderQueues(); renderStats(m.stats); renderOrders();
      document.body.dataset.ready = "1";
    },
    agent(m) { agents.set(m.agent.pk, m.agent); renderAgents(); },
    queues(m) { queues = m.queues; renderQueues(); },
    stats(m) { renderStats(m.stats); },
    order(m) { orderChanged(m.order); },
  });
  window.hotlineLive = live;
  live.connect();
  setInterval(renderAgents, 1000);  // the "for how long" column
})();
