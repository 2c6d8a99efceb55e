// The visual segment filter builder: rows of field, operator and value in and/or/not groups
// (nestable), producing the JSON filter of docs/segments.md. A reusable component: the segment
// page and the distribution form (its conditions) both use it.
//
//   const builder = SegmentBuilder.create(container, { fields, filter, readOnly, onChange,
//                                                      prefix: "filter", noun: "condition" });
//   builder.getFilter()  // the JSON filter, or null while there is no condition
//   builder.setFilter(f) // replaces what is shown (the JSON toggle round-trips through these)
//
// Every input is named after its node's path in the filter (`filter.and[1].value`), the path
// the API names in its errors, so dm.showProblem puts an error next to the input it is about.
// `noun` names the conditions in labels ("Field of recheck condition 1"), so that two builders
// of one form (the distribution's filters and its recheck) never share a label.
"use strict";

window.SegmentBuilder = (function () {
  const el = (...args) => window.dm.el(...args);

  // Operators a value type allows, in the order offered; labels say what they do.
  const OPS = {
    text: ["eq", "ne", "in", "not_in", "contains", "starts_with", "exists"],
    number: ["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "exists"],
    boolean: ["eq", "ne", "exists"],
    date: ["gte", "lte", "gt", "lt", "eq", "ne", "exists"],
    // created_at/updated_at take only the ordering operators and exists (docs/segments.md).
    datetime: ["gte", "lte", "gt", "lt", "exists"],
  };
  const OP_LABELS = {
    eq: "is",
    ne: "is not",
    in: "is one of",
    not_in: "is none of",
    contains: "contains",
    starts_with: "starts with",
    exists: "presence",
  };
  const ORDER_LABELS = {
    number: { gt: "is more than", gte: "is at least", lt: "is less than", lte: "is at most" },
    date: { gt: "is after", gte: "is on or after", lt: "is before", lte: "is on or before" },
  };
  const MODES = [
    ["and", "all of"],
    ["or", "any of"],
    ["nand", "not all of"],
    ["nor", "none of"],
  ];
  const COLUMN_LABELS = {
    id: "Customer id",
    source_id: "Source id",
    name: "Name",
    email: "Email",
    phone: "Phone",
    description: "Description",
    locale: "Locale",
    timezone: "Time zone",
    birthdate: "Birthdate (YYYY-MM-DD)",
    "address.city": "City",
    "address.state": "State",
    "address.line_1": "Address line 1",
    "address.line_2": "Address line 2",
    "address.country": "Country (ISO code)",
    "address.postal_code": "Postal code",
    created_at: "Created",
    updated_at: "Last updated",
  };
  const DATE_RE = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})?)?$/;
  const OTHER = "__other__";
  let uids = 0;

  function opLabel(op, vtype) {
    const ordered = ORDER_LABELS[vtype === "number" ? "number" : "date"];
    return ordered[op] || OP_LABELS[op] || op;
  }

  // The value type of a JSON value, for a field the schema does not know.
  function typeOfValue(value) {
    const sample = Array.isArray(value) ? value[0] : value;
    if (typeof sample === "number") return "number";
    if (typeof sample === "boolean") return "boolean";
    if (typeof sample === "string" && DATE_RE.test(sample)) return "date";
    return "text";
  }

  function create(container, options) {
    const fields = new Map((options.fields || []).map((f) => [f.field, f]));
    const prefix = options.prefix || "filter";
    const readOnly = Boolean(options.readOnly);
    const noun = options.noun || "condition";
    let root = group("and", []);

    function group(mode, children) {
      return { kind: "group", uid: ++uids, mode, children };
    }

    function condition(field, op, value) {
      const node = { kind: "cond", uid: ++uids, field, op, value, vtype: "text" };
      node.vtype = fieldType(field, value);
      return node;
    }

    function fieldType(name, value) {
      const known = fields.get(name);
      if (known && known.type === "datetime") return "datetime";
      if (known && known.type === "text") return "text";
      const seen = known && known.types && known.types[0];
      if (seen === "number" || seen === "boolean" || seen === "date") return seen;
      if (seen) return "text";
      return typeOfValue(value);
    }

    // ---- JSON in and out ---------------------------------------------------------------
    function fromJson(node) {
      if (node && Array.isArray(node.and)) return group("and", node.and.map(fromJson));
      if (node && Array.isArray(node.or)) return group("or", node.or.map(fromJson));
      if (node && node.not !== undefined) {
        const inner = node.not;
        if (inner && Array.isArray(inner.and)) return group("nand", inner.and.map(fromJson));
        if (inner && Array.isArray(inner.or)) return group("nor", inner.or.map(fromJson));
        return group("nor", [fromJson(inner)]);
      }
      const cond = node || {};
      return condition(String(cond.field || "email"), String(cond.op || "eq"), cond.value);
    }

    // The filter, and for each condition the path the API would name it by.
    function toJson(node, path, paths, isRoot) {
      if (node.kind === "cond") {
        paths.set(node.uid, path);
        return { field: node.field, op: node.op, value: node.value };
      }
      const negated = node.mode === "nand" || node.mode === "nor";
      const joiner = node.mode === "and" || node.mode === "nand" ? "and" : "or";
      if (isRoot && node.mode === "and" && node.children.length === 1) {
        return toJson(node.children[0], path, paths, false);
      }
      if (negated && node.children.length === 1) {
        return { not: toJson(node.children[0], `${path}.not`, paths, false) };
      }
      const base = negated ? `${path}.not.${joiner}` : `${path}.${joiner}`;
      const list = node.children.map((child, i) => toJson(child, `${base}[${i}]`, paths, false));
      paths.set(node.uid, base);
      return negated ? { not: { [joiner]: list } } : { [joiner]: list };
    }

    function getFilter() {
      if (!root.children.length) return null;
      return toJson(root, prefix, new Map(), true);
    }

    function setFilter(filter) {
      const parsed = filter ? fromJson(filter) : group("and", []);
      root = parsed.kind === "group" ? parsed : group("and", [parsed]);
      render();
    }

    // ---- values typed by field ---------------------------------------------------------
    function parseScalar(text, vtype) {
      if (vtype === "number") {
        const trimmed = text.trim();
        return trimmed !== "" && !Number.isNaN(Number(trimmed)) ? Number(trimmed) : text;
      }
      if (vtype === "boolean") return text === "true";
      return text;
    }

    function defaultValue(node) {
      if (node.op === "exists") return true;
      if (node.op === "in" || node.op === "not_in") return [];
      if (node.vtype === "boolean") return true;
      return "";
    }

    function valueInput(node, name, id, label) {
      const common = { id, name, "aria-label": label, disabled: readOnly, class: "sb-value" };
      if (node.op === "exists") {
        const select = el("select", common,
          el("option", { value: "true", selected: node.value !== false }, "is present"),
          el("option", { value: "false", selected: node.value === false }, "is missing"));
        select.addEventListener("change", () => { node.value = select.value === "true"; changed(); });
        return select;
      }
      if (node.vtype === "boolean" && node.op !== "in" && node.op !== "not_in") {
        const select = el("select", common,
          el("option", { value: "true", selected: node.value !== false }, "true"),
          el("option", { value: "false", selected: node.value === false }, "false"));
        select.addEventListener("change", () => { node.value = select.value === "true"; changed(); });
        return select;
      }
      if (node.op === "in" || node.op === "not_in") {
        const list = Array.isArray(node.value) ? node.value : [];
        const input = el("input", { ...common, type: "text", value: list.join(", "),
          placeholder: "gold, silver", title: "Values separated by commas" });
        input.addEventListener("input", () => {
          node.value = input.value.split(",").map((s) => s.trim()).filter(Boolean)
            .map((s) => parseScalar(s, node.vtype));
          changed();
        });
        return input;
      }
      const text = node.value === undefined || node.value === null ? "" : String(node.value);
      let type = "text";
      if (node.vtype === "number") type = "number";
      // A date input holds a day; a stored date-time stays editable as text.
      if ((node.vtype === "date" || node.vtype === "datetime") && !text.includes("T")) type = "date";
      const input = el("input", { ...common, type, value: text, step: type === "number" ? "any" : null });
      input.addEventListener("input", () => { node.value = parseScalar(input.value, node.vtype); changed(); });
      return input;
    }

    // ---- rendering ---------------------------------------------------------------------
    let counter = 0; // conditions, numbered in reading order for their labels
    let groups = 0;

    function fieldSelect(node, name, id, label) {
      const select = el("select", { id, name, "aria-label": label, disabled: readOnly, class: "sb-field" });
      const columns = el("optgroup", { label: "Customer" });
      const meta = el("optgroup", { label: "Metadata in use" });
      for (const f of fields.values()) {
        const text = f.type === "metadata"
          ? `${f.field.slice(9)} (${(f.types || []).join(", ")})`
          : COLUMN_LABELS[f.field] || f.field;
        (f.type === "metadata" ? meta : columns).append(
          el("option", { value: f.field, selected: f.field === node.field }, text));
      }
      if (!fields.has(node.field)) {
        meta.append(el("option", { value: node.field, selected: true },
          node.field.replace(/^metadata\./, "") || "(type the key)"));
      }
      select.append(columns, meta,
        el("optgroup", { label: "Other" }, el("option", { value: OTHER }, "Another metadata key…")));
      select.addEventListener("change", () => {
        if (select.value === OTHER) {
          node.field = "metadata.";
          node.custom = true;
        } else {
          node.field = select.value;
          node.custom = false;
        }
        retype(node);
        update(id);
      });
      return select;
    }

    function retype(node) {
      node.vtype = fieldType(node.field, undefined);
      if (!OPS[node.vtype].includes(node.op)) node.op = OPS[node.vtype][0];
      node.value = defaultValue(node);
    }

    function renderCondition(node, paths, parent) {
      const n = ++counter;
      const path = paths.get(node.uid) || `${prefix}`;
      const base = `sb-${node.uid}`;
      const parts = [fieldSelect(node, `${path}.field`, `${base}-field`, `Field of ${noun} ${n}`)];
      if (node.custom) {
        const key = el("input", { id: `${base}-key`, type: "text", value: node.field.slice(9),
          "aria-label": `Metadata key of ${noun} ${n}`, placeholder: "key", disabled: readOnly });
        key.addEventListener("change", () => {
          node.field = "metadata." + key.value.trim();
          // A key in use becomes an ordinary pick, typed by the values seen for it.
          if (fields.has(node.field)) {
            node.custom = false;
            retype(node);
            update(`${base}-field`);
          } else changed();
        });
        parts.push(key);
      }
      const ops = OPS[node.vtype].slice();
      if (!ops.includes(node.op)) ops.push(node.op);
      const op = el("select", { id: `${base}-op`, name: `${path}.op`, "aria-label": `Operator of ${noun} ${n}`,
        disabled: readOnly, class: "sb-op" },
        ...ops.map((o) => el("option", { value: o, selected: o === node.op }, opLabel(o, node.vtype))));
      op.addEventListener("change", () => {
        const wasList = node.op === "in" || node.op === "not_in";
        node.op = op.value;
        const isList = node.op === "in" || node.op === "not_in";
        if (node.op === "exists" || wasList !== isList || typeof node.value === "boolean") {
          node.value = defaultValue(node);
        }
        update(`${base}-op`);
      });
      parts.push(op, valueInput(node, `${path}.value`, `${base}-value`, `Value of ${noun} ${n}`));
      if (!readOnly) {
        parts.push(el("button", { type: "button", class: "sb-remove", "aria-label": `Remove ${noun} ${n}`,
          onclick: () => { parent.children.splice(parent.children.indexOf(node), 1); update(); } }, "Remove"));
      }
      return el("li", { class: "sb-row", "data-condition": String(n) }, ...parts);
    }

    function renderGroup(node, paths, parent) {
      const n = ++groups;
      const id = `sb-${node.uid}-mode`;
      const mode = el("select", { id, "aria-label": parent ? `Match of group ${n - 1}` : "Match",
        disabled: readOnly, class: "sb-mode" },
        ...MODES.map(([value, text]) => el("option", { value, selected: value === node.mode }, text)));
      mode.addEventListener("change", () => { node.mode = mode.value; update(id); });
      const list = el("ol", { class: "sb-list" });
      for (const child of node.children) {
        list.append(child.kind === "group"
          ? el("li", { class: "sb-nested" }, renderGroup(child, paths, node))
          : renderCondition(child, paths, node));
      }
      const head = el("div", { class: "sb-head" },
        el("span", {}, parent ? "Group: customers matching" : "Customers matching"), mode,
        el("span", {}, "these conditions"));
      const tools = readOnly ? null : el("div", { class: "sb-tools" },
        el("button", { type: "button", onclick: () => add(node, condition(firstField(), "eq", "")) },
          parent ? `Add ${noun} to group` : `Add ${noun}`),
        el("button", { type: "button", onclick: () => add(node, group("or", [condition(firstField(), "eq", "")])) },
          parent ? "Add nested group" : "Add group"),
        parent ? el("button", { type: "button", class: "danger",
          onclick: () => { parent.children.splice(parent.children.indexOf(node), 1); update(); } },
          "Remove group") : null);
      const empty = node.children.length ? null
        : el("p", { class: "hint" }, readOnly ? "No conditions." : "No conditions yet: add one.");
      return el("div", { class: parent ? "sb-group sb-sub" : "sb-group", "data-group": String(n) },
        head, empty, list, tools);
    }

    function firstField() {
      const email = fields.get("email");
      return email ? "email" : (fields.keys().next().value || "email");
    }

    function add(node, child) {
      if (child.kind === "cond") retype(child);
      else child.children.forEach(retype);
      node.children.push(child);
      const focusId = child.kind === "cond" ? `sb-${child.uid}-field` : `sb-${child.uid}-mode`;
      update(focusId);
    }

    // A structural change: draw again (focus stays on the same control) and report it.
    function update(focusId) {
      render(focusId);
      changed();
    }

    function render(focusId) {
      const active = focusId || (document.activeElement && document.activeElement.id);
      const paths = new Map();
      if (root.children.length) toJson(root, prefix, paths, true);
      counter = 0;
      groups = 0;
      container.replaceChildren(renderGroup(root, paths, null));
      const target = active && document.getElementById(active);
      if (target && container.contains(target)) target.focus();
    }

    function changed() {
      if (options.onChange) options.onChange(getFilter());
    }

    setFilter(options.filter || null);
    return { getFilter, setFilter, element: container };
  }

  return { create };
})();
