// The review queue, keyboard first: C correct, X incorrect, E expected, N note,
// J next, K previous, S skip, Esc leaves a field. htmx swaps the item in place.
(function () {
  "use strict";

  function item() { return document.getElementById("review-item"); }

  function show(url) {
    if (!url) return;
    htmx.ajax("GET", url, { target: "#review-item", swap: "outerHTML" });
  }

  function press(id) {
    var button = document.getElementById(id);
    if (button) button.click();
  }

  function focus(id) {
    var field = document.getElementById(id);
    if (field) field.focus();
  }

  // htmx keeps focus on a field with the same id across a swap; a new output should start
  // with the shortcuts live, not with the last output's field still focused.
  document.addEventListener("htmx:afterSettle", function (event) {
    var active = document.activeElement;
    if (item() && item().contains(active) && active.matches("input, textarea")) active.blur();
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || !item()) return;
    var typing = event.target.matches("input, textarea, select");
    if (typing) {
      if (event.key === "Escape") event.target.blur();
      // Typing an expected answer means the output was wrong: Enter says so.
      if (event.key === "Enter" && event.target.id === "verdict-expected") {
        event.preventDefault();
        press("verdict-incorrect");
      }
      return;
    }
    var actions = {
      c: function () { press("verdict-correct"); },
      x: function () { press("verdict-incorrect"); },
      e: function () { focus("verdict-expected"); },
      n: function () { focus("verdict-note"); },
      j: function () { show(item().dataset.next); },
      s: function () { show(item().dataset.next); },
      k: function () { show(item().dataset.previous); },
    };
    var act = actions[event.key.toLowerCase()];
    if (act) {
      event.preventDefault();
      act();
    }
  });
})();
