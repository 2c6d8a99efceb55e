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

// ---- A/B tests ------------------------------------------------------------------------
// Start a test (versions of one variant and their weights), end it with a winner or keep the
// live version; through /ui/v1/templates/{id}/variants/{id}/ab-test. The page shows the results.
(function () {
  const data = JSON.parse(document.getElementById("template-data").textContent);
  const base = "/templates/" + encodeURIComponent(data.id) + "/variants/";
  const testPath = (variantId) => base + encodeURIComponent(variantId) + "/ab-test";
  const form = document.getElementById("ab-form");
  const status = document.getElementById("page-status");
  const MAX_ARMS = 5;

  function versionsOf(variantId) {
    return data.versions.filter((v) => v.variant_id === variantId);
  }

  function armRow(index) {
    const variantId = form.elements.variant_id.value;
    const options = versionsOf(variantId).map((v, i) =>
      dm.el("option", { value: v.id, selected: i === index ? "" : null }, `v${v.number}`),
    );
    const versionId = `ab-version-${index}`;
    const weightId = `ab-weight-${index}`;
    return dm.el(
      "div",
      { class: "ab-arm" },
      dm.el("label", { for: versionId }, `Version ${index + 1}`),
      dm.el("select", { id: versionId, name: `arms[${index}].version_id` }, ...options),
      dm.el("label", { for: weightId }, `Weight of version ${index + 1}`),
      dm.el("input", { id: weightId, name: `arms[${index}].weight`, type: "number", min: "1", max: "1000", value: "1", required: "" }),
    );
  }

  function resetArms() {
    const box = document.getElementById("ab-arms");
    box.querySelectorAll(".ab-arm").forEach((row) => row.remove());
    box.append(armRow(0), armRow(1));
    document.getElementById("ab-add-arm").disabled = false;
  }

  if (form) {
    resetArms();
    form.elements.variant_id.addEventListener("change", resetArms);
    document.getElementById("ab-add-arm").addEventListener("click", (event) => {
      const box = document.getElementById("ab-arms");
      const count = box.querySelectorAll(".ab-arm").length;
      box.append(armRow(count));
      event.target.disabled = count + 1 >= MAX_ARMS;
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      dm.clearProblem(form);
      const arms = [...form.querySelectorAll(".ab-arm")].map((row) => ({
        version_id: row.querySelector("select").value,
        weight: Number(row.querySelector("input").value),
      }));
      try {
        await dm.api("PUT", testPath(form.elements.variant_id.value), { arms });
        location.reload();
      } catch (error) {
        if (!(error instanceof dm.ApiError)) throw error;
        dm.showProblem(form, error);
      }
    });
  }

  async function end(section, winner, question) {
    if (!window.confirm(question)) return;
    try {
      await dm.api("POST", testPath(section.dataset.variant) + "/end", { winner });
      location.reload();
    } catch (error) {
      if (!(error instanceof dm.ApiError)) throw error;
      status.textContent = error.message;
    }
  }

  document.querySelectorAll(".ab-test").forEach((section) => {
    section.querySelectorAll(".ab-winner").forEach((button) => {
      button.addEventListener("click", () =>
        end(section, button.dataset.version, `${button.textContent}? It goes live for every customer and the test ends.`),
      );
    });
    const stop = section.querySelector(".ab-stop");
    if (stop) stop.addEventListener("click", () => end(section, null, "Stop the test? Every customer gets the live version again."));
  });
})();
