// wijkbrug operations dashboard: keeps the overview's figures fresh. Every page works
// without this script; it only replaces the figures in #live every few seconds.
(function () {
  "use strict";

  var live = document.getElementById("live");
  var status = document.getElementById("live-status");
  var toggle = document.getElementById("live-toggle");
  if (!live || !status) {
    return;
  }
  var every = (parseInt(status.getAttribute("data-refresh"), 10) || 5) * 1000;
  var paused = false;
  var timer = null;
  var failures = 0;

  function clock(d) {
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return two(d.getUTCHours()) + ":" + two(d.getUTCMinutes()) + ":" + two(d.getUTCSeconds());
  }

  function say(text, on) {
    status.textContent = text;
    status.className = on ? "on" : "off";
  }

  function schedule() {
    clearTimeout(timer);
    if (!paused) {
      timer = setTimeout(refresh, every);
    }
  }

  function refresh() {
    if (document.hidden) {
      schedule();
      return;
    }
    live.classList.add("loading");
    fetch(live.getAttribute("data-src"), {
      credentials: "same-origin",
      headers: { "Accept": "text/html" },
      cache: "no-store"
    }).then(function (res) {
      if (res.status === 401) {
        paused = true;
        say("Signed out: reload the page to sign in again.", false);
        if (toggle) { toggle.hidden = true; }
        return null;
      }
      if (!res.ok) {
        throw new Error("HTTP " + res.status);
      }
      return res.text();
    }).then(function (html) {
      if (html === null) {
        return;
      }
      live.innerHTML = html;
      failures = 0;
      say("Live · updated " + clock(new Date()) + " UTC", true);
    }).catch(function () {
      failures += 1;
      say("Could not refresh (" + failures + "×); trying again.", false);
    }).then(function () {
      live.classList.remove("loading");
      schedule();
    });
  }

  if (toggle) {
    toggle.hidden = false;
    toggle.addEventListener("click", function () {
      paused = !paused;
      toggle.textContent = paused ? "Resume updates" : "Pause updates";
      if (paused) {
        clearTimeout(timer);
        say("Paused", false);
      } else {
        refresh();
      }
    });
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && !paused) {
      refresh();
    }
  });

  say("Live · every " + every / 1000 + " s", true);
  schedule();
})();
