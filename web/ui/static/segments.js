// The segments pages: one segment's builder with its live member count
// and sample, the JSON toggle, save and delete. Everything goes through the public API
// (dm.api: /ui/v1/segments...).
"use strict";

(function () {
  const { api, el } = window.dm;
  // Typing settles for this long before the count is asked again; never two asks in flight.
  const DEBOUNCE_MS = 350;
  const SAMPLE = 5;

  const form = document.getElementById("segment-form");
  if (!form) return;
  const id = form.dataset.segment;
  const canEdit = form.dataset.canEdit === "true";
  const countBox = document.getElementById("segment-count");
  const sampleList = document.getElementById("segment-sample");
  const jsonBox = document.getElementById("segment-json-box");
  const jsonText = document.getElementById("segment-json");
  const toggle = document.getElementById("json-toggle");
  const saved = document.getElementById("segment-saved");
  let builder = null;
  let showingJson = false;

  function customerLabel(c) {
    const who = c.name || c.email || c.source_id || c.id;
    return el("li", {}, el("a", { href: "/customers?q=" + encodeURIComponent(c.email || c.source_id || c.id) }, who),
      c.name && c.email ? el("span", { class: "hint" }, " · " + c.email) : null);
  }

  function showSample(count, customers) {
    countBox.textContent = count === 1 ? "1 customer matches now." : `${count.toLocaleString()} customers match now.`;
    countBox.dataset.count = String(count);
    sampleList.replaceChildren(...customers.map(customerLabel));
    if (count > customers.length) {
      sampleList.append(el("li", { class: "hint" }, `and ${(count - customers.length).toLocaleString()} more`));
    }
  }

  // ---- the live count: debounced; an answer overtaken by newer edits is dropped ----------
  let timer = null;
  let asked = 0;
  let inFlight = false;
  let again = false;

  function currentFilter() {
    if (!showingJson) return builder ? builder.getFilter() : null;
    try {
      return JSON.parse(jsonText.value);
    } catch (_) {
      return undefined;
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, DEBOUNCE_MS);
  }

  async function refresh() {
    if (inFlight) {
      again = true;
      return;
    }
    const filter = currentFilter();
    if (filter === undefined) {
      countBox.textContent = "The JSON is not valid yet.";
      return;
    }
    if (!filter) {
      countBox.textContent = "Add a condition to see who matches.";
      delete countBox.dataset.count;
      sampleList.replaceChildren();
      return;
    }
    const mine = ++asked;
    inFlight = true;
    countBox.classList.add("busy");
    try {
      let answer;
      if (canEdit) {
        answer = await api("POST", "/segments/preview", { filter, limit: SAMPLE });
      } else {
        // Viewers cannot POST (even a preview): they see the saved segment's members.
        const one = await api("GET", `/segments/${id}`);
        const members = await api("GET", `/segments/${id}/customers?limit=${SAMPLE}`);
        answer = { customers_count: one.customers_count, customers: members.customers };
      }
      if (mine === asked) {
        window.dm.clearProblem(form);
        showSample(answer.customers_count, answer.customers);
      }
    } catch (error) {
      if (mine === asked && error instanceof window.dm.ApiError) {
        window.dm.showProblem(form, error);
        countBox.textContent = "Fix the marked conditions to see who matches.";
        delete countBox.dataset.count;
      }
    } finally {
      inFlight = false;
      countBox.classList.remove("busy");
      if (again) {
        again = false;
        refresh();
      }
    }
  }

  // ---- the JSON toggle: both views hold the same filter ----------------------------------
  toggle.addEventListener("click", () => {
    if (!showingJson) {
      jsonText.value = JSON.stringify(builder.getFilter() || { and: [] }, null, 2);
      builder.element.hidden = true;
      jsonBox.hidden = false;
      showingJson = true;
      toggle.textContent = "Edit as rows";
      toggle.setAttribute("aria-pressed", "true");
      jsonText.focus();
      return;
    }
    let parsed;
    try {
      parsed = JSON.parse(jsonText.value);
    } catch (error) {
      window.dm.showProblem(form, new window.dm.ApiError(422, {
        detail: "The JSON is not valid.", errors: [{ field: "filter", reason: error.message }],
      }));
      return;
    }
    window.dm.clearProblem(form);
    const empty = parsed && Array.isArray(parsed.and) && parsed.and.length === 0;
    builder.setFilter(empty ? null : parsed);
    builder.element.hidden = false;
    jsonBox.hidden = true;
    showingJson = false;
    toggle.textContent = "Edit as JSON";
    toggle.setAttribute("aria-pressed", "false");
    toggle.focus();
    schedule();
  });
  jsonText.addEventListener("input", schedule);

  // ---- save and delete ----------------------------------------------------------------
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    saved.textContent = "";
    const filter = currentFilter();
    const name = document.getElementById("segment-name").value.trim();
    if (!filter) {
      window.dm.showProblem(form, new window.dm.ApiError(422, {
        detail: "A segment needs at least one condition.", errors: [],
      }));
      return;
    }
    try {
      const body = { name, filter };
      const segment = id ? await api("PATCH", `/segments/${id}`, body) : await api("POST", "/segments", body);
      window.dm.clearProblem(form);
      if (!id) {
        location.assign(`/segments/${segment.id}?created=1`);
        return;
      }
      document.getElementById("segment-title").textContent = segment.name;
      document.title = `${segment.name} · Distribution manager`;
      saved.textContent = `Saved. ${segment.customers_count} customers match.`;
    } catch (error) {
      if (error instanceof window.dm.ApiError) window.dm.showProblem(form, error);
      else throw error;
    }
  });

  const remove = document.getElementById("segment-delete");
  if (remove) {
    remove.addEventListener("click", async () => {
      const name = document.getElementById("segment-title").textContent;
      const ok = window.confirm(`Delete the segment "${name}"? Its customers are not touched, ` +
        "but distributions and template variants that use it will no longer find it.");
      if (!ok) return;
      try {
        await api("DELETE", `/segments/${id}`);
        location.assign("/segments");
      } catch (error) {
        if (error instanceof window.dm.ApiError) window.dm.showProblem(form, error);
      }
    });
  }

  // ---- start: the fields, then the segment's filter -------------------------------------
  async function start() {
    const [fields, segment] = await Promise.all([
      api("GET", "/segments/fields"),
      id ? api("GET", `/segments/${id}`) : Promise.resolve(null),
    ]);
    builder = window.SegmentBuilder.create(document.getElementById("segment-builder"), {
      fields: fields.fields,
      filter: segment ? segment.filter : null,
      readOnly: !canEdit,
      prefix: "filter",
      onChange: schedule,
    });
    if (new URLSearchParams(location.search).get("created")) saved.textContent = "Created.";
    if (segment) refresh();
  }
  start().catch((error) => {
    countBox.textContent = "Could not load the segment: " + error.message;
  });
})();
