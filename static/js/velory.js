// Velory's only script: small conveniences; every page works without it.
//
// Live regions (data-live-url, data-live-every)
// ---------------------------------------------
// An element such as
//     <div data-live-url="/me/live/" data-live-every="30" data-live-announce="Your Details were updated.">…</div>
// is refreshed in place: every data-live-every seconds (at least 5) the script fetches
// data-live-url with the page's own session (same-origin credentials) and the header
// `X-Requested-With: XMLHttpRequest`, and replaces the element's innerHTML with the answer
// when, parsed, it differs from what was last shown. The server renders the full page and
// the fragment from the same partial ({% include %}), so a page without JavaScript shows the
// same markup and only misses the refresh.
//   - Hidden tab: no requests; on coming back the region is fetched at once.
//   - Focus and scroll stay put: the focused element is found again in the new markup (by
//     id, else by its href/name and text), <details> keep their open state (by id, else by
//     position), and the window's scroll offset is restored.
//   - Only a change is announced, politely: one visually hidden aria-live="polite" status
//     per page says data-live-announce (default "This section was updated.").
//   - Errors back off (doubling, up to 5 minutes); a redirect (signed out) or a 4xx stops
//     the region. The fragment view must be as tenant-safe as the page (404 for another
//     person's object) and classified in tests/security/test_permission_matrix.py.
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

  // --- Live regions (see the top of this file) ---------------------------------------------
  var MIN_SECONDS = 5, MAX_BACKOFF_SECONDS = 300;
  var announcer = null;

  function announce(text) {
    if (!announcer) {
      announcer = document.createElement("div");
      announcer.className = "visually-hidden";
      announcer.setAttribute("role", "status");
      announcer.setAttribute("aria-live", "polite");
      announcer.setAttribute("data-live-announcer", "");
      document.body.appendChild(announcer);
    }
    // Emptied first, so that the same sentence twice is read twice.
    announcer.textContent = "";
    window.setTimeout(function () { announcer.textContent = text; }, 50);
  }

  function normalised(html) {
    var t = document.createElement("template");
    t.innerHTML = html;
    return t.innerHTML;
  }

  // How to find the focused element again in the new markup.
  function focusKey(region) {
    var el = document.activeElement;
    if (!el || el === document.body || !region.contains(el)) return null;
    if (el.id) return { id: el.id };
    return {
      tag: el.tagName,
      href: el.getAttribute("href"),
      name: el.getAttribute("name"),
      text: (el.textContent || "").trim()
    };
  }

  function refocus(region, key) {
    if (!key) return;
    var found = null;
    if (key.id) {
      found = document.getElementById(key.id);
    } else {
      var candidates = region.querySelectorAll(key.tag);
      for (var i = 0; i < candidates.length && !found; i++) {
        var c = candidates[i];
        if (c.getAttribute("href") === key.href && c.getAttribute("name") === key.name &&
            (c.textContent || "").trim() === key.text) found = c;
      }
    }
    if (found && region.contains(found)) found.focus({ preventScroll: true });
  }

  function openDetails(region) {
    var open = { ids: {}, positions: {} };
    region.querySelectorAll("details").forEach(function (d, i) {
      if (!d.open) return;
      if (d.id) open.ids[d.id] = true; else open.positions[i] = true;
    });
    return open;
  }

  function restoreDetails(region, open) {
    region.querySelectorAll("details").forEach(function (d, i) {
      if (d.id ? open.ids[d.id] : open.positions[i]) d.open = true;
    });
  }

  function LiveRegion(el) {
    this.el = el;
    this.url = el.getAttribute("data-live-url");
    this.every = Math.max(MIN_SECONDS, parseFloat(el.getAttribute("data-live-every")) || 30);
    this.delay = this.every;
    this.shown = normalised(el.innerHTML);
    this.timer = null;
    this.busy = false;
    this.stopped = false;
  }

  LiveRegion.prototype.schedule = function (seconds) {
    var self = this;
    window.clearTimeout(this.timer);
    if (this.stopped || document.visibilityState === "hidden") return;
    this.timer = window.setTimeout(function () { self.refresh(); }, seconds * 1000);
  };

  LiveRegion.prototype.refresh = function () {
    var self = this;
    if (this.busy || this.stopped || document.visibilityState === "hidden") return;
    this.busy = true;
    fetch(this.url, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { "X-Requested-With": "XMLHttpRequest", "Accept": "text/html" }
    }).then(function (response) {
      if (response.redirected || (response.status >= 400 && response.status < 500)) {
        self.stopped = true;  // signed out, or the object is gone: the page says so on reload
        return null;
      }
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.text();
    }).then(function (html) {
      self.busy = false;
      if (html === null) return;
      self.delay = self.every;
      self.apply(html);
      self.schedule(self.every);
    }).catch(function () {
      self.busy = false;
      self.delay = Math.min(self.delay * 2, MAX_BACKOFF_SECONDS);
      self.schedule(self.delay);
    });
  };

  LiveRegion.prototype.apply = function (html) {
    var next = normalised(html);
    if (next === this.shown) return;
    var el = this.el;
    var focus = focusKey(el), open = openDetails(el);
    var x = window.scrollX, y = window.scrollY;
    el.innerHTML = next;
    this.shown = next;
    restoreDetails(el, open);
    refocus(el, focus);
    window.scrollTo(x, y);
    el.dispatchEvent(new CustomEvent("velory:live-updated", { bubbles: true }));
    announce(
      el.getAttribute("data-live-announce") ||
        document.body.getAttribute("data-live-updated") ||
        "This section was updated."
    );
  };

  var regions = [];
  function start() {
    if (!window.fetch || !document.createElement("template").content) return;
    document.querySelectorAll("[data-live-url]").forEach(function (el) {
      var region = new LiveRegion(el);
      regions.push(region);
      region.schedule(region.every);
    });
    document.addEventListener("visibilitychange", function () {
      regions.forEach(function (r) {
        if (document.visibilityState === "hidden") window.clearTimeout(r.timer);
        else r.refresh();
      });
    });
  }
  // For tests and for the lead's dashboards: refresh every live region now.
  window.veloryLive = { refreshAll: function () { regions.forEach(function (r) { r.refresh(); }); } };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
