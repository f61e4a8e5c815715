// The customer page's action panels: focus moves into a panel when it opens, Escape closes it.
// No inline script (the CSP forbids it): this file is loaded by every page.
(function () {
  "use strict";

  function firstField(panel) {
    return panel.querySelector(
      ".field.invalid input, .field.invalid select, .field.invalid textarea, " +
      "input:not([type=hidden]), select, textarea, button.primary"
    );
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    var panel = document.getElementById("action-panel");
    if (!panel || !panel.classList.contains("panel")) return;
    if (event.detail.target !== panel && !panel.contains(event.detail.elt)) return;
    var field = firstField(panel);
    if (field) field.focus({ preventScroll: false });
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var panel = document.getElementById("action-panel");
    if (!panel || !panel.classList.contains("panel")) return;
    var close = panel.querySelector("a.close");
    if (close) close.click();
  });
})();
