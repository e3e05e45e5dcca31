//! The console's HTML: an escaping helper, the page frame (navigation with access keys, the
//! signed-in token, sign-out), and the small pieces pages share (tables, forms, charts).
//! Everything interpolated into HTML goes through [`esc`]; nothing else writes markup.

use std::fmt::Write as _;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::session::Session;

/// Escapes text for HTML element content and double-quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query parameter value.
pub fn q(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The pages of the navigation: path, label, access key.
const NAV: [(&str, &str, char); 8] = [
    ("/console", "Overview", 'o'),
    ("/console/search", "Search", 's'),
    ("/console/events", "Events", 'e'),
    ("/console/dead-letters", "Dead letters & parked", 'd'),
    ("/console/links", "Links", 'l'),
    ("/console/playground", "Playground", 'p'),
    ("/console/reload", "Mappings", 'm'),
    ("/console/audit", "Audit log", 'a'),
];

/// Security headers every console answer carries: no caching of operator data, no framing,
/// scripts and styles from the gateway only.
pub fn secure(mut r: Response) -> Response {
    let h = r.headers_mut();
    for (k, v) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // Not `no-referrer`: browsers then send `Origin: null` with the console's own forms.
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    r
}

/// A whole page. `current` is the navigation entry to mark; `session` is `None` on the
/// sign-in page.
pub fn page(title: &str, current: &str, session: Option<&Session>, body: &str) -> Response {
    page_with(StatusCode::OK, title, current, session, body)
}

pub fn page_with(
    status: StatusCode,
    title: &str,
    current: &str,
    session: Option<&Session>,
    body: &str,
) -> Response {
    let mut nav = String::new();
    if let Some(s) = session {
        nav.push_str("<nav aria-label=\"Console\"><ul>");
        for (path, label, key) in NAV {
            let cur = if path == current {
                " aria-current=\"page\""
            } else {
                ""
            };
            let _ = write!(
                nav,
                "<li><a href=\"{path}\" accesskey=\"{key}\"{cur}>{label}</a></li>"
            );
        }
        let _ = write!(
            nav,
            "</ul><form method=\"post\" action=\"/console/sign-out\" class=\"who\">\
             <span>{} · {}{}</span>{}<button type=\"submit\">Sign out</button></form></nav>",
            esc(&s.principal.name),
            s.principal.role.as_str(),
            match s.principal.tenants() {
                None => String::new(),
                Some(ts) => format!(
                    " · {}",
                    esc(&ts.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", "))
                ),
            },
            csrf_field(s)
        );
    }
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} · itsm-bridge</title>\
         <link rel=\"stylesheet\" href=\"/console/assets/console.css\">\
         <script src=\"/console/assets/console.js\" defer></script></head>\
         <body><a class=\"skip\" href=\"#main\">Skip to content</a>\
         <header><span class=\"brand\">itsm-bridge</span>{nav}</header>\
         <main id=\"main\"><h1>{t}</h1>{body}</main></body></html>",
        t = esc(title),
    );
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response();
    r = secure(r);
    r
}

/// The hidden CSRF field of every form of a session.
pub fn csrf_field(s: &Session) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(&s.csrf)
    )
}

/// A notice (`kind`: `ok`, `error`), announced to screen readers.
pub fn notice(kind: &str, text: &str) -> String {
    format!(
        "<p class=\"notice {kind}\" role=\"status\">{}</p>",
        esc(text)
    )
}

/// The link to the next page of a list (`label`, at `href` made from the page's last item),
/// when `items` fill a page of `page`; nothing on the last page.
pub fn next_page<T>(
    items: &[T],
    page: u32,
    label: &str,
    href: impl FnOnce(&T) -> String,
) -> String {
    match items.last().filter(|_| items.len() == page as usize) {
        Some(last) => format!("<p><a href=\"{}\">{label}</a></p>", href(last)),
        None => String::new(),
    }
}

/// A table: header cells, then rows of already-escaped cells.
pub fn table(caption: &str, head: &[&str], rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        return format!("<p class=\"empty\">{}: none.</p>", esc(caption));
    }
    let mut t = format!("<table><caption>{}</caption><thead><tr>", esc(caption));
    for h in head {
        let _ = write!(t, "<th scope=\"col\">{}</th>", esc(h));
    }
    t.push_str("</tr></thead><tbody>");
    for r in rows {
        t.push_str("<tr>");
        for c in r {
            let _ = write!(t, "<td>{c}</td>");
        }
        t.push_str("</tr>");
    }
    t.push_str("</tbody></table>");
    t
}

/// A `<select>` with a label; `""` is the "any" choice when `any` is given.
pub fn select(
    name: &str,
    label: &str,
    choices: &[String],
    chosen: &str,
    any: Option<&str>,
) -> String {
    let mut s = format!(
        "<label for=\"f-{name}\">{}</label><select id=\"f-{name}\" name=\"{name}\">",
        esc(label)
    );
    if let Some(any) = any {
        let _ = write!(s, "<option value=\"\">{}</option>", esc(any));
    }
    for c in choices {
        let sel = if c == chosen { " selected" } else { "" };
        let _ = write!(s, "<option{sel}>{}</option>", esc(c));
    }
    s.push_str("</select>");
    s
}

/// A labelled text input.
pub fn input(name: &str, label: &str, value: &str, extra: &str) -> String {
    format!(
        "<label for=\"f-{name}\">{}</label><input id=\"f-{name}\" name=\"{name}\" value=\"{}\" {extra}>",
        esc(label),
        esc(value)
    )
}

/// A bar chart of per-minute counts (oldest first) as inline SVG, with its total in words
/// for screen readers.
pub fn bars(label: &str, values: &[u64], class: &str) -> String {
    let total: u64 = values.iter().sum();
    let max = values.iter().copied().max().unwrap_or(0);
    bars_against(
        label,
        values,
        class,
        max,
        &format!("{total} in the last hour"),
        &total.to_string(),
    )
}

/// A bar chart of `values` where a bar of `full` fills the height (taller ones are cut),
/// described to screen readers as `label: said` and captioned `label shown`.
pub fn bars_against(
    label: &str,
    values: &[u64],
    class: &str,
    full: u64,
    said: &str,
    shown: &str,
) -> String {
    let full = full.max(1);
    let (w, h) = (3.0_f64, 32.0_f64);
    let mut svg = format!(
        "<figure class=\"chart {class}\"><svg role=\"img\" viewBox=\"0 0 {} {h}\" \
         width=\"{}\" height=\"{h}\" aria-label=\"{}: {}\">",
        values.len() as f64 * w,
        values.len() as f64 * w,
        esc(label),
        esc(said)
    );
    for (i, v) in values.iter().enumerate() {
        if *v == 0 {
            continue;
        }
        let bh = (*v.min(&full) as f64 / full as f64 * (h - 1.0)).max(1.0);
        let _ = write!(
            svg,
            "<rect x=\"{}\" y=\"{:.1}\" width=\"{}\" height=\"{bh:.1}\"><title>{v}</title></rect>",
            i as f64 * w,
            h - bh,
            w - 0.5
        );
    }
    let _ = write!(
        svg,
        "</svg><figcaption>{} <strong>{}</strong></figcaption></figure>",
        esc(label),
        esc(shown)
    );
    svg
}

/// A timestamp as the console shows it (UTC, to the second).
pub fn when(t: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    t.format(&f).unwrap_or_default()
}

/// An age in words (`3 min`, `2 h 5 min`).
pub fn age(secs: i64) -> String {
    match secs.max(0) {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_both_quotes() {
        assert_eq!(
            esc(r#"<a href="x" onclick='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(q("a b&c/d"), "a+b%26c%2Fd");
    }

    #[test]
    fn a_chart_says_its_total_and_draws_only_non_empty_minutes() {
        let svg = bars("Webhooks", &[0, 2, 0, 4], "events");
        assert!(svg.contains("aria-label=\"Webhooks: 6 in the last hour\""));
        assert_eq!(svg.matches("<rect").count(), 2);
    }
}
