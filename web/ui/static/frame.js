// The shared frame of every page: the menu button of narrow screens.
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
})();
