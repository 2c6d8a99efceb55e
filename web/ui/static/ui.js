// Small behaviour shared by every page (the page CSP allows no inline script), and `window.dm`,
// the helpers every page script uses: the API through the session (`/ui/v1`, the same handlers
// as `/v1`), building elements, problem details shown on their fields, one date format, one
// way to say a wait.
"use strict";

// Forms marked data-confirm ask first (for example before disabling a user).
document.addEventListener("submit", (event) => {
  const message = event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) event.preventDefault();
});

window.dm = (function () {
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.content : "";

  // An element with attributes ("class", "text", on* handlers as functions) and children.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on") && typeof value === "function") {
        node.addEventListener(key.slice(2), value);
      } else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined && child !== false) {
        node.append(child instanceof Node ? child : String(child));
      }
    }
    return node;
  }

  // An API error: the problem details body (status, detail, errors[{field, reason}]).
  class ApiError extends Error {
    constructor(status, problem) {
      super((problem && problem.detail) || `the server answered ${status}`);
      this.status = status;
      this.problem = problem || {};
    }
  }

  // Calls `/ui/v1` + path (e.g. api("POST", "/campaigns", {...})); answers the JSON body or
  // throws ApiError. A 401 means the session ended: the page goes to sign-in and comes back.
  async function api(method, path, body, options) {
    const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (method !== "GET" && method !== "HEAD") init.headers["X-CSRF-Token"] = csrf;
    if (body instanceof FormData) init.body = body;
    else if (body !== undefined) {
      init.headers["Content-Type"] = (options && options.contentType) || "application/json";
      init.body = typeof body === "string" ? body : JSON.stringify(body);
    }
    const response = await fetch("/ui/v1" + path, init);
    let payload = null;
    const text = await response.text();
    if (text) {
      try {
        payload = JSON.parse(text);
      } catch (_) {
        payload = text;
      }
    }
    if (response.status === 401) {
      const next = encodeURIComponent(location.pathname + location.search);
      location.assign("/login?next=" + next);
    }
    if (!response.ok) throw new ApiError(response.status, payload);
    return payload;
  }

  // Shows an ApiError on a form: each `errors[].field` next to the input named after it (the
  // message tied to it by aria-describedby), the rest in the form's [role=alert] box.
  function showProblem(form, error) {
    clearProblem(form);
    const box = form.querySelector("[data-problem]");
    const unplaced = [];
    for (const item of (error.problem && error.problem.errors) || []) {
      const input = item.field && form.querySelector(`[name="${CSS.escape(item.field)}"]`);
      if (!input) {
        unplaced.push(`${item.field}: ${item.reason}`);
        continue;
      }
      const id = `${input.id || input.name}-error`;
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", id);
      input.after(el("p", { class: "field-error", id, text: item.reason }));
    }
    if (box) {
      box.textContent = [error.message, ...unplaced].join(" · ");
      box.hidden = false;
    }
  }

  function clearProblem(form) {
    form.querySelectorAll(".field-error").forEach((node) => node.remove());
    form.querySelectorAll("[aria-invalid]").forEach((node) => {
      node.removeAttribute("aria-invalid");
      node.removeAttribute("aria-describedby");
    });
    const box = form.querySelector("[data-problem]");
    if (box) {
      box.textContent = "";
      box.hidden = true;
    }
  }

  // The one date format: in the viewer's time zone, "7 Dec 2026, 14:05", and a relative hint
  // ("3 min ago", "in 2 h") for times within a day.
  const absolute = new Intl.DateTimeFormat(undefined, {
    day: "numeric",
    month: "short",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  });
  const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto", style: "short" });

  function when(iso) {
    if (!iso) return "";
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return String(iso);
    const seconds = (date.getTime() - Date.now()) / 1000;
    const text = absolute.format(date);
    if (Math.abs(seconds) >= 86400) return text;
    const [value, unit] =
      Math.abs(seconds) < 60
        ? [Math.round(seconds), "second"]
        : Math.abs(seconds) < 3600
          ? [Math.round(seconds / 60), "minute"]
          : [Math.round(seconds / 3600), "hour"];
    return `${text} (${relative.format(value, unit)})`;
  }

  // A <time> element showing `when(iso)` with the exact instant as its datetime and title.
  function time(iso) {
    return el("time", { datetime: iso || "", title: iso || "" }, when(iso));
  }

  // A per-row report (an import's refused rows) as a captioned table in its own scroll box:
  // `columns` are [heading, key] pairs.
  function reportTable(rows, columns, caption) {
    return el(
      "div",
      { class: "table-box", tabindex: "0", role: "region", "aria-label": caption },
      labelCells(el(
        "table",
        { class: "list cards report-table" },
        el("caption", {}, caption),
        el("thead", {}, el("tr", {}, columns.map(([title]) => el("th", { scope: "col" }, title)))),
        el("tbody", {}, rows.map((row) => el("tr", {}, columns.map(([, key]) => el("td", {}, String(row[key] ?? "")))))),
      )),
    );
  }

  // Labels each body cell of a table with its column's heading (data-label), so that narrow
  // screens can show rows as cards (CSS: table.cards) instead of scrolling sideways.
  function labelCells(table) {
    const headings = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
    for (const row of table.querySelectorAll("tbody tr")) {
      [...row.children].forEach((cell, i) => {
        if (headings[i] && !cell.hasAttribute("data-label")) cell.setAttribute("data-label", headings[i]);
      });
    }
    return table;
  }

  // Dates marked `<time data-when datetime="...Z">` (the server renders the UTC instant, not
  // knowing the viewer's zone; scripts mark the times they add the same way) shown in the one
  // format. Run at load and every half minute, so "1 min ago" does not stay on a page left open.
  function fillTimes(root) {
    for (const node of (root || document).querySelectorAll("time[data-when]")) {
      const iso = node.getAttribute("datetime");
      if (!iso) continue;
      const text = when(iso);
      if (node.textContent !== text) node.textContent = text;
      node.title = iso;
    }
  }

  // A wait (a follow-up's delay) in its largest whole unit: wait(172800) is {count: 2,
  // unit: 86400, text: "2 days"}. The form splits a saved delay with it; pages mark a wait
  // `<span data-wait="172800">` (the server renders the seconds) and it is shown this way.
  const WAIT_UNITS = [[86400, "day"], [3600, "hour"], [60, "minute"], [1, "second"]];
  function wait(seconds) {
    const whole = Math.max(0, Math.round(Number(seconds) || 0));
    const [unit, name] = WAIT_UNITS.find(([size]) => whole % size === 0);
    const count = whole / unit;
    return { count, unit, text: `${count} ${name}${count === 1 ? "" : "s"}` };
  }

  function fillWaits(root) {
    for (const node of (root || document).querySelectorAll("[data-wait]")) {
      node.textContent = wait(node.getAttribute("data-wait")).text;
    }
  }

  return { api, ApiError, clearProblem, csrf, el, fillTimes, fillWaits, labelCells, reportTable, showProblem, time, wait, when };
})();

window.dm.fillTimes();
window.dm.fillWaits();
setInterval(() => window.dm.fillTimes(), 30000);

// A table that scrolls sideways (narrow screens) takes the keyboard focus, so arrow keys can
// scroll it; one that fits stays out of the tab order. Rows added later resize the table.
(function () {
  const scrollers = new ResizeObserver((entries) => {
    for (const { target } of entries) {
      if (target.scrollWidth > target.clientWidth) target.tabIndex = 0;
      else target.removeAttribute("tabindex");
    }
  });
  document.querySelectorAll("table.list").forEach((table) => scrollers.observe(table));
})();
