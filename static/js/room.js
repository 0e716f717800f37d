// The live incident room: new timeline entries and messages appear without a reload.
// After a dropped connection it reconnects and asks for everything after the last entry
// it has, so nothing is silently lost; every ping asks again, as a safety net.
(function () {
  "use strict";

  var room = document.getElementById("room");
  if (!room) return;
  var timeline = document.getElementById("timeline");
  var state = document.getElementById("room-state");
  var present = document.getElementById("present");
  var form = document.getElementById("room-form");
  var PING_MS = 20000;
  var socket = null;
  var attempt = 0;
  var pinger = null;
  var refreshWanted = false;

  function lastId() {
    var items = timeline.querySelectorAll("[data-entry-id]");
    return items.length ? Number(items[items.length - 1].dataset.entryId) : 0;
  }

  function setState(text, live) {
    state.textContent = text;
    state.classList.toggle("live", !!live);
  }

  function nearBottom() {
    return timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 80;
  }

  // Entries arrive from the socket and from our own posts: each is shown once, in order.
  function addEntry(html) {
    var holder = document.createElement("template");
    holder.innerHTML = html.trim();
    var entry = holder.content.firstElementChild;
    if (!entry || document.getElementById(entry.id)) return;
    var id = Number(entry.dataset.entryId);
    var stick = nearBottom();
    var later = Array.prototype.find.call(
      timeline.querySelectorAll("[data-entry-id]"),
      function (el) { return Number(el.dataset.entryId) > id; }
    );
    timeline.insertBefore(entry, later || null);
    if (window.Failsafe) window.Failsafe.localiseTimes(entry);
    if (stick) timeline.scrollTop = timeline.scrollHeight;
  }

  // Someone changed the severity, status or people: reload the response panel, unless
  // this person is typing in it (then once they leave it).
  function refreshResponse() {
    var panel = document.getElementById("response");
    if (panel && panel.contains(document.activeElement) && document.activeElement.value) {
      refreshWanted = true;
      return;
    }
    refreshWanted = false;
    document.body.dispatchEvent(new Event("room:refresh"));
  }
  document.addEventListener("focusout", function () {
    if (refreshWanted) setTimeout(refreshResponse, 0);
  });

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + room.dataset.socket);
    socket.onopen = function () {
      attempt = 0;
      setState("live", true);
      send({ type: "hello", after: lastId() });
      pinger = setInterval(function () { send({ type: "ping", after: lastId() }); }, PING_MS);
    };
    socket.onmessage = function (event) {
      var message = JSON.parse(event.data);
      if (message.type === "entry") {
        addEntry(message.html);
        if (message.refresh) refreshResponse();
      } else if (message.type === "presence") {
        present.textContent = message.people.length ? message.people.join(", ") : "—";
      } else if (message.type === "reload") {
        location.reload();
      }
    };
    socket.onclose = function (event) {
      clearInterval(pinger);
      if (event.code === 4403) {
        setState("not allowed", false);
        return;
      }
      attempt += 1;
      var wait = Math.min(10000, 500 * Math.pow(2, attempt - 1));
      setState("reconnecting…", false);
      setTimeout(connect, wait);
    };
  }

  if (form) {
    var text = form.querySelector("textarea");
    text.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        if (text.value.trim()) form.requestSubmit();
      }
    });
    form.addEventListener("htmx:afterRequest", function (event) {
      var xhr = event.detail.xhr;
      if (event.detail.successful) {
        addEntry(xhr.responseText);
        form.reset();
        timeline.scrollTop = timeline.scrollHeight;
      } else {
        setState(xhr.responseText || "message not sent", false);
      }
    });
  }

  timeline.scrollTop = timeline.scrollHeight;
  connect();
})();
