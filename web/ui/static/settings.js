// Settings (/settings, admins): API keys, webhook subscriptions with their recent calls, event
// streams, and the inbound signing secret, all through the public API. A token or secret the API answers once is
// shown once, in a dialog with a Copy button; revoking, rotating and deleting confirm first and
// say what they will do.
(function () {
  "use strict";
  const root = document.getElementById("settings");
  if (!root) return;
  const { api, el, time } = window.dm;
  const announce = root.querySelector("[data-announce]");
  const dialog = document.getElementById("secret-dialog");

  function say(text, bad) {
    announce.textContent = text;
    announce.className = `announce ${bad ? "alert" : "notice"}`;
  }

  // The dialog for a value shown once: what it is, facts to go with it, the value, Copy.
  function showOnce(title, help, value, facts) {
    dialog.querySelector("[data-secret-title]").textContent = title;
    dialog.querySelector("[data-secret-help]").textContent = help;
    dialog.querySelector("[data-secret-value]").textContent = value;
    dialog
      .querySelector("[data-secret-facts]")
      .replaceChildren(...(facts || []).map(([dt, dd]) => el("div", {}, el("dt", {}, dt), el("dd", {}, dd))));
    dialog.showModal();
  }
  dialog.querySelector("[data-copy-secret]").addEventListener("click", (event) => {
    window.dmCopy(event.currentTarget, dialog.querySelector("[data-secret-value]").textContent);
  });

  function handleFailure(error) {
    say(`That did not work: ${error.message}`, true);
  }

  // ---- API keys -------------------------------------------------------------------------
  const keyForm = root.querySelector("[data-key-form]");
  const keyTable = root.querySelector("[data-keys]");
  const keyState = root.querySelector("[data-keys-state]");

  function keyRow(key) {
    const revoke = key.revoked_at
      ? null
      : el("button", { type: "button", class: "danger", onclick: () => revokeKey(key).catch(handleFailure) }, "Revoke", el("span", { class: "sr-only" }, ` ${key.name}`));
    return el(
      "tr",
      {},
      el("th", { scope: "row" }, key.name),
      el("td", { class: "wrap" }, el("code", {}, key.app_id)),
      el("td", {}, time(key.created_at)),
      el("td", {}, key.revoked_at ? el("span", { class: "badge st-cancelled" }, "Revoked ", time(key.revoked_at)) : el("span", { class: "badge st-sent" }, "Active")),
      el("td", { class: "row-actions" }, revoke),
    );
  }

  async function loadKeys() {
    const keys = await api("GET", "/api-keys");
    keyTable.tBodies[0].replaceChildren(...keys.map(keyRow));
    keyTable.hidden = keys.length === 0;
    keyState.textContent = keys.length ? "" : "No API keys yet. Create one above for each program that calls the API.";
    keyState.hidden = keys.length > 0;
  }

  async function revokeKey(key) {
    const message = `Revoke the key "${key.name}"? Programs using it are refused from now on (401). This cannot be undone.`;
    if (!window.confirm(message)) return;
    await api("DELETE", `/api-keys/${encodeURIComponent(key.id)}`);
    await loadKeys();
    say(`The key ${key.name} is revoked.`);
  }

  keyForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    window.dm.clearProblem(keyForm);
    const name = keyForm.elements.name.value.trim();
    if (!name) {
      window.dm.showProblem(keyForm, { message: "Name the key first.", problem: { errors: [{ field: "name", reason: "is required" }] } });
      return;
    }
    try {
      const created = await api("POST", "/api-keys", { name });
      keyForm.reset();
      await loadKeys();
      showOnce(`The token of "${created.name}"`, "Copy the token now: it is shown this once. Calls send it as X-App-Token with the app id as X-App-Id.", created.token, [["App id", created.app_id]]);
    } catch (error) {
      if (!(error instanceof window.dm.ApiError)) throw error;
      window.dm.showProblem(keyForm, error);
    }
  });

  // ---- Webhook subscriptions --------------------------------------------------------------
  const hookForm = root.querySelector("[data-hook-form]");
  const hookTable = root.querySelector("[data-hooks]");
  const hookState = root.querySelector("[data-hooks-state]");

  function callsTable(calls) {
    if (!calls.length) return el("p", { class: "empty" }, "No calls yet. Send a test to see one.");
    const rows = calls.map((c) =>
      el(
        "tr",
        {},
        el("td", {}, time(c.created_at)),
        el("td", {}, c.event_type),
        el("td", {}, el("span", { class: `badge st-${c.status === "delivered" ? "delivered" : c.status === "failed" ? "failed" : "queued"}` }, c.status)),
        el("td", { class: "num" }, String(c.attempts)),
        el("td", { class: "wrap" }, c.last_status_code ? `HTTP ${c.last_status_code}` : "", c.last_error ? ` ${c.last_error}` : "", c.status === "pending" && c.next_attempt_at ? el("span", { class: "hint" }, " next try ", time(c.next_attempt_at)) : null),
      ),
    );
    return el(
      "table",
      { class: "list" },
      el("caption", { class: "sr-only" }, "Recent calls"),
      el("thead", {}, el("tr", {}, ["When", "Event", "Outcome", "Attempts", "Answer"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows),
    );
  }

  // While a call is pending (a test just queued, a retry due) the list refreshes every 2 s, as
  // long as it is open; the dispatcher settles a healthy call within moments.
  async function loadCalls(hook, box) {
    if (!box.firstChild) box.append(el("p", { class: "feed-state" }, "Loading calls…"));
    clearTimeout(box.refresh);
    const calls = await api("GET", `/webhooks/${encodeURIComponent(hook.id)}/calls?limit=20`);
    box.replaceChildren(callsTable(calls));
    const details = box.closest("details");
    if (details && details.open && calls.some((c) => c.status === "pending")) {
      box.refresh = setTimeout(() => loadCalls(hook, box).catch(handleFailure), 2000);
    }
  }

  function hookRows(hook) {
    const callsBox = el("div", { class: "calls" });
    const details = el("details", {}, el("summary", {}, "Recent calls"), callsBox);
    details.addEventListener("toggle", () => {
      if (details.open) loadCalls(hook, callsBox).catch(handleFailure);
    });
    const label = (text) => [text, el("span", { class: "sr-only" }, ` ${hook.url}`)];
    const actions = [
      hook.status === "active"
        ? el("button", { type: "button", onclick: () => testHook(hook, details, callsBox).catch(handleFailure) }, label("Send a test"))
        : el("button", { type: "button", onclick: () => enableHook(hook).catch(handleFailure) }, label("Enable")),
      el("button", { type: "button", onclick: () => rotateHook(hook).catch(handleFailure) }, label("Rotate secret")),
      el("button", { type: "button", class: "danger", onclick: () => deleteHook(hook).catch(handleFailure) }, label("Delete")),
    ];
    const status =
      hook.status === "active"
        ? el("span", { class: "badge st-active" }, "Active")
        : [el("span", { class: "badge st-failed" }, "Disabled"), hook.disabled_reason ? el("span", { class: "hint" }, ` ${hook.disabled_reason}`) : null];
    const failures = hook.consecutive_failures ? el("div", { class: "hint" }, `${hook.consecutive_failures} failed in a row`) : null;
    return el(
      "tr",
      {},
      el("th", { scope: "row", class: "wrap" }, hook.url, details),
      el("td", {}, hook.event_types.map((t) => el("div", {}, t === "*" ? "every event" : t))),
      el("td", {}, status, failures),
      el("td", {}, time(hook.created_at)),
      el("td", { class: "row-actions" }, actions),
    );
  }

  async function loadHooks() {
    const hooks = await api("GET", "/webhooks");
    hookTable.tBodies[0].replaceChildren(...hooks.map(hookRows));
    hookTable.hidden = hooks.length === 0;
    hookState.textContent = hooks.length ? "" : "No subscriptions yet. Subscribe a URL above to follow messages from a CRM or a data pipeline.";
    hookState.hidden = hooks.length > 0;
  }

  async function testHook(hook, details, callsBox) {
    const call = await api("POST", `/webhooks/${encodeURIComponent(hook.id)}/test`);
    say(`A test call (${call.id}) is on its way to ${hook.url}.`);
    details.open = true;
    await loadCalls(hook, callsBox);
  }

  async function enableHook(hook) {
    await api("POST", `/webhooks/${encodeURIComponent(hook.id)}/enable`);
    await loadHooks();
    say(`${hook.url} is enabled; its pending calls resume.`);
  }

  async function rotateHook(hook) {
    const message = `Rotate the signing secret of ${hook.url}? The old secret stops working at once: the receiver must verify with the new one.`;
    if (!window.confirm(message)) return;
    const rotated = await api("POST", `/webhooks/${encodeURIComponent(hook.id)}/rotate-secret`);
    showOnce("The new signing secret", `Calls to ${hook.url} are signed with this secret from now on. It is shown this once.`, rotated.secret);
  }

  async function deleteHook(hook) {
    const message = `Delete the subscription to ${hook.url}? It gets no more calls, and its pending calls are dropped.`;
    if (!window.confirm(message)) return;
    await api("DELETE", `/webhooks/${encodeURIComponent(hook.id)}`);
    await loadHooks();
    say(`The subscription to ${hook.url} is deleted.`);
  }

  hookForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    window.dm.clearProblem(hookForm);
    const types = [...hookForm.querySelectorAll('[name="event_types"]:checked')].map((box) => box.value);
    try {
      const created = await api("POST", "/webhooks", { url: hookForm.elements.url.value.trim(), event_types: types });
      hookForm.reset();
      await loadHooks();
      showOnce("The subscription's signing secret", `Verify calls to ${created.url} with this secret (Standard Webhooks). It is shown this once.`, created.secret);
    } catch (error) {
      if (!(error instanceof window.dm.ApiError)) throw error;
      window.dm.showProblem(hookForm, error);
    }
  });

  // ---- Event streams --------------------------------------------------------------------
  const streamForm = root.querySelector("[data-stream-form]");
  const streamTable = root.querySelector("[data-streams]");
  const streamState = root.querySelector("[data-streams-state]");

  function streamRow(stream) {
    const remove = el("button", { type: "button", class: "danger", onclick: () => deleteStream(stream).catch(handleFailure) }, "Delete", el("span", { class: "sr-only" }, ` the stream ${stream.name}`));
    return el(
      "tr",
      {},
      el("th", { scope: "row" }, stream.name),
      el("td", { class: "wrap" }, stream.event_types.join(", ")),
      el("td", { class: "wrap" }, el("code", {}, `/v1/streams/${stream.id}/events`)),
      el("td", {}, time(stream.created_at)),
      el("td", { class: "row-actions" }, remove),
    );
  }

  async function loadStreams() {
    const streams = await api("GET", "/streams");
    streamTable.tBodies[0].replaceChildren(...streams.map(streamRow));
    window.dm.labelCells(streamTable);
    streamTable.hidden = streams.length === 0;
    streamState.textContent = streams.length ? "" : "No streams yet. Create one above for a job that reads our events into your analytics.";
    streamState.hidden = streams.length > 0;
  }

  async function deleteStream(stream) {
    const message = `Delete the stream ${stream.name}? Its reader gets nothing more, and the events it kept are dropped.`;
    if (!window.confirm(message)) return;
    await api("DELETE", `/streams/${encodeURIComponent(stream.id)}`);
    await loadStreams();
    say(`The stream ${stream.name} is deleted.`);
  }

  streamForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    window.dm.clearProblem(streamForm);
    const types = [...streamForm.querySelectorAll('[name="event_types"]:checked')].map((box) => box.value);
    try {
      const created = await api("POST", "/streams", { name: streamForm.elements.name.value.trim(), event_types: types });
      streamForm.reset();
      await loadStreams();
      say(`The stream ${created.name} keeps events from now on; read them at /v1/streams/${created.id}/events.`);
    } catch (error) {
      if (!(error instanceof window.dm.ApiError)) throw error;
      window.dm.showProblem(streamForm, error);
    }
  });

  // ---- Inbound signing secret ---------------------------------------------------------------
  const inboundState = root.querySelector("[data-inbound-state]");
  const rotate = root.querySelector('[data-inbound="rotate"]');
  const clear = root.querySelector('[data-inbound="clear"]');
  const INBOUND = "/settings/inbound-webhook-secret";

  function showInbound(isSet) {
    inboundState.textContent = isSet ? "set" : "not set";
    inboundState.className = `badge ${isSet ? "st-sent" : "st-cancelled"}`;
    rotate.textContent = isSet ? "Rotate the secret" : "Require signatures";
    clear.hidden = !isSet;
    rotate.dataset.set = isSet ? "true" : "false";
  }

  rotate.addEventListener("click", async () => {
    const isSet = rotate.dataset.set === "true";
    const message = isSet
      ? "Rotate the inbound signing secret? The old one stops working at once: senders signing with it are refused until they use the new one."
      : "Require signed events? From now on POST /v1/events refuses calls not signed with the new secret.";
    if (!window.confirm(message)) return;
    try {
      const answer = await api("POST", INBOUND);
      showInbound(true);
      showOnce("The inbound signing secret", "Sign calls to POST /v1/events with this secret (Standard Webhooks). It is shown this once.", answer.secret);
    } catch (error) {
      handleFailure(error);
    }
  });

  clear.addEventListener("click", async () => {
    const message = "Stop requiring signatures? POST /v1/events then accepts unsigned calls with an API key again.";
    if (!window.confirm(message)) return;
    try {
      await api("DELETE", INBOUND);
      showInbound(false);
      say("Events no longer need a signature.");
    } catch (error) {
      handleFailure(error);
    }
  });

  loadKeys().catch((error) => (keyState.textContent = `The keys could not be loaded: ${error.message}`));
  loadHooks().catch((error) => (hookState.textContent = `The subscriptions could not be loaded: ${error.message}`));
  loadStreams().catch((error) => (streamState.textContent = `The streams could not be loaded: ${error.message}`));
  api("GET", INBOUND)
    .then((answer) => showInbound(answer.set))
    .catch((error) => (inboundState.textContent = `unknown (${error.message})`));
})();
