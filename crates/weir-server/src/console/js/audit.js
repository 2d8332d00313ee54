// Audit page: who changed what (GET /api/audit, admin only), newest first,
// with paging to older rows.
"use strict";
let oldest = null;
const PAGE_ROWS = 200;

async function loadAudit(older) {
  const before = older && oldest !== null ? `&before_id=${oldest}` : "";
  let audit;
  try {
    ({ audit } = await api(`/api/audit?limit=${PAGE_ROWS}${before}`));
  } catch (e) {
    if (e.status === 403) { rows("audit-rows", [], null, 7, "The audit log needs the admin role."); return; }
    throw e;
  }
  const html = audit.map((r) => `<tr><td>${esc(time(r.time_unix_ns))}</td><td>${esc(r.actor)}</td><td>${esc(r.role)}</td>
    <td class="mono">${esc(r.action)}</td><td class="mono">${esc(r.target)}</td>
    <td><span class="pill ${/^(2\d\d|ok)$/.test(r.outcome) ? "ok" : "bad"}">${esc(r.outcome)}</span></td>
    <td class="mono">${esc(r.source_ip)}</td></tr>`).join("");
  if (older) $("audit-rows").insertAdjacentHTML("beforeend", html);
  else $("audit-rows").innerHTML = html || `<tr><td class="empty" colspan="7">Nothing yet.</td></tr>`;
  if (audit.length) oldest = audit[audit.length - 1].id;
  $("older").hidden = audit.length < PAGE_ROWS;
  updated();
}

$("older").addEventListener("click", () => loadAudit(true).catch(report));
loadAudit(false).catch(report);
