// Alert page: facts, evidence events (looked up exactly by host and
// sequence number), the exec's process lineage, the
// evidence-log inclusion proof verified here with SHA-256 per RFC 9162,
// the triage timeline, state changes, response actions, resolving and
// suppressing, and adding an exception for the activity.
"use strict";
const alertId = decodeURIComponent(location.pathname.split("/")[2] || "");
let current = null;

function hex(bytes) { return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join(""); }
function unhex(text) {
  if (!/^([0-9a-f]{2})*$/i.test(text)) throw new Error(`not hex: ${text}`);
  return Uint8Array.from(text.match(/../g) || [], (b) => parseInt(b, 16));
}
async function nodeHash(left, right) {
  const buf = new Uint8Array(65);
  buf[0] = 1; buf.set(left, 1); buf.set(right, 33);
  return new Uint8Array(await crypto.subtle.digest("SHA-256", buf));
}

// RFC 9162 section 2.1.3.2: the root from a leaf hash and its audit path.
async function rootFromPath(index, size, leafHash, path) {
  if (index >= size) throw new Error(`leaf ${index} is not below tree size ${size}`);
  let fn = BigInt(index), sn = BigInt(size) - 1n, r = leafHash;
  for (const p of path) {
    if (sn === 0n) throw new Error("the path is longer than the tree");
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else r = await nodeHash(r, p);
    fn >>= 1n; sn >>= 1n;
  }
  if (sn !== 0n) throw new Error("the path is shorter than the tree");
  return r;
}

async function checkProof(leaf) {
  const { proof } = await api(`/api/evidence/${encodeURIComponent(leaf)}/proof`);
  if (!window.crypto?.subtle) throw new Error("this browser has no SubtleCrypto (needs a secure context)");
  const c = proof.checkpoint;
  const root = await rootFromPath(proof.leaf, c.tree_size, unhex(proof.leaf_hash), proof.path.map(unhex));
  return { ok: hex(root) === c.root.toLowerCase(), root: hex(root), proof };
}

async function showProof(leaves) {
  const el = $("proof");
  if (!leaves.length) { el.innerHTML = `<span class="muted">No evidence leaf recorded for this alert.</span>`; return; }
  const lines = [];
  let allOk = true;
  for (const leaf of leaves.slice(0, 10)) {
    try {
      const { ok, root, proof } = await checkProof(leaf);
      const c = proof.checkpoint;
      allOk &&= ok;
      lines.push(ok
        ? `<div class="ok proof-line">✔ leaf ${esc(leaf)} verified against checkpoint of tree size ${esc(c.tree_size)} signed at ${esc(time(c.time_unix_ns))} UTC <span class="mono muted">root ${esc(short(c.root, 16))}… · ${esc(proof.path.length)} path hashes</span></div>`
        : `<div class="bad proof-line">✘ leaf ${esc(leaf)}: the path gives root ${esc(root)}, the checkpoint of tree size ${esc(c.tree_size)} says ${esc(c.root)}</div>`);
    } catch (e) {
      allOk = false;
      const pending = e.status === 404 && /checkpoint/i.test(e.message);
      lines.push(pending
        ? `<div class="muted proof-line">… leaf ${esc(leaf)} is not under a signed checkpoint yet (checkpoints follow within seconds); retrying</div>`
        : `<div class="bad proof-line">✘ leaf ${esc(leaf)}: ${esc(e.message)}</div>`);
    }
  }
  el.innerHTML = lines.join("");
  el.dataset.verified = allOk ? "yes" : "no";
  if (!allOk) setTimeout(() => showProof(leaves).catch(report), 3000); // checkpoints follow the log
}

function clip(text, n = 240) { const t = String(text ?? ""); return t.length > n ? t.slice(0, n) + ` … (${t.length} chars)` : t; }

function lineage(e) {
  const items = [`<li><b class="mono">${esc(e["process.command_line"] || e["process.executable"])}</b> <span class="muted">pid ${esc(e["process.pid"])} · ${esc(e["process.entity_id"] || "")}</span></li>`];
  for (const a of e["process.ancestors"] || []) {
    items.push(`<li><span class="mono" title="${esc(a.command_line)}">${esc(clip(a.command_line || a.executable))}</span> <span class="muted">pid ${esc(a.pid)} · ${esc(a.entity_id || "")}</span></li>`);
  }
  if (!(e["process.ancestors"] || []).length && e["process.parent.executable"]) {
    items.push(`<li><span class="mono">${esc(e["process.parent.command_line"] || e["process.parent.executable"])}</span></li>`);
  }
  return items.join("");
}

async function evidenceEvents(evidence) {
  // Each evidence event exactly, by host and sequence number.
  const found = [];
  for (const ev of evidence) {
    const { events } = await api(`/api/events?host=${encodeURIComponent(ev.host_id)}&seq=${encodeURIComponent(ev.seq)}&limit=1`);
    found.push(...events);
  }
  return found;
}

async function loadAlert() {
  const detail = await api(`/api/alerts/${encodeURIComponent(alertId)}`);
  const a = detail.alert;
  current = a;
  $("alert-title").innerHTML = `<span class="lvl ${esc(a.level)}">${esc(a.level)}</span> ${esc(a.rule_title)} <span class="muted">#${esc(a.id)}</span>`;
  kv("alert-facts", [
    ["state", `<span class="state ${esc(a.state)}" id="alert-state">${esc(a.state.replace("_", " "))}</span>`],
    ["mode", `<span class="pill ${esc(a.mode)}">${esc(a.mode)}</span>`],
    ["rule", `<span class="mono">${esc(a.rule_id)}</span>`], ["host", hostLink(a.host_id)], ["actor", esc(a.actor)],
    ["what", `<span class="mono">${esc(a.summary)}</span>`], ["group key", `<span class="mono">${esc(a.group_key)}</span>`],
    ["count", esc(a.count)], ["first seen", esc(time(a.first_unix_ns))], ["last seen", esc(time(a.last_unix_ns))],
  ]);
  const resolved = ["true_positive", "false_positive", "benign"].includes(a.state);
  $("resolve-panel").hidden = !canWrite || a.mode !== "alert" || resolved;
  $("suppress-panel").hidden = !canWrite;
  $("except-panel").hidden = !canWrite;
  const form = $("suppress-form");
  if (!form.dataset.filled) {
    form.rule_id.value = a.rule_id; form.group_key.value = a.group_key; form.host_id.value = a.host_id;
    form.dataset.filled = "yes";
  }
  rows("transitions", detail.transitions, (t) => `<tr><td>${esc(time(t.at_unix_ns))}</td><td>${esc(t.state)}</td><td>${esc(t.who)}</td><td>${esc(t.note)}</td></tr>`, 4, "No change yet.");
  rows("actions", detail.actions, (x) => `<tr><td>${esc(time(x.decided_unix_ns))}</td><td>${esc(x.action)}</td><td class="mono">${esc(x.target)}</td>
    <td>${esc(x.mode)}</td><td>${esc(x.status)}</td><td class="mono">${esc(x.result)}</td><td class="num">${esc(x.host_latency_us ?? "")}</td></tr>`, 7, "No response action.");
  const triage = await optional(`/api/alerts/${encodeURIComponent(alertId)}/triage`);
  if (!triage || (!triage.state && !(triage.timeline || []).length)) $("triage").innerHTML = `<span class="muted">No triage for this alert.</span>`;
  else $("triage").innerHTML = `<div>state: <b>${esc(typeof triage.state === "string" ? triage.state : JSON.stringify(triage.state))}</b></div>
    <table><thead><tr><th>When</th><th>Step</th><th>Detail</th><th>Source</th></tr></thead><tbody>${(triage.timeline || []).map((t) =>
      `<tr><td>${esc(time(t.at))}</td><td>${esc(t.kind)}</td><td class="mono">${esc(t.detail)}</td>
      <td class="mono">${esc(t.source || "")}${t.from_flagged_host ? ' <span class="pill bad">from a flagged host</span>' : ""}</td></tr>`).join("")}</tbody></table>`;
  return detail;
}

async function loadEvidence(detail) {
  const events = await evidenceEvents(detail.evidence);
  rows("evidence", events, (e) => `<tr><td>${esc(eventTime(e))}</td><td>${esc(e["event.sequence"])}</td><td>${esc(e["event.kind"])}</td>
    <td>${eventUser(e)}</td><td>${esc(e["process.pid"] ?? "")}</td><td class="mono">${esc(what(e))}</td><td>${esc(e["evidence.leaf"])}</td></tr>`, 7,
    detail.evidence.length ? "Evidence events not found in the index." : "No evidence recorded.");
  const exec = events.find((e) => e["event.kind"] === "exec") || events[0];
  const ex = $("except-form");
  if (!ex.dataset.filled) {
    ex.rule_id.value = current.rule_id;
    ex.exe.value = (exec && exec["process.executable"]) || "";
    ex.host.value = (exec && exec["host.name"]) || "";
    ex.dataset.filled = "yes";
  }
  $("lineage").innerHTML = exec ? lineage(exec) : `<li class="muted">No process event.</li>`;
  const leaves = [...new Set(detail.evidence.map((e) => e.evidence_leaf).filter((l) => l !== null && l !== undefined))];
  await showProof(leaves);
}

$("resolve-form").addEventListener("click", async (ev) => {
  const button = ev.target.closest("button[data-resolution]");
  if (!button) return;
  ev.preventDefault();
  try {
    await api(`/api/alerts/${encodeURIComponent(alertId)}/resolve`, {
      method: "POST", body: JSON.stringify({ resolution: button.dataset.resolution, note: $("resolve-form").note.value }),
    });
    await loadAlert();
    updated();
  } catch (e) { report(e); }
});
$("resolve-form").addEventListener("submit", (ev) => ev.preventDefault());
$("suppress-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  try {
    const { id } = await api("/api/suppressions", {
      method: "POST", body: JSON.stringify({
        rule_id: f.rule_id.value, group_key: f.group_key.value, host_id: f.host_id.value,
        reason: f.reason.value, hours: Number(f.hours.value),
      }),
    });
    $("suppress-result").textContent = `Suppression ${id} created (see Rules).`;
  } catch (e) { report(e); }
});

$("except-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const where = {};
  if (f.exe.value) where["process.executable"] = f.exe.value;
  if (f.host.value) where["host.name"] = f.host.value;
  try {
    await api("/api/exceptions", {
      method: "POST", body: JSON.stringify({ rule_id: f.rule_id.value, reason: f.reason.value, where }),
    });
    $("except-result").textContent = "Exception added: detection applies it within seconds.";
  } catch (e) { report(e); }
});

loadAlert().then(loadEvidence).then(updated).catch(report);
setInterval(() => loadAlert().catch(report), 5000);
