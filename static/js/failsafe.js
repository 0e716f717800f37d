// Failsafe's own small script. No inline script anywhere: the CSP forbids it.
(function () {
  "use strict";

  var dateTime = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
  var axisTime = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  var timeOnly = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });

  // Times arrive in UTC; show them in the viewer's own zone, keeping UTC in the tooltip.
  function localiseTimes(root) {
    root.querySelectorAll("time[datetime]:not([data-localised])").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) return;
      el.title = el.textContent.trim();
      el.textContent = (el.dataset.style === "time" ? timeOnly : dateTime).format(when);
      el.dataset.localised = "1";
    });
    // Chart axes (SVG text) too, as hours and minutes.
    root.querySelectorAll("text[data-utc]:not([data-localised])").forEach(function (el) {
      var when = new Date(el.getAttribute("data-utc"));
      if (isNaN(when)) return;
      el.textContent = axisTime.format(when);
      el.setAttribute("data-localised", "1");
    });
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    root.querySelectorAll("[data-local-zone]").forEach(function (el) {
      el.textContent = zone || "your time zone";
    });
    // Forms with local date-times say which zone they were typed in.
    root.querySelectorAll("input[data-browser-zone]").forEach(function (el) {
      if (zone) el.value = zone;
    });
  }

  window.Failsafe = { localiseTimes: localiseTimes };

  document.addEventListener("DOMContentLoaded", function () { localiseTimes(document); });
  document.addEventListener("htmx:afterSettle", function (event) { localiseTimes(event.target); });
})();
