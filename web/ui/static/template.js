// One template's page: rename, duplicate, archive, add a variant, all through the public API
// (`dm.api`, /ui/v1/templates/...). The page is server-rendered; this script only acts and
// then reloads or moves on, so what is shown always comes from the server.
"use strict";

(function () {
  const data = JSON.parse(document.getElementById("template-data").textContent);
  const base = "/templates/" + encodeURIComponent(data.id);

  // Runs `action` on submit, showing a refusal on the form's fields (the text stays typed).
  function onSubmit(form, action) {
    if (!form) return;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      dm.clearProblem(form);
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        await action(new FormData(form));
      } catch (error) {
        if (!(error instanceof dm.ApiError)) throw error;
        dm.showProblem(form, error);
      } finally {
        button.disabled = false;
      }
    });
  }

  onSubmit(document.getElementById("rename-form"), async (fields) => {
    await dm.api("PATCH", base, { name: fields.get("name") });
    location.reload();
  });

  onSubmit(document.getElementById("duplicate-form"), async (fields) => {
    const copy = await dm.api("POST", base + "/duplicate", { name: fields.get("name") });
    location.assign("/templates/" + encodeURIComponent(copy.id));
  });

  onSubmit(document.getElementById("archive-form"), async () => {
    const message =
      `Archive “${data.name}”? It stops sending at once (distributions and bulk sends using it ` +
      "will fail), leaves the template list and can no longer be edited. Its history stays readable.";
    if (!window.confirm(message)) return;
    await dm.api("DELETE", base);
    location.assign("/templates/");
  });

  onSubmit(document.getElementById("variant-form"), async (fields) => {
    const target = {
      locale: fields.get("locale").trim() || null,
      segment_id: fields.get("segment_id") || null,
      campaign_id: fields.get("campaign_id") || null,
    };
    // Saving to an existing targeting would only add a version there: open that one instead.
    const same = data.variants.find(
      (v) =>
        (v.locale || "").toLowerCase() === (target.locale || "").toLowerCase() &&
        (v.segment_id || null) === target.segment_id &&
        (v.campaign_id || null) === target.campaign_id,
    );
    if (same) {
      throw new dm.ApiError(409, {
        detail: "This template already has a variant for this targeting.",
        errors: [],
      });
    }
    const source = Object.assign({}, data.start_source);
    if (data.channel === "sms") {
      delete source.subject;
      delete source.text_body;
      source.body_format = null;
    }
    const saved = await dm.api(
      "POST",
      base + "/versions",
      Object.assign(source, target, { note: "new variant" }),
    );
    location.assign(base + "/variants/" + encodeURIComponent(saved.version.variant_id));
  });
})();
