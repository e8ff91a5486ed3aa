/* Shared by the agent page and the wallboard: config, messages, JSON API, and the live socket.
   The socket reconnects with backoff and resumes from the last sequence number it saw; the server answers
   with the missed deltas or a fresh snapshot. Deltas already seen (seq <= last) are ignored. */
"use strict";
(function () {
  const cfg = JSON.parse(document.getElementById("config").textContent);
  function t(key, vars) {
    let s = cfg.i18n[key] || key;
    for (const [k, v] of Object.entries(vars || {})) s = s.split("{" + k + "}").join(String(v));
    return s;
  }
  async function api(path, body) {
    const r = await fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": cfg.csrf },
      body: JSON.stringify(body || {}),
    });
    let data = {};
    try { data = await r.json(); } catch (e) { /* empty body */ }
    if (r.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); }
    if (!r.ok) throw new Error(data.error || r.statusText);
    return data;
  }
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);
    return e;
  }
  function fill(id, items, render, emptyText) {
    const box = document.getElementById(id);
    box.replaceChildren();
    if (!items || !items.length) { box.append(el("li", { class: "muted", text: emptyText || "" })); return; }
    for (const it of items) box.append(render(it));
  }
  function fmtTime(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    // The hotline's own time, wherever the browser is.
    return d.toLocaleString(cfg.lang === "zh" ? "zh-CN" : "en-GB", { hour12: false, timeZone: "Asia/Shanghai" });
  }

  // Every message received is logged with the browser's receive time (tests and the benchmark read it).
  window.hotlineLog = [];

  class Live {
    constructor(view, handlers) {
      this.view = view; this.handlers = handlers; this.seq = null; this.delay = 500; this.ws = null;
      this.stopped = false; this.lastActivity = 0;
      // The session's idle timeout counts what the user does on the page, reported over the socket (at most
      // every 30 s); a socket that merely stays open does not keep the session alive.
      for (const kind of ["pointerdown", "pointermove", "keydown", "wheel", "touchstart"]) {
        document.addEventListener(kind, () => this.activity(), { capture: true, passive: true });
      }
    }
    activity() {
      const now = Date.now();
      if (now - this.lastActivity < 30000 || !this.ws || this.ws.readyState !== WebSocket.OPEN) return;
      this.lastActivity = now;
      this.ws.send(JSON.stringify({ type: "activity" }));
    }
    connect() {
      const url = new URL("/ws", location.href);
      url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
      url.searchParams.set("view", this.view);
      if (this.seq !== null) url.searchParams.set("since", String(this.seq));
      const ws = new WebSocket(url);
      this.ws = ws;
      ws.onopen = () => { this.delay = 500; setConn(true); };
      ws.onmessage = (ev) => {
        const m = JSON.parse(ev.data);
        window.hotlineLog.push({ type: m.type, seq: m.seq, call_id: m.call_id, at: Date.now(), msg: m });
        if (m.type === "snapshot") { this.seq = m.seq; this.handlers.snapshot(m); return; }
        if (m.type === "resumed" || m.type === "pong") return;
        if (this.seq !== null && m.seq <= this.seq) return;
        this.seq = m.seq;
        const h = this.handlers[m.type];
        if (h) h(m);
      };
      ws.onclose = async () => {
        setConn(false);
        if (this.stopped) return;
        try {  // a socket refused at the handshake looks like any other drop: ask whether we are logged in
          const r = await fetch("/api/me", { credentials: "same-origin" });
          if (r.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); return; }
        } catch (e) { /* server down: keep trying */ }
        setTimeout(() => this.connect(), this.delay);
        this.delay = Math.min(this.delay * 2, 10000);
      };
      ws.onerror = () => { /* onclose follows and reconnects */ };
    }
    drop() { if (this.ws) this.ws.close(); } // tests: force a reconnect
  }
  function setConn(on) {
    const c = document.getElementById("conn");
    if (!c) return;
    c.className = "conn " + (on ? "on" : "off");
    c.textContent = t(on ? "conn.online" : "conn.offline");
    document.body.dataset.connected = on ? "1" : "0";
  }
  window.Hotline = { cfg, t, api, el, fill, fmtTime, Live };
})();
