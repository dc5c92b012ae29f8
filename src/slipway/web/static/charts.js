// Charts of the dashboard, drawn with the vendored uPlot (static/vendor). No inline script: the CSP
// forbids it, so pages describe their charts with data attributes and this file draws them.
//
//   <section class="chart-panel" data-src="/apps/x/metrics.json" data-range="1h">
//     <button data-range="6h">…  (the range selector)
//     <figure class="chart" data-metrics="cpu" data-unit="percent"><div class="plot"></div></figure>
//   </section>
//   <tr data-spark-src="/apps/x/metrics.json?range=6h"><span data-spark="cpu" data-unit="percent"></span>…
//
// The JSON is the series format of the metrics API: {ts: [iso…], step, from, to,
// metrics: {name: {avg: […], max: […]}}}. Short ranges refresh themselves every 10 s.
(function () {
  "use strict";
  const LIVE = { "1h": true, "6h": true };
  const REFRESH_MS = 10000;
  const COLORS = ["#2457c5", "#067647", "#b54708", "#7a5af8", "#c11574"];

  function bytes(value) {
    if (value === null || value === undefined || isNaN(value)) return "–";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let v = Math.abs(value), i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (value < 0 ? "-" : "") + (v >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(1)) + " " + units[i];
  }

  const FORMAT = {
    percent: function (v) { return v === null || v === undefined ? "–" : v.toFixed(v < 10 ? 1 : 0) + " %"; },
    bytes: bytes,
    ms: function (v) { return v === null || v === undefined ? "–" : v.toFixed(v < 10 ? 1 : 0) + " ms"; },
    number: function (v) { return v === null || v === undefined ? "–" : String(Math.round(v * 100) / 100); },
  };

  function columns(json, metrics) {
    const xs = (json.ts || []).map(function (t) { return Date.parse(t) / 1000; });
    const data = [xs];
    metrics.forEach(function (m) {
      const series = (json.metrics || {})[m];
      data.push(series ? series.avg.slice() : xs.map(function () { return null; }));
    });
    return data;
  }

  function points(data) {
    let n = 0;
    for (let s = 1; s < data.length; s++) {
      for (let i = 0; i < data[s].length; i++) if (data[s][i] !== null && data[s][i] !== undefined) n++;
    }
    return n;
  }

  function latest(values) {
    for (let i = (values || []).length - 1; i >= 0; i--) {
      if (values[i] !== null && values[i] !== undefined && !isNaN(values[i])) return values[i];
    }
    return null;
  }

  function few(values) {
    let n = 0;
    for (let i = 0; i < values.length; i++) if (values[i] !== null && values[i] !== undefined && ++n > 60) return false;
    return true;
  }

  function window_(json) {
    return [Date.parse(json.from) / 1000, Date.parse(json.to) / 1000];
  }

  // ---- full charts -----------------------------------------------------------------------------

  function makeChart(figure, json) {
    const plot = figure.querySelector(".plot") || figure;
    const metrics = figure.dataset.metrics.split(",");
    const labels = (figure.dataset.labels || figure.dataset.metrics).split(",");
    const fmt = FORMAT[figure.dataset.unit] || FORMAT.number;
    const state = { win: window_(json) };
    // the legend with the cursor off the chart shows the latest sample (uPlot would print "--")
    const series = [{
      label: "Time",
      value: function (u, v) {
        const t = v === null || v === undefined ? latest(u.data[0]) : v;
        return t === null ? "no data" : new Date(t * 1000).toLocaleTimeString();
      },
    }];
    metrics.forEach(function (m, i) {
      series.push({
        label: labels[i] || m, stroke: COLORS[i % COLORS.length], width: 1.5,
        fill: i === 0 && metrics.length === 1 ? COLORS[0] + "1a" : undefined,
        value: function (u, v, si) {
          const shown = v === null || v === undefined ? latest(u.data[si]) : v;
          return shown === null ? "no data" : fmt(shown);
        },
        spanGaps: false,
        // a fresh app has seconds of data in a long window: draw its few samples as dots
        points: { size: 5, show: function (u, si) { return few(u.data[si]); } },
      });
    });
    const opts = {
      width: Math.max(plot.clientWidth, 200), height: Number(figure.dataset.height || 180),
      series: series,
      scales: {
        x: { time: true, range: function () { return state.win; } },
        y: {
          range: function (u, min, max) {
            const top = figure.dataset.unit === "percent" ? Math.max(max || 0, 10) : Math.max(max || 0, 1);
            return [0, top * 1.1];
          },
        },
      },
      axes: [
        { stroke: "#667085", grid: { stroke: "#eef0f3" }, ticks: { stroke: "#e3e6eb" } },
        { stroke: "#667085", grid: { stroke: "#eef0f3" }, ticks: { stroke: "#e3e6eb" }, size: 70,
          values: function (u, vals) { return vals.map(fmt); } },
      ],
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
    };
    const data = columns(json, metrics);
    const chart = new window.uPlot(opts, data, plot);
    chart._state = state;
    figure.dataset.points = String(points(data));
    return chart;
  }

  function updateChart(figure, chart, json) {
    const data = columns(json, figure.dataset.metrics.split(","));
    chart._state.win = window_(json);
    chart.setData(data, true);
    if (chart.cursor.idx === null || chart.cursor.idx === undefined) chart.setLegend({ idx: null });
    figure.dataset.points = String(points(data));
  }

  function Panel(panel) {
    this.panel = panel;
    this.range = panel.dataset.range || "1h";
    this.charts = new Map();
    this.timer = null;
    this.seq = 0;
    const self = this;
    panel.querySelectorAll("[data-range]").forEach(function (button) {
      if (button === panel) return;
      button.addEventListener("click", function () { self.select(button.dataset.range); });
    });
    if (window.ResizeObserver) {
      new ResizeObserver(function () { self.resize(); }).observe(panel);
    }
    this.load();
  }

  Panel.prototype.select = function (range) {
    this.range = range;
    this.panel.dataset.range = range;
    this.panel.querySelectorAll("button[data-range]").forEach(function (b) {
      const on = b.dataset.range === range;
      b.classList.toggle("on", on);
      b.setAttribute("aria-pressed", on ? "true" : "false");
    });
    this.load();
  };

  Panel.prototype.schedule = function () {
    const self = this;
    window.clearTimeout(this.timer);
    if (LIVE[this.range]) this.timer = window.setTimeout(function () { self.load(); }, REFRESH_MS);
  };

  Panel.prototype.load = function () {
    const self = this;
    const seq = ++this.seq;
    const src = this.panel.dataset.src;
    const url = src + (src.indexOf("?") < 0 ? "?" : "&") + "range=" + encodeURIComponent(this.range);
    this.panel.classList.add("loading");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (r.status === 401 || r.redirected) { window.location.reload(); throw new Error("session ended"); }
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (json) {
        if (seq !== self.seq) return;  // a newer range was asked for meanwhile
        self.draw(json);
      })
      .catch(function (err) { self.note("Could not load the chart data (" + err.message + ")."); })
      .finally(function () {
        if (seq === self.seq) { self.panel.classList.remove("loading"); self.schedule(); }
      });
  };

  Panel.prototype.draw = function (json) {
    const self = this;
    let total = 0;
    this.panel.querySelectorAll("figure.chart").forEach(function (figure) {
      const chart = self.charts.get(figure);
      if (chart) updateChart(figure, chart, json); else self.charts.set(figure, makeChart(figure, json));
      total += Number(figure.dataset.points || 0);
    });
    this.panel.dataset.loaded = this.range;
    const res = json.resolution === "raw" ? "every sample" : "per " + json.resolution + " (average)";
    this.note(total ? (json.ts.length + " points, " + res + (LIVE[this.range] ? " · refreshes every 10 s" : ""))
      : "No data in this window yet: the collector samples every few seconds while instances run.");
  };

  Panel.prototype.note = function (text) {
    const note = this.panel.querySelector("[data-note]");
    if (note) note.textContent = text;
  };

  Panel.prototype.resize = function () {
    this.charts.forEach(function (chart, figure) {
      const plot = figure.querySelector(".plot") || figure;
      const width = Math.max(plot.clientWidth, 200);
      if (Math.abs(chart.width - width) > 2) chart.setSize({ width: width, height: chart.height });
    });
  };

  // ---- sparklines ------------------------------------------------------------------------------

  function sparkline(el, json) {
    const metric = el.dataset.spark;
    const fmt = FORMAT[el.dataset.unit] || FORMAT.number;
    const data = columns(json, [metric]);
    const values = data[1].filter(function (v) { return v !== null && v !== undefined; });
    el.dataset.points = String(values.length);
    el.title = el.dataset.title + ": " + (values.length ? fmt(values[values.length - 1]) + " now, max " +
      fmt(Math.max.apply(null, values)) + " (6 h)" : "no data (6 h)");
    const plot = document.createElement("span");
    plot.className = "spark-plot";
    const label = document.createElement("span");
    label.className = "spark-value";
    label.textContent = values.length ? fmt(values[values.length - 1]) : "–";
    el.replaceChildren(plot, label);
    const win = window_(json);
    new window.uPlot({
      width: 110, height: 26, pxAlign: false,
      series: [{}, { stroke: el.dataset.unit === "bytes" ? COLORS[1] : COLORS[0], width: 1.25,
        fill: (el.dataset.unit === "bytes" ? COLORS[1] : COLORS[0]) + "22",
        points: { size: 3, show: function (u, si) { return few(u.data[si]); } } }],
      scales: { x: { time: true, range: function () { return win; } },
        y: { range: function (u, min, max) { return [0, Math.max(max || 0, el.dataset.unit === "percent" ? 5 : 1)]; } } },
      axes: [{ show: false }, { show: false }],
      legend: { show: false }, cursor: { show: false }, select: { show: false },
    }, data, plot);
  }

  function loadSparks(row) {
    fetch(row.dataset.sparkSrc, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (json) { row.querySelectorAll("[data-spark]").forEach(function (el) { sparkline(el, json); }); })
      .catch(function () {
        row.querySelectorAll("[data-spark]").forEach(function (el) { el.textContent = "–"; });
      });
  }

  function start() {
    if (!window.uPlot) return;
    document.querySelectorAll(".chart-panel[data-src]").forEach(function (panel) { new Panel(panel); });
    document.querySelectorAll("[data-spark-src]").forEach(loadSparks);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
