// officepulse dashboard: small helpers around htmx. Durations are kept fresh in the
// browser so the server pushes only real changes, never a clock tick.
(function () {
  "use strict";

  function timeZone() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    } catch (e) {
      return "UTC";
    }
  }

  function duration(ms) {
    var minutes = Math.floor(Math.max(0, ms) / 60000);
    if (minutes < 1) return "less than a minute";
    if (minutes < 60) return minutes + " min";
    var hours = Math.floor(minutes / 60);
    var rest = minutes % 60;
    return hours + " h" + (rest ? " " + rest + " min" : "");
  }

  // Python's views.hm: "2 h 05 min", "40 min", "35 s".
  function hm(ms) {
    var seconds = Math.floor(Math.max(0, ms) / 1000);
    if (seconds < 60) return seconds + " s";
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + " min";
    var rest = minutes % 60;
    return Math.floor(minutes / 60) + " h " + (rest < 10 ? "0" : "") + rest + " min";
  }

  // The office: a card's time today counts on while its person is active (since
  // data-counting), as core/office.py's Today.at does, on the server's clock (data-now,
  // when it was rendered, plus the time since this browser got it: a wrong clock here
  // does not count).
  function today(el, now) {
    if (!el.dataset.seen) el.dataset.seen = String(now);
    var serverNow = Number(el.dataset.now) + (now - Number(el.dataset.seen));
    var ms = Number(el.dataset.today), at = Number(el.dataset.at);
    var end = Number(el.dataset.dayEnd);
    if (!el.hasAttribute("data-counting")) return serverNow >= end ? 0 : ms;
    var from = Math.max(at, Number(el.dataset.counting));
    if (serverNow >= end) return serverNow - Math.max(end, from);
    return ms + Math.max(0, serverNow - from);
  }

  // The office's cards stay in their group's order (by data-sort, the name) as the hub
  // puts a card that changed group at the end of its new group: only that card moves.
  function keepInOrder() {
    document.querySelectorAll(".office-groups .cards").forEach(function (list) {
      var cards = list.children;
      for (var i = 1; i < cards.length; i++) {
        var card = cards[i];
        if (card.dataset.sort >= cards[i - 1].dataset.sort) continue;
        var j = 0;
        while (cards[j].dataset.sort <= card.dataset.sort) j++;
        list.insertBefore(card, cards[j]);
      }
    });
  }

  function refresh(root) {
    var now = Date.now();
    (root || document).querySelectorAll("time[data-since]").forEach(function (el) {
      el.textContent = duration(now - Number(el.dataset.since));
    });
    (root || document).querySelectorAll(".today-time[data-today]").forEach(function (el) {
      el.textContent = hm(today(el, now));
    });
    // "focused for …" shows once the stretch is long enough (core/focus.py).
    (root || document).querySelectorAll(".glance[data-from]").forEach(function (el) {
      el.hidden = now < Number(el.dataset.from);
    });
    (root || document).querySelectorAll("time[data-clock]").forEach(function (el) {
      var d = new Date(Number(el.dataset.clock));
      el.textContent = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    });
    // Dates in lists (the audit log, the agents page): the page says UTC; the viewer
    // reads them on their own clock, and the column says which.
    (root || document).querySelectorAll("time[data-when]").forEach(function (el) {
      el.textContent = when(Number(el.dataset.when));
    });
    (root || document).querySelectorAll("[data-viewer-zone]").forEach(function (el) {
      el.textContent = "(" + timeZone() + ")";
    });
  }

  function when(ms) {
    var d = new Date(ms);
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return d.getFullYear() + "-" + two(d.getMonth() + 1) + "-" + two(d.getDate()) + " " +
      two(d.getHours()) + ":" + two(d.getMinutes());
  }

  function setLive(state, text) {
    var el = document.getElementById("live");
    if (el) {
      el.dataset.state = state;
      el.textContent = text;
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    refresh();
    setInterval(refresh, 15000);
  });
  document.addEventListener("htmx:wsOpen", function () { setLive("open", "live"); });
  document.addEventListener("htmx:wsClose", function () { setLive("closed", "reconnecting…"); });
  document.addEventListener("htmx:wsAfterMessage", function () { keepInOrder(); refresh(); });
  document.addEventListener("htmx:afterSwap", function (e) { refresh(e.target); });
  // Report pickers carry the viewer's zone; fill it where the page did not know it.
  function fillZone(root) {
    (root || document).querySelectorAll("input[data-viewer-tz]").forEach(function (el) {
      if (!el.value) el.value = timeZone();
    });
  }
  document.addEventListener("DOMContentLoaded", function () { fillZone(); });
  document.addEventListener("htmx:afterSwap", function (e) { fillZone(e.target); });

  // The Agents page: a refused change says why (the server answers {"error": ...}),
  // above the panel rather than in place of it as the reports' 400s are (base.html).
  document.addEventListener("htmx:beforeSwap", function (e) {
    if (e.detail.xhr.status === 400 && e.detail.target.closest("#admin")) {
      e.detail.shouldSwap = false;
      e.detail.isError = true;
    }
  });
  document.addEventListener("htmx:responseError", function (e) {
    var box = document.getElementById("admin-error");
    if (!box) return;
    var text = e.detail.xhr.responseText;
    try { text = JSON.parse(text).error; } catch (ignored) { /* not JSON: show as is */ }
    box.textContent = text;
    box.hidden = false;
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    var box = document.getElementById("admin-error");
    if (box && e.detail.successful) box.hidden = true;
  });

  // A form that loses something (removing a person) asks first; htmx's buttons say
  // hx-confirm, a plain form says data-confirm.
  document.addEventListener("submit", function (e) {
    var form = e.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) e.preventDefault();
  });

  window.officepulse = { timeZone: timeZone, duration: duration, hm: hm, refresh: refresh };
})();
