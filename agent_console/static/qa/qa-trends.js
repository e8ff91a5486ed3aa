/* Team QA trends: Chart.js (vendored chart.umd.js) over the figures embedded in the page; the tables below
   each chart carry the same numbers for anyone without scripts. */
"use strict";
(function () {
  const { cfg, t } = window.Hotline;
  const data = cfg.trends;
  const charts = {};
  function chart(id, config) {
    if (!window.Chart) return;  // the tables still show everything
    charts[id] = new window.Chart(document.getElementById(id), config);
  }
  const base = { animation: false, responsive: true };
  chart("chart-days", { type: "line", data: { labels: data.days.map((d) => d.key), datasets: [
    { label: t("qa.t.average"), data: data.days.map((d) => d.average), borderColor: "#1565c0", yAxisID: "y" },
    { label: t("qa.t.pass_rate") + " %", data: data.days.map((d) => d.pass_rate), borderColor: "#2e7d32",
      yAxisID: "y1" }] },
    options: Object.assign({}, base, { scales: { y: { beginAtZero: true, suggestedMax: 100, position: "left" },
      y1: { beginAtZero: true, max: 100, position: "right", grid: { drawOnChartArea: false } } } }) });
  chart("chart-agents", { type: "bar", data: { labels: data.agents.map((a) => a.label), datasets: [
    { label: t("qa.t.average"), data: data.agents.map((a) => a.average), backgroundColor: "#1565c0" },
    { label: t("qa.t.pass_rate") + " %", data: data.agents.map((a) => a.pass_rate), backgroundColor: "#2e7d32" }] },
    options: Object.assign({}, base, { scales: { y: { beginAtZero: true, max: 100 } } }) });
  chart("chart-rules", { type: "bar", data: { labels: data.rules.map((r) => r.title), datasets: [
    { label: t("qa.t.failed"), data: data.rules.map((r) => r.failed), backgroundColor: "#c62828" }] },
    options: Object.assign({}, base, { indexAxis: "y", plugins: { legend: { display: false } },
      scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } }) });
  window.qaCharts = charts;
  document.body.dataset.ready = "1";
})();
