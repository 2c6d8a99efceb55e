// The providers list (/providers): every configured provider from GET /providers, by name,
// with its kind, role, channels, limits and whether it is disabled. Names link to the details.
(function () {
  "use strict";
  const root = document.getElementById("providers");
  if (!root) return;
  const { api, el } = window.dm;
  const state = root.querySelector("[data-state]");
  const table = root.querySelector("[data-table]");
  const canChange = root.dataset.canChange === "true";

  function limits(p) {
    const rate = p.rate_per_second ? `${p.rate_per_second}/s` : "no rate limit";
    const concurrency = p.max_concurrency ? `${p.max_concurrency} at once` : "default concurrency";
    return `${rate}, ${concurrency}`;
  }

  function row(p) {
    const href = `/providers/${encodeURIComponent(p.name)}`;
    return el(
      "tr",
      {},
      el("th", { scope: "row" }, el("a", { href }, p.name)),
      el("td", {}, p.kind),
      el("td", {}, p.role),
      el("td", {}, p.channels.length ? p.channels.map((c) => el("span", { class: `chip chip-${c}` }, c)) : "—"),
      el("td", {}, limits(p)),
      el("td", {}, el("span", { class: `badge ${p.disabled ? "st-cancelled" : "st-sent"}` }, p.disabled ? "Disabled" : "Enabled")),
      checkCell(p),
    );
  }

  // The last check known in this tab, and for admins a Check button that replaces it.
  function checkCell(p) {
    const checks = window.dmProviderChecks;
    const result = el("span", { "data-check-result": p.name });
    const known = checks.last(p.name);
    if (known) result.replaceChildren(...checks.describe(known));
    else result.textContent = "not checked yet";
    if (!canChange) return el("td", {}, result);
    const button = el("button", { type: "button", class: "check-button" }, "Check", el("span", { class: "sr-only" }, ` ${p.name}`));
    button.addEventListener("click", async () => {
      button.disabled = true;
      result.textContent = "Checking…";
      try {
        result.replaceChildren(...checks.describe(await checks.run(p.name)));
      } catch (error) {
        result.textContent = `The check could not run: ${error.message}`;
      } finally {
        button.disabled = false;
      }
    });
    return el("td", {}, button, " ", el("span", { role: "status" }, result));
  }

  api("GET", "/providers")
    .then((found) => {
      state.textContent = "";
      state.hidden = true;
      root.querySelector("[data-empty]").hidden = found.length > 0;
      table.hidden = found.length === 0;
      table.tBodies[0].replaceChildren(...found.map(row));
    })
    .catch((error) => {
      state.textContent = `The providers could not be loaded: ${error.message}`;
    });
})();
