// Copy buttons: `window.dmCopy(button, text)` puts text on the clipboard and says so on the
// button for a moment (a live region tells screen readers). Used next to callback URLs and
// secrets shown once.
(function () {
  "use strict";
  async function write(text) {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return;
    }
    // Plain http on another host has no Clipboard API: fall back to a selected textarea.
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }

  window.dmCopy = async function (button, text) {
    const label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    try {
      await write(text);
      button.textContent = "Copied";
    } catch (_) {
      button.textContent = "Select and copy by hand";
    }
    setTimeout(() => (button.textContent = label), 2000);
  };
})();
