// HTMX swaps 409 and 422 answers like successes (base.html's htmx-config). Any other refusal or
// failure would change nothing on the page, so the click seems ignored: say what happened instead.
(function () {
  "use strict";

  var REASONS = {
    401: "Your session has ended: sign in again.",
    403: "You are not allowed to do that. Nothing was changed.",
    404: "That is no longer there: reload the page.",
    429: "Too many attempts: wait a moment and try again.",
  };

  function say(text) {
    var main = document.getElementById("main");
    if (!main) return;
    var list = main.querySelector(".messages");
    if (!list) {
      list = document.createElement("ul");
      list.className = "messages";
      main.prepend(list);
    }
    var item = document.createElement("li");
    item.className = "message message-error";
    item.setAttribute("role", "alert");
    item.textContent = text;
    list.replaceChildren(item);
  }

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var status = xhr.status;
    // A refusal the server explains (portal/errors.py) comes as plain text: show its own words.
    var own = /^text\/plain/.test(xhr.getResponseHeader("Content-Type") || "") && xhr.responseText;
    if (own) {
      say(own.slice(0, 500) + " Nothing was changed.");
      return;
    }
    say(REASONS[status] || "The server could not do that (" + status + "). Nothing was changed; try again.");
  });
  document.addEventListener("htmx:sendError", function () {
    say("Flightdeck could not be reached. Nothing was changed; check the connection and try again.");
  });
})();

// Behaviour that would otherwise be inline handlers, which the Content-Security-Policy forbids
// (portal/security.py): delegated from the document, so it also works in partials HTMX swaps in.
(function () {
  "use strict";

  // <input data-select-on-focus>: a read-only address or token selected whole when focused.
  document.addEventListener("focusin", function (event) {
    var target = event.target;
    if (target instanceof HTMLInputElement && target.hasAttribute("data-select-on-focus")) {
      target.select();
    }
  });

  // <button data-copy-from="id">: copies the value of the input with that id to the clipboard.
  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element && event.target.closest("[data-copy-from]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy-from"));
    if (source && navigator.clipboard) {
      navigator.clipboard.writeText(source.value);
    }
  });
})();

// <input type="checkbox" data-select-all="name">: ticks or clears every checkbox of that name in its table.
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!(box instanceof HTMLInputElement) || !box.hasAttribute("data-select-all")) return;
    var table = box.closest("table");
    var name = box.getAttribute("data-select-all");
    if (!table) return;
    table.querySelectorAll('input[type="checkbox"][name="' + name + '"]').forEach(function (other) {
      other.checked = box.checked;
    });
  });
})();

// The gates queue: the row whose gate is open in the review panel (#gate-review) is marked
// aria-current, also after the queue refreshes itself (gatesChanged) or the panel changes.
(function () {
  "use strict";
  function markOpenGate() {
    var queue = document.getElementById("gate-queue");
    if (!queue) return;
    var card = document.querySelector("#gate-review > .gate-card");
    var openId = card ? "queue-" + card.id : null;
    queue.querySelectorAll("tbody tr").forEach(function (row) {
      if (row.id === openId) {
        row.setAttribute("aria-current", "true");
      } else {
        row.removeAttribute("aria-current");
      }
    });
  }
  document.addEventListener("htmx:afterSettle", markOpenGate);
})();
