// One old version, read only: renders its preview through the public API and, for editors,
// restores it as a new draft (then opens the editor on it).
"use strict";

(function () {
  const data = JSON.parse(document.getElementById("version-data").textContent);
  const base = "/templates/" + encodeURIComponent(data.template_id);
  const $ = (id) => document.getElementById(id);

  async function preview() {
    const source = data.source;
    const body = { channel: data.channel, body: source.body };
    if (data.channel === "email") {
      Object.assign(body, {
        subject: source.subject || "",
        body_format: source.body_format,
        text_body: source.text_body,
      });
    } else {
      body.gsm_safe = Boolean(source.gsm_safe);
    }
    try {
      const shown = await dm.api("POST", "/templates/preview", body);
      if (data.channel === "email") {
        $("preview-subject").textContent = shown.subject || "";
        $("preview-frame").srcdoc = shown.html || "";
      } else {
        $("sms-bubble").textContent = shown.sms ? shown.sms.body : "";
      }
      const list = $("preview-errors");
      for (const problem of shown.errors || []) {
        list.append(dm.el("li", { text: problem.message }));
      }
    } catch (error) {
      $("page-status").textContent = "The preview failed: " + error.message;
    }
  }

  const form = $("restore-form");
  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      dm.clearProblem(form);
      try {
        await dm.api("POST", base + "/versions/" + encodeURIComponent(data.version_id) + "/restore", {});
        location.assign(base + "/variants/" + encodeURIComponent(data.variant_id));
      } catch (error) {
        if (!(error instanceof dm.ApiError)) throw error;
        dm.showProblem(form, error);
      }
    });
  }

  preview();
})();
