// Results by day of a campaign or a distribution (an element with data-results: the API path of
// its stats/days), drawn from the same API answer as a chart (uPlot, vendored) and as a table,
// which is also what screen readers get. The chart instance is kept on window.dmCharts by the
// element's id, so a test can compare what it draws with the API.
(function () {
  "use strict";
  const { api, el, labelCells } = window.dm;
  window.dmCharts = window.dmCharts || {};
  const SERIES = [
    ["messages", "Messages", "#5b6b7f"],
    ["sent", "Sent", "#1f5fbf"],
    ["converted", "Converted", "#1f8a4c"],
  ];

  function revenueText(revenue) {
    if (!revenue.length) return "—";
    return revenue
      .map((r) =>
        r.currency
          ? new Intl.NumberFormat(undefined, { style: "currency", currency: r.currency }).format(r.amount / 100)
          : (r.amount / 100).toFixed(2),
      )
      .join(", ");
  }

  function table(box, days) {
    const body = box.querySelector("[data-days] tbody");
    body.replaceChildren(
      ...days.map((d) =>
        el(
          "tr",
          {},
          el("th", { scope: "row" }, d.day),
          ...["messages", "queued", "sent", "delivered", "failed", "bounced", "converted", "conversions", "unsubscribed"].map((f) => el("td", { "data-field": f }, String(d[f]))),
          el("td", { "data-field": "revenue" }, revenueText(d.revenue)),
        ),
      ),
    );
    labelCells(box.querySelector("[data-days]"));
  }

  function chart(box, days) {
    const holder = box.querySelector(".chart");
    const times = days.map((d) => Date.parse(d.day + "T00:00:00Z") / 1000);
    const data = [times, ...SERIES.map(([field]) => days.map((d) => d[field]))];
    const width = () => Math.max(280, holder.clientWidth);
    const plot = new window.uPlot(
      {
        width: width(),
        height: 240,
        series: [{}, ...SERIES.map(([, label, stroke]) => ({ label, stroke, width: 2, points: { show: true } }))],
        axes: [{}, { values: (_u, ticks) => ticks.map((t) => (Number.isInteger(t) ? String(t) : "")) }],
        // A day either side, so a single day is a point in the middle rather than at an edge;
        // counts from zero, so bars of days compare by height.
        scales: {
          x: { time: true, auto: false, range: [times[0] - 86400, times[times.length - 1] + 86400] },
          y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.15] },
        },
      },
      data,
      holder,
    );
    new ResizeObserver(() => plot.setSize({ width: width(), height: 240 })).observe(holder);
    window.dmCharts[holder.id] = plot;
  }

  document.querySelectorAll("[data-results]").forEach(async (box) => {
    const state = box.querySelector("[data-results-state]");
    try {
      const days = await api("GET", box.dataset.results);
      box.dataset.days = String(days.length);
      state.textContent = days.length ? "" : "No messages yet.";
      state.hidden = days.length > 0;
      box.querySelector("[data-days]").hidden = days.length === 0;
      if (!days.length) return;
      table(box, days);
      chart(box, days);
    } catch (error) {
      state.textContent = `The results could not be loaded: ${error.message}`;
    }
  });
})();
