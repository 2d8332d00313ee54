//! Server-rendered HTML for the confirm link: the "Was this you?" page and the
//! plain result pages. No scripts and no external assets; the inline style is
//! allowed by a per-response CSP nonce. Colours and fonts follow the console.

use crate::types::RequestView;

const STYLE: &str = "
:root { --ink:#1d2430; --muted:#6b7585; --line:#e3e7ee; --bg:#f6f8fb; --accent:#1f6feb; --high:#c62828; --med:#ef6c00; --low:#607d8b; --ok:#2e7d32; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui, -apple-system, \"Segoe UI\", sans-serif; color:var(--ink); background:var(--bg); }
header { display:flex; align-items:center; gap:24px; padding:10px 20px; background:#0f1724; color:#fff; }
header h1 { font-size:18px; margin:0; letter-spacing:.5px; }
main { max-width:560px; margin:40px auto; background:#fff; border:1px solid var(--line); border-radius:10px; padding:24px; }
h2 { font-size:20px; margin:0 0 12px; }
dl { display:grid; grid-template-columns:max-content 1fr; gap:4px 14px; margin:0 0 18px; }
dt { color:var(--muted); } dd { margin:0; }
.mono { font-family:ui-monospace, SFMono-Regular, Menlo, monospace; font-size:12px; word-break:break-all; }
.lvl { font-weight:600; text-transform:uppercase; font-size:11px; }
.lvl.critical, .lvl.high { color:var(--high); } .lvl.medium { color:var(--med); } .lvl.low, .lvl.informational { color:var(--low); }
form { margin:12px 0; }
label { display:block; color:var(--muted); margin-bottom:4px; }
input, select, button { font:inherit; padding:5px 8px; border:1px solid #c9d1dd; border-radius:6px; background:#fff; }
input.code { font-size:20px; letter-spacing:4px; width:9em; }
button { background:var(--accent); color:#fff; border-color:var(--accent); cursor:pointer; }
button.no { background:var(--high); border-color:var(--high); }
.row { display:flex; gap:10px; align-items:end; flex-wrap:wrap; }
.notice { padding:8px 12px; border-radius:6px; background:#fde5e5; color:var(--high); margin-bottom:14px; }
.good { color:var(--ok); } .bad { color:var(--high); }
p.muted { color:var(--muted); }
";

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let rem = unix % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn document(style_nonce: &str, title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{} · Weir</title>\
         <style nonce=\"{style_nonce}\">{STYLE}</style></head>\
         <body><header><h1>WEIR</h1></header><main>{body}</main></body></html>\n",
        escape(title)
    )
}

/// The confirm page: what happened, and Yes (with code) / No.
pub fn confirm_page(view: &RequestView, form_nonce: &str, style_nonce: &str, notice: Option<&str>) -> String {
    let level = escape(&view.severity.to_ascii_lowercase());
    let notice = notice
        .map(|n| format!("<div class=\"notice\">{}</div>", escape(n)))
        .unwrap_or_default();
    let body = format!(
        "{notice}<h2>Was this you?</h2>\
         <dl>\
         <dt>Rule</dt><dd>{title} <span class=\"mono\">{rule_id}</span></dd>\
         <dt>Severity</dt><dd><span class=\"lvl {level}\">{level}</span></dd>\
         <dt>Host</dt><dd>{host} <span class=\"mono\">{host_id}</span></dd>\
         <dt>When</dt><dd>{when}</dd>\
         <dt>What</dt><dd class=\"mono\">{summary}</dd>\
         <dt>Answer by</dt><dd>{deadline}</dd>\
         </dl>\
         <form method=\"post\">\
         <input type=\"hidden\" name=\"nonce\" value=\"{nonce}\">\
         <input type=\"hidden\" name=\"answer\" value=\"yes\">\
         <div class=\"row\">\
         <div><label for=\"code\">Authenticator code</label>\
         <input class=\"code\" id=\"code\" name=\"code\" required inputmode=\"numeric\" pattern=\"[0-9]{{6}}\" \
         maxlength=\"6\" autocomplete=\"one-time-code\"></div>\
         <div><label for=\"suppress\">Then silence this rule for me</label>\
         <select id=\"suppress\" name=\"suppress_hours\">\
         <option value=\"0\">no</option><option value=\"1\">1 hour</option><option value=\"8\">8 hours</option>\
         <option value=\"24\">1 day</option><option value=\"168\">7 days</option></select></div>\
         <button type=\"submit\">Yes, it was me</button>\
         </div></form>\
         <form method=\"post\">\
         <input type=\"hidden\" name=\"nonce\" value=\"{nonce}\">\
         <input type=\"hidden\" name=\"answer\" value=\"no\">\
         <button class=\"no\" type=\"submit\">No, it was not me</button>\
         </form>\
         <p class=\"muted\">No answer by the deadline goes to the security team.</p>",
        title = escape(&view.rule_title),
        rule_id = escape(&view.rule_id),
        host = escape(&view.host_name),
        host_id = escape(&view.host_id),
        when = utc(view.created),
        summary = escape(&view.summary),
        deadline = utc(view.deadline),
        nonce = escape(form_nonce),
    );
    document(style_nonce, "Was this you?", &body)
}

/// A result page: a heading and one paragraph (`good` picks the colour).
pub fn message_page(style_nonce: &str, title: &str, message: &str, good: bool) -> String {
    let class = if good { "good" } else { "bad" };
    let body = format!("<h2 class=\"{class}\">{}</h2><p>{}</p>", escape(title), escape(message));
    document(style_nonce, title, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_800_000_000), "2027-01-15 08:00:00 UTC");
    }

    #[test]
    fn escape_neutralises_markup() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
