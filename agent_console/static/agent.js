/* The agent page: state controls, the incoming-call card with the live 3-ring countdown, the screen pop,
   the greeting/closing scripts, call controls and the wrap-up form. All state comes from the socket. */
"use strict";
(function () {
  const { cfg, t, api, el, fill, fmtTime, Live } = window.Hotline;
  const $ = (id) => document.getElementById(id);
  let me = null;          // {state, reason, since, call_id}
  let call = null;        // {call_id, offer, answered, held, pop}
  let clockOffset = 0;    // server time - browser time, from the last message that carried server_time
  let ringTimer = null;
  const queueLabels = {};

  function syncClock(serverIso) {
    if (serverIso) clockOffset = new Date(serverIso).getTime() - Date.now();
  }
  const now = () => Date.now() + clockOffset;

  // --- state bar ---------------------------------------------------------------------------------------
  function renderAgent() {
    const s = me ? me.state : "offline";
    const badge = $("state-badge");
    badge.dataset.state = s;
    badge.textContent = t("state." + s);
    $("state-reason").textContent = me && me.reason ? me.reason : "";
    $("state-since").textContent = me && me.since ? fmtTime(me.since) : "";
    const on = (id, yes) => { $(id).disabled = !yes; };
    on("btn-login", s === "offline");
    on("btn-ready", s === "not_ready" || s === "wrap_up");
    on("btn-not-ready", s === "ready" || s === "not_ready" || s === "wrap_up");
    on("reason-select", s === "ready" || s === "not_ready" || s === "wrap_up");
    on("btn-sign-out", s === "ready" || s === "not_ready" || s === "wrap_up");
    document.body.dataset.state = s;
  }
  async function act(body) {
    $("bar-error").textContent = "";
    try { await api("/api/agent/state", body); } catch (e) { $("bar-error").textContent = e.message; }
  }
  $("btn-login").onclick = () => act({ action: "login" });
  $("btn-ready").onclick = () => act({ action: "ready" });
  $("btn-not-ready").onclick = () => act({ action: "not_ready", reason: $("reason-select").value });
  $("btn-sign-out").onclick = () => act({ action: "logout" });

  // --- the call card -----------------------------------------------------------------------------------
  function showCall(kind) {
    $("idle").hidden = !!kind;
    $("call-card").hidden = !kind;
    $("call-card").className = "card call" + (kind === "talking" ? " talking" : "");
    $("call-card").dataset.phase = kind || "";
    $("ring").hidden = kind !== "ringing";
    $("controls").hidden = kind !== "talking";
    $("call-title").textContent = kind === "talking" ? t("state.talking") : t("incoming");
  }
  function stopRing() { if (ringTimer) { clearInterval(ringTimer); ringTimer = null; } }
  function startRing(offer) {
    stopRing();
    const lights = $("ring-lights");
    lights.replaceChildren(...Array.from({ length: offer.ring_count }, () => el("span")));
    const start = new Date(offer.ring_started_at).getTime();
    const cadence = (offer.ring_on + offer.ring_off) * 1000;
    const limit = offer.limit_seconds * 1000;
    const tick = () => {
      const elapsed = Math.max(0, now() - start);
      const n = Math.min(offer.ring_count, Math.floor(elapsed / cadence) + 1);
      [...lights.children].forEach((s, i) => { s.className = (i < n ? "lit" : "") + (i === n - 1 ? " now" : ""); });
      const left = Math.max(0, (limit - elapsed) / 1000);
      $("ring-text").textContent = t("ring.of", { n, count: offer.ring_count }) + " · " +
        t("ring.left", { s: left.toFixed(1) });
      $("ring-text").dataset.ring = String(n);
      const meter = $("ring-meter");
      meter.style.width = (100 * left * 1000 / limit).toFixed(1) + "%";
      meter.className = left < offer.ring_on + offer.ring_off ? "late" : "";
    };
    tick();
    ringTimer = setInterval(tick, 250);
  }
  function renderHead(number, queue) {
    $("caller-number").textContent = number || "";
    $("call-queue").textContent = queueLabels[queue] || queue || "";
  }
  let popOutage = null;  // an outage of the caller's area going on now: the wrap-up may attach to its order
  function renderPop(pop) {
    $("pop").hidden = !pop;
    if (!pop) { renderHead("", ""); return; }
    const going = (pop.outages || []).find((o) => new Date(o.starts_at).getTime() <= Date.now());
    popOutage = going ? going.id : null;
    renderHead(pop.caller_number, pop.queue);
    const v = $("verified");
    v.textContent = t(pop.verified ? "verified.yes" : "verified.no");
    v.className = "tag " + (pop.verified ? "ok" : "bad");
    v.dataset.verified = pop.verified ? "1" : "0";
    const c = pop.customer;
    $("special").hidden = !(c && c.special_care);
    const dl = $("customer");
    dl.replaceChildren();
    if (!c) {
      dl.append(el("dt", { text: "" }), el("dd", { text: t("customer.none"), id: "customer-none" }));
    } else {
      const rows = [["customer.name", c.name, "cust-name"], ["customer.id_number", c.id_number, "cust-id"],
        ["customer.phones", c.phones.join("，"), "cust-phones"], ["customer.address", c.address, "cust-address"],
        ["customer.area", c.area, "cust-area"],
        ["customer.accounts", c.accounts.map((a) => `${a.account_no}（余额 ${a.balance}，欠费 ${a.arrears}）`).join("；"),
          "cust-accounts"]];
      if (c.special_care) rows.push(["customer.special", c.special_care_note || "", "cust-special"]);
      for (const [k, val, id] of rows) dl.append(el("dt", { text: t(k) }), el("dd", { text: val || "—", id }));
    }
    fill("ivr-path", pop.ivr, (s) => el("li", { text: (s.label || s.node) + (s.inputs.length ? "：" +
      s.inputs.map((i) => i.value).join("，") : "") }), t("ivr.none"));
    fill("orders", pop.orders, (o) => el("li", { class: "clock-" + (o.clock_state || ""), "data-order": o.number,
      "data-clock": o.clock_state || "" }, `${o.number} ${o.type} ${o.status} `,
      el("span", { class: "order-clock", text: o.due_at ? t("pop.order.due", { stage: t("wo.stage." + (o.clock_stage || "")),
        due: fmtTime(o.due_at) }) + ` · ${t("wo.clock." + o.clock_state)}` : "" }), ` ${o.description}`),
      t("orders.none"));
    fill("recent-calls", pop.recent_calls, (r) => el("li", {
      text: `${fmtTime(r.started_at)} ${r.outcome} ${r.category || ""} ${r.agent_id ? "坐席" + r.agent_id : ""}` }),
      t("calls.none"));
    fill("outages", pop.outages, (o) => el("li", { text: `${fmtTime(o.starts_at)}–${fmtTime(o.ends_at)} ${o.reason} ${o.notice}` }),
      t("outages.none"));
  }
  function renderScript(ans) {
    $("script-card").hidden = !ans;
    if (!ans) return;
    $("greeting").textContent = ans.greeting;
    $("apology-note").hidden = !ans.apology;
    $("closing").textContent = ans.closing;
  }
  function renderHeld(held) {
    $("held").hidden = !held;
    $("btn-hold").textContent = t(held ? "btn.unhold" : "btn.hold");
    $("btn-hold").dataset.held = held ? "1" : "0";
  }
  function clearCall() {
    stopRing();
    call = null;
    showCall(null);
    renderPop(null);
    renderScript(null);
    $("ring-missed").hidden = true;
  }
  function showWrapUp(callId) {
    const f = $("wrapup");
    if (!f.hidden && $("wrapup-call").value === String(callId)) return;
    f.reset();
    $("order-fields").disabled = true;
    $("wrapup-call").value = String(callId);
    $("wrapup-result").textContent = "";
    $("order-outage-label").hidden = popOutage === null;
    $("order-outage").dataset.outage = popOutage === null ? "" : String(popOutage);
    f.hidden = false;
  }

  $("btn-hold").onclick = () => call && api(`/api/calls/${call.call_id}/${call.held ? "unhold" : "hold"}`)
    .catch((e) => { $("bar-error").textContent = e.message; });
  $("btn-hangup").onclick = () => call && api(`/api/calls/${call.call_id}/hangup`)
    .catch((e) => { $("bar-error").textContent = e.message; });
  $("btn-transfer").onclick = () => call && api(`/api/calls/${call.call_id}/transfer`, { queue: $("transfer-queue").value })
    .catch((e) => { $("bar-error").textContent = e.message; });
  $("wrapup-create").onchange = (e) => { $("order-fields").disabled = !e.target.checked; };
  $("wrapup").onsubmit = async (e) => {
    e.preventDefault();
    const f = e.target;
    const body = {
      category: f.category.value, notes: f.notes.value, create_order: f.create_order.checked,
      order_type: f.order_type.value, complaint_level: f.complaint_level.value, description: f.description.value,
      unit: f.unit.value, topic: f.topic.value,
      outage_id: f.outage.checked && f.outage.dataset.outage ? f.outage.dataset.outage : null,
    };
    $("wrapup-submit").disabled = true;
    try {
      const r = await api(`/api/calls/${$("wrapup-call").value}/wrapup`, body);
      $("wrapup-result").textContent = r.work_order ? t("wrapup.order_created", { number: r.work_order }) : t("wrapup.saved");
      $("wrapup-result").dataset.workOrder = r.work_order || "";
      f.hidden = true;
      if (!call) renderPop(null);
      document.body.dataset.lastWorkOrder = r.work_order || "";
    } catch (err) {
      $("wrapup-result").textContent = err.message;
    } finally {
      $("wrapup-submit").disabled = false;
    }
  };

  // --- socket messages ---------------------------------------------------------------------------------
  const handlers = {
    snapshot(m) {
      syncClock(m.server_time);
      me = m.agent;
      $("reason-select").replaceChildren(...m.reasons.map((r) => el("option", { value: r, text: r })));
      $("transfer-queue").replaceChildren(...m.queues.map((q) => el("option", { value: q.name, text: q.label })));
      for (const q of m.queues) queueLabels[q.name] = q.label;
      fill("forbidden", m.forbidden, (p) => el("li", { text: p }));
      renderAgent();
      clearCall();
      const c = m.call;
      if (c && c.state !== "done") {
        call = { call_id: c.call_id, held: c.held, pop: c.pop };
        renderPop(c.pop);
        if (c.answered) { showCall("talking"); renderScript(c.answered); renderHeld(c.held); }
        else if (c.offer) { showCall("ringing"); startRing(c.offer); }
      } else if (c && me.state === "wrap_up") {
        renderPop(c.pop);
        showWrapUp(c.call_id);
      }
    },
    agent(m) { me = m.agent; renderAgent(); },
    offer(m) {
      syncClock(m.server_time);
      $("wrapup-result").textContent = "";
      call = { call_id: m.call_id, offer_key: m.offer_key, held: false, pop: m.pop };
      renderPop(m.pop);
      if (!m.pop) renderHead(m.caller_number, m.queue);  // the record follows in a "pop" message
      renderScript(null);
      $("ring-missed").hidden = true;
      showCall("ringing");
      startRing(m);
    },
    pop(m) {
      if (!call || call.call_id !== m.call_id) return;
      call.pop = m.pop;
      renderPop(m.pop);
    },
    offer_end(m) {
      if (!call || call.call_id !== m.call_id || m.result === "answered") return;
      stopRing();
      const missed = m.result === "no_answer" || m.result === "rejected";
      // The caller's data goes with the call: another agent has it now.
      renderPop(null);
      showCall(null);
      call = null;
      $("ring-missed").hidden = !missed;
      if (missed) {
        $("idle").hidden = true; $("call-card").hidden = false; $("ring").hidden = true;
        $("call-title").textContent = t("missed.title");
      }
    },
    answered(m) {
      stopRing();
      if (!call || call.call_id !== m.call_id) call = { call_id: m.call_id, held: false, pop: null };
      call.answered = m;
      showCall("talking");
      renderScript(m);
      renderHeld(false);
    },
    hold(m) { if (call && call.call_id === m.call_id) { call.held = m.held; renderHeld(m.held); } },
    call_end(m) {
      stopRing();
      const pop = call && call.call_id === m.call_id ? call.pop : null;
      call = null;
      showCall(null);
      renderScript(null);
      renderPop(pop);  // kept on screen while the agent writes the wrap-up
      if (m.outcome === "answered") showWrapUp(m.call_id);
    },
  };
  const live = new Live("agent", handlers);
  window.hotlineLive = live;
  live.connect();
})();
