// The logs view: a live tail over the app's log stream (server-sent events), with the page's text and
// level filters applied to new lines and their level highlighted. No inline script (CSP).
(function () {
  "use strict";
  const view = document.getElementById("logview");
  const toggle = document.getElementById("live-toggle");
  const state = document.getElementById("live-state");
  if (!view || !toggle) return;
  const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 };
  const ALIASES = { trace: "debug", debug: "debug", info: "info", notice: "info", warn: "warn", warning: "warn",
    err: "error", error: "error", fatal: "error", critical: "error", crit: "error", panic: "error" };
  const NUMERIC = { 10: "debug", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "error" };
  const WORD = /(?:^|[^A-Za-z])(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|FATAL|CRITICAL|CRIT|PANIC)(?![A-Za-z])/;
  const LOGFMT = /\b(?:level|lvl|severity)="?([A-Za-z]+)/i;
  const LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (stdout|stderr) ([\s\S]*)$/;
  const MAX_LINES = 5000;
  const needle = (view.dataset.q || "").toLowerCase();
  const minimum = LEVELS[view.dataset.level] || 0;
  let source = null;
  let lastTs = "";
  view.querySelectorAll(".ts").forEach(function (el) { if (el.textContent > lastTs) lastTs = el.textContent; });

  // the same rules as observability/logsearch.py parse_level (JSON, logfmt, a level word near the start)
  function parseLevel(text) {
    const stripped = text.replace(/^\s+/, "");
    if (stripped.charAt(0) === "{") {
      try {
        const doc = JSON.parse(stripped);
        const keys = ["level", "severity", "levelname", "lvl", "log.level", "loglevel"];
        for (let i = 0; i < keys.length; i++) {
          const v = doc[keys[i]];
          if (typeof v === "number") return NUMERIC[Math.min(v - (v % 10), 60)] || null;
          if (typeof v === "string" && ALIASES[v.toLowerCase()]) return ALIASES[v.toLowerCase()];
        }
        return null;
      } catch (e) { /* not JSON: fall through */ }
    }
    const head = text.slice(0, 120);
    let m = LOGFMT.exec(head);
    if (m && ALIASES[m[1].toLowerCase()]) return ALIASES[m[1].toLowerCase()];
    m = WORD.exec(head);
    return m ? ALIASES[m[1].toLowerCase()] : null;
  }

  function nearBottom() { return view.scrollHeight - view.scrollTop - view.clientHeight < 48; }

  function span(cls, text) {
    const el = document.createElement("span");
    el.className = cls;
    el.textContent = text;  // never parsed as HTML
    return el;
  }

  function append(raw) {
    const m = LINE.exec(raw);
    if (!m) return;
    const ts = m[1], stream = m[2], text = m[3];
    if (ts <= lastTs) return;  // already on the page (the stream starts with a tail)
    lastTs = ts;
    if (needle && text.toLowerCase().indexOf(needle) < 0) return;
    const level = parseLevel(text);
    if (minimum && (LEVELS[level] || 0) < minimum) return;
    const stick = nearBottom();
    const line = span("line live lvl-" + (level || "none"), "");
    line.appendChild(span("ts", ts));
    line.appendChild(document.createTextNode(" "));
    if (stream === "stderr") { line.appendChild(span("stream", "stderr")); line.appendChild(document.createTextNode(" ")); }
    if (level && text.slice(0, 12).toLowerCase().indexOf(level.slice(0, 3)) < 0) { line.appendChild(span("lvl", level.toUpperCase())); line.appendChild(document.createTextNode(" ")); }
    line.appendChild(document.createTextNode(text + "\n"));
    view.appendChild(line);
    while (view.childElementCount > MAX_LINES) view.removeChild(view.firstElementChild);
    const empty = document.getElementById("no-lines");
    if (empty) empty.remove();
    if (stick) view.scrollTop = view.scrollHeight;
  }

  function say(text) { if (state) state.textContent = text; }

  function connect() {
    source = new EventSource(view.dataset.stream);
    source.onopen = function () { say("following…"); };
    source.onmessage = function (event) { append(JSON.parse(event.data)); };
    source.onerror = function () {
      // the stream ends when no instance runs: try again a little later, while the toggle is on
      source.close();
      source = null;
      say("no running instance: retrying");
      if (toggle.checked) window.setTimeout(function () { if (toggle.checked && !source) connect(); }, 3000);
    };
  }

  toggle.addEventListener("change", function () {
    if (toggle.checked) {
      view.scrollTop = view.scrollHeight;
      connect();
    } else {
      if (source) source.close();
      source = null;
      say("");
    }
  });
  view.scrollTop = view.scrollHeight;
})();
