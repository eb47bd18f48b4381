// gitops-hive agent page: telemetry charts (uPlot) from /api/stats, redrawn on "stats" events.
"use strict";

const COLORS = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bc4c00", "#1b7c83", "#9a6700", "#bf3989"];
const LABELS = {
  turns_per_min: "turns/min",
  tool_calls_per_turn: "tool calls/turn",
  duration_p50: "p50",
  duration_p95: "p95",
  exit_ok: "ok",
  exit_retried: "retried",
  exit_failure: "failure",
  inbox_depth_max: "max",
  inbox_depth_avg: "average",
  since_last_turn_s: "seconds",
  notes_bytes: "bytes",
  approval_queue_max: "pending",
};

function label(name) {
  if (name in LABELS) return LABELS[name];
  if (name.startsWith("tool:")) return name.slice(5);
  return name.replace(/^(in|out)_/, "");
}

function pointCount(values) {
  return values.filter((v) => v !== null && v !== undefined).length;
}

// The index of a series' newest value, or null when it has none.
function lastIndex(values) {
  for (let i = values.length - 1; i >= 0; i -= 1) if (values[i] !== null && values[i] !== undefined) return i;
  return null;
}

function formatValue(v) {
  if (v === null || v === undefined) return "–";
  const size = Math.abs(v);
  if (size >= 1000 || Number.isInteger(v)) return String(Math.round(v));
  return String(Number(v.toPrecision(size >= 1 ? 4 : 3)));
}

// Out of the plot, each legend shows its series' newest value, not a dash.
function showLatest(plot) {
  if (!plot.data || (plot.cursor && plot.cursor.idx !== null && plot.cursor.idx !== undefined)) return;
  const idxs = plot.data.map((values) => lastIndex(values));
  idxs[0] = Math.max(...idxs.slice(1).filter((i) => i !== null), 0);
  plot.setLegend({ idxs }, false);
}

class Telemetry {
  constructor(section) {
    this.section = section;
    this.agent = section.dataset.agent;
    this.since = "data";  // fitted to the agent's own data (a few minutes of it, or days)
    this.plots = {};
    this.loading = null;
    this.again = false;
    this.grid = section.querySelector("#charts");
    this.summary = section.querySelector("#telemetry-summary");
  }

  start() {
    this.section.querySelectorAll("[data-since]").forEach((button) => {
      button.addEventListener("click", () => {
        this.since = button.dataset.since;
        this.section.querySelectorAll("[data-since]").forEach((b) => b.classList.toggle("active", b === button));
        this.load();
      });
    });
    document.addEventListener("hive:stats", (event) => {
      const agents = (event.detail && event.detail.agents) || [];
      if (agents.includes(this.agent) || agents.includes("_hive")) this.load();
    });
    window.addEventListener("resize", () => this.resize());
    this.load();
  }

  // One request at a time; a notice during a load asks for one more afterwards.
  async load() {
    if (this.loading) { this.again = true; return; }
    this.loading = this.fetch();
    try { await this.loading; } finally {
      this.loading = null;
      if (this.again) { this.again = false; this.load(); }
    }
  }

  async fetch() {
    const url = `/api/stats?agent=${encodeURIComponent(this.agent)}&since=${encodeURIComponent(this.since)}`;
    const response = await fetch(url, { credentials: "same-origin" });
    if (response.status === 401) { window.location.href = "/login"; return; }
    const data = await response.json();
    if (!response.ok) { this.summary.textContent = data.error || `HTTP ${response.status}`; return; }
    this.render(data);
  }

  render(data) {
    this.last = data;
    const s = data.summary;
    const last = s.since_last_turn_s === null ? "no turn yet" : `last turn ${formatAge(s.since_last_turn_s)}`;
    const p = s.duration_p50 === null ? "" : `, duration p50 ${s.duration_p50} s / p95 ${s.duration_p95} s`;
    this.summary.textContent = `${s.turns} turn(s)${p}, ${last}${data.stuck ? " · stuck: a message has waited too long" : ""}`
      + ` (${data.resolution}, ${data.bucket_s} s buckets`
      + `${this.since === "data" ? `, from ${new Date(data.since * 1000).toLocaleTimeString()}` : ""})`;
    this.summary.classList.toggle("stuck", data.stuck);
    const t = data.series.t;
    data.charts.forEach((chart) => this.draw(chart, t, data.series));
  }

  draw(chart, t, series) {
    const names = chart.series;
    let box = this.grid.querySelector(`#chart-${chart.id}`);
    if (!names.length) { if (box) box.hidden = true; return; }
    const columns = [t, ...names.map((n) => series[n])];
    const key = names.join(",");
    let plot = this.plots[chart.id];
    if (!box) {
      box = document.createElement("figure");
      box.className = "chart";
      box.id = `chart-${chart.id}`;
      const caption = document.createElement("figcaption");
      caption.textContent = chart.title;
      const area = document.createElement("div");
      area.className = "plot";
      box.append(caption, area);
      this.grid.append(box);
    }
    box.hidden = false;
    if (plot && plot.hiveKey !== key) { plot.destroy(); plot = null; }
    if (plot) {
      plot.setData(columns);
    } else {
      const area = box.querySelector(".plot");
      plot = new uPlot(this.options(names, area), columns, area);
      plot.hiveKey = key;
      this.plots[chart.id] = plot;
    }
    // The window asked for, from its start: not just the span the points happen to cover.
    plot.setScale("x", { min: this.last.since, max: this.last.until });
    showLatest(plot);
    box.dataset.draws = String(Number(box.dataset.draws || 0) + 1);
    box.dataset.series = String(names.length);
    box.dataset.points = String(names.reduce((n, name) => n + pointCount(series[name]), 0));
  }

  options(names, area) {
    return {
      width: Math.max(300, area.clientWidth),
      height: 150,
      legend: { show: true, live: true },
      scales: { x: { time: true } },
      axes: [{ stroke: "#59636e" }, { stroke: "#59636e", size: 56 }],
      hooks: { setCursor: [showLatest], setData: [showLatest] },
      series: [{}, ...names.map((name, i) => ({
        label: label(name),
        stroke: COLORS[i % COLORS.length],
        width: 1.5,
        spanGaps: true,  // buckets without a turn do not break the line
        value: (u, v) => formatValue(v),
        // A lone sample has no line to show it: a point there, and nowhere else.
        points: { show: (u, s) => pointCount(u.data[s]) === 1, size: 6 },
      }))],
    };
  }

  resize() {
    Object.values(this.plots).forEach((plot) => {
      const area = plot.root.parentElement;
      if (area) plot.setSize({ width: Math.max(300, area.clientWidth), height: 150 });
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const section = document.getElementById("telemetry");
  if (section && window.uPlot) {
    window.hiveTelemetry = new Telemetry(section);
    window.hiveTelemetry.start();
  }
});
