// Customers (/customers, /customers/{id}), all through the public API (/ui/v1 via dm.api):
// search with cursor paging, create, CSV import with its per-row report, export; a profile
// with its fields, consent per channel (with history, unsubscribe/resubscribe), codes, and
// events, messages, codes and consent changes on one timeline; edit and erase (with a dialog that
// says what erasing does).
(function () {
  "use strict";
  const { api, el, showProblem, clearProblem, time, when, labelCells, reportTable } = window.dm;
  const PAGE_SIZE = 25;
  const CHANNEL_NAMES = { email: "Email", sms: "SMS" };
  const enc = encodeURIComponent;

  // Empty inputs become null: on an update that clears the field (the API's upsert rule).
  function formBody(form, names, emptyAs) {
    const body = {};
    for (const name of names) {
      const value = form.elements[name].value.trim();
      if (value) body[name] = value;
      else if (emptyAs !== undefined) body[name] = emptyAs;
    }
    return body;
  }


  // ---- /customers ----
  function customersPage() {
    const state = document.getElementById("customers-state");
    const table = document.getElementById("customers-table");
    const rows = table.querySelector("tbody");
    const search = document.getElementById("customer-search");
    const prev = document.getElementById("prev-page");
    const next = document.getElementById("next-page");
    const params = new URLSearchParams(location.search);
    search.elements.q.value = params.get("q") || "";
    // Cursors of the pages before this one, so "Previous page" goes back without offsets.
    let cursors = [];
    let current = null;
    let nextCursor = null;

    async function load(after) {
      const q = search.elements.q.value.trim();
      const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
      if (q) query.set("q", q);
      if (after) query.set("starting_after", after);
      state.hidden = false;
      state.className = "hint";
      state.textContent = "Loading customers…";
      try {
        const page = await api("GET", `/customers?${query}`);
        current = after;
        nextCursor = page.has_more ? page.next_cursor : null;
        rows.replaceChildren(
          ...page.customers.map((c) =>
            el(
              "tr",
              { "data-customer": c.id },
              el("td", {}, el("a", { href: `/customers/${enc(c.id)}` }, c.name || c.email || c.source_id || "(no name)")),
              el("td", { class: "wrap" }, c.email || "—"),
              el("td", {}, c.phone || "—"),
              el("td", {}, c.source_id ? el("code", {}, c.source_id) : "—"),
              el("td", {}, time(c.created_at)),
            ),
          ),
        );
        labelCells(table);
        table.hidden = page.customers.length === 0;
        prev.hidden = cursors.length === 0;
        next.hidden = !nextCursor;
        if (page.customers.length) {
          const total = page.total === null || page.total === undefined ? "" : ` of ${page.total.toLocaleString()}`;
          state.textContent = `Showing ${page.customers.length}${total}.`;
        } else {
          state.className = "empty";
          state.textContent = q
            ? `No customer matches “${q}”. Try part of a name, an email or a source id.`
            : "No customers yet. Add one with “New customer”, import a CSV file, or send them through the API (POST /v1/customers).";
        }
      } catch (error) {
        state.className = "alert";
        state.textContent = `Could not load the customers: ${error.message}`;
      }
    }

    search.addEventListener("submit", (event) => {
      event.preventDefault();
      cursors = [];
      const q = search.elements.q.value.trim();
      history.replaceState(null, "", q ? `?q=${enc(q)}` : location.pathname);
      load(null);
    });
    next.addEventListener("click", () => {
      cursors.push(current);
      load(nextCursor);
    });
    prev.addEventListener("click", () => load(cursors.pop() || null));

    const form = document.getElementById("new-customer");
    if (form) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        clearProblem(form);
        try {
          const created = await api("POST", "/customers", formBody(form, ["name", "email", "phone", "source_id", "locale"]));
          location.assign(`/customers/${enc(created.id)}`);
        } catch (error) {
          showProblem(form, error);
        }
      });
    }
    const importForm = document.getElementById("import-customers");
    if (importForm) {
      const result = document.getElementById("import-result");
      importForm.addEventListener("submit", async (event) => {
        event.preventDefault();
        clearProblem(importForm);
        result.replaceChildren();
        const file = importForm.elements.file.files[0];
        if (!file) {
          showProblem(importForm, { message: "Choose a file first.", problem: { errors: [{ field: "file", reason: "choose a CSV file" }] } });
          return;
        }
        try {
          const report = await api("POST", "/customers/import", await file.text(), { contentType: "text/csv" });
          result.append(
            el("p", { class: report.failed ? "alert" : "notice", "data-field": "import-summary" },
              `${report.total_rows} rows: ${report.created} created, ${report.updated} updated, ${report.failed} refused.`),
          );
          if (report.errors.length) {
            result.append(reportTable(report.errors, [["Row", "row"], ["Field", "field"], ["Why it was refused", "reason"]], "Refused rows"));
          }
          cursors = [];
          load(null);
        } catch (error) {
          showProblem(importForm, error);
        }
      });
    }
    load(null);
  }

  // ---- /customers/{id} ----
  function displayName(c) {
    return c.name || c.email || c.phone || c.source_id || "Customer without a name";
  }

  function facts(c) {
    const address = Object.values(c.address || {}).filter(Boolean).join(", ");
    const metadata = Object.entries(c.metadata || {}).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(", ");
    const items = [
      ["Name", c.name, "name"],
      ["Email", c.email, "email"],
      ["Phone", c.phone, "phone"],
      ["Source id", c.source_id, "source_id"],
      ["Locale", c.locale, "locale"],
      ["Time zone", c.timezone, "timezone"],
      ["Birthdate", c.birthdate, "birthdate"],
      ["Address", address, "address"],
      ["Description", c.description, "description"],
      ["Metadata", metadata, "metadata"],
    ];
    return [
      ...items.map(([label, value, key]) => el("div", {}, el("dt", {}, label), el("dd", { "data-field": key }, value || "—"))),
      el("div", {}, el("dt", {}, "Created"), el("dd", {}, time(c.created_at))),
      el("div", {}, el("dt", {}, "Updated"), el("dd", {}, time(c.updated_at))),
    ];
  }

  async function customerPage(root) {
    const id = root.dataset.customer;
    const canEdit = root.dataset.canEdit === "true";
    const state = document.getElementById("customer-state");
    let customer;
    try {
      customer = await api("GET", `/customers/${enc(id)}`);
    } catch (error) {
      state.className = "alert";
      state.textContent = error.status === 404 ? "There is no such customer (or it was erased)." : `Could not load the customer: ${error.message}`;
      return;
    }
    const show = (c) => {
      customer = c;
      document.getElementById("customer-name").textContent = displayName(c);
      document.title = `${displayName(c)} · Distribution manager`;
      document.getElementById("customer-facts").replaceChildren(...facts(c));
    };
    show(customer);
    state.hidden = true;
    document.getElementById("customer-body").hidden = false;

    const editForm = document.getElementById("edit-customer");
    if (editForm) {
      const names = ["name", "email", "phone", "locale", "timezone"];
      const fill = () => names.forEach((n) => (editForm.elements[n].value = customer[n] || ""));
      fill();
      editForm.addEventListener("submit", async (event) => {
        event.preventDefault();
        clearProblem(editForm);
        const done = editForm.querySelector("[data-done]");
        done.hidden = true;
        try {
          show(await api("PUT", `/customers/${enc(customer.id)}`, formBody(editForm, names, null)));
          fill();
          done.textContent = "Saved.";
          done.hidden = false;
          refresh();
        } catch (error) {
          showProblem(editForm, error);
        }
      });
    }

    const consentProblem = document.getElementById("consent-problem");
    async function setConsent(channel, status) {
      consentProblem.hidden = true;
      try {
        await api("POST", `/customers/${enc(customer.id)}/consents`, { channel, status });
        refresh();
      } catch (error) {
        consentProblem.textContent = error.message;
        consentProblem.hidden = false;
      }
    }

    function consentRows(consents) {
      return consents.map((c) => {
        const name = CHANNEL_NAMES[c.channel] || c.channel;
        const history = c.history.length
          ? el("ul", { class: "plain" }, c.history.map((h) => el("li", {}, `${h.status}${h.reason ? ` (${h.reason})` : ""}, `, time(h.at))))
          : el("span", { class: "hint" }, "no change recorded");
        const unsubscribed = c.status === "unsubscribed";
        const change = canEdit
          ? el("td", {}, el("button", {
              type: "button",
              onclick: () => setConsent(c.channel, unsubscribed ? "subscribed" : "unsubscribed"),
            }, unsubscribed ? `Resubscribe to ${name}` : `Unsubscribe from ${name}`))
          : null;
        return el(
          "tr",
          { "data-channel": c.channel },
          el("th", { scope: "row" }, name),
          el("td", {}, el("span", { class: `badge ${unsubscribed ? "st-failed" : "st-sent"}`, "data-field": "status" }, unsubscribed ? "unsubscribed" : "subscribed")),
          el("td", {}, history),
          change,
        );
      });
    }

    const campaignNames = new Map();
    const templateNames = new Map();
    async function names(messages, codes, events) {
      if (!campaignNames.size && (codes.length || events.some((e) => e.campaign_id))) {
        for (const c of await api("GET", "/campaigns")) campaignNames.set(c.id, c.name);
      }
      const wanted = [...new Set(messages.map((m) => m.template_id).filter((t) => t && !templateNames.has(t)))];
      await Promise.all(
        wanted.map(async (t) => {
          try {
            templateNames.set(t, (await api("GET", `/templates/${enc(t)}`)).name);
          } catch (_) {
            templateNames.set(t, t);
          }
        }),
      );
    }

    async function refresh() {
      const [consents, codes, messages, events] = await Promise.all([
        api("GET", `/customers/${enc(customer.id)}/consents`),
        api("GET", `/codes?customer=${enc(customer.id)}`),
        api("GET", `/messages?customer_id=${enc(customer.id)}&limit=50`),
        api("GET", `/customers/${enc(customer.id)}/events?limit=50`),
      ]);
      await names(messages.messages, codes, events);
      document.querySelector("#consents tbody").replaceChildren(...consentRows(consents));
      labelCells(document.getElementById("consents"));
      const codesBox = document.getElementById("codes");
      codesBox.replaceChildren(
        codes.length
          ? reportTable(
              codes.map((c) => ({ ...c, campaign: campaignNames.get(c.campaign_id) || c.campaign_id, at: when(c.assigned_at), link: c.referral_url || "—" })),
              [["Code", "code"], ["Campaign", "campaign"], ["Status", "status"], ["Assigned", "at"], ["Referral link", "link"]],
              "Codes held",
            )
          : el("p", { class: "empty" }, "No codes yet. A code is given when a distribution, a bulk send or the API assigns one."),
      );

      // One timeline: events, messages, code assignments and consent changes, newest first.
      const items = [];
      for (const e of events) {
        const about = [
          e.campaign_id ? campaignNames.get(e.campaign_id) || e.campaign_id : null,
          e.code ? `code ${e.code}` : null,
        ].filter(Boolean);
        const made = e.deliveries.length === 1 ? "1 message" : `${e.deliveries.length} messages`;
        items.push({
          at: e.received_at,
          kind: "event",
          node: [
            el("span", { class: "what" }, `Event ${e.type}`), about.length ? ` (${about.join(", ")})` : "",
            el("div", { class: "hint" }, `from ${e.source === "api" ? "the API" : e.source} · ${made}`),
          ],
        });
      }
      for (const m of messages.messages) {
        const template = m.template_id ? templateNames.get(m.template_id) || m.template_id : "no template";
        items.push({
          at: m.created_at,
          kind: "message",
          node: [
            el("span", { class: "what" }, `${CHANNEL_NAMES[m.channel] || m.channel} message: ${template}`), " ",
            el("span", { class: `badge st-${m.status}` }, m.status),
            el("div", { class: "hint" }, `to ${m.recipient || "—"} via ${m.provider}`, m.last_error ? ` · ${m.last_error}` : ""),
          ],
        });
      }
      for (const c of codes) {
        if (c.assigned_at) {
          items.push({ at: c.assigned_at, kind: "code", node: [el("span", { class: "what" }, `Code ${c.code} assigned`), ` (${campaignNames.get(c.campaign_id) || c.campaign_id})`] });
        }
      }
      for (const c of consents) {
        for (const h of c.history) {
          items.push({ at: h.at, kind: "consent", node: [el("span", { class: "what" }, `${h.status === "unsubscribed" ? "Unsubscribed from" : "Resubscribed to"} ${CHANNEL_NAMES[c.channel]}`), h.reason ? ` (${h.reason})` : ""] });
        }
      }
      items.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
      document.getElementById("timeline").replaceChildren(
        ...(items.length
          ? items.map((item) => el("li", { "data-kind": item.kind }, time(item.at), el("div", {}, item.node)))
          : [el("li", { class: "empty" }, "Nothing yet: events about this customer, their messages, codes and consent changes appear here.")]),
      );
    }
    refresh();

    const dialog = document.getElementById("erase-dialog");
    if (dialog) {
      const problem = document.getElementById("erase-problem");
      document.getElementById("erase-open").addEventListener("click", () => dialog.showModal());
      document.getElementById("erase-cancel").addEventListener("click", () => dialog.close());
      document.getElementById("erase-confirm").addEventListener("click", async () => {
        problem.hidden = true;
        try {
          await api("DELETE", `/customers/${enc(customer.id)}`);
          dialog.close();
          document.getElementById("customer-body").hidden = true;
          document.getElementById("customer-name").textContent = "Erased customer";
          state.hidden = false;
          state.className = "notice";
          state.textContent = `Erased: the personal data is gone; the id ${customer.id} is kept with its codes and messages.`;
        } catch (error) {
          problem.textContent = error.message;
          problem.hidden = false;
        }
      });
    }
  }

  if (document.getElementById("customers-page")) customersPage();
  const one = document.getElementById("customer-page");
  if (one) customerPage(one);
})();
