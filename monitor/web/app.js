"use strict";

// feedkeeper dashboard: one snapshot a second over server-sent events,
// drawn into plain DOM, and uPlot charts over a chosen time range.

const MAX_POINTS = 900;
const COLORS = { blue: "#2563eb", teal: "#0d9488", amber: "#d97706", red: "#dc2626", purple: "#7c3aed", slate: "#64748b" };

let history = [];
let lastMessage = 0;

const $ = (id) => document.getElementById(id);

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function fmtInt(n) {
  return n == null ? "—" : Math.round(n).toLocaleString("en-US");
}

function fmtRate(n) {
  if (n == null) return "—";
  if (n >= 1e6) return (n / 1e6).toFixed(2) + "M";
  if (n >= 1e4) return (n / 1e3).toFixed(1) + "k";
  if (n >= 100) return Math.round(n).toLocaleString("en-US");
  return String(Number(n.toFixed(n >= 10 ? 1 : 2)));
}

function fmtBytes(n) {
  if (n == null) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? Math.round(n) : n.toFixed(n >= 100 ? 0 : 1)) + " " + units[i];
}

function fmtMS(ms) {
  if (ms == null) return "—";
  if (ms === 0) return "0";
  const a = Math.abs(ms);
  if (a >= 1000) return (ms / 1000).toFixed(2) + " s";
  if (a >= 10) return ms.toFixed(0) + " ms";
  if (a >= 1) return ms.toFixed(1) + " ms";
  if (a >= 0.1) return ms.toFixed(2) + " ms";
  return (ms * 1000).toFixed(0) + " µs";
}

function fmtDur(s) {
  if (s == null || s < 0) return "—";
  s = Math.floor(s);
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  if (d > 0) return d + "d " + h + "h";
  if (h > 0) return h + "h " + m + "m";
  if (m > 0) return m + "m " + sec + "s";
  return sec + "s";
}

function fmtClock(ms) {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((x) => String(x).padStart(2, "0")).join(":");
}

function fmtAge(ms) {
  if (ms == null || ms < 0) return "—";
  if (ms < 1000) return ms + " ms";
  return fmtDur(ms / 1000);
}

function setText(id, text, cls) {
  const el = $(id);
  if (!el) return;
  if (el.textContent !== text) el.textContent = text;
  if (cls !== undefined) el.className = "big" + (cls ? " " + cls : "");
}

// Charts: uPlot (vendor/uPlot.iife.min.js), one per figure. Each has a
// legend with the value of every line at the cursor (the latest value when
// the cursor is elsewhere), axes with units, drag to zoom and double-click
// to return to the range.

// range is the chosen time range: "5m", "1h" or "all" (since start); spans
// come from the server ("init" event), as they depend on its sample interval.
let range = "5m";
let ranges = { "5m": { span_ms: 300000, step_ms: 1000 }, "1h": { span_ms: 3600000, step_ms: 10000 }, all: { step_ms: 60000 } };
let started = 0;
let lastT = 0;
let refetchAt = 0;
const charts = [];

// fmtSpan names a span of ms: 5 min, 1 h, 75 s.
function fmtSpan(ms) {
  if (ms < 1000) return Math.round(ms) + " ms";
  if (ms % 1000 !== 0) return (ms / 1000).toFixed(1) + " s";
  const s = Math.round(ms / 1000);
  if (s % 3600 === 0) return s / 3600 + " h";
  if (s % 60 === 0) return s / 60 + " min";
  return s + " s";
}

const CHARTS = [
  { id: "chart-rate", unit: "per s", fmt: fmtRate, whole: true, series: [
    { name: "events", color: COLORS.blue, key: "ev", fill: true },
    { name: "frames", color: COLORS.teal, key: "fr" },
  ] },
  { id: "chart-latency", unit: "ms", fmt: fmtMS, series: [
    { name: "exchange→receive p99", color: COLORS.purple, key: "x99" },
    { name: "exchange→receive p50", color: COLORS.blue, key: "x50" },
    { name: "receive→sink p99", color: COLORS.teal, key: "s99" },
  ] },
  { id: "chart-faults", unit: "count", fmt: fmtInt, whole: true, series: [
    { name: "reconnects", color: COLORS.amber, key: "rc", step: true },
    { name: "gaps", color: COLORS.red, key: "gp", step: true },
  ] },
  { id: "chart-bytes", unit: "bytes/s", fmt: (v) => fmtBytes(v) + "/s", bytes: true, series: [
    { name: "received", color: COLORS.blue, key: "by", fill: true },
  ] },
  { id: "chart-memory", unit: "bytes", fmt: fmtBytes, bytes: true, series: [
    { name: "RSS", color: COLORS.purple, key: "rss", zeroIsNone: true },
    { name: "Go heap", color: COLORS.teal, key: "hp" },
  ] },
  { id: "chart-goroutines", unit: "count", fmt: fmtInt, whole: true, series: [
    { name: "goroutines", color: COLORS.slate, key: "gr" },
  ] },
];

// The venues' chart: one line per venue of a process that runs several,
// added once their names are known (from the first snapshot).
const VENUE_COLORS = [COLORS.blue, COLORS.teal, COLORS.amber, COLORS.purple, COLORS.red, COLORS.slate, "#0891b2", "#65a30d"];
let venueNames = "";

function setVenueChart(vs) {
  const names = (vs || []).map((v) => v.name);
  if (names.length === 0 || names.join("\n") === venueNames) return;
  venueNames = names.join("\n");
  const fig = $("chart-venues");
  fig.hidden = false;
  let c = CHARTS.find((x) => x.id === "chart-venues");
  if (!c) {
    c = { id: "chart-venues", unit: "per s", fmt: fmtRate, whole: true, series: [] };
    CHARTS.push(c);
  } else if (c.u) {
    c.u.destroy();
    c.u = null;
  }
  c.series = names.map((n, i) => ({ name: n, color: VENUE_COLORS[i % VENUE_COLORS.length], get: (p) => (p.vev ? p.vev[i] : undefined) }));
}

// niceMax rounds a y maximum up to 1, 2, 2.5 or 5 times a power of ten
// (of 1024 for bytes), so that the axis ticks are round.
function niceMax(max, c) {
  if (!(max > 0)) return c.whole ? 4 : 1;
  let unit = 1;
  if (c.bytes) while (max / unit >= 4096 && unit < Math.pow(1024, 3)) unit *= 1024;
  const v = max / unit;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of c.bytes || c.whole ? [1, 2, 5, 10] : [1, 2, 2.5, 5, 10]) if (v <= m * p * 1.0000001) return m * p * unit;
  return 10 * p * unit;
}

// xRange is the time the chosen range covers, in s: its span back from
// the latest sample, but not before the start.
function xRange() {
  const now = (lastT || Date.now()) / 1000;
  const r = ranges[range] || {};
  const first = (started || (history[0] ? history[0].t : lastT || Date.now())) / 1000;
  const min = r.span_ms ? Math.max(now - r.span_ms / 1000, first) : first;
  return [Math.min(min, now - 1), now];
}

// byteIncrs are round steps of bytes: 1, 2, 5, 10… times B, KiB, MiB, GiB.
const byteIncrs = [];
for (let k = 0; k < 5; k++) for (const m of [1, 2, 5, 10, 20, 50, 100, 200, 500]) byteIncrs.push(m * Math.pow(1024, k));
const countIncrs = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 1e7];

// timeTicks labels the x axis: hours and minutes, seconds over short spans.
function timeTicks(u, splits) {
  const span = u.scales.x.max - u.scales.x.min;
  return splits.map((v) => {
    const d = new Date(v * 1000);
    const hm = [d.getHours(), d.getMinutes()].map((x) => String(x).padStart(2, "0")).join(":");
    if (span > 86400) return d.toISOString().slice(5, 10) + " " + hm;
    return span <= 900 ? hm + ":" + String(d.getSeconds()).padStart(2, "0") : hm;
  });
}

function chartData(c) {
  const xs = new Array(history.length);
  const cols = c.series.map(() => new Array(history.length));
  history.forEach((p, i) => {
    xs[i] = p.t / 1000;
    c.series.forEach((s, j) => {
      let v = s.get ? s.get(p) : p[s.key];
      if (v === undefined || (s.zeroIsNone && v === 0)) v = null;
      cols[j][i] = v;
    });
  });
  return [xs, ...cols];
}

function plotSize(el) {
  return { width: Math.max(el.clientWidth, 200), height: 170 };
}

function makeChart(c) {
  const fig = $(c.id), el = fig.querySelector(".plot");
  const tick = (v) => (v === 0 ? "0" : c.fmt(v));
  const opts = {
    ...plotSize(el),
    legend: { live: true },
    cursor: { drag: { x: true, y: false, setScale: true }, points: { size: 6 } },
    scales: {
      // the range's window when the dashboard sets it, the selection when one zooms
      x: { time: true, range: (u, min, max) => (c.forcing ? xRange() : [min, max]) },
      y: { range: (u, min, max) => [0, niceMax(max, c)] },
    },
    axes: [
      { stroke: "#6a7686", grid: { stroke: "#eef1f5", width: 1 }, ticks: { stroke: "#e2e7ee", width: 1 }, font: "11px system-ui, sans-serif",
        values: timeTicks, space: 60 },
      { stroke: "#6a7686", grid: { stroke: "#eef1f5", width: 1 }, ticks: { stroke: "#e2e7ee", width: 1 }, font: "11px system-ui, sans-serif",
        size: 70, space: 28, values: (u, vals) => vals.map(tick), incrs: c.bytes ? byteIncrs : c.whole ? countIncrs : undefined },
    ],
    series: [
      { label: "time", value: (u, v) => (v == null ? "—" : fmtClock(v * 1000)) },
      ...c.series.map((s, i) => ({
        label: s.name, stroke: s.color, width: 1.6,
        fill: s.fill ? s.color + "14" : undefined,
        paths: s.step ? uPlot.paths.stepped({ align: 1 }) : undefined,
        value: (u, v) => (v == null ? "—" : c.fmt(v)),
        points: { show: false },
      })),
    ],
    hooks: {
      setSelect: [(u) => { if (u.select.width > 0) c.zoomed = true; }],
      setCursor: [(u) => { if (u.cursor.idx == null && u.data[0].length) u.setLegend({ idx: u.data[0].length - 1 }); }],
    },
  };
  c.u = new uPlot(opts, chartData(c), el);
  el.addEventListener("dblclick", () => { c.zoomed = false; drawCharts(); });
  fig.dataset.range = range;
}

// showLatest puts the latest values in the legend while the cursor is not
// over the chart.
function showLatest(c) {
  const u = c.u;
  if (u.cursor.left >= 0 && u.cursor.idx != null) return;
  const n = u.data[0].length;
  if (n > 0) u.setLegend({ idx: n - 1 });
}

function drawCharts() {
  if (typeof uPlot === "undefined") return;
  for (const c of CHARTS) {
    if (!c.u) { makeChart(c); if (!charts.includes(c)) charts.push(c); }
    else c.u.setData(chartData(c), !c.zoomed);
    if (!c.zoomed) {
      const [min, max] = xRange();
      c.forcing = true;
      c.u.setScale("x", { min, max });
      c.forcing = false;
    }
    showLatest(c);
    const fig = $(c.id), [x0, x1] = [c.u.scales.x.min, c.u.scales.x.max];
    fig.dataset.range = range;
    fig.dataset.points = String(history.length);
    fig.dataset.span = String(Math.round(x1 - x0));
    fig.dataset.step = String((ranges[range] || {}).step_ms || "");
    fig.dataset.zoomed = String(!!c.zoomed);
  }
}

function resizeCharts() {
  for (const c of CHARTS) if (c.u) c.u.setSize(plotSize($(c.id).querySelector(".plot")));
}

// trimHistory keeps the points of the range (a little more, for the left edge).
function trimHistory() {
  const r = ranges[range] || {};
  if (!r.span_ms || !history.length) return;
  const from = history[history.length - 1].t - r.span_ms - (r.step_ms || 0);
  let i = 0;
  while (i < history.length && history[i].t < from) i++;
  if (i > 0) history.splice(0, i);
}

// setRange loads the history of range r from the server, at its resolution.
async function setRange(r) {
  range = r;
  for (const b of document.querySelectorAll("#range button")) b.setAttribute("aria-pressed", String(b.dataset.range === r));
  for (const c of CHARTS) c.zoomed = false;
  await loadHistory();
}

async function loadHistory() {
  const want = range;
  let d;
  try {
    const res = await fetch("api/history?range=" + encodeURIComponent(want), { cache: "no-store" });
    if (!res.ok) return;
    d = await res.json();
  } catch (e) {
    return;
  }
  if (want !== range) return;
  const live = history.filter((p) => d.points.length && p.t > d.points[d.points.length - 1].t);
  history = (d.points || []).concat(live);
  ranges[want] = Object.assign({}, ranges[want], { step_ms: d.step_ms });
  refetchAt = Date.now() + 60000;
  $("range-note").textContent = describeRange();
  trimHistory();
  drawCharts();
}

function describeRange() {
  const r = ranges[range] || {};
  const what = range === "all" ? "since start" : "last " + fmtSpan(r.span_ms);
  return what + (r.step_ms ? ", one point per " + fmtSpan(r.step_ms) : "") + (range === "5m" ? "" : ": rates averaged, latency and memory at their highest");
}

function labelRanges() {
  for (const b of document.querySelectorAll("#range button")) {
    const r = ranges[b.dataset.range];
    if (r && r.span_ms) b.textContent = "last " + fmtSpan(r.span_ms);
  }
  $("range-note").textContent = describeRange();
}

function renderConns(conns) {
  const rows = (conns || []).map((c) => {
    const codes = Object.entries(c.close_codes || {}).map(([k, v]) => `${esc(k)}×${fmtInt(v)}`).join(" ") || "—";
    const lag = c.lagging ? ` <span class="state state-lagging">lagging ${fmtDur(c.lag_s)}</span>` : "";
    return `<tr><td><b>${esc(c.name)}</b></td><td><span class="state state-${esc(c.state)}">${esc(c.state)}</span>${lag}</td>` +
      `<td class="n">${c.up ? fmtDur(c.uptime_s) : "—"}</td><td class="n">${fmtRate(c.rate)}</td><td class="n">${fmtInt(c.frames)}</td>` +
      `<td class="n">${fmtBytes(c.bytes)}</td><td class="n">${fmtInt(c.queue)}</td><td class="n">${fmtInt(c.connects)}</td>` +
      `<td class="n">${fmtInt(c.reconnects)}</td><td class="n">${fmtInt(c.stale)}</td><td class="n">${fmtInt(c.rotations)}</td>` +
      `<td class="n">${fmtInt(c.dropped)}</td><td class="muted">${codes}</td></tr>`;
  });
  $("conns").tBodies[0].innerHTML = rows.join("") || `<tr><td class="none" colspan="13">no connections</td></tr>`;
}

// venueCells are the cells of a venue's row (or of the total row): each
// with data-k naming its figure.
function venueCells(v) {
  const cell = (k, html, cls, title) =>
    `<td data-k="${k}" class="${cls || ""}"${title ? ` title="${esc(title)}"` : ""}>${html}</td>`;
  const down = v.conns_up < v.conns || v.conns === 0;
  let lag = "—";
  if (v.lagging > 0) lag = `<span class="state state-lagging">lagging ${fmtDur(v.lag_s)}</span>`;
  else if (v.lag_s > 0) lag = fmtMS(v.lag_s * 1000);
  let recovered = fmtInt(v.backfilled);
  if (v.unfilled > 0) recovered += ` <span class="muted">· ${fmtInt(v.unfilled)} unfillable</span>`;
  let books = "—";
  if (v.books > 0) {
    books = `${fmtInt(v.books_in_sync)}/${fmtInt(v.books)}`;
    if (v.resyncs > 0) books += ` <span class="muted">· ${fmtInt(v.resyncs)} resync${v.resyncs === 1 ? "" : "s"}</span>`;
  }
  let rest = "—", restCls = "n";
  if (v.rest) {
    const limited = v.rest.rate_limited + v.rest.bans + v.rest.forbidden;
    rest = fmtInt(v.rest.requests) + (v.rest.failures > 0 ? ` · ${fmtInt(v.rest.failures)} failed` : "") +
      (limited > 0 ? ` · ${fmtInt(limited)} limited` : "") + (v.rest.banned ? " · banned" : "");
    if (v.rest.banned || v.rest.failures > 0) restCls = "n bad";
    else if (limited > 0) restCls = "n warn";
  }
  let dials = "—";
  if (v.dials) dials = `${fmtInt(v.dials.used)}/${fmtInt(v.dials.limit)}` + (v.dials.waiting > 0 ? ` · ${fmtInt(v.dials.waiting)} waiting` : "");
  return cell("conns", `${fmtInt(v.conns_up)}/${fmtInt(v.conns)} up`, down ? "n bad" : "n") +
    cell("events-rate", fmtRate(v.events_rate), "n", `${fmtRate(v.frames_rate)} frames/s, ${fmtBytes(v.bytes_rate)}/s`) +
    cell("events", fmtInt(v.events), "n") +
    cell("latency", fmtMS(v.exch_p99), "n", v.exch_p50 != null ? "p50 " + fmtMS(v.exch_p50) : "") +
    cell("lag", lag, "n") +
    cell("gaps", fmtInt(v.gaps) + (v.missing > 0 ? ` <span class="muted">· ${v.missing >= 1e5 ? fmtRate(v.missing) : fmtInt(v.missing)} missing</span>` : ""),
      v.gaps > 0 ? "n warn" : "n", v.missing > 0 ? `${fmtInt(v.missing)} IDs missing` : "") +
    cell("recovered", recovered, "n") +
    cell("books", books, v.books > 0 && v.books_in_sync < v.books ? "n bad" : "n") +
    cell("reconnects", fmtInt(v.reconnects), v.reconnects > 0 ? "n warn" : "n", `${fmtInt(v.connects)} connects, ${fmtInt(v.stale)} stale, ${fmtInt(v.rotations)} rotations`) +
    cell("rest", rest, restCls) +
    cell("dials", dials, v.dials && v.dials.waiting > 0 ? "n warn" : "n", v.dials ? `${fmtInt(v.dials.attempts)} attempts, ${fmtInt(v.dials.waits)} waited; window ${fmtDur(v.dials.window_s)}` : "");
}

// renderVenues draws one row per venue of a process that runs several, and
// their total; the card stays hidden for one venue.
function renderVenues(s) {
  const vs = s.venues || [];
  const card = $("venues-card");
  card.hidden = vs.length === 0;
  if (card.hidden) return;
  $("venues").tBodies[0].innerHTML = vs.map((v) => {
    const why = (v.not_ready || []).map((x) => `${x.check}${x.conn || x.symbol ? " " + (x.conn || x.symbol) : ""}: ${x.detail}`).join("; ");
    return `<tr data-venue="${esc(v.name)}"><td><b>${esc(v.name)}</b></td>` +
      `<td data-k="state" title="${esc(why)}"><span class="book book-${v.ready ? "ok" : "bad"}">${v.ready ? "ready" : "not ready"}</span></td>` +
      venueCells(v) + `</tr>`;
  }).join("");
  // the total: sums, the highest lag, the process's latency
  const t = { conns_up: 0, conns: 0, events_rate: 0, frames_rate: 0, bytes_rate: 0, events: 0, lag_s: 0, lagging: 0, gaps: 0, missing: 0,
    backfilled: 0, unfilled: 0, books: 0, books_in_sync: 0, resyncs: 0, reconnects: 0, connects: 0, stale: 0, rotations: 0,
    exch_p50: s.latency.exch_p50, exch_p99: s.latency.exch_p99, rest: null, dials: null };
  for (const v of vs) {
    for (const k of ["conns_up", "conns", "events_rate", "frames_rate", "bytes_rate", "events", "lagging", "gaps", "missing", "backfilled",
      "unfilled", "books", "books_in_sync", "resyncs", "reconnects", "connects", "stale", "rotations"]) t[k] += v[k] || 0;
    t.lag_s = Math.max(t.lag_s, v.lag_s || 0);
    if (v.rest) {
      t.rest = t.rest || { requests: 0, failures: 0, rate_limited: 0, bans: 0, forbidden: 0, banned: false };
      for (const k of ["requests", "failures", "rate_limited", "bans", "forbidden"]) t.rest[k] += v.rest[k];
      t.rest.banned = t.rest.banned || v.rest.banned;
    }
    if (v.dials) {
      t.dials = t.dials || { used: 0, limit: 0, waiting: 0, attempts: 0, waits: 0, window_s: 0 };
      for (const k of ["used", "limit", "waiting", "attempts", "waits"]) t.dials[k] += v.dials[k];
      t.dials.window_s = Math.max(t.dials.window_s, v.dials.window_s);
    }
  }
  const ready = vs.filter((v) => v.ready).length;
  $("venues").tFoot.innerHTML = `<tr data-venue=""><td>${vs.length} venues</td><td data-k="state">${ready}/${vs.length} ready</td>${venueCells(t)}</tr>`;
}

function renderBook(b) {
  if (!b) return `<td class="book muted">—</td>`;
  const cls = b.state === "in sync" ? "ok" : b.state === "waiting" ? "wait" : "bad";
  let title = b.syncs ? `${b.syncs} snapshot${b.syncs === 1 ? "" : "s"} loaded` : "no snapshot loaded yet";
  if (b.synced_at) title += `, the last at ${fmtClock(b.synced_at)}`;
  if (b.age_ms >= 0) title += `; last book update ${fmtAge(b.age_ms)} ago`;
  const resyncs = b.syncs > 1 ? ` <span class="muted">${fmtInt(b.syncs - 1)} resync${b.syncs === 2 ? "" : "s"}</span>` : "";
  return `<td class="book-cell" title="${esc(title)}"><span class="book book-${cls}">${esc(b.state)}</span>${resyncs}</td>`;
}

function renderQuotes(quotes, total, books, several) {
  const vname = (v) => (several && v ? ` <span class="muted vname">${esc(v)}</span>` : "");
  const byKey = new Map((books || []).map((b) => [b.venue + " " + b.symbol, b]));
  const seen = new Set();
  const rows = (quotes || []).map((q) => {
    const key = q.venue + " " + q.symbol;
    seen.add(key);
    const age = Math.min(...[q.quote_age_ms, q.trade_age_ms].filter((a) => a >= 0));
    return `<tr data-symbol="${esc(q.symbol)}" data-venue="${esc(q.venue)}"><td><b>${esc(q.symbol)}</b>${vname(q.venue)}</td>` +
      `<td class="n muted">${esc(q.bid_qty || "—")}</td><td class="n bid">${esc(q.bid || "—")}</td>` +
      `<td class="n ask">${esc(q.ask || "—")}</td><td class="n muted">${esc(q.ask_qty || "—")}</td>` +
      `<td class="n">${esc(q.spread || "—")}</td><td class="n ${esc(q.side || "")}">${esc(q.last || "—")}</td>` +
      `<td class="n muted">${esc(q.last_qty || "—")}</td><td class="${esc(q.side || "")}">${esc(q.side || "—")}</td>` +
      `<td class="n">${fmtInt(q.trades)}</td><td class="n muted">${Number.isFinite(age) ? fmtAge(age) + " ago" : "—"}</td>` +
      renderBook(byKey.get(key)) + `</tr>`;
  });
  for (const b of books || []) {
    if (seen.has(b.venue + " " + b.symbol)) continue;
    rows.push(`<tr data-symbol="${esc(b.symbol)}" data-venue="${esc(b.venue)}"><td><b>${esc(b.symbol)}</b>${vname(b.venue)}</td>` +
      `<td class="n muted">—</td><td class="n bid">—</td><td class="n ask">—</td><td class="n muted">—</td><td class="n">—</td>` +
      `<td class="n">—</td><td class="n muted">—</td><td>—</td><td class="n">0</td><td class="n muted">—</td>` + renderBook(b) + `</tr>`);
  }
  let more = "";
  if (total > (quotes || []).length) more = `<tr><td class="none" colspan="12">${fmtInt(total - quotes.length)} more symbols: see /metrics</td></tr>`;
  $("quotes").tBodies[0].innerHTML = (rows.join("") + more) || `<tr><td class="none" colspan="12">no trades or quotes yet</td></tr>`;
}

function renderSinks(sinks) {
  const card = $("sinks-card");
  card.hidden = !(sinks && sinks.length);
  if (card.hidden) return;
  $("sinks").tBodies[0].innerHTML = sinks.map((k) =>
    `<tr data-sink="${esc(k.name)}"><td><b>${esc(k.name)}</b></td>` +
    `<td><span class="book book-${k.ready ? "ok" : "bad"}">${k.ready ? "delivering" : "not ready"}</span></td>` +
    `<td class="n">${fmtInt(k.accepted)}</td><td class="n">${fmtInt(k.delivered)}</td><td class="n">${fmtInt(k.pending)}</td>` +
    `<td class="n">${fmtInt(k.dropped)}</td><td class="n">${fmtInt(k.lost)}</td><td class="n">${fmtInt(k.errors)}</td>` +
    `<td class="n">${fmtInt(k.retries)}</td><td class="${k.ready ? "muted" : "why"}">${esc((k.problems || []).join("; ") || "—")}</td></tr>`).join("");
}

function renderNotices(list, several) {
  const items = (list || []).slice().reverse().map((n) =>
    `<li data-venue="${esc(n.venue || "")}"><time>${fmtClock(n.t)}</time><span class="kind kind-${esc(n.kind)}">${esc(n.kind)}</span>` +
    `<span class="text">${several && n.venue ? `<b>${esc(n.venue)}</b> ` : ""}${esc(n.text)}</span></li>`);
  $("notices").innerHTML = items.join("") || `<li class="none">nothing yet: connection changes and gaps show here</li>`;
}

function render(s) {
  const t = s.totals, r = s.rates, p = s.process, l = s.latency;
  // the venues by name, each marked ready or not; one venue: its name
  const vs = s.venues || [];
  const tags = vs.map((v) => `<span class="vtag vtag-${v.ready ? "ok" : "bad"}" data-venue="${esc(v.name)}" title="${v.ready ? "ready" : "not ready"}">${esc(v.name)}</span>`).join("");
  if (vs.length === 0) $("venue").textContent = s.venue || "";
  else if ($("venue").innerHTML !== tags) $("venue").innerHTML = tags;
  const ready = $("ready");
  ready.textContent = s.ready ? "READY" : "NOT READY";
  ready.className = "pill " + (s.ready ? "pill-ok" : "pill-bad");
  const probs = $("problems");
  if (s.ready || !s.not_ready) {
    probs.hidden = true;
  } else {
    probs.hidden = false;
    probs.innerHTML = s.not_ready.map((x) => {
      let who = x.conn || x.sink || x.symbol || "";
      if (x.venue && !who.startsWith(x.venue + "#")) who = x.venue + (who ? " " + who : "");
      return `<span>${esc(x.check)}${who ? " " + esc(who) : ""}: ${esc(x.detail)}</span>`;
    }).join("");
  }
  $("uptime").textContent = fmtDur((s.t - s.started) / 1000);
  started = s.started;
  lastT = s.t;
  $("clock").textContent = s.clock.at ? `${s.clock.offset_ms >= 0 ? "+" : ""}${fmtMS(s.clock.offset_ms)} ± ${fmtMS(s.clock.rtt_ms / 2)}` : "not estimated";
  $("updated").textContent = "updated " + fmtClock(s.t);

  setText("events-rate", fmtRate(r.events));
  $("events-total").textContent = fmtInt(t.events);
  setText("bytes-rate", fmtBytes(r.bytes));
  $("frames-rate").textContent = fmtRate(r.frames);
  setText("conns-up", `${t.conns_up}/${t.conns} up`, t.conns_up < t.conns ? "bad" : "");
  $("rotations").textContent = fmtInt(t.rotations);
  $("stale").textContent = fmtInt(t.stale);
  setText("reconnects", fmtInt(t.reconnects), t.reconnects > 0 ? "warn" : "");
  $("connects").textContent = fmtInt(t.connects);
  setText("gaps", fmtInt(t.gaps), t.gaps > 0 ? "warn" : "");
  $("missing").textContent = fmtInt(t.missing);
  $("skipped").textContent = fmtInt(t.malformed + t.unknown + t.binary + t.dropped);
  setText("lat-exch", fmtMS(l.exch_p99));
  $("lat-sink").textContent = fmtMS(l.sink_p99);
  setText("rss", p.rss ? fmtBytes(p.rss) : fmtBytes(p.go_memory));
  $("heap").textContent = fmtBytes(p.heap);
  setText("goroutines", fmtInt(p.goroutines));
  $("fds").textContent = p.fds ? fmtInt(p.fds) : "—";

  renderConns(s.conns);
  renderVenues(s);
  setVenueChart(s.venues);
  renderQuotes(s.quotes, s.quotes_total || 0, s.books, !!(s.venues && s.venues.length > 1));
  renderSinks(s.sinks);
  renderNotices(s.notices, !!(s.venues && s.venues.length > 1));
  drawCharts();
}

function addPoint(pt) {
  if (history.length && history[history.length - 1].t >= pt.t) return;
  history.push(pt);
  trimHistory();
  if (history.length > MAX_POINTS && range === "5m") history.splice(0, history.length - MAX_POINTS);
  if (range !== "5m" && Date.now() >= refetchAt) loadHistory();
}

function live(on) {
  $("live").className = "dot " + (on ? "on" : "off");
  if (!on) {
    $("updated").textContent = "reconnecting…";
    const ready = $("ready");
    ready.textContent = "NO DATA";
    ready.className = "pill pill-wait";
  }
}

function connect() {
  const es = new EventSource("events");
  es.addEventListener("init", (e) => {
    const d = JSON.parse(e.data);
    for (const r of d.ranges || []) ranges[r.id] = r;
    labelRanges();
    history = d.history || [];
    if (range !== "5m") loadHistory();
    if (d.last) render(d.last);
    lastMessage = Date.now();
    live(true);
  });
  es.onmessage = (e) => {
    const s = JSON.parse(e.data);
    addPoint(s.point);
    render(s);
    lastMessage = Date.now();
    live(true);
  };
  es.onerror = () => live(false);
}

setInterval(() => { if (lastMessage && Date.now() - lastMessage > 5000) live(false); }, 1000);
window.addEventListener("resize", resizeCharts);
for (const b of document.querySelectorAll("#range button")) b.addEventListener("click", () => setRange(b.dataset.range));
connect();
