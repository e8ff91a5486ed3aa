/* Call QA detail: the recording synced to the transcript (both speakers), the rule breakdown with jump-to-
   evidence, overrides and comments. Everything is drawn from the JSON in the page (and the JSON a review POST
   answers with), always through textContent. */
"use strict";
(function () {
  const { cfg, t, api, el, fmtTime } = window.Hotline;
  const $ = (id) => document.getElementById(id);
  const audio = $("player");
  let detail = cfg.detail;
  let segItems = [];

  const clock = (s) => {
    const v = Math.max(0, s || 0);
    return `${String(Math.floor(v / 60)).padStart(2, "0")}:${(v % 60).toFixed(1).padStart(4, "0")}`;
  };
  const num = (v) => (v === null || v === undefined ? "–" : String(Math.round(v * 100) / 100));
  const speaker = (s) => t("qa.speaker." + (["agent", "caller"].includes(s) ? s : "timeline"));
  const tag = (text, kind) => el("span", { class: "tag " + (kind || ""), text });

  // --- audio <-> transcript ---------------------------------------------------------------------------------
  function sync() {
    const now = audio.currentTime;
    let first = null;
    for (const li of segItems) {
      const on = Number(li.dataset.start) <= now && now < Number(li.dataset.end);
      if (on && !li.classList.contains("now") && !first) first = li;
      li.classList.toggle("now", on);
    }
    if (first) first.scrollIntoView({ block: "nearest" });
    document.body.dataset.playhead = now.toFixed(2);
  }
  function seek(seconds) {
    if (!audio.getAttribute("src")) return;
    const to = Math.max(0, Number(seconds) || 0);
    audio.dataset.seek = String(to);
    audio.currentTime = to;
    sync();
    audio.play().catch(() => { /* no audio device or autoplay policy: the position is still set */ });
  }
  for (const ev of ["timeupdate", "seeked", "seeking", "loadedmetadata"]) audio.addEventListener(ev, sync);

  function renderTracks() {
    const box = $("tracks");
    box.replaceChildren();
    const order = { mixed: 0, agent: 1, caller: 2 };
    const playable = detail.recordings.filter((r) => !r.purged).sort((a, b) => order[a.direction] - order[b.direction]);
    const purged = detail.recordings.filter((r) => r.purged);
    if (!playable.length) {
      audio.hidden = true;
      $("no-audio").hidden = false;
      if (purged.length) $("no-audio").textContent = t("qa.d.purged");
      return;
    }
    const choose = (r) => {
      const at = audio.currentTime || 0;
      audio.src = r.url;
      audio.dataset.track = r.direction;
      if (at) audio.currentTime = at;
      for (const b of box.querySelectorAll("button")) b.classList.toggle("on", b.dataset.track === r.direction);
    };
    if (playable.length > 1) {
      for (const r of playable) {
        const b = el("button", { type: "button", class: "link", "data-track": r.direction,
          text: t("qa.d.track." + r.direction) });
        b.addEventListener("click", () => choose(r));
        box.append(b);
      }
    }
    choose(playable[0]);
  }

  function renderTranscript() {
    const box = $("transcript");
    box.replaceChildren();
    $("masked-note").hidden = !detail.masked;
    if (!detail.segments.length) { box.append(el("li", { class: "muted", text: t("qa.d.no_transcript") })); }
    segItems = detail.segments.map((g) => {
      const li = el("li", { class: "seg " + g.speaker, "data-start": String(g.start), "data-end": String(g.end),
        "data-speaker": g.speaker, "data-seg": String(g.id), title: clock(g.start) },
        el("span", { class: "at", text: clock(g.start) }), el("span", { class: "who", text: speaker(g.speaker) }),
        el("span", { class: "text", text: g.text }));
      li.addEventListener("click", () => seek(g.start));
      box.append(li);
      return li;
    });
    sync();
  }

  // --- score, facts, rules, reviews -------------------------------------------------------------------------
  function renderScore() {
    const box = $("score-box");
    box.replaceChildren();
    const s = detail.score;
    $("review-reasons").replaceChildren();
    if (!s) { box.append(el("p", { class: "muted", text: t("qa.not_found") })); return; }
    box.append(el("span", { id: "score-total", class: "big", text: num(s.effective_total) }),
      el("span", { class: "muted", text: ` / ${num(s.max_total)} ` }),
      s.unscorable ? tag(t("qa.result.unscorable"), "unscorable")
        : s.verdict === "pending" ? tag(t("qa.result.pending"), "pending")
          : tag(t(s.passed ? "qa.result.pass" : "qa.result.fail"), s.passed ? "ok" : "bad"));
    if (s.speech_pending) {
      box.append(el("div", { id: "score-pending", class: "muted", text: t("qa.pending.title") }));
    }
    $("score-box").dataset.passed = s.passed ? "1" : "0";
    if (s.unscorable) {
      // No verdict: say why instead of a pass or a fail.
      box.append(el("div", { id: "score-unscorable", class: "muted", text: s.unscorable_text }));
    }
    if (s.instant_fail) box.append(" ", tag(t("qa.tag.instant"), "bad"));
    if (s.must_review && !s.reviewed) box.append(" ", tag(t("qa.tag.review"), "warn"));
    if (s.reviewed) box.append(" ", tag(t("qa.tag.reviewed")));
    if (s.effective_total !== s.total) {
      box.append(el("div", { id: "score-auto", class: "muted", text: t("qa.d.auto", { n: num(s.total) }) }));
    }
    for (const r of s.review_reasons) $("review-reasons").append(el("li", { text: r }));
    $("reasons-box").hidden = !s.review_reasons.length;
  }

  function renderFacts() {
    const c = detail.call;
    const talk = c.answered_at && c.ended_at ? (new Date(c.ended_at) - new Date(c.answered_at)) / 1000 : null;
    const rows = [["qa.d.started", fmtTime(c.started_at)], ["qa.col.agent", `${c.agent_id} ${c.agent_name}`],
      ["qa.col.caller", c.caller_number], ["qa.col.queue", c.queue_label], ["qa.col.category", c.category],
      ["qa.d.talk", talk === null ? "" : `${Math.round(talk)}${t("seconds")}`], ["qa.d.hangup", c.hangup_side || ""],
      ["qa.d.rubric", detail.score ? detail.score.rubric_version : ""]];
    const dl = $("call-facts");
    dl.replaceChildren();
    for (const [k, v] of rows) dl.append(el("dt", { text: t(k) }), el("dd", { text: v || "–", "data-fact": k }));
  }

  function overrideForm(r) {
    const pts = el("input", { type: "number", min: "0", max: String(r.max_points), step: "any", class: "ov-points",
      "aria-label": t("qa.d.override.points"), value: r.override === null ? "" : String(r.override) });
    const why = el("input", { class: "ov-reason", maxlength: "2000", placeholder: t("qa.d.override.reason"),
      "aria-label": t("qa.d.override.reason") });
    const save = el("button", { type: "button", class: "ov-save", text: t("qa.d.override.save") });
    save.addEventListener("click", () => submit({ rule_id: r.id, points: pts.value, comment: why.value }, save,
      $("rule-error")));
    const form = el("div", { class: "override" }, pts, why, save);
    form.hidden = true;
    const open = el("button", { type: "button", class: "link ov-open", text: t("qa.d.override") });
    open.addEventListener("click", () => { form.hidden = !form.hidden; if (!form.hidden) pts.focus(); });
    return [open, form];
  }

  function renderRules() {
    const body = $("rules").tBodies[0];
    body.replaceChildren();
    for (const r of detail.rules) {
      // A reviewer's points decide: full points pass the rule and lift its instant fail.
      const overridden = r.override !== null && r.override !== undefined;
      const passed = overridden ? r.override >= r.max_points : r.passed;
      const waiting = r.pending && !overridden;  // needs the transcript: no verdict yet
      const state = waiting ? tag(t("qa.result.pending"), "pending")
        : !r.applicable && !overridden ? tag(t("qa.d.na"))
          : tag(t(passed ? "qa.result.pass" : "qa.result.fail"), passed ? "ok" : "bad");
      const title = el("td", {}, el("b", { text: r.title }), " ", state);
      if (r.instant_fail && !passed) title.append(" ", tag(t("qa.tag.instant"), "bad"));
      if (r.detail) title.append(el("div", { class: "muted detail", text: r.detail }));
      const points = el("td", { class: "num" });
      if (overridden) {
        points.append(el("b", { class: "pts", text: `${num(r.override)} / ${num(r.max_points)}` }), " ",
          el("s", { class: "muted auto", text: num(r.points) }), " ", tag(t("qa.tag.overridden")));
      } else {
        points.append(el("b", { class: "pts", text: `${num(r.points)} / ${num(r.max_points)}` }));
      }
      if (cfg.may_review && detail.score) points.append(...overrideForm(r));
      const ev = el("td", { class: "evidence" });
      for (const e of r.evidence || []) {
        // Evidence counts from the agent's answer; the audio (and the transcript) from the recording's start.
        const at = e.start + (detail.call.answer_offset || 0);
        const b = el("button", { type: "button", class: "ev link", "data-start": String(at),
          text: `[${clock(at)}] ${speaker(e.source)}：${e.text}` });
        b.addEventListener("click", () => seek(at));
        ev.append(b);
      }
      body.append(el("tr", { "data-rule": r.id, "data-passed": waiting ? "" : passed ? "1" : "0",
        "data-pending": waiting ? "1" : "0" }, title, points, ev));
    }
  }

  function renderReviews() {
    const body = $("reviews").tBodies[0];
    body.replaceChildren();
    const titles = Object.fromEntries(detail.rules.map((r) => [r.id, r.title]));
    if (!detail.reviews.length) {
      body.append(el("tr", {}, el("td", { colspan: "5", class: "muted", text: t("qa.d.no_reviews") })));
    }
    for (const v of detail.reviews) {
      body.append(el("tr", { "data-review": String(v.id), "data-rule": v.rule_id },
        el("td", { class: "when", text: fmtTime(v.at) }),
        el("td", { class: "reviewer", text: `${v.reviewer_id} ${v.reviewer_name}`.trim() }),
        el("td", { text: v.rule_id ? (titles[v.rule_id] || v.rule_id) : t("qa.d.review.rule_all") }),
        el("td", { class: "num", text: v.points === null ? "" : num(v.points) }),
        el("td", { class: "comment", text: v.comment })));
    }
  }

  function renderAll() { renderScore(); renderFacts(); renderRules(); renderReviews(); }

  async function submit(body, button, err) {
    err.textContent = "";
    button.disabled = true;
    try {
      const res = await api(`/api/qa/calls/${detail.call.id}/reviews`, body);
      detail = res.detail;
      renderAll();
      document.body.dataset.reviews = String(detail.reviews.length);
      return true;
    } catch (e) {
      err.textContent = e.message;
      return false;
    } finally {
      button.disabled = false;
    }
  }

  const form = $("review-form");
  if (form) {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const text = $("review-comment");
      if (await submit({ rule_id: "", comment: text.value }, $("review-submit"), $("review-error"))) {
        text.value = "";
        $("review-result").textContent = t("qa.d.review.saved");
      }
    });
  }

  renderAll();
  renderTranscript();
  renderTracks();
  document.body.dataset.reviews = String(detail.reviews.length);
  document.body.dataset.ready = "1";
})();
