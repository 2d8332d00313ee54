// Alert queue: refreshed whenever the collector's live counters (server-sent
// events) show new events, and at least every 2 s, so a new alert shows
// without a reload; new rows are highlighted. Filters by mode, state, rule
// and host.
"use strict";
const known = new Set();
let first = true, inFlight = false, lastIngested = null, lastLoad = 0;

function alertsQuery() {
  const params = new URLSearchParams({ limit: "500" });
  for (const [k, v] of new FormData($("alert-filters"))) if (v) params.set(k, v);
  return "/api/alerts?" + params;
}

async function loadAlerts() {
  if (inFlight) return;
  inFlight = true;
  lastLoad = Date.now();
  try {
    const { alerts } = await api(alertsQuery());
    rows("alert-rows", alerts, (a) => {
      const fresh = !first && !known.has(a.id);
      return `<tr class="alert-row${fresh ? " new" : ""}" data-alert-id="${esc(a.id)}">
      <td>${esc(time(a.last_unix_ns))}</td><td class="lvl ${esc(a.level)}">${esc(a.level)}</td>
      <td><a href="/alerts/${esc(a.id)}">${esc(a.rule_title)}</a><div class="mono muted">${esc(a.rule_id)}</div></td>
      <td><span class="pill ${esc(a.mode)}">${esc(a.mode)}</span></td><td><span class="state ${esc(a.state)}">${esc(a.state.replace("_", " "))}</span></td>
      <td class="num">${esc(a.count)}</td><td>${hostLink(a.host_id)}</td><td>${esc(a.actor)}</td><td class="mono">${esc(a.summary)}</td></tr>`;
    }, 9, "No alert matches.");
    alerts.forEach((a) => known.add(a.id));
    first = false;
    updated();
  } finally { inFlight = false; }
}

$("alert-rows").addEventListener("click", (ev) => {
  if (ev.target.closest("a")) return;
  const row = ev.target.closest("tr[data-alert-id]");
  if (row) location.assign(`/alerts/${encodeURIComponent(row.dataset.alertId)}`);
});
$("alert-filters").addEventListener("submit", (ev) => { ev.preventDefault(); first = true; known.clear(); loadAlerts().catch(report); });

liveStats((s) => {
  $("live").textContent = `live · ${num(s.events_per_second)} events/s`;
  if (s.events_ingested !== lastIngested) { lastIngested = s.events_ingested; loadAlerts().catch(report); }
});
loadAlerts().catch(report);
setInterval(() => { if (Date.now() - lastLoad >= 1900) loadAlerts().catch(report); }, 2000);
