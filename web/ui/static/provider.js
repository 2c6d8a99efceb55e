// One provider (/providers/{name}) or a new one (/providers/new): a form generated from the
// kind's config schema (GET /providers/kinds), secrets write-only ("set" / "not set", Replace
// to type a new one), the callback URL to copy, check, disable/enable and delete. Everything
// goes through the public API (dm.api), so its rules and field errors are the ones shown.
(function () {
  "use strict";
  const root = document.getElementById("provider");
  if (!root) return;
  const { api, el } = window.dm;
  const name = root.dataset.name;
  const canChange = root.dataset.canChange === "true";
  const form = root.querySelector("[data-form]");
  const fieldsBox = root.querySelector("[data-fields]");
  const state = root.querySelector("[data-state]");
  const kindSelect = form.querySelector('[name="kind"]');
  let kinds = [];
  let provider = null; // the stored provider (edit) or null (new)
  let fields = []; // one reader per generated field: {key, read(), original, secret, replacing}

  // Hints the schema cannot carry (how a value is written), by field name.
  const HINTS = {
    identity: "Which customer value the platform knows a user by: source_id, email or metadata.<key>.",
    attributes: "Custom attribute → value (code, referral_link, qr_url, campaign, reward, …). No rows: the default mapping.",
    merge_fields: "Merge tag → value (code, referral_link, qr_url, campaign, reward, …). No rows: the default mapping.",
    fields: "Custom field id → value (code, referral_link, qr_url, campaign, reward, …).",
  };

  // {type, nullable, enum, items, additionalProperties} from a property, unwrapping anyOf-null.
  function shape(prop) {
    const options = prop.anyOf || [prop];
    const real = options.find((o) => o.type !== "null") || {};
    return { ...prop, ...real, nullable: options.some((o) => o.type === "null") };
  }

  // "api_key_sid" → "API key SID": field names read as words, abbreviations in capitals.
  const ABBREVIATIONS = new Set(["api", "url", "id", "ca", "pem", "sid", "sms", "tls"]);
  function label(key) {
    const words = key.split("_").map((w) => (ABBREVIATIONS.has(w) ? w.toUpperCase() : w));
    return words.join(" ").replace(/^./, (c) => c.toUpperCase());
  }

  function fieldLabel(key, id, required, extra) {
    return el(
      "label",
      { for: id },
      label(key),
      required ? el("span", { class: "hint" }, " (required)") : null,
      extra ? el("span", { class: "hint" }, ` ${extra}`) : null,
    );
  }

  function hintFor(key, prop, hintId) {
    const parts = [prop.description, HINTS[key]];
    if (prop.default !== undefined && prop.default !== null && typeof prop.default !== "object") {
      parts.push(`Default: ${prop.default === true ? "yes" : prop.default === false ? "no" : prop.default}.`);
    }
    const text = parts.filter(Boolean).join(" ");
    return text ? el("p", { class: "hint", id: hintId }, text) : null;
  }

  // Key → value rows (Braze attributes, Mailchimp merge fields, ActiveCampaign fields).
  function mapField(key, prop, required, value) {
    const id = `f-${key}`;
    const rows = el("div", { class: "map-rows" });
    const anchor = el("input", { type: "hidden", name: `config.${key}` });
    let count = 0;
    function addRow(k, v) {
      count += 1;
      const n = count;
      const row = el(
        "div",
        { class: "map-row" },
        el("input", { "aria-label": `${label(key)} ${n}: name on the platform`, placeholder: "name on the platform", value: k || "", "data-k": "" }),
        el("span", { "aria-hidden": "true" }, "→"),
        el("input", { "aria-label": `${label(key)} ${n}: value`, placeholder: "value, e.g. code", value: v || "", "data-v": "" }),
      );
      if (canChange) {
        row.append(
          el("button", { type: "button", class: "link", "aria-label": `Remove row ${n} of ${label(key)}`, onclick: () => row.remove() }, "Remove"),
        );
      }
      rows.append(row);
      return row;
    }
    for (const [k, v] of Object.entries(value || {})) addRow(k, v);
    const add = canChange
      ? el("button", { type: "button", onclick: () => addRow("", "").querySelector("input").focus() }, "Add a row")
      : null;
    const box = el(
      "div",
      { class: "field map-field", role: "group", "aria-labelledby": `${id}-label` },
      el("p", { class: "label", id: `${id}-label` }, label(key), required ? el("span", { class: "hint" }, " (required)") : null),
      hintFor(key, prop, `${id}-hint`),
      rows,
      anchor,
      add,
    );
    const read = () => {
      const out = {};
      for (const row of rows.querySelectorAll(".map-row")) {
        const k = row.querySelector("[data-k]").value.trim();
        if (k) out[k] = row.querySelector("[data-v]").value.trim();
      }
      return Object.keys(out).length ? out : undefined;
    };
    return { box, read };
  }

  // A write-only field: on a stored provider "set" / "not set" and Replace; else a password box.
  function secretField(key, prop, required, isSet) {
    const id = `f-${key}`;
    const input = el("input", { id, name: `config.${key}`, type: "password", autocomplete: "new-password", "aria-describedby": `${id}-hint` });
    const hint = el("p", { class: "hint", id: `${id}-hint` }, "Write-only: never shown again once saved.");
    const entry = { replacing: !provider };
    const box = el("div", { class: "field" }, fieldLabel(key, id, required && !provider));
    if (!provider) {
      box.append(input, hint);
    } else {
      const status = el("span", { class: `badge ${isSet ? "st-sent" : "st-cancelled"}`, "data-secret": key }, isSet ? "set" : "not set");
      const replace = el("button", { type: "button", class: "link" }, isSet ? "Replace" : "Set it");
      const line = el("p", { class: "secret-line" }, status, " ", canChange ? replace : null);
      box.firstChild.removeAttribute("for");
      box.firstChild.id = `${id}-label`;
      box.append(line);
      replace.addEventListener("click", () => {
        entry.replacing = true;
        line.remove();
        box.firstChild.setAttribute("for", id);
        box.append(input, hint);
        input.focus();
      });
    }
    entry.box = box;
    entry.read = () => (entry.replacing && input.value ? input.value : undefined);
    entry.secret = true;
    return entry;
  }

  function plainField(key, prop, required, value) {
    const id = `f-${key}`;
    const hintId = `${id}-hint`;
    const hint = hintFor(key, prop, hintId);
    const described = hint ? hintId : null;
    const box = el("div", { class: "field" });
    let input;
    let read;
    if (prop.enum) {
      input = el("select", { id, name: `config.${key}`, "aria-describedby": described });
      const current = value !== undefined && value !== null ? value : prop.default;
      if (prop.nullable || current === undefined) input.append(el("option", { value: "" }, "(not set)"));
      for (const option of prop.enum) {
        input.append(el("option", { value: option, selected: option === current }, String(option)));
      }
      read = () => input.value || undefined;
    } else if (prop.type === "boolean" && !prop.nullable) {
      input = el("input", { id, name: `config.${key}`, type: "checkbox", "aria-describedby": described });
      input.checked = value !== undefined && value !== null ? value : Boolean(prop.default);
      box.classList.add("check-field");
      box.append(el("label", { class: "check", for: id }, input, " ", label(key)));
      if (hint) box.append(hint);
      return { box, read: () => input.checked };
    } else if (prop.type === "boolean") {
      // Three states: yes, no, or not set (the platform's own default).
      input = el("select", { id, name: `config.${key}`, "aria-describedby": described });
      for (const [v, text] of [["", "(platform default)"], ["true", "Yes"], ["false", "No"]]) {
        input.append(el("option", { value: v, selected: String(value ?? "") === v }, text));
      }
      read = () => (input.value === "" ? undefined : input.value === "true");
    } else if (prop.type === "integer" || prop.type === "number") {
      input = el("input", {
        id,
        name: `config.${key}`,
        type: "number",
        step: prop.type === "integer" ? "1" : "any",
        min: prop.minimum,
        max: prop.maximum,
        value: value ?? "",
        placeholder: prop.default ?? "",
        "aria-describedby": described,
      });
      read = () => (input.value === "" ? undefined : Number(input.value));
    } else if (prop.type === "array") {
      input = el("input", { id, name: `config.${key}`, value: (value || []).join(", "), placeholder: (prop.default || []).join(", "), "aria-describedby": hintId });
      const listHint = el("p", { class: "hint", id: hintId }, "Separate with commas.", hint ? ` ${hint.textContent}` : "");
      box.append(fieldLabel(key, id, required), input, listHint);
      return { box, read: () => (input.value.trim() ? input.value.split(",").map((s) => s.trim()).filter(Boolean) : undefined) };
    } else if (key.endsWith("_pem")) {
      // A certificate is many lines: a text area, kept as typed.
      input = el("textarea", { id, name: `config.${key}`, rows: "4", "aria-describedby": described, spellcheck: "false" }, value ?? "");
      read = () => (input.value.trim() === "" ? undefined : input.value);
    } else {
      input = el("input", { id, name: `config.${key}`, type: "text", value: value ?? "", placeholder: prop.default ?? "", required, "aria-describedby": described, autocomplete: "off" });
      read = () => (input.value.trim() === "" ? undefined : input.value.trim());
    }
    box.append(fieldLabel(key, id, required), input);
    if (hint) box.append(hint);
    return { box, read };
  }

  function renderFields(kind) {
    fieldsBox.replaceChildren();
    fields = [];
    if (!kind) return;
    const schema = kind.config_schema || {};
    const required = new Set(schema.required || []);
    const config = (provider && provider.config) || {};
    const hasSecret = (provider && provider.has_secret) || {};
    for (const [key, raw] of Object.entries(schema.properties || {})) {
      const prop = shape(raw);
      const isRequired = required.has(key);
      let entry;
      if (raw.writeOnly || kind.secret_fields.includes(key)) {
        entry = secretField(key, prop, isRequired, Boolean(hasSecret[key]));
      } else if (prop.type === "object") {
        entry = mapField(key, prop, isRequired, config[key]);
      } else {
        entry = plainField(key, prop, isRequired, config[key]);
      }
      entry.key = key;
      // What the provider uses now: the stored value, else the schema's default.
      entry.original = config[key] !== undefined ? config[key] : prop.default;
      fields.push(entry);
      fieldsBox.append(entry.box);
    }
    if (!canChange) form.querySelectorAll("input, select, textarea").forEach((node) => (node.disabled = true));
  }

  function numberOf(input) {
    return input.value === "" ? null : Number(input.value);
  }

  // The request body: a new provider sends what is filled in; a stored one only what changed
  // (PATCH merges field by field: null removes a field, an omitted secret is kept).
  function body() {
    const rate = numberOf(form.elements.rate_per_second);
    const concurrency = numberOf(form.elements.max_concurrency);
    const config = {};
    for (const field of fields) {
      const value = field.read();
      if (!provider) {
        if (value !== undefined) config[field.key] = value;
      } else if (field.secret) {
        if (value !== undefined) config[field.key] = value;
      } else if (JSON.stringify(value ?? null) !== JSON.stringify(field.original ?? null)) {
        config[field.key] = value === undefined ? null : value;
      }
    }
    if (!provider) {
      const out = { name: form.elements.name.value.trim(), kind: kindSelect.value, config };
      if (rate !== null) out.rate_per_second = rate;
      if (concurrency !== null) out.max_concurrency = concurrency;
      return out;
    }
    // An emptied limit is sent as null, which removes it.
    const out = { config };
    if (rate !== provider.rate_per_second) out.rate_per_second = rate;
    if (concurrency !== provider.max_concurrency) out.max_concurrency = concurrency;
    return out;
  }

  function showFacts() {
    const facts = root.querySelector("[data-facts]");
    if (!facts) return;
    const list = facts.querySelector("[data-fact-list]");
    const kind = kinds.find((k) => k.kind === provider.kind);
    const pairs = [
      ["Kind", provider.kind],
      ["Role", provider.role],
      ["Channels", provider.channels.join(", ") || "—"],
      ["Status", provider.disabled ? "Disabled" : "Enabled"],
      ["Changed", window.dm.time(provider.updated_at)],
    ];
    list.replaceChildren(...pairs.flatMap(([dt, dd]) => [el("div", {}, el("dt", {}, dt), el("dd", {}, dd))]));
    if (kind) list.after(el("p", { class: "hint" }, kind.description));
    const callback = facts.querySelector("[data-callback]");
    callback.hidden = !provider.callback_url;
    facts.querySelector("[data-callback-url]").value = provider.callback_url || "";
    const toggle = facts.querySelector('[data-action="toggle"]');
    if (toggle) toggle.textContent = provider.disabled ? "Enable" : "Disable";
    form.elements.rate_per_second.value = provider.rate_per_second ?? "";
    form.elements.max_concurrency.value = provider.max_concurrency ?? "";
    facts.hidden = false;
  }

  async function act(action) {
    const result = root.querySelector("[data-check]");
    if (action === "check") {
      result.hidden = false;
      result.className = "check-result";
      result.textContent = "Checking…";
      try {
        const outcome = await window.dmProviderChecks.run(name);
        result.className = `check-result ${outcome.ok ? "notice" : "alert"}`;
        result.textContent = `${outcome.ok ? "Check passed" : "Check failed"}: ${outcome.detail}`;
      } catch (error) {
        result.className = "check-result alert";
        result.textContent = `The check could not run: ${error.message}`;
      }
      return;
    }
    if (action === "toggle") {
      const disabling = !provider.disabled;
      const message = disabling
        ? `Disable ${name}? Messages and syncs through it stop until it is enabled again; its settings are kept.`
        : `Enable ${name}? It sends again.`;
      if (!window.confirm(message)) return;
      provider = await api("PATCH", `/providers/${encodeURIComponent(name)}`, { disabled: disabling });
      showFacts();
      state.textContent = disabling ? `${name} is disabled.` : `${name} is enabled.`;
      return;
    }
    if (action === "delete") {
      const message = `Delete ${name}? Its settings and stored secrets are removed for good; distributions that name it can no longer send through it.`;
      if (!window.confirm(message)) return;
      await api("DELETE", `/providers/${encodeURIComponent(name)}`);
      location.assign("/providers");
    }
  }

  root.addEventListener("click", (event) => {
    const button = event.target.closest("[data-action]");
    if (button) {
      act(button.dataset.action).catch((error) => {
        state.textContent = `That did not work: ${error.message}`;
      });
    }
    const copy = event.target.closest("[data-copy]");
    if (copy) window.dmCopy(copy, document.querySelector(copy.dataset.copy).value);
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    window.dm.clearProblem(form);
    const saved = form.querySelector("[data-saved]");
    saved.hidden = true;
    saved.textContent = ""; // "Saved." again only once this save is done
    try {
      const answer = provider
        ? await api("PATCH", `/providers/${encodeURIComponent(name)}`, body())
        : await api("POST", "/providers", body());
      if (!provider) {
        location.assign(`/providers/${encodeURIComponent(answer.name)}?created=1`);
        return;
      }
      provider = answer;
      renderFields(kinds.find((k) => k.kind === provider.kind));
      showFacts();
      saved.textContent = "Saved.";
      saved.hidden = false;
    } catch (error) {
      if (!(error instanceof window.dm.ApiError)) throw error;
      window.dm.showProblem(form, error);
      const first = form.querySelector('[aria-invalid="true"]');
      if (first && first.type !== "hidden") first.focus();
    }
  });

  async function start() {
    kinds = await api("GET", "/providers/kinds");
    if (name) {
      provider = await api("GET", `/providers/${encodeURIComponent(name)}`);
      showFacts();
      renderFields(kinds.find((k) => k.kind === provider.kind));
      if (new URLSearchParams(location.search).has("created")) state.textContent = `${name} is added. Check the connection to be sure.`;
      else state.textContent = "";
    } else {
      for (const kind of kinds) {
        kindSelect.append(el("option", { value: kind.kind }, `${kind.kind} (${kind.role}${kind.channels.length ? ": " + kind.channels.join(", ") : ""})`));
      }
      const pick = () => {
        const kind = kinds.find((k) => k.kind === kindSelect.value);
        root.querySelector("[data-kind-help]").textContent = kind ? kind.description : "";
        renderFields(kind);
      };
      kindSelect.setAttribute("aria-describedby", "p-kind-help");
      const wanted = new URLSearchParams(location.search).get("kind");
      if (wanted && kinds.some((k) => k.kind === wanted)) kindSelect.value = wanted;
      kindSelect.addEventListener("change", pick);
      pick();
      state.textContent = "Pick the kind, fill in its settings, then add it. Secrets are stored encrypted and never shown again.";
    }
    if (!canChange) form.querySelectorAll("input, select, textarea").forEach((node) => (node.disabled = true));
    form.hidden = false;
  }

  start().catch((error) => {
    state.textContent = `The provider could not be loaded: ${error.message}`;
  });
})();
