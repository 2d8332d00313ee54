// Weir console shared helpers (served at /assets/console.js, loaded before
// the page's own script from /assets/pages/): JSON API calls with the
// session cookie and CSRF token, escaping, time formatting, table filling,
// inline SVG charts, and the live counter stream.
"use strict";
const $ = (id) => document.getElementById(id);

const csrf = document.querySelector("meta[name=csrf-token]")?.content || "";
// The server enforces roles; the page only hides what this role cannot do.
const role = document.querySelector("meta[name=weir-role]")?.content || "viewer";
const canWrite = role === "analyst" || role === "admin";
const isAdmin = role === "admin";

// GET by default; pass { method: "POST", body } for writes (the CSRF header is added).
async function api(path, options = {}) {
  const headers = { Accept: "application/json" };
  if (options.method && options.method !== "GET") { headers["X-CSRF-Token"] = csrf; headers["Content-Type"] = "application/json"; }
  const r = await fetch(path, { ...options, headers, credentials: "same-origin" });
  if (r.status === 401) { window.location.assign("/login"); throw new Error("unauthorized"); }
  if (!r.ok) {
    let why = await r.text();
    try { why = JSON.parse(why).error || why; } catch (_) { /* plain text */ }
    const e = new Error(`${path}: ${why}`);
    e.status = r.status;
    throw e;
  }
  return r.json();
}

// Like api() but a 404 (feature off or no data yet) gives null.
async function optional(path) {
  try { return await api(path); } catch (e) { if (e.status === 404) return null; throw e; }
}

function esc(v) { return String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c])); }
function ms(ns) { return Number(BigInt(Math.trunc(Number(ns) || 0)) / 1000000n); }
function time(ns) { return ns ? new Date(ms(ns)).toISOString().replace("T", " ").slice(0, 19) : "never"; }
function ago(ns) {
  if (!ns) return "never";
  const s = Math.max(0, (Date.now() - ms(ns)) / 1000);
  return s < 60 ? Math.round(s) + " s ago" : s < 3600 ? Math.round(s / 60) + " min ago" : s < 172800 ? Math.round(s / 3600) + " h ago" : Math.round(s / 86400) + " d ago";
}
function num(n) { return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"); }
// Total of a per-kind counter map ({exec: 3, file: 4}) or a plain number.
function total(counts) {
  if (typeof counts === "number") return counts;
  return Object.values(counts || {}).reduce((n, v) => n + (Number(v) || 0), 0);
}
function breakdown(counts) {
  const parts = Object.entries(counts || {}).filter(([, v]) => v).map(([k, v]) => `${k} ${num(v)}`);
  return parts.length ? ` (${parts.join(", ")})` : "";
}
function pct(part, whole) { return whole ? (100 * part / whole).toFixed(0) + "%" : "–"; }
function short(id, n = 12) { return String(id ?? "").slice(0, n); }
function hostLink(id, name) { return `<a class="mono" href="/hosts/${encodeURIComponent(id)}">${esc(name || short(id, 16))}</a>`; }

function rows(tbody, items, render, cols, empty = "Nothing yet.") {
  $(tbody).innerHTML = items.length ? items.map(render).join("") : `<tr><td class="empty" colspan="${cols}">${esc(empty)}</td></tr>`;
}
function kv(target, pairs) {
  $(target).innerHTML = pairs.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join("");
}

function status(text) { $("status").textContent = text; }
function report(e) {
  if (e.message === "unauthorized") return;
  const s = $("status");
  s.textContent = e.message;
  s.classList.add("bad");
  setTimeout(() => s.classList.remove("bad"), 4000);
}
function updated() { status("updated " + new Date().toLocaleTimeString("en-GB")); }

// One-line description of an event.
function what(e) {
  if (e["file.path"]) return `${e["event.action"] || ""} ${e["file.path"]}` + (e["file.source_path"] ? ` (from ${e["file.source_path"]})` : "");
  if (e["destination.ip"] || e["source.ip"]) {
    const dst = e["destination.ip"] ? `${e["destination.ip"]}:${e["destination.port"] ?? ""}` : `${e["source.ip"]}:${e["source.port"] ?? ""}`;
    return `${e["event.action"] || ""} ${dst}`;
  }
  if (e["event.kind"] === "loss") return `lost ${e["loss.total"]} events`;
  if (e["event.kind"] === "health") return `sensor ${e["event.action"] || ""} (${e["sensor.mode"] || ""})`;
  if (e["event.kind"] === "integrity") return `${e["integrity.problem"]}: ${e["integrity.detail"] || ""}`;
  return e["process.command_line"] || e["process.executable"] || e["event.action"] || "";
}
function eventTime(e) { return (e["@timestamp"] || "").replace("T", " ").slice(0, 23); }
function eventUser(e) {
  const login = e["user.login"] !== undefined && e["user.login"] !== e["user.name"] ? ` (login ${esc(e["user.login"])})` : "";
  return esc(e["user.name"] ?? e["user.id"] ?? "") + login;
}

// An inline SVG line chart: series = [{ name, points: [[x, y]], cls }].
// x values are labels (shown first and last); y from 0 to the max.
function lineChart(target, labels, series, { height = 120, unit = "" } = {}) {
  const el = $(target);
  const all = series.flatMap((s) => s.points);
  if (!labels.length || !all.length) { el.innerHTML = `<div class="empty">No data yet.</div>`; return; }
  const w = 600, h = height, left = 44, bottom = 18, top = 8;
  const max = Math.max(4, ...all);
  const x = (i) => left + (labels.length === 1 ? (w - left) / 2 : (i * (w - left - 6)) / (labels.length - 1));
  const y = (v) => top + (h - top - bottom) * (1 - v / max);
  const grid = [0, 0.5, 1].map((f) => {
    const v = max * f, yy = y(v);
    return `<line class="grid" x1="${left}" x2="${w}" y1="${yy}" y2="${yy}"/><text class="axis" x="${left - 4}" y="${yy + 4}" text-anchor="end">${esc(Number.isInteger(v) ? v : v.toFixed(1))}${esc(unit)}</text>`;
  }).join("");
  const lines = series.map((s) => {
    const pts = s.points.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    const dots = s.points.length === 1 ? `<circle class="${s.cls}" cx="${x(0)}" cy="${y(s.points[0])}" r="3"/>` : "";
    return `<polyline class="${s.cls}" points="${pts}"/>${dots}`;
  }).join("");
  const xl = `<text class="axis" x="${left}" y="${h - 4}">${esc(labels[0])}</text>` +
    (labels.length > 1 ? `<text class="axis" x="${w}" y="${h - 4}" text-anchor="end">${esc(labels[labels.length - 1])}</text>` : "");
  const days = labels.length === 1 ? ` <span class="muted">(one point so far)</span>` : "";
  const legend = series.map((s) => `<span class="key ${s.cls}">${esc(s.name)}</span>`).join(" ") + days;
  el.innerHTML = `<svg viewBox="0 0 ${w} ${h}" role="img">${grid}${lines}${xl}</svg><div class="legend">${legend}</div>`;
}

// The collector's counters, pushed once a second over server-sent events
// (GET /api/stream/stats); falls back to polling GET /api/stats.
function liveStats(onStats) {
  let polling = null;
  const poll = () => api("/api/stats").then(onStats).catch(report);
  if (!window.EventSource) { polling = setInterval(poll, 2000); poll(); return; }
  const source = new EventSource("/api/stream/stats");
  source.addEventListener("stats", (m) => { try { onStats(JSON.parse(m.data)); } catch (e) { report(e); } });
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED && !polling) { polling = setInterval(poll, 2000); poll(); }
  };
}

// Runs `load` now and every `ms` milliseconds, reporting failures.
function every(ms, load) {
  const run = () => load().then(updated).catch(report);
  run();
  return setInterval(run, ms);
}
