// A distribution's page: Pause and Resume through the public API (dm.api). Pausing asks first,
// since events that arrive meanwhile send nothing from this distribution.
"use strict";

(function () {
  const box = document.getElementById("distribution-actions");
  if (!box) return;
  const id = box.dataset.distribution;
  const status = document.getElementById("distribution-status");
  const message = document.getElementById("distribution-message");
  const pause = box.querySelector('[data-action="pause"]');
  const resume = box.querySelector('[data-action="resume"]');

  function showState(state) {
    status.textContent = state;
    status.className = "status status-" + state;
    pause.hidden = state !== "active";
    resume.hidden = state === "active";
  }

  async function act(action) {
    message.textContent = "";
    try {
      const saved = await window.dm.api("POST", `/distributions/${id}/${action}`);
      showState(saved.status);
      message.textContent = saved.status === "paused"
        ? "Paused: events that arrive now send nothing from it."
        : "Active again: new events send.";
      (saved.status === "paused" ? resume : pause).focus();
    } catch (error) {
      message.textContent = "Not done: " + error.message;
    }
  }

  pause.addEventListener("click", () => {
    const ok = window.confirm(`Pause "${box.dataset.name}"? Events that arrive while it is ` +
      "paused send nothing from it, until you resume it.");
    if (ok) act("pause");
  });
  resume.addEventListener("click", () => act("resume"));
})();
