// Hosts page: every enrolled host with its stream state, sensor health
// (latest health event: mode, degraded), reverse uptime and oldest exposed
// vulnerability.
"use strict";

// Latest health event per host (newest first from the API).
async function sensorHealth() {
  const { events } = await api("/api/events?kind=health&since=7d&limit=1000");
  const latest = {};
  for (const e of events) if (!latest[e["host.id"]]) latest[e["host.id"]] = e;
  return latest;
}

function healthCell(e) {
  if (!e) return `<span class="muted">no report</span>`;
  const mode = e["sensor.mode"] || e["event.action"] || "";
  const degraded = e["sensor.degraded"] === true;
  const drops = total(e["sensor.dropped_kernel"]) + total(e["sensor.dropped_user"]);
  return `<span class="pill ${degraded ? "bad" : "ok"}">${esc(mode || "ok")}${degraded ? " · degraded" : ""}</span>` +
    ` <span class="muted">${esc(ago(Date.parse(e["@timestamp"]) * 1e6))}${drops ? ` · ${esc(num(drops))} dropped` : ""}</span>` +
    (degraded && e["sensor.detail"] ? `<div class="muted">${esc(e["sensor.detail"])}</div>` : "");
}

async function loadHosts() {
  const [{ hosts }, risk, health] = await Promise.all([api("/api/hosts"), optional("/api/risk"), sensorHealth()]);
  const riskOf = Object.fromEntries((risk?.fleet?.per_host || []).map((h) => [h.host_id, h]));
  rows("host-rows", hosts, (h) => {
    const r = riskOf[h.host_id];
    return `<tr>
      <td>${hostLink(h.host_id, h.host_name)}<div class="mono muted">${esc(short(h.host_id, 24))}</div></td>
      <td>${h.connected ? '<span class="pill ok">connected</span>' : '<span class="pill bad">not connected</span>'}</td>
      <td>${esc(ago(h.last_seen_unix_ns))}</td><td class="num">${esc(num(h.events))}</td>
      <td>${healthCell(health[h.host_id])}</td>
      <td class="num">${r ? esc(r.reverse_uptime_days) : '<span class="muted">no data yet</span>'}</td>
      <td class="num">${r ? esc(r.oldest_exposed_vuln_days ?? 0) : '<span class="muted">no data yet</span>'}</td>
      <td class="mono">${h.last_loss ? esc(JSON.stringify(h.last_loss)) : "none"}</td></tr>`;
  }, 8, "No host enrolled yet.");
}

every(5000, loadHosts);
