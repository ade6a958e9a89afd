// Velory's only script: small conveniences; every page works without it.
(function () {
  "use strict";
  // A form submits once: a double click must not send it twice (the server refuses a second
  // identical change anyway; this just spares the user a confusing message).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.submitted === "1") { event.preventDefault(); return; }
    form.dataset.submitted = "1";
    var buttons = form.querySelectorAll("button[type=submit], input[type=submit]");
    buttons.forEach(function (b) { b.setAttribute("aria-disabled", "true"); });
  });
  // Coming back with the browser's Back button shows a live form again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-submitted]").forEach(function (form) {
      delete form.dataset.submitted;
      form.querySelectorAll("[aria-disabled]").forEach(function (b) { b.removeAttribute("aria-disabled"); });
    });
  });
  // The user menu closes on Escape or a click elsewhere.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details[open]").forEach(function (d) {
      d.removeAttribute("open");
      var s = d.querySelector("summary"); if (s) s.focus();
    });
  });
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.user-menu[open]").forEach(function (d) {
      if (!d.contains(event.target)) d.removeAttribute("open");
    });
  });
  // Buttons that ask before doing something hard to undo.
  document.addEventListener("click", function (event) {
    var el = event.target.closest("[data-confirm]");
    if (el && !window.confirm(el.getAttribute("data-confirm"))) event.preventDefault();
  });
})();
