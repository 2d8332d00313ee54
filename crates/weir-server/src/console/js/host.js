// Host page: identity and chain head, risk numbers, exposure chains,
// inventory, listeners seen, and the recent process tree built from exec
// events (parent entity ids).
"use strict";
const hostId = decodeURIComponent(location.pathname.split("/")[2] || "");

function chainRow(c) {
  return `<tr class="${c.exposed ? "" : "muted"}">
    <td class="mono">${esc(c.protocol)} ${esc(c.address)}:${esc(c.port)}</td><td>${esc(typeof c.reach === "string" ? c.reach : JSON.stringify(c.reach))}</td>
    <td class="mono">${esc(c.executable)} <span class="muted">pid ${esc(c.pid)}</span>${c.library && c.library !== c.executable ? `<div class="muted">${esc(c.library)}</div>` : ""}</td>
    <td class="mono">${esc(c.ecosystem)}: ${esc(c.package)} ${esc(c.version)}</td>
    <td class="mono">${esc(c.advisory_id)}${c.summary ? `<div class="muted">${esc(c.summary)}</div>` : ""}</td>
    <td class="num">${esc(c.age_days)}</td><td class="mono">${c.fixed_versions?.length ? esc(c.fixed_versions.join(", ")) : "no fix known"}</td></tr>`;
}

// Text tree of execs: children under their parent's entity id.
function processTree(execs) {
  const byId = new Map(), children = new Map();
  for (const e of execs.slice().reverse()) byId.set(e["process.entity_id"], e);
  const roots = [];
  for (const e of byId.values()) {
    const parent = e["process.parent.entity_id"];
    if (parent && byId.has(parent) && parent !== e["process.entity_id"]) {
      if (!children.has(parent)) children.set(parent, []);
      children.get(parent).push(e);
    } else roots.push(e);
  }
  const lines = [];
  const walk = (e, depth, seen) => {
    if (seen.has(e) || lines.length > 2000) return;
    seen.add(e);
    const parentNote = depth === 0 && e["process.parent.executable"] ? `  ← ${e["process.parent.executable"]}` : "";
    lines.push(`${"  ".repeat(depth)}${depth ? "└ " : ""}${eventTime(e).slice(11)} [${e["process.pid"]}] ${e["process.command_line"] || e["process.executable"]}${parentNote}`);
    for (const c of children.get(e["process.entity_id"]) || []) walk(c, depth + 1, seen);
  };
  const seen = new Set();
  for (const r of roots) walk(r, 0, seen);
  return lines.join("\n");
}

async function loadHost() {
  const [{ hosts }, risk, execs, network, health] = await Promise.all([
    api("/api/hosts"), optional(`/api/risk/hosts/${encodeURIComponent(hostId)}`),
    api(`/api/events?host=${encodeURIComponent(hostId)}&kind=exec&since=1h&limit=500`),
    api(`/api/events?host=${encodeURIComponent(hostId)}&kind=network&contains=listen&since=24h&limit=2000`),
    api(`/api/events?host=${encodeURIComponent(hostId)}&kind=health&since=7d&limit=1`),
  ]);
  const h = hosts.find((x) => x.host_id === hostId);
  if (!h) { $("host-title").textContent = `No enrolled host ${hostId}`; return; }
  $("host-title").textContent = `${h.host_name || h.host_id}`;
  const r = risk?.host;
  $("host-cards").innerHTML = [
    [h.connected ? "connected" : "not connected", "stream"], [ago(h.last_seen_unix_ns), "last seen"], [num(h.events), "events"],
    [r ? r.reverse_uptime.days : "no data yet", "reverse uptime (days)"], [r ? r.oldest_exposed_vuln_days : "no data yet", "oldest exposed vuln (days)"],
  ].map(([v, l]) => `<div class="card"><b>${esc(v)}</b><span>${esc(l)}</span></div>`).join("");
  kv("host-identity", [
    ["host id", `<span class="mono">${esc(h.host_id)}</span>`], ["machine id", `<span class="mono">${esc(h.machine_id)}</span>`],
    ["public key", `<span class="mono">${esc(h.public_key)}</span>`], ["enrolled", esc(time(h.enrolled_unix_ns))],
    ["chain head", `<span class="mono">batch ${esc(h.chain_head?.next_index)} · seq ${esc(h.chain_head?.next_seq)} · ${esc(short(h.chain_head?.head_hash, 16))}</span>`],
    ["last reported loss", `<span class="mono">${h.last_loss ? esc(JSON.stringify(h.last_loss)) : "none"}</span>`],
  ]);
  const hb = health.events[0];
  kv("host-health", hb ? [
    ["reported", `${esc(eventTime(hb))} (${esc(hb["event.action"] || "")})`],
    ["mode", `<span class="pill ${hb["sensor.degraded"] ? "bad" : "ok"}">${esc(hb["sensor.mode"] || "?")}${hb["sensor.degraded"] ? " · degraded" : ""}</span> ${esc(hb["sensor.detail"] || "")}`],
    ["events seen", esc(num(total(hb["sensor.seen"])) + breakdown(hb["sensor.seen"]))],
    ["dropped", `kernel ${esc(num(total(hb["sensor.dropped_kernel"])) + breakdown(hb["sensor.dropped_kernel"]))} · user ${esc(num(total(hb["sensor.dropped_user"])) + breakdown(hb["sensor.dropped_user"]))}`],
    ["cost", `${esc(num(hb["sensor.cpu_seconds"]))} CPU s · ${esc(num(Math.round((hb["sensor.rss_bytes"] || 0) / 1048576)))} MiB RSS · ${esc(num(hb["sensor.processes_tracked"]))} processes tracked`],
    ["version", `<span class="mono">${esc(hb["sensor.version"] || "")}</span>`],
  ] : [["reported", "no health report in the last 7 days"]]);
  if (r) {
    const u = r.reverse_uptime;
    kv("host-inventory", [
      ["inventory", `${esc(num(r.packages))} packages · received ${esc(ago(r.inventory_received_unix_ns))} (${esc(r.inventory_reason)})`],
      ["inventory errors", r.inventory_errors.length ? `<span class="mono">${esc(r.inventory_errors.join("; "))}</span>` : "none"],
      ["listeners", esc(Object.entries(r.exposure.listeners).map(([k, v]) => `${k.replace("_", " ")} ${v}`).join(" · "))],
      ["effective install", `${esc(time(u.effective_install_unix_ns))} (${esc(u.days)} days)`],
      ["claim", `${esc(u.claim_basis || "none")} ${u.claimed_install_unix_ns ? esc(time(u.claimed_install_unix_ns)) : ""}`],
      ["collector first saw it", esc(time(u.first_seen_unix_ns))],
      ["signals", `<span class="mono">${esc(u.signals.map((s) => `${s.name}=${time(s.unix_ns)}`).join(", ") || "none")}</span>`],
      ["flags", u.flags.length ? u.flags.map((f) => `<span class="pill bad">${esc(f.kind)}</span> ${esc(f.detail)}`).join("<br>") : "none"],
    ]);
    rows("chains", r.exposure.chains, chainRow, 7, "No vulnerable package behind a non-loopback listener.");
  } else {
    kv("host-inventory", [["inventory", "no data yet (the host has not sent an inventory)"]]);
    rows("chains", [], chainRow, 7, "No data yet.");
  }
  // One row per (program, action, transport, address); ports listed, counted.
  const groups = new Map();
  for (const e of network.events.filter((x) => x["network.direction"] === "listen")) {
    const ip = e["source.ip"] ?? e["destination.ip"] ?? "";
    const port = e["source.port"] ?? e["destination.port"] ?? "";
    const key = [e["process.executable"], e["event.action"], e["network.transport"], ip].join("|");
    if (!groups.has(key)) groups.set(key, { e, ip, ports: new Set(), count: 0 });
    const g = groups.get(key);
    g.ports.add(port);
    g.count++;
  }
  const listed = [...groups.values()].slice(0, 100);
  rows("listeners", listed, ({ e, ip, ports, count }) => {
    const shown = [...ports].slice(0, 6).join(", ") + (ports.size > 6 ? ` … ${ports.size} ports` : "");
    return `<tr><td>${esc(eventTime(e))}</td>
    <td class="mono">${esc(e["event.action"])} ${esc(e["network.transport"] || "")} ${esc(ip)} : ${esc(shown)}</td><td class="mono">${esc(e["process.executable"])}</td>
    <td>${esc(e["process.pid"])}${count > 1 ? ` <span class="muted">(${count} events)</span>` : ""}</td><td>${eventUser(e)}</td></tr>`;
  }, 5, "No listen event in the last 24 hours.");
  $("tree").textContent = execs.events.length ? processTree(execs.events) : "No exec in the last hour.";
}

every(10000, loadHost);
