// The template editor: CodeMirror code areas, live preview, sample data, history, tests.
// Plain JavaScript, no build step (CodeMirror is the committed bundle in vendor/codemirror,
// loaded before this file). The page's CSP allows only our files, so no inline handlers.
"use strict";

(function () {
  const data = JSON.parse(document.getElementById("editor-data").textContent);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const channel = data.template.channel;
  const $ = (id) => document.getElementById(id);

  // ---- small DOM and HTTP helpers --------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) {
        node.append(child instanceof Node ? child : String(child));
      }
    }
    return node;
  }

  async function call(method, url, body) {
    const options = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.headers["X-CSRF-Token"] = csrf;
      options.body = JSON.stringify(body);
    } else if (method !== "GET") {
      options.headers["X-CSRF-Token"] = csrf;
    }
    const response = await fetch(url, options);
    let payload = null;
    try {
      payload = await response.json();
    } catch (_) {
      payload = null;
    }
    if (!response.ok) {
      const reasons = payload && payload.errors
        ? payload.errors.map((e) => (e.field ? e.field + ": " : "") + e.reason).join("; ")
        : "";
      const detail = (payload && payload.detail) || response.statusText;
      const error = new Error(reasons ? detail + " " + reasons : detail);
      error.status = response.status;
      error.problem = payload || {};
      throw error;
    }
    return payload;
  }

  function say(message, kind) {
    const line = $("status");
    line.textContent = message;
    line.className = "status-line" + (kind ? " " + kind : "");
  }

  // ---- code areas: CodeMirror 6 views (the vendored bundle's `window.CM`) ----------------
  // Body and text body are CodeMirror views; each writes its text into the part's hidden
  // textarea, the form value the rest of the page reads. The one-line Subject stays an <input>,
  // so Tab leaves it like any field. Every area offers the same small interface: value, set,
  // insert at the caret, go to a line and column, show problem markers.
  const areas = {};
  // The area the person last worked in (typed, clicked or moved the caret): where a variable
  // from the side panel goes. Focus alone does not count, so tabbing through the code areas on
  // the way to the panel does not move the target (issue 20).
  let lastWorkedIn = null;
  const NAVIGATION_KEYS = new Set(["Tab", "Escape", "Shift", "Control", "Alt", "Meta"]);

  function workedIn(area, node) {
    node.addEventListener("pointerdown", () => {
      lastWorkedIn = area;
    });
    node.addEventListener("keydown", (event) => {
      if (!NAVIGATION_KEYS.has(event.key)) lastWorkedIn = area;
    });
  }

  // Jinja over HTML/MJML or plain text: `{{ }}`, `{% %}` and `{# #}` marked on each line (an
  // unclosed one up to the line's end, so a half-typed tag shows as one while typing).
  const JINJA_MARKS = {
    "{{": CM.Decoration.mark({ class: "cm-jinja cm-jinja-expr" }),
    "{%": CM.Decoration.mark({ class: "cm-jinja cm-jinja-tag" }),
    "{#": CM.Decoration.mark({ class: "cm-jinja cm-jinja-comment" }),
  };
  const jinjaMatcher = new CM.MatchDecorator({
    regexp: /\{\{.*?(?:\}\}|$)|\{%.*?(?:%\}|$)|\{#.*?(?:#\}|$)/g,
    decoration: (match) => JINJA_MARKS[match[0].slice(0, 2)],
  });
  const jinjaOverlay = CM.ViewPlugin.define(
    (view) => ({
      decorations: jinjaMatcher.createDeco(view),
      update(update) {
        this.decorations = jinjaMatcher.updateDeco(update, this.decorations);
      },
    }),
    { decorations: (plugin) => plugin.decorations },
  );
  // HTML with MJML's self-closing tags (<mj-all />); Jinja inside it is text to this grammar.
  const htmlLanguage = CM.LRLanguage.define({
    name: "html",
    parser: CM.htmlParser.configure({ dialect: "selfClosing" }),
  });
  // Colours with at least 4.5:1 contrast on the code background (axe checks them).
  const highlight = CM.HighlightStyle.define([
    { tag: [CM.tags.tagName, CM.tags.angleBracket], color: "#1f6b3a" },
    { tag: CM.tags.attributeName, color: "#8a4b08" },
    { tag: [CM.tags.attributeValue, CM.tags.string], color: "#1d4f91" },
    { tag: CM.tags.comment, color: "#5d6673", fontStyle: "italic" },
    { tag: CM.tags.invalid, color: "#b00020" },
  ]);

  // Completion inside `{{ … }}` and `{% … %}`: variables from the schema, and filters after `|`.
  const variableOptions = [];
  for (const [group, info] of Object.entries(data.variables)) {
    variableOptions.push({ label: group, type: "namespace", detail: "group", info: info.description });
    for (const [name, field] of Object.entries(info.fields)) {
      variableOptions.push({ label: group + "." + name, type: "variable", detail: field.type, info: field.description });
    }
  }
  const filterOptions = data.filters.map((f) => ({
    label: f.name, type: "function", detail: f.signature, info: f.description + " " + f.example,
  }));

  function jinjaCompletions(context) {
    const before = context.state.sliceDoc(Math.max(0, context.pos - 400), context.pos);
    const opened = Math.max(before.lastIndexOf("{{"), before.lastIndexOf("{%"));
    if (opened < 0) return null;
    const closed = Math.max(before.lastIndexOf("}}"), before.lastIndexOf("%}"));
    if (closed > opened) return null; // after the tag, back in the template's text
    const word = context.matchBefore(/[\w.]*/);
    const lead = before.slice(0, before.length - word.text.length).trimEnd();
    const afterPipe = lead.endsWith("|");
    return {
      from: word.from,
      options: afterPipe ? filterOptions : variableOptions,
      validFor: /^[\w.]*$/,
    };
  }

  const setLineMarks = CM.StateEffect.define();
  class LineMark extends CM.GutterMarker {
    constructor(severity) {
      super();
      this.severity = severity;
      this.elementClass = severity === "error" ? "bad" : "warn";
    }
    eq(other) {
      return other.severity === this.severity;
    }
  }
  const lineMarks = CM.StateField.define({
    create: () => CM.RangeSet.empty,
    update(marks, transaction) {
      for (const effect of transaction.effects) if (effect.is(setLineMarks)) return effect.value;
      return marks.map(transaction.changes);
    },
    provide: (field) => CM.lineNumberMarkers.from(field),
  });

  function codeView(box, store) {
    const part = box.dataset.part;
    const label = box.dataset.label;
    const area = { part, store };
    const extensions = [
      CM.lineNumbers(),
      CM.highlightActiveLineGutter(),
      CM.highlightSpecialChars(),
      CM.history(),
      CM.drawSelection(),
      CM.indentOnInput(),
      CM.bracketMatching(),
      CM.EditorView.lineWrapping,
      jinjaOverlay,
      lineMarks,
      CM.syntaxHighlighting(highlight),
      CM.autocompletion({ override: [jinjaCompletions], icons: false }),
      // Tab indents; CodeMirror's own rule lets Esc, then Tab, move focus on (within 2 s).
      CM.keymap.of([...CM.completionKeymap, ...CM.defaultKeymap, ...CM.historyKeymap, ...CM.lintKeymap, CM.indentWithTab]),
      CM.EditorState.readOnly.of(!data.can_edit),
      CM.EditorView.contentAttributes.of({
        "aria-labelledby": label,
        "aria-describedby": "editor-keys",
        "aria-readonly": data.can_edit ? "false" : "true",
        spellcheck: "false",
        autocorrect: "off",
        autocapitalize: "off",
      }),
      CM.EditorView.updateListener.of((update) => {
        if (!update.docChanged) return;
        store.value = update.state.doc.toString();
        if (!area.loading) edited();
      }),
    ];
    if (part === "body" && channel === "email") extensions.push(htmlLanguage);
    const view = new CM.EditorView({ parent: box, doc: store.value, extensions });
    workedIn(area, view.contentDOM);
    // The visible label focuses the code, as a label focuses its input.
    const labelNode = document.getElementById(label);
    if (labelNode) labelNode.addEventListener("click", () => view.focus());
    Object.assign(area, {
      view,
      value: () => view.state.doc.toString(),
      set(text) {
        area.loading = true; // a loaded source is not an edit
        view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
        area.loading = false;
      },
      insert(text) {
        const range = view.state.selection.main;
        view.dispatch({
          changes: { from: range.from, to: range.to, insert: text },
          selection: { anchor: range.from + text.length },
          userEvent: "input",
          scrollIntoView: true,
        });
        view.focus();
      },
      position(line, column) {
        const doc = view.state.doc;
        const row = doc.line(Math.min(Math.max(line, 1), doc.lines));
        return { row, at: Math.min(row.from + Math.max((column || 1) - 1, 0), row.to) };
      },
      goTo(line) {
        const { row } = area.position(line, 1);
        view.dispatch({ selection: { anchor: row.from, head: row.to }, scrollIntoView: true });
        view.focus();
      },
      mark(problems) {
        const diagnostics = [];
        const gutter = [];
        for (const problem of problems) {
          if (!problem.line) continue;
          const { row, at } = area.position(problem.line, problem.column);
          diagnostics.push({ from: at, to: markEnd(row, at), severity: problem.severity, message: problem.message });
          gutter.push(new LineMark(problem.severity).range(row.from));
        }
        view.dispatch(CM.setDiagnostics(view.state, diagnostics), {
          effects: setLineMarks.of(CM.RangeSet.of(gutter, true)),
        });
      },
    });
    return area;
  }

  // Where a problem's underline ends: the Jinja tag or the word it starts at, else the line's end.
  function markEnd(row, at) {
    const rest = row.text.slice(at - row.from);
    const tag = /^\{([{%#])/.exec(rest);
    if (tag) {
      const close = rest.indexOf({ "{": "}}", "%": "%}", "#": "#}" }[tag[1]]);
      if (close >= 0) return at + close + 2;
    }
    const word = /^[\w.-]+/.exec(rest);
    return word ? at + word[0].length : row.to;
  }

  function lineInput(input) {
    const area = { part: input.dataset.part, store: input };
    workedIn(area, input);
    input.addEventListener("input", () => edited());
    if (!data.can_edit) input.readOnly = true;
    Object.assign(area, {
      value: () => input.value,
      set(text) {
        input.value = text;
      },
      insert(text) {
        input.focus();
        // execCommand keeps the browser's undo history; setRangeText is the fallback.
        if (!document.execCommand || !document.execCommand("insertText", false, text)) {
          input.setRangeText(text, input.selectionStart, input.selectionEnd, "end");
          input.dispatchEvent(new Event("input"));
        }
      },
      goTo(line, column) {
        input.focus();
        const at = Math.max((column || 1) - 1, 0);
        input.setSelectionRange(at, input.value.length);
      },
      mark(problems) {
        const bad = problems.some((p) => p.severity === "error");
        if (bad) input.setAttribute("aria-invalid", "true");
        else input.removeAttribute("aria-invalid");
      },
    });
    return area;
  }

  for (const box of document.querySelectorAll(".code")) {
    const store = box.querySelector("textarea");
    areas[box.dataset.part] = codeView(box, store);
  }
  const subjectInput = $("code-subject");
  if (subjectInput) areas.subject = lineInput(subjectInput);

  // ---- the source, dirty tracking, unsaved-changes guard ---------------------------------
  const bodyFormat = $("body-format");
  const gsmSafe = $("gsm-safe");

  function currentSource() {
    if (channel === "sms") {
      return { body: areas.body.value(), gsm_safe: gsmSafe.checked };
    }
    const text = areas.text.value();
    return {
      subject: areas.subject.value(),
      body: areas.body.value(),
      body_format: bodyFormat.value,
      text_body: text.trim() ? text : null,
    };
  }

  let savedSnapshot = "";
  let current = data.current_version;
  // The variant's newest version when this page loaded (or last saved here): a save says it
  // was based on it, so the server refuses it (409) when someone saved a newer one meanwhile.
  let baseVersionId = data.versions.length ? data.versions[0].id : null;

  function loadSource(source) {
    areas.body.set(source.body || "");
    if (channel === "email") {
      areas.subject.set(source.subject || "");
      areas.text.set(source.text_body || "");
      bodyFormat.value = source.body_format === "html" ? "html" : "mjml";
    } else {
      gsmSafe.checked = Boolean(source.gsm_safe);
    }
  }

  function isDirty() {
    return JSON.stringify(currentSource()) !== savedSnapshot;
  }

  function markClean() {
    savedSnapshot = JSON.stringify(currentSource());
    updateDirty();
  }

  function updateDirty() {
    $("dirty-flag").hidden = !isDirty();
    const state = $("version-state");
    state.textContent = current
      ? "editing v" + current.number + " (" + current.status + ")"
      : "no version yet";
  }

  window.addEventListener("beforeunload", (event) => {
    if (data.can_edit && isDirty()) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  // ---- live preview: one request in flight, the newest source next, stale answers dropped --
  // A key previews at once when no request is out; otherwise the keys meanwhile fold into one
  // request that goes, with the source as it is then, the moment the answer comes. The preview
  // is never more than one render behind the typing, and an editor never has two requests out.
  // (A fixed 300 ms throttle put the keystroke-to-preview p95 at about 290 ms by itself.)
  let inFlight = false;
  let sentCount = 0;
  let shownCount = 0;
  let pending = false;
  let sample = data.sample;

  function edited() {
    updateDirty();
    refresh();
  }

  function refresh() {
    pending = true;
    if (!inFlight) sendPreview(); // else the source is read when the answer comes
  }

  async function sendPreview() {
    pending = false;
    inFlight = true;
    const number = ++sentCount;
    try {
      const answer = await call("POST", "/ui/api/preview", {
        channel,
        ...currentSource(),
        context: sample,
        template_id: data.template.id, // its category decides which Publish rules are checked
      });
      if (number > shownCount) {
        shownCount = number;
        showPreview(answer);
      }
    } catch (error) {
      say("Preview failed: " + error.message, "error");
    } finally {
      inFlight = false;
      if (pending) refresh();
    }
  }

  const MISSING_STYLE =
    "<style>mark.dm-missing{background:#ffe58a;color:#5a3b00;outline:1px dashed #b7791f;" +
    "border-radius:2px;padding:0 2px}</style>";

  // Dark mode as the inbox applies it: an email with its own prefers-color-scheme: dark styles
  // gets them (Apple Mail, iOS); one without is inverted, images kept (Gmail and Outlook apps).
  const DARK_INVERT =
    "<style>html{filter:invert(1) hue-rotate(180deg);background:#fff}" +
    "img,picture,video{filter:invert(1) hue-rotate(180deg)}</style>";
  const DARK_QUERY = /\(\s*prefers-color-scheme\s*:\s*dark\s*\)/gi;
  let shownEmail = null;

  function showEmail(answer) {
    shownEmail = answer;
    const project = sample && typeof sample.project === "object" && sample.project;
    $("inbox-from").textContent = (project && project.name) || "Your company";
    $("preview-subject").textContent = answer.subject;
    $("inbox-preheader").textContent = answer.preheader || "";
    const dark = $("preview-dark").checked;
    const ownDark = answer.html.search(DARK_QUERY) >= 0; // search, unlike test, keeps no state
    // A frame does not take its dark preference from the page, so the email's dark media
    // queries are made to always match instead.
    const html = dark && ownDark ? answer.html.replace(DARK_QUERY, "(min-width: 0px)") : answer.html;
    $("preview-frame").srcdoc = MISSING_STYLE + (dark && !ownDark ? DARK_INVERT : "") + html;
    $("preview-text").textContent = answer.text;
  }

  // The email is laid out at its real width (600 px on a desktop, 375 on a phone) and zoomed
  // out to fit the column when the column is narrower.
  function fitFrame() {
    const wrap = $("preview-email");
    if (!wrap) return;
    const width = wrap.classList.contains("mobile") ? 375 : 600;
    const room = wrap.clientWidth - 20; // the wrap's padding
    const zoom = room > 0 ? Math.min(1, room / width) : 1;
    const frame = $("preview-frame");
    frame.style.width = width + "px";
    frame.style.zoom = String(zoom);
    frame.style.height = `calc(70vh / ${zoom})`;
  }

  function showPreview(answer) {
    showProblems(answer);
    const failed = answer.errors.length > 0;
    $("preview-stale").hidden = !failed;
    if (failed) return; // keep the last good preview
    if (channel === "email") {
      showEmail(answer);
    } else {
      showSms(answer);
    }
    document.body.dataset.previews = String(Number(document.body.dataset.previews || 0) + 1);
  }

  function showSms(answer) {
    // Only a rendered SMS is shown, and a rendered one always says how it travels.
    const info = answer.sms;
    const bubble = $("sms-bubble");
    bubble.textContent = "";
    const forcing = new Set(info.ucs2_characters);
    info.parts.forEach((part, index) => {
      // Where a billed segment starts; the number is drawn by CSS, so the text stays the body.
      if (index > 0) {
        bubble.append(el("span", { class: "seg-break", "data-segment": String(index + 1), role: "img", "aria-label": `segment ${index + 1} starts here` }));
      }
      let run = "";
      for (const ch of part) {
        if (forcing.has(ch)) {
          if (run) bubble.append(run);
          run = "";
          bubble.append(el("mark", { class: "ucs2", title: "forces UCS-2" }, ch));
        } else {
          run += ch;
        }
      }
      if (run) bubble.append(run);
    });
    $("sms-length").textContent = info.length;
    $("sms-encoding").textContent = info.encoding;
    $("sms-encoding").className = info.encoding === "UCS-2" ? "warn" : "";
    $("sms-segments").textContent = info.segments;
    $("sms-ucs2").hidden = info.ucs2_characters.length === 0;
    $("sms-ucs2-chars").replaceChildren(
      ...info.ucs2_characters.map((ch, i) => {
        const point = "U+" + ch.codePointAt(0).toString(16).toUpperCase().padStart(4, "0");
        return el("li", {}, el("mark", { class: "ucs2" }, ch), ` ${point} ${info.ucs2_names[i]}`);
      }),
    );
  }

  const PART_NAMES = { subject: "Subject", body: "Body", sms: "Message", text: "Text body", text_body: "Text body" };
  // The code area each part of an answer is shown in.
  const AREA_OF = { subject: "subject", body: "body", sms: "body", text: "text", text_body: "text" };

  // Every error and warning of an answer: `problems` holds the render's errors and every
  // reason Publish would refuse, each once, placed by line and column.
  function problemsOf(answer) {
    return answer.problems.map((p) => ({ ...p, severity: p.severity === "error" ? "error" : "warning" }));
  }

  function problemItem(problem) {
    const area = areas[AREA_OF[problem.part] || "body"];
    const where = (PART_NAMES[problem.part] || "Template") + (problem.line ? `, line ${problem.line}` : "");
    const label = `${where}: ${problem.message}`;
    return el(
      "li",
      { class: problem.severity, "data-code": problem.code || "" },
      area && problem.line
        ? el("button", { type: "button", class: "link", onclick: () => area.goTo(problem.line, problem.column) }, label)
        : label,
    );
  }

  function showProblems(answer) {
    const found = problemsOf(answer);
    const byArea = {};
    for (const problem of found) (byArea[AREA_OF[problem.part] || "body"] ||= []).push(problem);
    for (const [name, area] of Object.entries(areas)) area.mark(byArea[name] || []);
    const errors = found.filter((p) => p.severity === "error");
    // A value missing from the sample is listed once, in the box of missing variables.
    const warnings = found.filter((p) => p.severity === "warning" && p.code !== "missing-value");
    $("error-list").replaceChildren(...errors.map(problemItem));
    $("warning-list").replaceChildren(...warnings.map(problemItem));
    $("missing-list").replaceChildren(...answer.missing.map((name) => el("li", {}, el("code", {}, name))));
    $("missing-box").hidden = answer.missing.length === 0;
    $("no-problems").hidden = errors.length + warnings.length + answer.missing.length > 0;
  }

  // ---- preview modes (desktop, mobile, plain text) ---------------------------------------
  const tabs = Array.from(document.querySelectorAll('.preview-tabs [role="tab"]'));
  function selectTab(tab) {
    for (const other of tabs) {
      const on = other === tab;
      other.setAttribute("aria-selected", on ? "true" : "false");
      other.tabIndex = on ? 0 : -1;
    }
    const mode = tab.dataset.mode;
    $("preview-email").hidden = mode === "text";
    $("preview-text").hidden = mode !== "text";
    $("preview-email").className = "frame-wrap " + (mode === "mobile" ? "mobile" : "desktop");
    fitFrame();
  }
  if ($("preview-email")) {
    new ResizeObserver(fitFrame).observe($("preview-email"));
    $("preview-dark").addEventListener("change", () => shownEmail && showEmail(shownEmail));
  }
  tabs.forEach((tab, index) => {
    tab.addEventListener("click", () => selectTab(tab));
    tab.addEventListener("keydown", (event) => {
      const step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
      if (!step) return;
      const next = tabs[(index + step + tabs.length) % tabs.length];
      next.focus();
      selectTab(next);
    });
  });

  if (bodyFormat) bodyFormat.addEventListener("change", edited);
  if (gsmSafe) gsmSafe.addEventListener("change", edited);
  // Viewers read and preview; the format and the GSM switch are part of the source too.
  if (!data.can_edit) {
    if (bodyFormat) bodyFormat.disabled = true;
    if (gsmSafe) gsmSafe.disabled = true;
  }

  // ---- variables and filters help --------------------------------------------------------
  function insertIntoFocused(text) {
    if (!data.can_edit) return;
    // The area holding focus (a shortcut pressed while typing), else the one last worked in.
    const focused = Object.values(areas).find((area) => area.store === document.activeElement ||
      (area.view && area.view.hasFocus));
    (focused || lastWorkedIn || areas.body).insert(text);
  }

  const variables = $("variables");
  for (const [group, info] of Object.entries(data.variables)) {
    const items = el("ul", { class: "vars" });
    for (const [name, field] of Object.entries(info.fields)) {
      const token = "{{ " + group + "." + name + " }}";
      const example = typeof field.example === "object" ? JSON.stringify(field.example) : field.example;
      items.append(
        el(
          "li",
          {},
          el("button", { type: "button", class: "insert", title: "Insert " + token, onclick: () => insertIntoFocused(token) }, group + "." + name),
          el("span", { class: "desc" }, field.description + " e.g. " + example),
        ),
      );
    }
    variables.append(el("details", {}, el("summary", {}, group + " — " + info.description), items));
  }
  const filters = $("filters");
  const filterList = el("ul", { class: "vars" });
  for (const filter of data.filters) {
    filterList.append(
      el(
        "li",
        {},
        el("button", { type: "button", class: "insert", title: "Insert " + filter.example, onclick: () => insertIntoFocused(filter.example) }, filter.signature),
        el("span", { class: "desc" }, filter.description + " " + filter.example + " → " + filter.output),
      ),
    );
  }
  filters.append(filterList);

  // ---- sample data: JSON or a real customer ----------------------------------------------
  const sampleBox = $("sample-json");
  function setSample(value) {
    sample = value;
    sampleBox.value = JSON.stringify(value, null, 2);
    $("sample-error").hidden = true;
  }
  setSample(data.sample);
  sampleBox.addEventListener("input", () => {
    try {
      const parsed = JSON.parse(sampleBox.value);
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
        throw new Error("the sample must be a JSON object");
      }
      sample = parsed;
      $("sample-error").hidden = true;
      edited();
    } catch (error) {
      $("sample-error").textContent = "Invalid JSON: " + error.message;
      $("sample-error").hidden = false;
    }
  });
  $("sample-reset").addEventListener("click", () => {
    setSample(data.sample);
    refresh();
  });

  let searchTimer = null;
  $("customer-search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(searchCustomers, 250);
  });
  async function searchCustomers() {
    const q = $("customer-search").value.trim();
    const results = $("customer-results");
    results.textContent = "";
    if (!q) return;
    try {
      const found = await call("GET", "/ui/api/customers?q=" + encodeURIComponent(q));
      if (!found.length) results.append(el("li", { class: "hint" }, "No customer matches."));
      for (const customer of found) {
        const label = [customer.name, customer.email, customer.source_id].filter(Boolean).join(" · ") || customer.id;
        results.append(el("li", {}, el("button", { type: "button", class: "link", onclick: () => useCustomer(customer, label) }, label)));
      }
    } catch (error) {
      results.append(el("li", { class: "error-text" }, error.message));
    }
  }
  async function useCustomer(customer, label) {
    try {
      setSample(await call("GET", "/ui/api/customers/" + encodeURIComponent(customer.id) + "/context"));
      say("Sample data now uses " + label + ".");
      refresh();
    } catch (error) {
      say("Could not load the customer: " + error.message, "error");
    }
  }

  // ---- variant resolution ----------------------------------------------------------------
  const segmentSelect = $("resolve-segment");
  for (const segment of data.segments) segmentSelect.append(el("option", { value: segment.id }, segment.name));
  const variantSwitch = $("variant-switch");
  for (const variant of data.variants) {
    const option = el("option", { value: variant.id }, variant.label);
    if (variant.id === data.variant.id) option.selected = true;
    variantSwitch.append(option);
  }
  variantSwitch.addEventListener("change", () => {
    window.location.href = "/templates/" + data.template.id + "/variants/" + variantSwitch.value;
  });
  $("resolve-btn").addEventListener("click", async () => {
    const result = $("resolve-result");
    try {
      const answer = await call("POST", "/ui/api/templates/" + data.template.id + "/resolve", {
        campaign_id: $("resolve-campaign").value.trim() || null,
        segment_id: segmentSelect.value || null,
        locale: $("resolve-locale").value.trim() || null,
      });
      if (!answer.variant_id) {
        result.textContent = answer.message;
        return;
      }
      const chosen = data.variants.find((v) => v.id === answer.variant_id);
      result.textContent =
        "Would send: " + (chosen ? chosen.label : answer.variant_id) + ", live v" + answer.version_number +
        (answer.variant_id === data.variant.id ? " (this variant)" : "");
    } catch (error) {
      result.textContent = error.message;
    }
  });

  // ---- save, publish, history, compare, restore ------------------------------------------
  // Through the public API (dm.api, /ui/v1 = /v1 with the session), as every page acts.
  const templatePath = "/templates/" + encodeURIComponent(data.template.id);
  function versionUrl(id, action) {
    return templatePath + "/versions/" + encodeURIComponent(id) + (action ? "/" + action : "");
  }

  function versionPage(id) {
    return "/templates/" + encodeURIComponent(data.template.id) + "/versions/" + encodeURIComponent(id);
  }

  // A refusal in words: the detail and each field's reason (template errors name their line).
  function reasons(error) {
    const items = (error.problem && error.problem.errors) || [];
    const extra = items.map((e) => (e.field ? e.field + ": " : "") + e.reason).join("; ");
    return extra ? error.message + " " + extra : error.message;
  }

  // This variant's versions, newest first, as the template's history lists them.
  async function variantVersions() {
    const detail = await dm.api("GET", templatePath);
    return detail.versions.filter((v) => v.variant_id === data.variant.id);
  }

  function showHistory(versions) {
    const list = $("history");
    list.textContent = "";
    for (const v of versions) {
      const who = "saved " + dm.when(v.created_at) + (v.created_by ? " by " + v.created_by : "");
      const published = v.published_at
        ? "published " + dm.when(v.published_at) + (v.published_by ? " by " + v.published_by : "")
        : null;
      const item = el(
        "li",
        { "data-version": v.number },
        el("div", {}, el("strong", {}, "v" + v.number), " ", el("span", { class: "status status-" + v.status }, v.status), v.note ? " — " + v.note : ""),
        el("div", { class: "hint" }, who),
        published ? el("div", { class: "hint" }, published) : null,
      );
      const buttons = el("div", { class: "row" });
      buttons.append(el("button", { type: "button", onclick: () => compare(v) }, "Compare with live"));
      // The whole version, read only, with its own preview (and restore for editors).
      buttons.append(el("a", { class: "button", href: versionPage(v.id) }, "Open"));
      if (data.can_edit) {
        buttons.append(el("button", { type: "button", onclick: () => restore(v) }, "Restore"));
      }
      item.append(buttons);
      list.append(item);
    }
  }

  async function save() {
    if (!data.can_edit) return null;
    say("Saving…");
    try {
      const answer = await dm.api(
        "POST",
        templatePath + "/versions",
        Object.assign(currentSource(), {
          campaign_id: data.variant.campaign_id,
          segment_id: data.variant.segment_id,
          locale: data.variant.locale,
          base_version_id: baseVersionId,
        }),
      );
      current = answer.version;
      baseVersionId = current.id;
      hideConflict();
      markClean();
      showHistory(await variantVersions());
      const problems = answer.errors.length
        ? " It has " + answer.errors.length + " error(s) to fix before publishing."
        : "";
      say("Saved draft v" + current.number + "." + problems, answer.errors.length ? "warn" : "ok");
      return current;
    } catch (error) {
      if (error.status === 409 && error.problem.current_version) {
        showConflict(error.problem);
        say("Not saved: someone saved a newer version. Your text is still here.", "error");
        return null;
      }
      say("Save failed: " + reasons(error), "error");
      return null;
    }
  }

  // ---- a save refused because someone saved a newer version meanwhile ---------------------
  // Nothing is lost: the editor keeps this person's text; the box shows the newer version
  // beside it and what changed, and lets them save theirs on top or take the newer one.
  function sourceText(source) {
    if (channel === "sms") return source.body || "";
    return "Subject: " + (source.subject || "") + "\n\n" + (source.body || "") +
      (source.text_body ? "\n\nText body:\n" + source.text_body : "");
  }

  function hideConflict() {
    $("conflict").hidden = true;
    $("conflict").textContent = "";
  }

  function showConflict(problem) {
    const newer = problem.current_version;
    const box = $("conflict");
    const diffs = Object.values(problem.diffs || {});
    box.textContent = "";
    box.append(
      el("h2", { class: "small", id: "conflict-title" },
        "Version " + newer.number + " was saved" + (newer.created_by ? " by " + newer.created_by : "") +
        " (" + dm.when(newer.created_at) + ") after the version you started from"),
      el("p", {}, "Your text was not saved and is still in the editor. Compare, then save yours on top or take theirs."),
      el("div", { class: "conflict-grid" },
        el("div", {},
          el("h3", { class: "small" }, "Version " + newer.number + " (theirs)"),
          el("pre", { class: "source", id: "conflict-theirs", tabindex: "0", "aria-label": "Their version" }, sourceText(newer))),
        el("div", {},
          el("h3", { class: "small" }, "Your text (unsaved)"),
          el("pre", { class: "source", id: "conflict-yours", tabindex: "0", "aria-label": "Your text" }, sourceText(currentSource())))),
      diffs.length
        ? el("details", {},
          el("summary", {}, "What changed since the version you started from"),
          el("pre", { class: "diff", tabindex: "0", "aria-label": "Changes" }, diffs.join("\n")))
        : null,
      el("div", { class: "row" },
        el("button", {
          type: "button", class: "primary", id: "conflict-save-mine",
          onclick: () => {
            baseVersionId = newer.id;
            save();
          },
        }, "Save mine as a new draft on top"),
        el("button", {
          type: "button", id: "conflict-take-theirs",
          onclick: () => {
            if (!window.confirm("Replace your text with version " + newer.number + "? Your changes are lost.")) return;
            loadSource(newer);
            baseVersionId = newer.id;
            current = { id: newer.id, number: newer.number, status: newer.status };
            markClean();
            hideConflict();
            refresh();
          },
        }, "Take theirs (drop mine)"),
      ),
    );
    box.hidden = false;
    box.focus();
  }

  async function publish() {
    let version = current;
    if (!version || isDirty() || version.status !== "draft") {
      version = await save();
      if (!version) return;
    }
    say("Publishing v" + version.number + "…");
    try {
      current = await dm.api("POST", templatePath + "/publish", {
        version_id: version.id,
        base_version_id: baseVersionId,
      });
      updateDirty();
      showHistory(await variantVersions());
      say("Published v" + current.number + ": sends use it now.", "ok");
    } catch (error) {
      if (error.status === 409 && error.problem.current_version) {
        showConflict(error.problem);
        say("Not published: someone saved a newer version. Compare it first.", "error");
        return;
      }
      say("Publish failed: " + reasons(error), "error");
    }
  }

  async function compare(v) {
    try {
      const answer = await dm.api("GET", versionUrl(v.id, "compare"));
      $("compare-title").textContent =
        "v" + answer.version.number + " against " + (answer.live ? "live v" + answer.live.number : "nothing live");
      const lines = Object.values(answer.diffs).join("").split("\n").filter(Boolean);
      // Coloured by kind: + added, - removed, @@ where; file headers (---/+++) stay plain.
      const kind = (line) =>
        /^(---|\+\+\+) /.test(line) ? "head" : line[0] === "+" ? "add" : line[0] === "-" ? "del" : line[0] === "@" ? "hunk" : "";
      $("compare-diff").replaceChildren(
        ...(lines.length ? lines.map((line) => el("span", { class: kind(line) }, line + "\n")) : ["No differences."]),
      );
      if (!$("compare-box").open) $("compare-box").showModal();
    } catch (error) {
      say("Compare failed: " + reasons(error), "error");
    }
  }

  async function restore(v) {
    if (isDirty() && !window.confirm("Restoring replaces your unsaved changes. Continue?")) return;
    try {
      const answer = await dm.api("POST", versionUrl(v.id, "restore"), { publish: false });
      loadSource(answer.version);
      current = answer.version;
      baseVersionId = current.id;
      hideConflict();
      markClean();
      showHistory(await variantVersions());
      say("Restored v" + v.number + " as draft v" + current.number + ".", "ok");
      refresh();
    } catch (error) {
      say("Restore failed: " + reasons(error), "error");
    }
  }

  if (data.can_edit) {
    $("save-btn").addEventListener("click", save);
    $("publish-btn").addEventListener("click", publish);
    document.addEventListener("keydown", (event) => {
      if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "s") {
        event.preventDefault();
        save();
      }
    });
  }

  // ---- send a test -----------------------------------------------------------------------
  const sendButton = $("test-send");
  async function loadProviders() {
    try {
      const providers = await call("GET", "/ui/api/providers?channel=" + channel);
      const select = $("test-provider");
      select.textContent = "";
      for (const p of providers) select.append(el("option", { value: p.name }, p.name + " (" + p.kind + ")"));
    } catch (_) {
      // keep the built-in capture option
    }
  }
  if (sendButton) {
    loadProviders();
    sendButton.addEventListener("click", async () => {
      const result = $("test-result");
      result.textContent = "Sending…";
      result.className = "";
      try {
        const answer = await call("POST", "/ui/api/test-send", {
          channel,
          to: $("test-to").value.trim(),
          provider: $("test-provider").value,
          ...currentSource(),
          context: sample,
          template_id: data.template.id,
        });
        result.textContent =
          answer.status + " via " + answer.provider + (answer.provider_message_id ? " (id " + answer.provider_message_id + ")" : "") +
          // The provider's own word ("accepted", "scheduled") when it says more than ours.
          (answer.provider_status && answer.provider_status !== answer.status ? ", the provider says " + answer.provider_status : "") +
          (answer.reason ? ": " + answer.reason : "");
        result.className = answer.status === "rejected" ? "error-text" : "ok";
        // It is recorded as a message marked "test": say where to find it.
        if (answer.message_id) {
          result.append(" ", el("a", { href: "/deliveries?test=true" }, "See it in Deliveries"));
        }
      } catch (error) {
        result.textContent = "Not sent: " + error.message;
        result.className = "error-text";
      }
    });
  }

  // ---- start -----------------------------------------------------------------------------
  loadSource(data.source);
  markClean();
  showHistory(data.versions);
  refresh();
})();
