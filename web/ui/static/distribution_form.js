// The guided distribution form: trigger → filters → channels (with a preview for a real
// customer) → recipient and timing → activate. Reads and saves through the public API
// (dm.api: /ui/v1/...); the conditions use the segment builder (segment_builder.js).
"use strict";

(function () {
  const { api, el } = window.dm;
  const form = document.getElementById("distribution-form");
  if (!form) return;
  const $ = (id) => document.getElementById(id);
  const id = form.dataset.distribution;
  const canEdit = form.dataset.canEdit === "true";
  const STEPS = 5;
  const CHANNEL_NAMES = { email: "Email", sms: "SMS", profile: "Profile write" };
  // Event parts a preview fills with the schema's examples when the trigger always has them.
  const SAMPLE_PARTS = ["code", "reward", "order"];
  // The built-in sender that keeps the message and sends nothing (always there, not listed).
  const CAPTURE = { name: "capture", label: "capture (built in: keeps it, sends nothing)" };

  const sections = [...form.querySelectorAll("section[data-step]")];
  const stepButtons = [...document.querySelectorAll("[data-goto]")];
  let step = 1;
  let provides = new Map(); // trigger -> [variable paths], "*" -> every event's
  let examples = new Map(); // variable path -> example
  let templates = { email: [], sms: [] };
  let providers = [];
  let channels = [];
  let builder = null;
  let recheckBuilder = null; // the conditions checked again when a follow-up's wait is over
  let autoSample = "{}";

  // ---- steps ----------------------------------------------------------------------------
  function show(n, focus) {
    step = Math.min(Math.max(n, 1), STEPS);
    for (const section of sections) section.hidden = Number(section.dataset.step) !== step;
    for (const button of stepButtons) {
      if (Number(button.dataset.goto) === step) button.setAttribute("aria-current", "step");
      else button.removeAttribute("aria-current");
    }
    $("step-back").hidden = step === 1;
    $("step-next").hidden = step === STEPS;
    if (step === STEPS) renderSummary();
    if (focus) $(`step-${step}`).focus();
  }
  stepButtons.forEach((b) => b.addEventListener("click", () => show(Number(b.dataset.goto), true)));
  $("step-back").addEventListener("click", () => show(step - 1, true));
  $("step-next").addEventListener("click", () => show(step + 1, true));

  // ---- triggers and what they provide to templates ----------------------------------------
  function walk(node, path) {
    if (node && node.fields) {
      for (const [key, child] of Object.entries(node.fields)) walk(child, path ? `${path}.${key}` : key);
      return;
    }
    examples.set(path, node.example);
    for (const trigger of node.provided_for || []) {
      if (!provides.has(trigger)) provides.set(trigger, []);
      provides.get(trigger).push(path);
    }
  }

  function triggerValue() {
    return $("d-trigger").value.trim();
  }

  function renderTriggers() {
    const known = [...provides.keys()].filter((t) => t !== "*" && t !== "bulk").sort();
    const list = el("div", { class: "trigger-options" });
    for (const trigger of known) {
      const own = provides.get(trigger);
      list.append(el("label", { class: "check trigger-option" },
        el("input", { type: "radio", name: "trigger-pick", value: trigger,
          checked: trigger === triggerValue(),
          onchange: () => { $("d-trigger").value = trigger; triggerChanged(); } }),
        el("span", {}, el("code", {}, trigger),
          el("span", { class: "hint" }, ` provides ${own.length} more variable${own.length === 1 ? "" : "s"}: ` + own.join(", ")))));
    }
    $("trigger-list").replaceChildren(list);
  }

  // On a segment trigger the segment picked is the one the event is about, not a membership.
  const SEGMENT_TRIGGERS = { "customer.segment.entered": "entered", "customer.segment.left": "left" };

  function segmentPicker(trigger) {
    const moved = SEGMENT_TRIGGERS[trigger];
    form.querySelector('label[for="d-segment"]').textContent = moved
      ? `The segment the customer ${moved}` : "Recipient is in the segment";
    $("d-segment").options[0].textContent = moved ? "Any segment" : "Any customer";
  }

  function triggerChanged() {
    const trigger = triggerValue();
    segmentPicker(trigger);
    for (const radio of form.querySelectorAll('input[name="trigger-pick"]')) radio.checked = radio.value === trigger;
    const own = provides.get(trigger) || [];
    const every = provides.get("*") || [];
    $("trigger-provides").replaceChildren(trigger
      ? el("p", {}, el("strong", {}, "Templates always get: "),
        [...own, ...every].map((p) => el("code", { class: "var" }, p)),
        own.length ? null : el("span", { class: "hint" }, " (an event of your own type: other variables only when its data has them)"))
      : el("p", { class: "hint" }, "Pick a trigger to see what its templates can use."));
    // The preview's sample event: the schema's examples of what this trigger always carries.
    const sample = {};
    for (const path of own) {
      const [part, ...rest] = path.split(".");
      if (!SAMPLE_PARTS.includes(part) || rest.length !== 1) continue;
      sample[part] = sample[part] || {};
      sample[part][rest[0]] = examples.get(path);
    }
    scheduleShown();
    const text = JSON.stringify(sample, null, 2);
    if ($("preview-event").value.trim() === autoSample.trim()) $("preview-event").value = text;
    autoSample = text;
  }
  $("d-trigger").addEventListener("input", triggerChanged);

  // ---- channels ---------------------------------------------------------------------------
  function providerOptions(channel) {
    const fit = providers.filter((p) => !p.disabled && p.channels.includes(channel) &&
      (channel === "profile" ? p.role === "sync" : p.role === "sender"));
    const options = fit.map((p) => ({ name: p.name, label: `${p.name} (${p.kind})` }));
    if (channel !== "profile") options.push(CAPTURE);
    return options;
  }

  function select(attrs, options, current, placeholder) {
    const node = el("select", attrs, placeholder ? el("option", { value: "" }, placeholder) : null,
      ...options.map((o) => el("option", { value: o.value, selected: o.value === current }, o.label)));
    if (current && !options.some((o) => o.value === current)) {
      node.append(el("option", { value: current, selected: true }, current));
    }
    return node;
  }

  function renderChannels() {
    const list = $("channel-list");
    list.replaceChildren(...channels.map((c, i) => {
      const name = CHANNEL_NAMES[c.channel] || c.channel;
      const n = i + 1;
      const parts = [el("h3", { class: "small" }, `${n}. ${name}`)];
      if (c.channel !== "profile") {
        const t = select({ id: `ch-${i}-template`, name: `channels[${i}].template` },
          (templates[c.channel] || []).map((tpl) => ({ value: tpl.id, label: tpl.name })), c.template,
          "Choose a live template");
        t.addEventListener("change", () => { c.template = t.value; });
        parts.push(el("label", { for: `ch-${i}-template` }, `Template of channel ${n} (${name})`), t);
        if (!(templates[c.channel] || []).length) {
          parts.push(el("p", { class: "hint" }, "No live template for this channel yet: ",
            el("a", { href: "/templates" }, "publish one"), " first."));
        }
      }
      const p = select({ id: `ch-${i}-provider`, name: `channels[${i}].provider` },
        providerOptions(c.channel).map((o) => ({ value: o.name, label: o.label })), c.provider,
        "Choose a provider");
      p.addEventListener("change", () => { c.provider = p.value; });
      parts.push(el("label", { for: `ch-${i}-provider` },
        `${c.channel === "profile" ? "Sync" : "Provider"} of channel ${n} (${name})`), p);
      if (canEdit) {
        parts.push(el("button", { type: "button", class: "danger small-button",
          onclick: () => { channels.splice(i, 1); renderChannels(); } }, `Remove channel ${n}`));
      }
      return el("li", { class: "channel-row" }, ...parts);
    }));
    $("channels-empty").hidden = channels.length > 0;
  }
  for (const button of form.querySelectorAll("[data-add]")) {
    button.addEventListener("click", () => {
      const channel = button.dataset.add;
      const first = providerOptions(channel)[0];
      channels.push({ channel, template: "", provider: first && channel === "profile" ? first.name : "" });
      renderChannels();
      const focus = $(`ch-${channels.length - 1}-${channel === "profile" ? "provider" : "template"}`);
      if (focus) focus.focus();
    });
  }

  // ---- the rule as the API takes it -----------------------------------------------------
  function rule() {
    const filters = {};
    if ($("d-campaign").value) filters.campaign_id = $("d-campaign").value;
    if ($("d-segment").value) filters.segment_id = $("d-segment").value;
    const conditions = builder ? builder.getFilter() : null;
    if (conditions) filters.conditions = conditions;
    const cap = $("d-cap").value.trim();
    const start = $("d-quiet-start").value;
    const end = $("d-quiet-end").value;
    return {
      name: $("d-name").value.trim(),
      trigger: triggerValue(),
      filters,
      recipient: form.querySelector('input[name="recipient"]:checked').value,
      channels: channels.map((c) => (c.channel === "profile"
        ? { channel: c.channel, provider: c.provider }
        : { channel: c.channel, template: c.template, provider: c.provider })),
      frequency_cap_hours: cap ? Number(cap) : null,
      quiet_hours: start || end ? { start, end } : null,
      ...timing(),
    };
  }

  // A date trigger's schedule, and a follow-up's delay and recheck. Without a wait there is no
  // follow-up: the recheck is left out (the API refuses one without a delay), so clearing the
  // wait of a saved distribution removes its follow-up.
  const DATE_TRIGGER = "customer.date";
  function timing() {
    let schedule = null;
    if (triggerValue() === DATE_TRIGGER) {
      const offset = $("d-schedule-offset").value.trim();
      schedule = {
        field: $("d-schedule-field").value.trim(),
        offset_days: offset === "" ? 0 : Number(offset),
        at: $("d-schedule-at").value,
      };
      if ($("d-schedule-repeat").value) schedule.repeat = $("d-schedule-repeat").value;
    }
    const wait = $("d-delay-value").value.trim();
    // Whole seconds, as the API counts them; a wait it refuses (0, 91 days) is its to name.
    const delay = wait ? Math.round(Number(wait) * Number($("d-delay-unit").value)) : null;
    const conditions = recheckBuilder ? recheckBuilder.getFilter() : null;
    let recheck = null;
    if (delay !== null && ($("d-recheck-code").checked || conditions)) {
      recheck = {};
      if ($("d-recheck-code").checked) recheck.code = "not_redeemed";
      if (conditions) recheck.conditions = conditions;
    }
    return { schedule, delay, recheck };
  }

  // The checks appear once there is a wait to check after.
  function recheckShown() {
    $("d-recheck").hidden = $("d-delay-value").value.trim() === "";
  }
  $("d-delay-value").addEventListener("input", recheckShown);

  function recheckText(recheck) {
    const conditions = recheck.conditions ? JSON.stringify(recheck.conditions) : null;
    return [recheck.code ? "the event's code has not been redeemed" : null,
      conditions ? `the customer matches ${conditions}` : null].filter(Boolean).join(", and ");
  }

  function scheduleText(s) {
    if (!s) return "—";
    const when = s.offset_days ? `${Math.abs(s.offset_days)} day${Math.abs(s.offset_days) === 1 ? "" : "s"} ${s.offset_days < 0 ? "before" : "after"}` : "on the day of";
    return `${when} ${s.field}, at ${s.at} local`;
  }

  function scheduleShown() {
    $("d-schedule").hidden = triggerValue() !== DATE_TRIGGER;
    $("d-use-date").hidden = triggerValue() === DATE_TRIGGER;
  }
  $("d-use-date").addEventListener("click", () => {
    $("d-trigger").value = DATE_TRIGGER;
    triggerChanged();
    $("d-schedule-field").focus();
  });

  function renderSummary() {
    const r = rule();
    const label = (selectId) => { const s = $(selectId); return s.options[s.selectedIndex].text; };
    const channelText = channels.length ? channels.map((c) => {
      const name = CHANNEL_NAMES[c.channel] || c.channel;
      const tpl = (templates[c.channel] || []).find((t) => t.id === c.template);
      return `${name}: ${tpl ? tpl.name : c.channel === "profile" ? "profile write" : "no template"} via ${c.provider || "no provider"}`;
    }).join("; ") : "none yet";
    const items = [
      ["Name", r.name || "—"],
      ["Trigger", r.trigger || "—"],
      ["Campaign", label("d-campaign")],
      ["Segment", label("d-segment")],
      ["Conditions", r.filters.conditions ? JSON.stringify(r.filters.conditions) : "none"],
      ["Channels", channelText],
      ["Send to", r.recipient === "customer" ? "the customer" : "the referrer"],
      ["Frequency cap", r.frequency_cap_hours ? `once per ${r.frequency_cap_hours} h` : "none"],
      ["Quiet hours", r.quiet_hours ? `${r.quiet_hours.start}–${r.quiet_hours.end}` : "none"],
      ...(r.schedule ? [["Date", scheduleText(r.schedule)]] : []),
      ["Wait, then check again", r.delay === null ? "no: sends at once"
        : `waits ${window.dm.wait(r.delay).text}, then sends ${r.recheck ? "only if " + recheckText(r.recheck) : "without a further check"}`],
    ];
    $("summary").replaceChildren(...items.map(([k, v]) => el("div", {}, el("dt", {}, k), el("dd", {}, v))));
  }

  // Shows the API's problem on its fields and opens the step of the first one.
  function problem(error) {
    window.dm.showProblem(form, error);
    const bad = form.querySelector('[aria-invalid="true"]');
    const section = bad && bad.closest("section[data-step]");
    if (section) show(Number(section.dataset.step), false);
    const box = form.querySelector("[data-problem]");
    if (box && !box.hidden) box.focus();
  }

  // ---- save -------------------------------------------------------------------------------
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const mode = event.submitter ? event.submitter.dataset.save : "keep";
    window.dm.clearProblem(form);
    try {
      const saved = id ? await api("PUT", `/distributions/${id}`, rule()) : await api("POST", "/distributions", rule());
      if (mode === "paused") await api("POST", `/distributions/${saved.id}/pause`);
      location.assign(`/distributions/${saved.id}`);
    } catch (error) {
      if (error instanceof window.dm.ApiError) problem(error);
      else throw error;
    }
  });

  // ---- preview: the deliveries a test event would create, nothing sent ----------------------
  $("preview-find").addEventListener("click", findCustomers);
  $("preview-search").addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      findCustomers();
    }
  });

  async function findCustomers() {
    const q = $("preview-search").value.trim();
    const found = await api("GET", `/customers?limit=20${q ? "&q=" + encodeURIComponent(q) : ""}`);
    const pick = $("preview-customer");
    pick.replaceChildren(...found.customers.map((c) => el("option", { value: c.id },
      [c.name, c.email || c.phone || c.source_id].filter(Boolean).join(" · ") || c.id)));
    if (!found.customers.length) pick.append(el("option", { value: "" }, "No customer found"));
    $("preview-note").textContent = `${found.customers.length} found.`;
  }

  function deliveryView(row, i) {
    const content = row.content || {};
    const parts = [
      el("p", {}, el("span", { class: "badge st-" + row.status }, row.status), " ",
        CHANNEL_NAMES[row.channel] || row.channel, " via ", row.provider,
        row.recipient ? ` to ${row.recipient}` : "", row.reason ? el("span", { class: "error-text" }, ` — ${row.reason}`) : null),
    ];
    if (content.subject) parts.push(el("p", { class: "preview-subject" }, el("strong", {}, "Subject: "), content.subject));
    if (content.html) {
      parts.push(el("iframe", { class: "preview-frame", sandbox: "", srcdoc: content.html,
        title: `Rendered email of delivery ${i + 1}` }));
    } else if (content.body || content.text) {
      parts.push(el("pre", { class: "preview-text" }, content.body || content.text));
    }
    if (row.profile) parts.push(el("pre", { class: "report" }, JSON.stringify(row.profile, null, 2)));
    return el("li", { class: "preview-delivery" }, ...parts);
  }

  $("preview-run").addEventListener("click", async () => {
    const result = $("preview-result");
    const note = $("preview-note");
    window.dm.clearProblem(form);
    let extra;
    try {
      extra = JSON.parse($("preview-event").value || "{}");
    } catch (error) {
      problem(new window.dm.ApiError(422, { detail: "The sample event is not valid JSON.",
        errors: [{ field: "event", reason: error.message }] }));
      return;
    }
    const customer = $("preview-customer").value;
    if (!customer) {
      note.textContent = "Find and choose a customer first.";
      return;
    }
    note.textContent = "Rendering…";
    try {
      const previewed = rule();
      const answer = await api("POST", "/distributions/preview", {
        distribution: previewed, event: { ...extra, customer: { id: customer } },
      });
      // The preview prepares the deliveries at once; a follow-up writes them after its wait.
      const later = previewed.delay === null ? "" : " With the wait, they are made when it is over, if the checks pass then.";
      note.textContent = answer.deliveries.length
        ? `It would create ${answer.deliveries.length} deliver${answer.deliveries.length === 1 ? "y" : "ies"}; nothing was sent.${later}`
        : `No delivery: ${answer.note}.`;
      result.replaceChildren(el("ol", { class: "preview-list" }, ...answer.deliveries.map(deliveryView)));
    } catch (error) {
      note.textContent = "";
      if (error instanceof window.dm.ApiError) problem(error);
      else throw error;
    }
  });

  // ---- start: what the form offers, then the saved rule ----------------------------------
  function fill(d) {
    $("d-name").value = d.name;
    $("d-trigger").value = d.trigger;
    const filters = d.filters || {};
    $("d-campaign").value = filters.campaign_id || "";
    $("d-segment").value = filters.segment_id || "";
    builder.setFilter(filters.conditions || null);
    for (const radio of form.querySelectorAll('input[name="recipient"]')) radio.checked = radio.value === d.recipient;
    $("d-cap").value = d.frequency_cap_hours || "";
    $("d-quiet-start").value = d.quiet_hours ? d.quiet_hours.start : "";
    $("d-quiet-end").value = d.quiet_hours ? d.quiet_hours.end : "";
    channels = d.channels.map((c) => ({ channel: c.channel, template: c.template || "", provider: c.provider }));
    if (d.schedule) {
      $("d-schedule-field").value = d.schedule.field;
      $("d-schedule-offset").value = d.schedule.offset_days || 0;
      $("d-schedule-at").value = d.schedule.at;
      $("d-schedule-repeat").value = d.schedule.repeat || "";
    }
    if (d.delay_seconds) {
      const { count, unit } = window.dm.wait(d.delay_seconds);
      const units = $("d-delay-unit");
      // A wait set through the API in seconds keeps its unit rather than being rounded.
      if (![...units.options].some((o) => Number(o.value) === unit)) {
        units.append(el("option", { value: String(unit) }, "seconds"));
      }
      units.value = String(unit);
      $("d-delay-value").value = count;
    }
    $("d-recheck-code").checked = Boolean(d.recheck && d.recheck.code === "not_redeemed");
    recheckBuilder.setFilter(d.recheck && d.recheck.conditions ? d.recheck.conditions : null);
    recheckShown();
  }

  async function start() {
    const [variables, campaigns, segments, fields, email, sms, senders, saved] = await Promise.all([
      api("GET", "/templates/variables"),
      api("GET", "/campaigns"),
      api("GET", "/segments"),
      api("GET", "/segments/fields"),
      api("GET", "/templates?channel=email&status=live&limit=100"),
      api("GET", "/templates?channel=sms&status=live&limit=100"),
      api("GET", "/providers"),
      id ? api("GET", `/distributions/${id}`) : Promise.resolve(null),
    ]);
    provides = new Map();
    examples = new Map();
    for (const [key, group] of Object.entries(variables.variables)) walk(group, key);
    templates = { email: email.templates, sms: sms.templates };
    providers = senders;
    $("d-campaign").append(...campaigns.map((c) => el("option", { value: c.id }, c.name)));
    $("d-segment").append(...segments.map((s) => el("option", { value: s.id }, s.name)));
    builder = window.SegmentBuilder.create($("conditions-builder"), {
      fields: fields.fields, filter: null, prefix: "filters.conditions",
      readOnly: !canEdit,
    });
    recheckBuilder = window.SegmentBuilder.create($("recheck-builder"), {
      fields: fields.fields, filter: null, prefix: "recheck.conditions", noun: "recheck condition",
      readOnly: !canEdit,
    });
    if (saved) fill(saved);
    renderTriggers();
    triggerChanged();
    renderChannels();
    const wanted = Number(new URLSearchParams(location.search).get("step"));
    show(wanted || 1, false);
  }
  // Viewers look at the form; what would change something (even a preview, a POST) is not offered.
  if (!canEdit) {
    for (const node of form.querySelectorAll("#channel-add, #preview-run")) node.hidden = true;
  }
  show(1, false);
  start().catch((error) => {
    const box = form.querySelector("[data-problem]");
    box.textContent = "Could not load the form: " + error.message;
    box.hidden = false;
  });
})();
