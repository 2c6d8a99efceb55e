// Live pages: the delivery feed, distribution counts and a bulk send's progress.
// Plain JavaScript, no build step; each part starts only on the page that has its elements.
// Polling, not a stream: one request every few seconds, never two in flight, paused while the
// tab is hidden.
"use strict";

(function () {
  const { el, time } = window.dm;
  const $ = (id) => document.getElementById(id);
  const FEED_MS = 2000;
  const COUNTS_MS = 5000;
  const JOB_MS = 2000;
  const MAX_ROWS = 200;

  // The live endpoints under /ui/api (not part of the public API): JSON in and out with the
  // session's CSRF token (dm.csrf), errors as Error with the server's detail and status.
  async function call(method, url, body) {
    const options = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (method !== "GET") {
      options.headers["X-CSRF-Token"] = window.dm.csrf;
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body || {});
    }
    const response = await fetch(url, options);
    let payload = null;
    try {
      payload = await response.json();
    } catch (_) {
      payload = null;
    }
    if (!response.ok) {
      const detail = (payload && payload.detail) || response.statusText;
      const error = new Error(detail);
      error.status = response.status;
      throw error;
    }
    return payload;
  }

  // Calls `tick` every `ms` after the previous one finished; skips while the tab is hidden.
  function every(ms, tick) {
    let timer = null;
    async function run() {
      timer = null;
      if (!document.hidden) {
        try {
          await tick();
        } catch (_) {
          // tick reports its own errors; keep polling.
        }
      }
      timer = setTimeout(run, ms);
    }
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && timer !== null) {
        clearTimeout(timer);
        run();
      }
    });
    run();
  }

  // A time in the one format of every page, or a dash when there is none; data-when lets
  // frame.js keep its relative hint ("3 min ago") current while the row stays on screen.
  function when(iso) {
    if (!iso) return "—";
    const node = time(iso);
    node.dataset.when = "";
    return node;
  }

  // Where a message came from, by name: its distribution, or the campaign of its bulk send.
  function originName(row) {
    if (row.distribution_id) return row.distribution || row.distribution_id;
    if (row.bulk_job_id) return "Bulk send: " + (row.bulk_job || "…" + row.bulk_job_id.slice(-6));
    return null;
  }

  function badge(status) {
    return el("span", { class: "badge st-" + status, "data-role": "status" }, status);
  }

  // Selects marked data-autosubmit submit their form on change (the window of the counts).
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }

  // ---- the delivery feed --------------------------------------------------------------
  function startFeed(body) {
    const filters = new URLSearchParams(window.location.search);
    const state = $("feed-state");
    const empty = $("feed-empty");
    const rows = new Map();
    let cursor = null;
    let floor = "";

    function origin(row) {
      const name = originName(row);
      if (!name) return row.test ? "Test send from the editor" : "—";
      const href = row.distribution_id
        ? "/distributions/" + row.distribution_id
        : "/bulk-sends/" + row.bulk_job_id;
      return el("a", { href }, name);
    }

    // Each cell carries its column's name (data-label): on a phone the rows become cards
    // (ui.css) and the names are shown beside the values instead of as a header row.
    function cells(row) {
      const cell = (label, attrs, ...content) => el("td", { "data-label": label, ...attrs }, ...content);
      return [
        cell("Time", { class: "when" }, when(row.created_at)),
        // Test sends from the editor are messages too, marked so nobody mistakes them.
        cell("Status", {}, badge(row.status), row.test ? " " : null,
          row.test ? el("span", { class: "badge", "data-role": "test" }, "test") : null,
          // Credited with a redemption of the code it carried (docs/attribution.md).
          row.converted_at ? " " : null,
          row.converted_at
            ? el("span", { class: "badge st-delivered", "data-role": "converted" },
              "converted" + (row.conversion ? " · " + row.conversion : ""))
            : null),
        cell("Channel", {}, el("span", { class: "chip chip-" + row.channel },
          ({email: "Email", sms: "SMS", profile: "Profile"})[row.channel] || row.channel)),
        cell("Recipient", {}, row.recipient || "—"),
        cell("From", {}, origin(row)),
        cell("Template", {}, row.template || row.template_id || "—"),
        cell("Last error", { class: "error-text" }, row.last_error || ""),
      ];
    }

    function render(row) {
      const known = rows.get(row.id);
      // Times are to the second: a conversion in the second the message was sent is a change too.
      const converted = row.converted_at || "";
      if (known && known.dataset.updated === row.updated_at && known.dataset.status === row.status
          && known.dataset.converted === converted) {
        return;
      }
      const tr = el("tr", {
        "data-id": row.id, "data-status": row.status, "data-updated": row.updated_at,
        "data-converted": converted,
        tabindex: "0", class: "clickable", title: "Show this message",
      }, ...cells(row));
      if (known) {
        known.replaceWith(tr);
        tr.classList.add("changed");
      } else {
        // Ids sort by creation time: place the row before the first older one.
        let before = null;
        for (const other of body.children) {
          if (other.dataset.id < row.id) { before = other; break; }
        }
        body.insertBefore(tr, before);
        if (cursor !== null) tr.classList.add("fresh");
      }
      rows.set(row.id, tr);
    }

    function trim() {
      while (body.children.length > MAX_ROWS) {
        const last = body.lastElementChild;
        rows.delete(last.dataset.id);
        last.remove();
      }
    }

    async function poll() {
      const query = new URLSearchParams();
      for (const name of ["status", "channel", "distribution", "bulk_job", "test"]) {
        if (filters.get(name)) query.set(name, filters.get(name));
      }
      if (cursor !== null) {
        query.set("cursor", cursor);
        query.set("from_id", body.lastElementChild ? body.lastElementChild.dataset.id : floor);
      }
      let answer;
      try {
        answer = await call("GET", "/ui/api/deliveries?" + query.toString());
      } catch (error) {
        state.textContent = "Not updating: " + error.message;
        state.className = "feed-state error-text";
        if (error.status === 401) window.location.reload();
        return;
      }
      for (const id of answer.gone) {
        const tr = rows.get(id);
        if (tr) { tr.remove(); rows.delete(id); }
      }
      // Oldest first, so each insert lands above the rows already placed.
      for (const row of answer.rows.slice().reverse()) render(row);
      trim();
      if (cursor === null) floor = answer.floor;
      cursor = answer.cursor;
      empty.hidden = body.children.length > 0;
      state.className = "feed-state";
      // Hidden while empty, so the empty state (what to do next) is all there is to read.
      $("feed-box").hidden = body.children.length === 0;
      state.textContent = "Live · updated " + window.dm.when(new Date().toISOString())
        + (answer.truncated ? " · more arrived than shown" : "");
    }

    body.addEventListener("click", (event) => {
      if (event.target.closest("a")) return;
      const tr = event.target.closest("tr[data-id]");
      if (tr) openMessage(tr.dataset.id);
    });
    body.addEventListener("keydown", (event) => {
      const tr = event.target.closest("tr[data-id]");
      if (tr && (event.key === "Enter" || event.key === " ")) {
        event.preventDefault();
        openMessage(tr.dataset.id);
      }
    });
    $("md-close").addEventListener("click", () => $("message-detail").close());
    every(FEED_MS, poll);
  }

  function detailFacts(message) {
    const facts = [
      ["Status", badge(message.status)],
      ["Channel", message.channel],
      ["Recipient", message.recipient || "—"],
      ["Provider", message.provider],
      ["Message id", message.id],
      ["Provider message id", message.provider_message_id || "—"],
      ["Provider status", message.provider_status || "—"],
      ["Attempts", message.attempts],
      ["Created", when(message.created_at)],
      ["Sent", when(message.sent_at)],
      ["Converted", message.converted_at
        ? el("span", { "data-role": "converted" }, when(message.converted_at),
          message.conversion ? " · " + message.conversion : "")
        : "—"],
      ["Template", message.template || message.template_id || "—"],
      ["From", originName(message) || "—"],
    ];
    return el("dl", { class: "facts" },
      ...facts.map(([name, value]) => el("div", {}, el("dt", {}, name), el("dd", {}, value))));
  }

  function contentView(message) {
    const content = message.content || {};
    if (message.channel === "email" && content.html) {
      // Emails render sandboxed: no scripts, no same-origin access, as the editor's preview.
      const frame = el("iframe", {
        sandbox: "", title: "Rendered email", referrerpolicy: "no-referrer", class: "message-frame",
      });
      frame.srcdoc = content.html;
      return el("div", {},
        el("p", { class: "preview-subject" }, el("strong", {}, "Subject: "), content.subject || ""),
        el("div", { class: "frame-wrap" }, frame));
    }
    if (content.body !== undefined) {
      return el("div", { class: "phone" }, el("div", { class: "bubble" }, content.body));
    }
    if (message.channel === "profile" && content.profile) {
      // A profile write: the values written onto the platform's profile, as text.
      return el("div", {},
        el("p", { class: "hint" }, "Written onto the profile through " + message.provider + ":"),
        el("dl", { class: "facts" }, ...Object.entries(content.profile).map(([name, value]) =>
          el("div", {}, el("dt", {}, name), el("dd", {}, String(value))))));
    }
    return el("p", { class: "hint" }, "Nothing was rendered for this message.");
  }

  function historyView(history) {
    return el("ol", { class: "history-list" }, ...history.map((change) => el("li", {},
      badge(change.status), " ", when(change.at),
      change.detail ? el("span", { class: "hint" }, " — " + change.detail) : null)));
  }

  async function openMessage(id) {
    const dialog = $("message-detail");
    const target = $("md-body");
    target.textContent = "Loading…";
    if (!dialog.open) dialog.showModal();
    try {
      const message = await call("GET", "/ui/api/deliveries/" + encodeURIComponent(id));
      // Named by whom it went to; the id stays among the facts for support and the API.
      $("md-title").textContent = "Message to " + (message.recipient || "no recipient");
      target.textContent = "";
      target.append(
        detailFacts(message),
        message.last_error ? el("p", { class: "alert" }, message.last_error) : "",
        el("h3", { class: "small" }, "Status history"),
        historyView(message.history),
        el("h3", { class: "small" }, "Content"),
        contentView(message),
      );
    } catch (error) {
      target.textContent = "Could not load the message: " + error.message;
    }
  }

  // ---- a distribution's counts ---------------------------------------------------------
  function startCounts(box) {
    every(COUNTS_MS, async () => {
      const counts = await call("GET", box.dataset.url);
      for (const cell of box.querySelectorAll("[data-status]")) {
        cell.textContent = counts.total[cell.dataset.status] || 0;
      }
      for (const field of ["messages", "converted", "conversions", "revenue"]) {
        const node = box.querySelector('[data-field="' + field + '"]');
        if (node) node.textContent = counts[field];
      }
    });
  }

  // ---- a bulk send's progress ----------------------------------------------------------
  function startJob(box) {
    const message = $("bulk-message");

    function set(field, value) {
      for (const node of box.querySelectorAll('[data-field="' + field + '"]')) {
        if (node.tagName === "PROGRESS") {
          node.value = value;
          node.textContent = value + "%";
        } else {
          node.textContent = value;
        }
      }
    }

    function show(job) {
      const status = box.querySelector('[data-field="status"]');
      // The outcome, not the bare status: a completed job whose messages all failed is failed.
      status.textContent = job.outcome.replace(/_/g, " ");
      status.className = "badge st-" + job.outcome;
      for (const name of ["audience", "prepared", "sent", "waiting", "failed", "suppressed",
        "cancelled", "done_percent", "prepared_percent"]) {
        set(name, job[name]);
      }
      set("done_percent_text", job.done_percent + "%");
      set("prepared_text", job.prepared + " of " + job.audience + " recipients");
      set("rate_text", job.rate_text);
      set("eta_text", job.eta_text);
      for (const name of ["send_at", "started_at", "finished_at"]) {
        for (const node of box.querySelectorAll('[data-field="' + name + '"]')) {
          node.replaceChildren(when(job[name]));
        }
      }
      for (const [action, allowed] of Object.entries(job.actions)) {
        const name = action.replace("_", "-");
        const node = box.querySelector('[data-action="' + name + '"]:not(.danger)')
          || box.querySelector('[data-action-box="' + name + '"]');
        if (node) node.hidden = !allowed;
      }
      const pending = box.querySelector('[data-field="preflight_pending"]');
      if (pending && job.preflight) {
        pending.replaceWith(
          el("p", {}, job.preflight.ok ? "The preflight found no problem." : "The preflight found problems."),
          el("pre", { class: "report" }, JSON.stringify(job.preflight, null, 2)));
      }
    }

    async function act(action) {
      const body = action === "cancel" ? { release_codes: $("release-codes").checked } : {};
      message.textContent = "";
      try {
        show(await call("POST", box.dataset.url + "/" + action, body));
        message.textContent = "Done: " + action.replace("-", " ") + ".";
        message.className = "status-line ok";
        const cancelBox = box.querySelector("details.cancel-box");
        if (cancelBox) cancelBox.open = false;
      } catch (error) {
        message.textContent = "Could not " + action.replace("-", " ") + ": " + error.message;
        message.className = "status-line error";
      }
    }

    box.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-action]");
      // "Send now" ends the window in which the send can still be cancelled: ask first.
      const question = button && button.dataset.confirmAction;
      if (button && (!question || window.confirm(question))) act(button.dataset.action);
    });
    every(JOB_MS, async () => show(await call("GET", box.dataset.url)));
  }

  const feed = $("feed-rows");
  if (feed) startFeed(feed);
  const counts = $("distribution-counts");
  if (counts) startCounts(counts);
  const job = $("bulk-job");
  if (job) startJob(job);
})();
