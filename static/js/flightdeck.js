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

// After an HTMX swap the control that had focus is often replaced, and focus falls back to <body>:
// a keyboard user would start again from the top of the page. Put it back on the same control in the
// new content when there is one (the same id, or the same kind, name and words), else on the region
// that changed, so that the next Tab continues from there.
(function () {
  "use strict";

  var lost = null;

  function described(element, target) {
    return {
      id: element.id,
      tag: element.tagName,
      name: element.getAttribute("name"),
      text: element.textContent.trim(),
      // The region by id when it has one (an outerHTML swap replaces it); else its parent, which stays.
      regionId: target.id,
      regionParent: target.parentElement,
    };
  }

  function sameControl(candidate, gone) {
    return (
      candidate.tagName === gone.tag &&
      candidate.getAttribute("name") === gone.name &&
      candidate.textContent.trim() === gone.text
    );
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var active = document.activeElement;
    var target = event.detail.target;
    lost = active && active !== document.body && target && target.contains(active) ? described(active, target) : null;
  });

  document.addEventListener("htmx:afterSettle", function () {
    var gone = lost;
    lost = null;
    var active = document.activeElement;
    if (!gone || (active && active !== document.body && document.contains(active))) return;
    var region = (gone.regionId && document.getElementById(gone.regionId)) || gone.regionParent;
    if (!region || !document.contains(region)) return;
    var control =
      (gone.id && document.getElementById(gone.id)) ||
      Array.prototype.find.call(region.querySelectorAll(gone.tag), function (candidate) {
        return sameControl(candidate, gone);
      });
    if (!control) {
      control = region;
      if (!region.hasAttribute("tabindex")) region.setAttribute("tabindex", "-1");
    }
    control.focus({ preventScroll: true });
  });
})();
