// The deploy page: follow the deploy log over server-sent events, keep the newest line in view,
// show the outcome when the `end` event arrives. No inline script: the page's CSP forbids it.
(function () {
  "use strict";
  const log = document.getElementById("log");
  const outcome = document.getElementById("outcome");
  if (!log || !outcome) return;
  let after = 0;
  let ended = false;
  let source = null;

  function nearBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 48;
  }

  function append(text) {
    const stick = nearBottom();
    const line = document.createElement("span");
    line.className = text.startsWith("-----> ") ? "line step" : text.startsWith("!!!!! ") ? "line err" : "line";
    line.textContent = text + "\n";  // textContent: log output is never parsed as HTML
    log.appendChild(line);
    if (stick) log.scrollTop = log.scrollHeight;
  }

  function finish(deploy) {
    ended = true;
    source.close();
    const status = String(deploy.status || "finished");
    outcome.textContent = status.replace(/_/g, " ");
    outcome.dataset.status = status;
    outcome.className = "outcome badge s-" + status.replace(/_/g, "-");
    const panel = document.getElementById("deploy-status");
    if (panel && window.htmx) window.htmx.trigger(panel, "refresh");
  }

  function connect() {
    source = new EventSource(log.dataset.stream + "?after=" + after);
    source.addEventListener("line", function (event) {
      const id = Number(event.lastEventId);
      if (id && id <= after) return;  // already shown before a reconnect
      if (id) after = id;
      append(JSON.parse(event.data));
    });
    source.addEventListener("end", function (event) {
      finish(JSON.parse(event.data));
    });
    source.onerror = function () {
      // the stream closes after `end`; otherwise reconnect ourselves, from the last line we have
      source.close();
      if (!ended) window.setTimeout(connect, 1000);
    };
  }

  connect();
})();
