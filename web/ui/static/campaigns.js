// Campaigns and their code pools (/campaigns, /campaigns/{id}), all through the public API
// (/ui/v1 via dm.api): list and create campaigns with a live referral-link example; per pool a
// stock gauge, the low-stock threshold, a CSV import with its per-row report and a pattern
// generator whose examples and combinations come from the API's dry run.
(function () {
  "use strict";
  const { api, el, showProblem, clearProblem, time, labelCells, reportTable } = window.dm;

  // The API's rule (distribution/codes/campaigns.py referral_url): "{code}" replaced by the
  // code escaped like Python's quote(code, safe=""), which also escapes !'()* that
  // encodeURIComponent leaves alone.
  const EXAMPLE_CODE = "REF-7K2Q";
  function referralUrl(template, code) {
    if (!template) return "";
    const escaped = encodeURIComponent(code).replace(
      /[!'()*]/g,
      (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase(),
    );
    return template.split("{code}").join(escaped);
  }

  function exampleFor(template) {
    if (!template) return "no link (the template is optional)";
    if (!/^https?:\/\//.test(template)) return "must start with https:// or http://";
    if (!template.includes("{code}")) return "must contain {code}";
    return referralUrl(template, EXAMPLE_CODE);
  }

  const count = (n) => Number(n).toLocaleString();
  // Combinations can exceed what a double holds exactly; past a trillion a power of ten reads
  // better than 30 digits anyway.
  function combinations(n) {
    if (n < 1e12) return count(n);
    const exponent = Math.floor(Math.log10(n));
    return `about ${(n / 10 ** exponent).toFixed(1)} × 10^${exponent}`;
  }

  // Runs `fn` 300 ms after the last call, never two at once; an answer overtaken by newer
  // input is dropped (the same rule as the editor's preview).
  function live(fn) {
    let timer = null;
    let generation = 0;
    return function () {
      clearTimeout(timer);
      const mine = ++generation;
      timer = setTimeout(() => fn(() => mine === generation), 300);
    };
  }

  // ---- /campaigns ----
  async function campaignsPage(root) {
    const state = document.getElementById("campaigns-state");
    const table = document.getElementById("campaigns-table");
    const form = document.getElementById("new-campaign");
    if (form) {
      const input = form.querySelector('[name="referral_url_template"]');
      const output = document.getElementById("campaign-url-output");
      const show = () => (output.textContent = exampleFor(input.value.trim()));
      input.addEventListener("input", show);
      show();
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        clearProblem(form);
        const body = {
          name: form.elements.name.value,
          type: form.elements.type.value,
          referral_url_template: input.value.trim() || null,
        };
        try {
          const created = await api("POST", "/campaigns", body);
          location.assign(`/campaigns/${encodeURIComponent(created.id)}`);
        } catch (error) {
          showProblem(form, error);
        }
      });
    }
    try {
      const [campaigns, pools] = await Promise.all([
        api("GET", "/campaigns"),
        api("GET", "/code-pools"),
      ]);
      const byCampaign = new Map();
      for (const pool of pools) {
        const list = byCampaign.get(pool.campaign_id) || [];
        list.push(pool);
        byCampaign.set(pool.campaign_id, list);
      }
      if (!campaigns.length) {
        state.textContent =
          root.dataset.canEdit === "true"
            ? "No campaigns yet. Create one with “New campaign”: give it a name and the link its codes point to."
            : "No campaigns yet. An editor can create one.";
        state.className = "empty";
        return;
      }
      const body = table.querySelector("tbody");
      for (const c of campaigns) {
        const its = byCampaign.get(c.id) || [];
        const available = its.reduce((sum, p) => sum + p.available, 0);
        body.append(
          el(
            "tr",
            { "data-campaign": c.id },
            el("td", {}, el("a", { href: `/campaigns/${encodeURIComponent(c.id)}` }, c.name)),
            el("td", {}, c.type),
            el("td", { class: "wrap" }, c.referral_url_template ? el("code", {}, c.referral_url_template) : "—"),
            el("td", { class: "num", "data-field": "pools" }, count(its.length)),
            el("td", { class: "num", "data-field": "available" }, count(available)),
            el("td", {}, time(c.created_at)),
          ),
        );
      }
      labelCells(table);
      state.hidden = true;
      table.hidden = false;
    } catch (error) {
      state.textContent = `Could not load the campaigns: ${error.message}`;
    }
  }

  // ---- /campaigns/{id} ----
  function gauge(pool) {
    const total = pool.total || 0;
    const part = (n) => (total ? `${(100 * n) / total}%` : "0");
    const label = `${count(pool.available)} available, ${count(pool.assigned)} assigned, ${count(pool.revoked)} revoked, of ${count(total)}`;
    return el(
      "div",
      { class: "gauge", role: "img", "aria-label": label, title: label },
      el("span", { class: "g-assigned", style: `width: ${part(pool.assigned)}` }),
      el("span", { class: "g-available", style: `width: ${part(pool.available)}` }),
      el("span", { class: "g-revoked", style: `width: ${part(pool.revoked)}` }),
    );
  }

  function stock(pool) {
    const low = pool.low_stock_threshold !== null && pool.available < pool.low_stock_threshold;
    const fact = (name, key) =>
      el("div", { class: `k-${key}` }, el("dt", {}, name), el("dd", { "data-field": key }, count(pool[key])));
    return el(
      "div",
      { class: "stock" },
      gauge(pool),
      el(
        "dl",
        { class: "facts" },
        fact("Total", "total"),
        fact("Assigned", "assigned"),
        fact("Available", "available"),
        fact("Revoked", "revoked"),
        el(
          "div",
          {},
          el("dt", {}, "Low-stock threshold"),
          el("dd", { "data-field": "low_stock_threshold" }, pool.low_stock_threshold === null ? "none" : count(pool.low_stock_threshold)),
        ),
      ),
      low ? el("p", { class: "badge st-failed", "data-field": "low" }, "Low stock") : null,
    );
  }


  function field(id, label, attrs, help) {
    const helpId = help ? `${id}-help` : null;
    return [
      el("label", { for: id }, label),
      el("input", { id, ...attrs, "aria-describedby": helpId }),
      help ? el("p", { class: "hint", id: helpId }, help) : null,
    ];
  }

  function poolCard(pool, canEdit) {
    const id = pool.id;
    const card = el("section", { class: "pool-card", "data-pool": id, "aria-labelledby": `${id}-title` });
    const stockBox = el("div", {}, stock(pool));
    card.append(el("h3", { id: `${id}-title` }, pool.name), stockBox);
    const update = (fresh) => stockBox.replaceChildren(stock(fresh));
    if (!canEdit) return { card, update };

    // Threshold.
    const threshold = el(
      "form",
      { class: "row-form", novalidate: true },
      field(`${id}-threshold`, "Low-stock threshold", {
        name: "low_stock_threshold",
        type: "number",
        min: "0",
        step: "1",
        value: pool.low_stock_threshold === null ? "" : String(pool.low_stock_threshold),
      }),
      el("button", { type: "submit" }, "Save threshold"),
      el("p", { class: "alert", "data-problem": true, role: "alert", hidden: true }),
      el("p", { class: "notice", "data-done": true, role: "status", hidden: true }),
    );
    threshold.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearProblem(threshold);
      const done = threshold.querySelector("[data-done]");
      done.hidden = true;
      const raw = threshold.elements.low_stock_threshold.value.trim();
      try {
        const fresh = await api("PATCH", `/code-pools/${encodeURIComponent(id)}`, {
          low_stock_threshold: raw === "" ? null : Number(raw),
        });
        update(fresh);
        done.textContent = raw === "" ? "Threshold removed." : `Threshold saved: ${count(fresh.low_stock_threshold)}.`;
        done.hidden = false;
      } catch (error) {
        showProblem(threshold, error);
      }
    });

    // CSV import with its per-row report.
    const importResult = el("div", { "data-result": "import", "aria-live": "polite" });
    const importForm = el(
      "form",
      { class: "stack", novalidate: true },
      field(`${id}-file`, "CSV file", { name: "file", type: "file", accept: ".csv,text/csv" }, "One code per row in the first column; a header “code” is skipped. Codes already in the project or repeated in the file are refused and listed by row; the others are added."),
      el("p", { class: "alert", "data-problem": true, role: "alert", hidden: true }),
      el("button", { type: "submit", class: "primary" }, "Import codes"),
    );
    importForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearProblem(importForm);
      importResult.replaceChildren();
      const file = importForm.elements.file.files[0];
      if (!file) {
        showProblem(importForm, { message: "Choose a file first.", problem: { errors: [{ field: "file", reason: "choose a CSV file" }] } });
        return;
      }
      try {
        const text = await file.text();
        const answer = await api("POST", `/code-pools/${encodeURIComponent(id)}/codes/import`, text, {
          contentType: "text/csv",
        });
        update(answer.pool);
        importResult.append(el("p", { class: "notice", "data-field": "import-summary" }, `Added ${count(answer.added)} codes; refused ${count(answer.rejected)}.`));
        if (answer.rejected_rows.length) {
          importResult.append(reportTable(answer.rejected_rows, [["Row", "row"], ["Code", "code"], ["Why it was refused", "reason"]], "Refused rows"));
        }
      } catch (error) {
        showProblem(importForm, error);
      }
    });

    // Generation from a pattern, previewed by the API's dry run as you type.
    const preview = el("div", { class: "gen-preview", "aria-live": "polite" });
    const genResult = el("div", { "data-result": "generate", "aria-live": "polite" });
    const genForm = el(
      "form",
      { class: "stack", novalidate: true },
      field(`${id}-count`, "How many codes", { name: "count", type: "number", min: "1", step: "1", value: "100" }),
      el("fieldset", { class: "choice" },
        el("legend", {}, "Each code is"),
        ...[["pattern", "made from a pattern"], ["length", "random characters"]].map(([value, label]) =>
          el("label", {}, el("input", { type: "radio", name: "shape", value, checked: value === "pattern" }), ` ${label}`))),
      el("div", { class: "stack", "data-shape": "pattern" },
        field(`${id}-pattern`, "Pattern", { name: "pattern", value: "REF-####-????", autocomplete: "off", spellcheck: "false" }, "# a digit, ? a letter, * one of the characters below; anything else is kept as it is.")),
      el("div", { class: "stack", "data-shape": "length", hidden: true },
        field(`${id}-length`, "Length", { name: "length", type: "number", min: "1", max: "64", step: "1", value: "8" }, "How many random characters, prefix and postfix aside.")),
      field(`${id}-charset`, "Characters", { name: "charset", autocomplete: "off", spellcheck: "false", placeholder: "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" }, "Left empty: capital letters and digits. Drop look-alikes such as 0, O, 1 and I if people will type the codes."),
      field(`${id}-prefix`, "Prefix", { name: "prefix", autocomplete: "off", spellcheck: "false" }),
      field(`${id}-postfix`, "Postfix", { name: "postfix", autocomplete: "off", spellcheck: "false" }),
      preview,
      el("p", { class: "alert", "data-problem": true, role: "alert", hidden: true }),
      el("button", { type: "submit", class: "primary" }, "Generate codes"),
    );
    const shape = () => genForm.elements.shape.value;
    const config = (dryRun) => {
      const form = genForm.elements;
      const out = { count: Number(form.count.value), prefix: form.prefix.value, postfix: form.postfix.value, dry_run: dryRun };
      if (shape() === "pattern") out.pattern = form.pattern.value;
      else out.length = Number(form.namedItem("length").value); // form.length counts the fields
      if (form.charset.value) out.charset = form.charset.value;
      return out;
    };
    genForm.addEventListener("change", () => {
      for (const box of genForm.querySelectorAll("[data-shape]")) box.hidden = box.dataset.shape !== shape();
    });
    const path = `/code-pools/${encodeURIComponent(id)}/codes/generate`;
    const runPreview = live(async (current) => {
      try {
        const answer = await api("POST", path, config(true));
        if (!current()) return;
        clearProblem(genForm);
        preview.replaceChildren(
          el("p", {}, "Combinations available: ", el("strong", { "data-field": "combinations" }, combinations(answer.combinations))),
          el("p", { class: "hint" }, "Examples of what it makes:"),
          el("ul", { class: "examples", "data-field": "examples" }, answer.examples.map((code) => el("li", {}, el("code", {}, code)))),
        );
      } catch (error) {
        if (!current()) return;
        preview.replaceChildren();
        showProblem(genForm, error);
      }
    });
    genForm.addEventListener("input", runPreview);
    genForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearProblem(genForm);
      genResult.replaceChildren();
      try {
        const answer = await api("POST", path, config(false));
        update(answer.pool);
        genResult.append(el("p", { class: "notice", "data-field": "generate-summary" }, `Generated ${count(answer.added)} codes.`));
      } catch (error) {
        showProblem(genForm, error);
      }
    });
    runPreview();

    card.append(
      threshold,
      el("details", { class: "panel-box" }, el("summary", {}, "Import codes from a CSV file"), importForm, importResult),
      el("details", { class: "panel-box" }, el("summary", {}, "Generate codes"), genForm, genResult),
    );
    return { card, update };
  }

  async function campaignPage(root) {
    const id = root.dataset.campaign;
    const canEdit = root.dataset.canEdit === "true";
    const state = document.getElementById("campaign-state");
    const pools = document.getElementById("pools");
    const empty = document.getElementById("pools-empty");
    let campaign;
    try {
      campaign = await api("GET", `/campaigns/${encodeURIComponent(id)}`);
    } catch (error) {
      state.textContent = error.status === 404 ? "There is no such campaign." : `Could not load the campaign: ${error.message}`;
      state.className = "alert";
      return;
    }
    document.getElementById("campaign-name").textContent = campaign.name;
    document.title = `${campaign.name} · Distribution manager`;
    const facts = document.getElementById("campaign-facts");
    const set = (key, value) => facts.querySelector(`[data-field="${key}"]`).replaceChildren(value);
    set("type", campaign.type);
    set("referral_url_template", campaign.referral_url_template ? el("code", {}, campaign.referral_url_template) : "none");
    set("example", campaign.referral_url_template ? el("code", {}, referralUrl(campaign.referral_url_template, EXAMPLE_CODE)) : "—");
    set("created_at", time(campaign.created_at));
    facts.hidden = false;
    state.hidden = true;

    const add = (pool) => {
      pools.append(poolCard(pool, canEdit).card);
      empty.hidden = true;
    };
    const list = await api("GET", `/code-pools?campaign=${encodeURIComponent(id)}`);
    list.forEach(add);
    empty.hidden = list.length > 0;

    const form = document.getElementById("new-pool");
    if (form) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        clearProblem(form);
        const raw = form.elements.low_stock_threshold.value.trim();
        try {
          const pool = await api("POST", "/code-pools", {
            campaign: id,
            name: form.elements.name.value,
            low_stock_threshold: raw === "" ? null : Number(raw),
          });
          add(pool);
          form.reset();
          document.getElementById(`${pool.id}-title`).scrollIntoView();
        } catch (error) {
          showProblem(form, error);
        }
      });
    }
  }

  const list = document.getElementById("campaigns-page");
  if (list) campaignsPage(list);
  const one = document.getElementById("campaign-page");
  if (one) campaignPage(one);
})();
