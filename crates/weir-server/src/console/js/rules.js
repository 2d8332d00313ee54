// Rules page: each loaded rule's effective mode, alerts a day, staged
// (shadow) would-be alerts, false-positive and confirmation rates, lint
// findings; admins change the mode (promote or demote). Suppressions are
// listed with a lift button for analysts.
"use strict";
const MODES = ["shadow", "alert", "respond", "enforce"];
const DAY_NS = 86400e9;

function sum(stats, mode, field) { return stats.filter((s) => !mode || s.mode === mode).reduce((n, s) => n + (s[field] || 0), 0); }
function perDay(stats) {
  const live = stats.filter((s) => s.mode === "alert");
  const alerts = sum(live, null, "alerts");
  if (!alerts) return 0;
  const first = Math.min(...live.map((s) => s.first_unix_ns)), last = Math.max(Date.now() * 1e6, ...live.map((s) => s.last_unix_ns));
  return alerts / Math.max(1, (last - first) / DAY_NS);
}

async function loadRules() {
  const [{ rules }, { suppressions }] = await Promise.all([api("/api/rules"), api("/api/suppressions")]);
  rows("rule-rows", rules, ({ rule, mode, stats }) => {
    const tp = sum(stats, "alert", "true_positives"), fp = sum(stats, "alert", "false_positives"), benign = sum(stats, "alert", "benign");
    const resolved = tp + fp + benign;
    const lint = [rule.unsupported && `<span class="pill bad">cannot fire: ${esc(rule.unsupported)}</span>`,
      rule.not_enforceable && mode === "enforce" && `<span class="pill warn">not enforceable in kernel: ${esc(rule.not_enforceable)}</span>`].filter(Boolean).join(" ");
    const change = isAdmin ? `<select class="mode-select" data-rule="${esc(rule.id)}">${MODES.map((m) =>
      `<option${m === mode ? " selected" : ""}>${m}</option>`).join("")}</select>` : `<span class="muted">needs admin</span>`;
    return `<tr><td>${esc(rule.title)}<div class="mono muted">${esc(rule.id)} · ${esc(rule.origin)}${rule.author ? " · " + esc(rule.author) : ""}</div></td>
      <td class="lvl ${esc(rule.level)}">${esc(rule.level)}</td><td><span class="pill ${esc(mode)}">${esc(mode)}</span>${mode !== rule.file_mode ? ` <span class="muted">(file: ${esc(rule.file_mode)})</span>` : ""}</td>
      <td class="num">${perDay(stats).toFixed(1)}</td><td class="num">${num(sum(stats, "alert", "alerts"))}</td>
      <td class="num">${num(sum(stats, "shadow", "alerts"))} <span class="muted">(${num(sum(stats, "shadow", "matches"))} matches)</span></td>
      <td class="num">${pct(fp, resolved)}</td><td class="num">${pct(tp, resolved)} <span class="muted">of ${resolved}</span></td>
      <td>${lint || '<span class="muted">ok</span>'}</td><td>${change}</td></tr>`;
  }, 10, "No rule loaded.");
  const now = Date.now() * 1e6;
  rows("suppression-rows", suppressions, (s) => {
    const live = !s.lifted_unix_ns && s.expires_unix_ns > now;
    return `<tr class="${live ? "" : "muted"}"><td>${esc(s.id)}</td><td class="mono">${esc(s.rule_id)}</td><td class="mono">${esc(s.group_key ?? "any")}</td>
      <td class="mono">${esc(s.host_id ?? "any")}</td><td>${esc(s.reason)}</td><td>${esc(s.author)}</td>
      <td>${s.lifted_unix_ns ? `lifted by ${esc(s.lifted_by)}` : esc(time(s.expires_unix_ns))}</td><td class="num">${esc(s.hits)}</td>
      <td>${live && canWrite ? `<button class="small" data-lift="${esc(s.id)}">lift</button>` : ""}</td></tr>`;
  }, 9, "No suppression.");
}

$("rule-rows").addEventListener("change", async (ev) => {
  const select = ev.target.closest("select.mode-select");
  if (!select) return;
  const note = window.prompt(`Set rule ${select.dataset.rule} to ${select.value}. Note:`, "");
  if (note === null) { loadRules().catch(report); return; }
  try {
    await api(`/api/admin/rules/${encodeURIComponent(select.dataset.rule)}/mode`, { method: "POST", body: JSON.stringify({ mode: select.value, note }) });
    await loadRules();
    updated();
  } catch (e) { report(e); }
});
$("suppression-rows").addEventListener("click", async (ev) => {
  const button = ev.target.closest("button[data-lift]");
  if (!button) return;
  try {
    await api(`/api/suppressions/${encodeURIComponent(button.dataset.lift)}/lift`, { method: "POST", body: "{}" });
    await loadRules();
  } catch (e) { report(e); }
});

loadRules().then(updated).catch(report);
