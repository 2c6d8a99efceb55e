// Provider checks, shared by the providers list and a provider's page: `run(name)` asks the API
// to check the provider's credentials and remembers the outcome in this browser tab
// (sessionStorage), so the list can show the last check known here. The API stores no check
// results: what is shown is always what this person last saw, with its time.
(function () {
  "use strict";
  const PREFIX = "dm.provider-check.";

  async function run(name) {
    const outcome = await window.dm.api("POST", `/providers/${encodeURIComponent(name)}/check`);
    const known = { ok: outcome.ok, detail: outcome.detail, at: new Date().toISOString() };
    try {
      sessionStorage.setItem(PREFIX + name, JSON.stringify(known));
    } catch (_) {
      // Storage full or blocked: the result is still shown where the check ran.
    }
    return known;
  }

  function last(name) {
    try {
      return JSON.parse(sessionStorage.getItem(PREFIX + name) || "null");
    } catch (_) {
      return null;
    }
  }

  // "Check passed: detail (time)" as elements, for a table cell or a status line.
  function describe(known) {
    const { el, time } = window.dm;
    return [
      el("span", { class: `badge ${known.ok ? "st-sent" : "st-failed"}` }, known.ok ? "Check passed" : "Check failed"),
      " ",
      el("span", { class: "wrap" }, known.detail),
      " ",
      el("span", { class: "hint" }, time(known.at)),
    ];
  }

  window.dmProviderChecks = { describe, last, run };
})();
