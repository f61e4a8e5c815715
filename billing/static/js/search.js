// The search box from the keyboard: "/" focuses it (or opens the search page where there is
// none), the arrow keys move through the results, Enter opens the one in focus (it is a link).
// A static file, no inline script: the CSP forbids those.
(function () {
  "use strict";

  function typing(element) {
    return element && (element.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(element.tagName));
  }

  function searchBox() {
    return document.querySelector("form[role=search] input[type=search]");
  }

  function results() {
    return Array.prototype.slice.call(document.querySelectorAll("#results a.result"));
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var box = searchBox();
    if (event.key === "/" && !typing(document.activeElement)) {
      event.preventDefault();
      if (box) {
        box.focus();
        box.select();
      } else {
        var brand = document.querySelector("[data-search-url]");
        if (brand) window.location.assign(brand.getAttribute("data-search-url"));
      }
      return;
    }
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    var links = results();
    if (!box || !links.length) return;
    var down = event.key === "ArrowDown";
    if (document.activeElement === box) {
      if (down) {
        event.preventDefault();
        links[0].focus();
      }
      return;
    }
    var at = links.indexOf(document.activeElement);
    if (at === -1) return;
    event.preventDefault();
    var next = at + (down ? 1 : -1);
    if (next < 0) box.focus();
    else links[Math.min(next, links.length - 1)].focus();
  });
})();
