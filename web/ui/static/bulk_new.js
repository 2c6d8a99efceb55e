// The bulk invite wizard (/bulk-sends/new): builds the body of POST /v1/bulk-sends from the
// form, shows the preflight (POST /v1/bulk-sends/preflight) as a checklist, and starts the send
// only after a preflight of exactly these choices found something to send and nothing blocking.
(function () {
  "use strict";

  const form = document.getElementById("bulk-wizard");
  if (!form) return;
  const { api, el, showProblem, clearProblem, when } = window.dm;
  const $ = (id) => document.getElementById(id);
  const rows = $("bw-channels");
  const rowTemplate = $("bw-channel-row");
  const report = $("bw-report");
  const startButton = $("bw-start");
  const summary = $("bw-summary");
  const picked = new Map(); // customer id -> label, in the order picked
  let checked = null; // the preflight of the current choices, or null once they change
  let csvText = null;
  let rowCount = 0;

  // ---- step 1: pools follow the campaign ------------------------------------------------
  function filterPools() {
    const campaign = form.elements.campaign.value;
    const pool = form.elements.pool;
    let firstShown = null;
    for (const option of pool.options) {
      option.hidden = option.disabled = option.dataset.campaign !== campaign;
      if (!option.hidden && !firstShown) firstShown = option;
    }
    if (!pool.selectedOptions[0] || pool.selectedOptions[0].hidden) {
      pool.value = firstShown ? firstShown.value : "";
    }
  }

  // ---- step 2: the audience -------------------------------------------------------------
  function audienceKind() {
    const chosen = form.querySelector('input[name="audience_kind"]:checked');
    return chosen ? chosen.value : "customers";
  }

  function showAudience() {
    const kind = audienceKind();
    for (const box of form.querySelectorAll("[data-audience]")) {
      box.hidden = box.dataset.audience !== kind;
    }
  }

  function renderPicked() {
    const list = $("bw-picked");
    list.replaceChildren(...[...picked].map(([id, label]) =>
      el("li", {}, label, " ",
        el("button", {
          type: "button", class: "link", "aria-label": "Remove " + label,
          onclick: () => { picked.delete(id); renderPicked(); invalidate(); },
        }, "Remove"))));
    $("bw-picked-count").textContent = String(picked.size);
  }

  async function searchCustomers() {
    const query = $("bw-customer-q").value.trim();
    const results = $("bw-customer-results");
    results.replaceChildren(el("li", { class: "hint" }, "Searching…"));
    try {
      const found = await api("GET", "/customers?limit=10&q=" + encodeURIComponent(query));
      const items = found.customers.map((c) => {
        const label = [c.name, c.email || c.phone || c.source_id].filter(Boolean).join(" · ")
          || c.id;
        return el("li", {}, label, " ",
          el("button", {
            type: "button", "aria-label": "Pick " + label,
            onclick: () => { picked.set(c.id, label); renderPicked(); invalidate(); },
          }, "Pick"));
      });
      results.replaceChildren(...(items.length ? items
        : [el("li", { class: "hint" }, "No customer matches. Try part of a name or an email.")]));
    } catch (error) {
      results.replaceChildren(el("li", { class: "error-text" }, error.message));
    }
  }

  // ---- step 3: channel rows -------------------------------------------------------------
  function fitRow(row) {
    // A row offers only the templates of its channel and the providers that serve it.
    const channel = row.querySelector('[data-name="channel"]').value;
    const template = row.querySelector('[data-name="template"]');
    const provider = row.querySelector('[data-name="provider"]');
    row.querySelector('[data-part="template"]').hidden = channel === "profile";
    for (const [select, fits] of [
      [template, (o) => o.dataset.channel === channel],
      [provider, (o) => o.dataset.channels.split(" ").includes(channel)],
    ]) {
      let first = null;
      for (const option of select.options) {
        option.hidden = option.disabled = !fits(option);
        if (!option.hidden && !first) first = option;
      }
      if (!select.selectedOptions[0] || select.selectedOptions[0].hidden) {
        select.value = first ? first.value : "";
      }
    }
  }

  function renumberRows() {
    // Field names follow the API's (channels[0].template) so its errors land on the input.
    [...rows.children].forEach((row, index) => {
      for (const select of row.querySelectorAll("select[data-name]")) {
        const name = `channels[${index}].${select.dataset.name}`;
        select.name = name;
        row.querySelector(`label[data-for="${select.dataset.name}"]`).htmlFor = select.id;
      }
      const remove = row.querySelector("[data-remove]");
      remove.hidden = rows.children.length === 1;
      remove.setAttribute("aria-label", `Remove channel ${index + 1}`);
    });
  }

  function addRow() {
    const row = rowTemplate.content.firstElementChild.cloneNode(true);
    rowCount += 1;
    for (const select of row.querySelectorAll("select[data-name]")) {
      select.id = `bw-${select.dataset.name}-${rowCount}`;
    }
    row.addEventListener("change", () => fitRow(row));
    row.querySelector("[data-remove]").addEventListener("click", () => {
      row.remove();
      renumberRows();
      invalidate();
    });
    rows.append(row);
    fitRow(row);
    renumberRows();
    invalidate();
  }

  // ---- the request ----------------------------------------------------------------------
  function audience() {
    const kind = audienceKind();
    if (kind === "segment") return { segment: form.elements["audience.segment"].value };
    if (kind === "csv") return { csv: csvText || "" };
    return { customers: [...picked.keys()] };
  }

  function body() {
    const channels = [...rows.children].map((row) => {
      const value = (name) => row.querySelector(`[data-name="${name}"]`).value;
      const channel = { channel: value("channel"), provider: value("provider") };
      if (channel.channel !== "profile") channel.template = value("template");
      return channel;
    });
    const request = {
      campaign: form.elements.campaign.value,
      pool: form.elements.pool.value,
      audience: audience(),
      channels,
    };
    const whenChoice = form.querySelector('input[name="when"]:checked').value;
    if (whenChoice === "now") request.send_delay_seconds = 0;
    if (whenChoice === "delay") {
      request.send_delay_seconds = Math.round(Number($("bw-delay").value || 0) * 60);
    }
    if (whenChoice === "schedule") {
      const local = $("bw-at").value;
      // datetime-local is the viewer's wall-clock time; the API wants an instant with a zone.
      request.scheduled_at = local ? new Date(local).toISOString() : "";
      request.send_delay_seconds = 0;
    }
    return request;
  }

  // ---- step 4: the preflight as a checklist ---------------------------------------------
  const CHANNEL_NAMES = { email: "Email", sms: "SMS", profile: "Profile" };

  function item(level, text, ...more) {
    const word = { bad: "Blocking", warn: "Warning", ok: "OK" }[level];
    return el("li", { class: "check-" + level, "data-level": level },
      el("strong", {}, word + ": "), text, ...more);
  }

  function optionText(select, value) {
    const option = [...select.options].find((o) => o.value === value);
    return option ? option.textContent.split(" · ")[0] : value;
  }

  function sendableOf(result) {
    return result.channels.reduce((sum, c) => sum + c.sendable, 0);
  }

  function renderReport(result) {
    const items = [];
    const sendable = sendableOf(result);
    if (result.audience === 0) {
      items.push(item("bad", "The audience is empty: pick a segment with members or some customers."));
    } else {
      items.push(item("ok", `${result.audience} customers in the audience.`));
    }
    for (const problem of result.problems) items.push(item("bad", problem + "."));
    if (!result.problems.length && result.audience) {
      items.push(item("ok", `${result.codes_needed} new codes needed, ` +
        `${result.codes_available} available` +
        (result.already_have_code ? `; ${result.already_have_code} already hold a code.` : ".")));
    }
    const templateSelect = rowTemplate.content.querySelector('[data-name="template"]');
    for (const c of result.channels) {
      const name = `${CHANNEL_NAMES[c.channel] || c.channel}` +
        (c.template ? ` with “${optionText(templateSelect, c.template)}”` : "") +
        ` via ${c.provider}`;
      items.push(item(c.sendable ? "ok" : "bad", `${name}: ${c.sendable} messages can be sent.`));
      const warnings = [
        [c.no_address, "have no address for this channel"],
        [c.invalid_address, "have an invalid address"],
        [c.suppressed, "unsubscribed from marketing and are skipped"],
        [c.no_identity, "cannot be identified on the platform"],
        [c.render_failures, "would not render (see below)"],
      ];
      for (const [count, text] of warnings) {
        if (count) items.push(item("warn", `${name}: ${count} customers ${text}.`));
      }
    }
    for (const failure of result.render_failures) {
      items.push(item("warn", `${CHANNEL_NAMES[failure.channel] || failure.channel} for ` +
        `${failure.customer_id}: ${failure.reason}` +
        (failure.missing.length ? ` (missing: ${failure.missing.join(", ")})` : "")));
    }
    if (result.audience && !sendable) {
      items.push(item("bad", "Nothing can be sent with these choices."));
    }
    // The report names customers by id only; the customer is a detail inside the sample.
    const samples = result.samples.map((s, index) => el("details", { class: "sample" },
      el("summary", {}, `Sample ${index + 1}: ${CHANNEL_NAMES[s.channel] || s.channel} ` +
        `via ${s.provider}`),
      el("p", { class: "hint" }, "Customer ", el("code", {}, s.customer_id)),
      s.subject !== undefined ? el("p", {}, el("strong", {}, "Subject: "), s.subject || "") : null,
      el("pre", { class: "report" },
        s.text !== undefined ? s.text : s.body !== undefined ? s.body
          : JSON.stringify(s.profile || s, null, 2))));
    const blocking = items.filter((i) => i.dataset.level === "bad").length;
    report.replaceChildren(
      el("p", { class: blocking ? "status-line error" : "status-line ok", id: "bw-verdict" },
        blocking ? `${blocking} blocking problem${blocking > 1 ? "s" : ""}: change the ` +
          "choices above and check again." : "Ready to send."),
      el("ul", { class: "checklist", id: "bw-checklist" }, items),
      samples.length ? el("h3", { class: "small" }, "Rendered samples") : null,
      ...samples);
    return blocking === 0 && sendable > 0;
  }

  async function runPreflight() {
    clearProblem(form);
    report.replaceChildren(el("p", { class: "hint" }, "Checking…"));
    const request = body();
    delete request.send_delay_seconds;
    delete request.scheduled_at;
    try {
      const result = await api("POST", "/bulk-sends/preflight", request);
      checked = renderReport(result) ? result : null;
    } catch (error) {
      checked = null;
      report.replaceChildren();
      showProblem(form, error);
    }
    updateConfirm();
  }

  // ---- steps 5 and 6: when, and confirm -------------------------------------------------
  function whenText(request) {
    if (request.scheduled_at) return "starts at " + when(request.scheduled_at);
    if (!request.send_delay_seconds) return "goes out now";
    return `goes out ${request.send_delay_seconds / 60} minutes after it starts ` +
      "(it can be cancelled until then)";
  }

  function updateConfirm() {
    for (const box of form.querySelectorAll("[data-when]")) {
      box.hidden = box.dataset.when !== form.querySelector('input[name="when"]:checked').value;
    }
    if (!checked) {
      startButton.disabled = true;
      summary.textContent = report.childElementCount
        ? "The invite cannot start: the preflight found a blocking problem or nothing to send."
        : "Run the preflight first: the invite can start once it finds something to send " +
          "and no blocking problem.";
      return;
    }
    const request = body();
    const channels = [...new Set(checked.channels.map((c) => CHANNEL_NAMES[c.channel]))];
    startButton.disabled = false;
    summary.textContent = `${sendableOf(checked)} messages (${channels.join(", ")}) to ` +
      `${checked.audience} customers, ${checked.codes_needed} new codes from ` +
      `${optionText(form.elements.pool, request.pool)}; the send ${whenText(request)}.`;
  }

  function invalidate() {
    // Any change to what is sent needs a new preflight before the send can start.
    if (checked || report.childElementCount) {
      report.replaceChildren(el("p", { class: "hint" }, "The choices changed: check again."));
    }
    checked = null;
    updateConfirm();
  }

  async function start() {
    clearProblem(form);
    startButton.disabled = true;
    try {
      const job = await api("POST", "/bulk-sends", body());
      location.assign("/bulk-sends/" + job.id);
    } catch (error) {
      showProblem(form, error);
      startButton.disabled = false;
    }
  }

  // ---- wiring ---------------------------------------------------------------------------
  form.addEventListener("submit", (event) => event.preventDefault());
  form.elements.campaign.addEventListener("change", () => { filterPools(); invalidate(); });
  for (const step of form.querySelectorAll('[data-step="source"], [data-step="audience"], ' +
    '[data-step="channels"]')) {
    step.addEventListener("change", (event) => {
      if (event.target.id !== "bw-customer-q") invalidate();
    });
  }
  for (const radio of form.querySelectorAll('input[name="audience_kind"]')) {
    radio.addEventListener("change", showAudience);
  }
  form.querySelector('[data-step="when"]').addEventListener("change", updateConfirm);
  form.querySelector('[data-step="when"]').addEventListener("input", updateConfirm);
  $("bw-customer-search").addEventListener("click", searchCustomers);
  $("bw-customer-q").addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      searchCustomers();
    }
  });
  $("bw-csv").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    csvText = file ? await file.text() : null;
    invalidate();
  });
  $("bw-add-channel").addEventListener("click", addRow);
  $("bw-check").addEventListener("click", runPreflight);
  startButton.addEventListener("click", start);
  $("bw-zone").textContent = Intl.DateTimeFormat().resolvedOptions().timeZone || "your time zone";

  filterPools();
  showAudience();
  addRow();
})();
