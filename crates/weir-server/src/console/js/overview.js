// Overview page: hosts online and silent, events/s, drops and loss, open
// alerts by severity, the two fleet risk numbers with trends and worst hosts.
"use strict";
const SILENT_AFTER_S = 120;
const epsHistory = [];

function card(value, label, cls = "") { return `<div class="card ${cls}"><b>${esc(value)}</b><span>${esc(label)}</span></div>`; }

async function loadOverview() {
  const [{ hosts }, open, risk, series] = await Promise.all([
    api("/api/hosts"), optional("/api/alerts?mode=alert&state=open&limit=1000"),
    optional("/api/risk"), optional("/api/risk/series?days=30"),
  ]);
  const alerts = open?.alerts || [];
  const now = Date.now();
  const online = hosts.filter((h) => h.connected).length;
  const silent = hosts.filter((h) => !h.last_seen_unix_ns || (now - ms(h.last_seen_unix_ns)) / 1000 > SILENT_AFTER_S).length;
  const lossy = hosts.filter((h) => h.last_loss).length;
  const fleet = risk?.fleet;
  $("cards").innerHTML = [
    card(`${online} / ${hosts.length}`, "hosts online / enrolled"),
    card(silent, `silent > ${SILENT_AFTER_S} s`, silent ? "warn" : ""),
    card(lossy, "hosts reporting loss", lossy ? "warn" : ""),
    card(alerts.length, "open alerts", alerts.length ? "bad" : ""),
    card(fleet ? fleet.oldest_exposed_vuln.max : "no data yet", "oldest exposed vuln (days, fleet max)"),
    card(fleet ? fleet.oldest_exposed_vuln.p95 : "–", "oldest exposed vuln (days, p95)"),
    card(fleet ? fleet.reverse_uptime.max : "no data yet", "reverse uptime (days, fleet max)"),
    card(fleet ? fleet.reverse_uptime.p95 : "–", "reverse uptime (days, p95)"),
  ].join("");
  const levels = ["critical", "high", "medium", "low", "informational"];
  const counts = Object.fromEntries(levels.map((l) => [l, 0]));
  for (const a of alerts) counts[a.level] = (counts[a.level] || 0) + 1;
  const top = Math.max(1, ...Object.values(counts));
  $("severity").innerHTML = Object.entries(counts).map(([l, n]) =>
    `<div class="bar"><span class="lvl ${esc(l)}">${esc(l)}</span><i class="fill ${esc(l)}" style-width="${n / top}"></i><b>${n}</b></div>`).join("");
  // Widths via the CSSOM (the policy forbids inline style attributes).
  document.querySelectorAll("#severity i[style-width]").forEach((i) => { i.style.width = (Number(i.getAttribute("style-width")) * 60).toFixed(1) + "%"; });

  const points = series?.series || [];
  const days = points.map((p) => p.day.slice(5));
  lineChart("vuln-chart", days, [
    { name: "max", cls: "s1", points: points.map((p) => p.oldest_exposed_vuln_max) },
    { name: "p95", cls: "s2", points: points.map((p) => p.oldest_exposed_vuln_p95) }]);
  lineChart("uptime-chart", days, [
    { name: "max", cls: "s1", points: points.map((p) => p.reverse_uptime_max) },
    { name: "p95", cls: "s2", points: points.map((p) => p.reverse_uptime_p95) }]);
  const worst = (list) => (list || []).slice(0, 8);
  rows("worst-vuln", worst(fleet?.oldest_exposed_vuln.worst).filter((w) => w.days > 0), (w) =>
    `<tr><td>${hostLink(w.host_id, w.host_name)}</td><td class="num">${esc(w.days)}</td><td class="mono">${esc(w.detail)}</td></tr>`, 3,
    fleet ? "No exposed vulnerability on any host." : "No data yet (no host inventory received).");
  rows("worst-uptime", worst(fleet?.reverse_uptime.worst), (w) =>
    `<tr><td>${hostLink(w.host_id, w.host_name)}</td><td class="num">${esc(w.days)}</td><td class="mono">${esc(w.detail)}</td></tr>`, 3,
    "No data yet (no host inventory received).");
}

liveStats((s) => {
  $("live-cards").innerHTML = [
    card(num(s.events_per_second), "events/s now"),
    card(num(s.events_ingested), "events since the collector started"),
    card(num(s.sensor_dropped), "events dropped on hosts", s.sensor_dropped ? "warn" : ""),
    card(num(s.refused), "batches refused", s.refused ? "bad" : ""),
  ].join("");
  epsHistory.push(s.events_per_second);
  if (epsHistory.length > 120) epsHistory.shift();
  lineChart("eps-chart", epsHistory.map((_, i) => i === epsHistory.length - 1 ? "now" : `-${epsHistory.length - 1 - i}s`),
    [{ name: "events/s", cls: "s1", points: epsHistory }], { height: 100 });
});
every(5000, loadOverview);
