// Small behaviour shared by every page (the page CSP allows no inline script).
"use strict";

// Forms marked data-confirm ask first (for example before disabling a user).
document.addEventListener("submit", (event) => {
  const message = event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) event.preventDefault();
});
