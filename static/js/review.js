// The review queue, keyboard first: C correct, X incorrect, E expected, N note,
// J next, K previous, S skip, Esc leaves a field. htmx swaps the item in place.
(function () {
  "use strict";

  function item() { return document.getElementById("review-item"); }

  function show(url) {
    if (!url) return;
    htmx.ajax("GET", url, { target: "#review-item", swap: "outerHTML" });
  }

  // Fields are found by data-key, and their ids are unique per output, so htmx never
  // carries focus from one output's field to the next one's.
  function control(key) { return item() && item().querySelector('[data-key="' + key + '"]'); }

  function press(key) {
    var button = control(key);
    if (button) button.click();
  }

  function focus(key) {
    var field = control(key);
    if (field) field.focus();
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || !item()) return;
    var typing = event.target.matches("input, textarea, select");
    if (typing) {
      if (event.key === "Escape") event.target.blur();
      // Typing an expected answer means the output was wrong: Enter says so.
      if (event.key === "Enter" && event.target.dataset.key === "expected") {
        event.preventDefault();
        press("incorrect");
      }
      return;
    }
    var actions = {
      c: function () { press("correct"); },
      x: function () { press("incorrect"); },
      e: function () { focus("expected"); },
      n: function () { focus("note"); },
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
