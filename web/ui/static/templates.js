// The templates list: "New template" through the public API
// (a refusal, such as a name already taken, shows at its field and keeps what was typed).
"use strict";

(function () {
  const form = document.getElementById("new-template-form");
  if (!form) return; // viewers start no templates
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    dm.clearProblem(form);
    const fields = new FormData(form);
    try {
      const created = await dm.api("POST", "/templates", {
        name: fields.get("name"),
        channel: fields.get("channel"),
        category: fields.get("category"),
      });
      const variant = created.variants[0];
      location.assign(
        "/templates/" + encodeURIComponent(created.id) + "/variants/" + encodeURIComponent(variant.id),
      );
    } catch (error) {
      if (!(error instanceof dm.ApiError)) throw error;
      dm.showProblem(form, error);
    }
  });
})();
