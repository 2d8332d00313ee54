// Weir console behaviour (served at /assets/console.js): polls the JSON API
// with the session cookie; writes carry the CSRF token from the page meta tag.
"use strict";
const $ = (id) => document.getElementById(id);
const views = ["overview", "alerts", "search"];
let current = "overview", timer = null;

const csrf = document.querySelector("meta[name=csrf-token]")?.content || "";
// The server enforces roles; the page only hides what this role cannot do.
const role = document.querySelector("meta[name=weir-role]")?.content || "viewer";
const canWrite = role === "analyst" || role === "admin";
const resolutions = [["true_positive", "true +"], ["false_positive", "false +"], ["benign", "benign"]];

// GET by default; pass { method: "POST", body } for writes (the CSRF header is added).
async function api(path, options = {}) {
  const headers = { Accept: "application/json" };
  if (options.method && options.method !== "GET") { headers["X-CSRF-Token"] = csrf; headers["Content-Type"] = "application/json"; }
  const r = await fetch(path, { ...options, headers, credentials: "same-origin" });
  if (r.status === 401) { window.location.assign("/login"); throw new Error("unauthorized"); }
  if (!r.ok) throw new Error(path + ": HTTP " + r.status + " " + (await r.text()));
  return r.json();
}

function esc(v) { return String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c])); }
function time(ns) { return ns ? new Date(Number(BigInt(ns) / 1000000n)).toISOString().replace("T", " ").slice(0, 23) : "never"; }
function ago(ns) {
  if (!ns) return "never";
  const s = Math.max(0, (Date.now() - Number(BigInt(ns) / 1000000n)) / 1000);
  return s < 60 ? Math.round(s) + " s ago" : s < 3600 ? Math.round(s / 60) + " min ago" : Math.round(s / 3600) + " h ago";
}
function rows(tbody, items, render, cols) {
  $(tbody).innerHTML = items.length ? items.map(render).join("") : `<tr><td class="empty" colspan="${cols}">Nothing yet.</td></tr>`;
}

function show(view) {
  current = view;
  views.forEach((v) => ($(v).hidden = v !== view));
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("on", a.dataset.view === view));
  clearInterval(timer);
  const refresh = { overview: loadOverview, alerts: loadAlerts, search: loadEvents }[view];
  refresh().catch(report);
  if (view !== "search") timer = setInterval(() => refresh().catch(report), 2000);
}

function report(e) { if (e.message !== "unauthorized") $("status").textContent = e.message; }

async function loadOverview() {
  const [{ hosts }, { alerts }] = await Promise.all([api("/api/hosts"), api("/api/alerts?limit=1000")]);
  const open = alerts.filter((a) => a.mode === "alert" && a.state === "open");
  const shadow = alerts.filter((a) => a.mode === "shadow");
  const connected = hosts.filter((h) => h.connected).length;
  const events = hosts.reduce((n, h) => n + (h.events || 0), 0);
  $("cards").innerHTML = [
    [hosts.length, "hosts enrolled"], [connected, "streaming now"], [events.toLocaleString(), "events stored"],
    [open.length, "open alerts"], [shadow.length, "shadow (staged) alerts"],
  ].map(([n, label]) => `<div class="card"><b>${esc(n)}</b><span>${esc(label)}</span></div>`).join("");
  rows("hosts", hosts, (h) => `<tr>
    <td class="mono">${esc(h.host_id)}</td><td>${esc(h.host_name)}</td>
    <td>${h.connected ? '<span class="pill ok">connected</span>' : '<span class="pill bad">not connected</span>'}</td>
    <td>${esc(ago(h.last_seen_unix_ns))}</td><td>${esc((h.events || 0).toLocaleString())}</td>
    <td class="mono">batch ${esc(h.chain_head?.next_index)} · seq ${esc(h.chain_head?.next_seq)}</td>
    <td class="mono">${h.last_loss ? esc(JSON.stringify(h.last_loss)) : "none"}</td></tr>`, 7);
  $("status").textContent = "updated " + new Date().toLocaleTimeString();
}

async function loadAlerts() {
  const mode = new FormData($("alert-filters")).get("mode");
  const { alerts } = await api("/api/alerts?limit=500" + (mode ? "&mode=" + encodeURIComponent(mode) : ""));
  rows("alert-rows", alerts, (a) => `<tr>
    <td>${esc(time(a.last_unix_ns))}</td><td class="lvl ${esc(a.level)}">${esc(a.level)}</td>
    <td>${esc(a.rule_title)}<div class="mono muted">${esc(a.rule_id)}</div></td>
    <td><span class="pill ${esc(a.mode)}">${esc(a.mode)}</span></td><td>${esc(a.state.replace("_", " "))}</td><td>${esc(a.count)}</td>
    <td class="mono">${esc(a.host_id.slice(0, 12))}</td><td>${esc(a.actor)}</td><td class="mono">${esc(a.summary)}</td>
    <td>${canWrite && a.mode === "alert" && !["true_positive", "false_positive", "benign"].includes(a.state)
      ? resolutions.map(([value, label]) => `<button class="small" data-resolve="${esc(a.id)}" data-as="${value}">${label}</button>`).join(" ")
      : ""}</td></tr>`, 10);
  $("status").textContent = "updated " + new Date().toLocaleTimeString();
}

function what(e) {
  if (e["file.path"]) return `${e["event.action"]} ${e["file.path"]}` + (e["file.source_path"] ? ` (from ${e["file.source_path"]})` : "");
  if (e["destination.ip"] || e["source.ip"]) {
    const dst = e["destination.ip"] ? `${e["destination.ip"]}:${e["destination.port"] ?? ""}` : `${e["source.ip"]}:${e["source.port"] ?? ""}`;
    return `${e["event.action"]} ${dst}`;
  }
  if (e["event.kind"] === "loss") return `lost ${e["loss.total"]} events`;
  if (e["event.kind"] === "health") return `sensor ${e["event.action"]} (${e["sensor.mode"] || ""})`;
  if (e["event.kind"] === "integrity") return `${e["integrity.problem"]}: ${e["integrity.detail"] || ""}`;
  return e["process.command_line"] || e["process.executable"] || e["event.action"] || "";
}

async function loadEvents() {
  const params = new URLSearchParams();
  for (const [k, v] of new FormData($("search-form"))) if (v) params.set(k, v);
  params.set("limit", "200");
  const { events } = await api("/api/events?" + params);
  rows("events", events, (e) => `<tr>
    <td>${esc((e["@timestamp"] || "").replace("T", " ").slice(0, 23))}</td><td class="mono">${esc((e["host.name"] || e["host.id"] || "").slice(0, 16))}</td>
    <td>${esc(e["event.kind"])}</td><td>${esc(e["user.name"] ?? e["user.id"] ?? "")}${e["user.login"] && e["user.login"] !== e["user.name"] ? " (login " + esc(e["user.login"]) + ")" : ""}</td>
    <td>${esc(e["process.pid"] ?? "")}</td><td class="mono">${esc(what(e))}</td><td class="mono">${esc(e["process.parent.executable"] || "")}</td></tr>`, 7);
  $("status").textContent = `${events.length} events`;
}

$("alert-rows").addEventListener("click", async (ev) => {
  const button = ev.target.closest("button[data-resolve]");
  if (!button) return;
  const note = window.prompt(`Resolve alert ${button.dataset.resolve} as ${button.dataset.as}. Note (optional):`, "");
  if (note === null) return;
  try {
    await api(`/api/alerts/${encodeURIComponent(button.dataset.resolve)}/resolve`, {
      method: "POST", body: JSON.stringify({ resolution: button.dataset.as, note }),
    });
    await loadAlerts();
  } catch (e) { report(e); }
});
$("alert-filters").addEventListener("submit", (ev) => { ev.preventDefault(); loadAlerts().catch(report); });
$("search-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadEvents().catch(report); });
document.querySelectorAll("nav a").forEach((a) => a.addEventListener("click", () => show(a.dataset.view)));
show("overview");
