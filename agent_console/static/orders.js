/* Work-order pages: the action buttons (accept, reply, return, extension, ...). A button names its event and
   the inputs it needs; the dialog asks for them, the JSON API applies the transition, the page reloads with
   the order's new state. Errors come back in the visitor's language from the console's error middleware. */
"use strict";
(function () {
  const { cfg, t, api, el } = window.Hotline;
  const $ = (id) => document.getElementById(id);
  const dialog = $("action-dialog");
  if (!dialog) return;
  let current = null;

  function fillSelects() {
    const rr = $("a-return-reason");
    rr.replaceChildren(...cfg.return_reasons.map((code) => el("option", { value: code, text: t("wo.return." + code) })));
    const unit = $("a-unit");
    unit.replaceChildren(...cfg.units.map(([code, name]) => el("option", { value: code, text: name })));
  }

  function open(button) {
    const needs = (button.dataset.needs || "").split(",").filter(Boolean);
    current = { id: button.dataset.orderId, event: button.dataset.event, needs };
    $("action-title").textContent = `${button.dataset.number} · ${t("wo.event." + current.event)}`;
    for (const label of dialog.querySelectorAll("label[data-field]")) {
      label.hidden = !needs.includes(label.dataset.field);
    }
    $("a-reason").value = ""; $("a-result").value = ""; $("a-until").value = "";
    $("action-error").textContent = "";
    if (!needs.length) { submit(); return; }  // nothing to ask: do it
    dialog.showModal();
  }

  async function submit() {
    const body = {};
    for (const field of current.needs) {
      const input = { reason: "a-reason", result: "a-result", until: "a-until", unit: "a-unit",
                      return_reason: "a-return-reason" }[field];
      if (input) body[field] = $(input).value;
    }
    try {
      const r = await api(`/api/orders/${current.id}/${current.event}`, body);
      if (dialog.open) dialog.close();
      const done = $("action-done");
      done.textContent = `${t("wo.done")}: ${r.number} → ${t("wo.status." + r.status)}`;
      done.hidden = false;
      document.body.dataset.lastAction = current.event;
      setTimeout(() => location.reload(), 300);
    } catch (e) {
      $("action-error").textContent = e.message;
      if (!dialog.open) dialog.showModal();
    }
  }

  fillSelects();
  document.addEventListener("click", (ev) => {
    const b = ev.target.closest("button.act");
    if (b) open(b);
  });
  $("action-form").addEventListener("submit", (ev) => { ev.preventDefault(); submit(); });
  $("a-cancel").addEventListener("click", () => dialog.close());
  document.body.dataset.ready = "1";
})();
