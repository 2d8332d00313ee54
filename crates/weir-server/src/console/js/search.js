// Search page: the filters of `weir query` (since, until, host, kind, user,
// executable, contains, limit) over GET /api/events; the filters live in
// the URL so a search can be shared.
"use strict";

async function search() {
  const params = new URLSearchParams();
  for (const [k, v] of new FormData($("search-form"))) if (String(v).trim()) params.set(k, String(v).trim());
  history.replaceState(null, "", "/search?" + params);
  const { events } = await api("/api/events?" + params);
  rows("events", events, (e) => `<tr>
    <td>${esc(eventTime(e))}</td><td>${hostLink(e["host.id"], e["host.name"])}</td>
    <td>${esc(e["event.kind"])}</td><td>${eventUser(e)}</td>
    <td>${esc(e["process.pid"] ?? "")}</td><td class="mono">${esc(what(e))}</td><td class="mono">${esc(e["process.parent.executable"] || "")}</td></tr>`, 7, "No event matches.");
  status(`${events.length} events`);
}

for (const [k, v] of new URLSearchParams(location.search)) if ($("search-form")[k]) $("search-form")[k].value = v;
$("search-form").addEventListener("submit", (ev) => { ev.preventDefault(); search().catch(report); });
search().catch(report);
