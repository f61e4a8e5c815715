// The search box from the keyboard: "/" focuses it (or opens the search page where there is
// none), the arrow keys move through the results, Enter opens the one in focus (it is a link);
// and as one types, when the box asks for results (see SHORTEST).
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

  // As one types, the box asks for results from the third character on (or when emptied):
  // one or two characters match too much to be worth a request, and no Stripe id, email or
  // card number is that short. Enter still searches whatever is typed.
  var SHORTEST = 3;
  document.addEventListener("input", function (event) {
    var box = searchBox();
    if (event.target !== box) return;
    var length = box.value.trim().length;
    if (length === 0 || length >= SHORTEST) box.dispatchEvent(new CustomEvent("query"));
  });

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
