// The shared frame of every page: the menu button of narrow screens, and server-rendered times
// shown in the one date format (dm.when) in the viewer's time zone.
"use strict";

(function () {
  // ---- the menu ------------------------------------------------------------------------
  // Below 1100 px the eleven nav entries and the account do not fit beside the brand, so they
  // fold behind a disclosure button (aria-expanded says whether the panel is open; the CSS
  // shows the panel from the attribute, so screen readers and sighted users see one state).
  const toggle = document.getElementById("menu-toggle");
  const menu = document.getElementById("top-menu");
  if (toggle && menu) {
    const setOpen = (open) => toggle.setAttribute("aria-expanded", open ? "true" : "false");
    const isOpen = () => toggle.getAttribute("aria-expanded") === "true";
    toggle.addEventListener("click", () => setOpen(!isOpen()));
    // Esc closes an open menu and gives the focus back to its button, as disclosures do.
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && isOpen()) {
        setOpen(false);
        toggle.focus();
      }
    });
    // A click outside the header closes it, so it never covers the page one tapped on.
    document.addEventListener("click", (event) => {
      if (isOpen() && !event.target.closest(".top")) setOpen(false);
    });
  }

  // ---- times ---------------------------------------------------------------------------
  // Pages render <time datetime="…Z" data-when> with the UTC instant as a fallback; here it
  // becomes the viewer's local time with its relative hint, the same text the scripts show.
  // Scripts mark the times they add the same way. Every half minute the hints are redone, so
  // "1 min ago" does not stay on a page left open for an hour.
  function localTimes() {
    for (const node of document.querySelectorAll("time[data-when]")) {
      const iso = node.getAttribute("datetime");
      if (iso) {
        const text = window.dm.when(iso);
        if (node.textContent !== text) node.textContent = text;
        node.title = iso;
      }
    }
  }
  localTimes();
  setInterval(localTimes, 30000);
})();
