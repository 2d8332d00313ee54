// Search page: the filters of `weir query` (since, until, host, kind, user,
// executable, contains, limit) over GET /api/events; the filters live in
// the URL so a search can be shared; a click on a row shows the whole event.
"use strict";
let found = [];

async function search() {
  const params = new URLSearchParams();
  for (const [k, v] of new FormData($("search-form"))) if (String(v).trim()) params.set(k, String(v).trim());
  history.replaceState(null, "", "/search?" + params);
  const { events } = await api("/api/events?" + params);
  found = events;
  rows("events", events, (e, i) => `<tr class="event-row" data-index="${i}">
    <td>${esc(eventTime(e))}</td><td>${hostLink(e["host.id"], e["host.name"])}</td>
    <td>${esc(e["event.kind"])}</td><td>${eventUser(e)}</td>
    <td>${esc(e["process.pid"] ?? "")}</td><td class="mono">${esc(what(e))}</td><td class="mono">${esc(e["process.parent.executable"] || "")}</td></tr>`, 7, "No event matches.");
  status(`${events.length} events`);
}

for (const [k, v] of new URLSearchParams(location.search)) if ($("search-form")[k]) $("search-form")[k].value = v;
$("events").addEventListener("click", (ev) => {
  if (ev.target.closest("a")) return;
  const row = ev.target.closest("tr.event-row");
  if (!row) return;
  if (row.nextElementSibling?.classList.contains("event-detail")) { row.nextElementSibling.remove(); return; }
  const json = JSON.stringify(found[Number(row.dataset.index)], null, 2);
  row.insertAdjacentHTML("afterend", `<tr class="event-detail"><td colspan="7"><pre class="tree">${esc(json)}</pre></td></tr>`);
});
$("search-form").addEventListener("submit", (ev) => { ev.preventDefault(); search().catch(report); });
search().catch(report);
