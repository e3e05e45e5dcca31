//! Keeping secrets out of config messages. `check` runs as a Kubernetes init container and
//! its output lands in the cluster's logs, so a message shows the config's *source* text:
//!
//! - every value filled in from `${VAR}` is shown as its placeholder, wherever it appears;
//! - a type error names the key and the expected type, never the value it found (the value
//!   may be a secret written in the file itself);
//! - the parser's own snippet is dropped: it quotes the neighbouring lines *after*
//!   interpolation;
//! - URLs lose their password even when they do not parse.

use super::interpolate::Filled;

/// Values shorter than this are replaced only where a message quotes them whole: a one- or
/// two-character value would otherwise eat line numbers and words.
const MIN_FREE_MATCH: usize = 4;

/// Hides the values filled into a config text from messages about it.
#[derive(Debug, Default)]
pub struct Scrubber {
    filled: Vec<Filled>,
}

impl Scrubber {
    pub fn new(mut filled: Vec<Filled>) -> Self {
        // Longest first, so a value that contains another is replaced whole.
        filled.sort_by_key(|f| std::cmp::Reverse(f.value.len().max(f.encoded.len())));
        Self { filled }
    }

    /// `msg` with every filled value replaced by its placeholder.
    pub fn scrub(&self, msg: &str) -> String {
        let mut out = msg.to_owned();
        for f in &self.filled {
            for v in [&f.encoded, &f.value] {
                if v.is_empty() {
                    continue;
                }
                if v.chars().count() >= MIN_FREE_MATCH {
                    out = out.replace(v.as_str(), &f.placeholder);
                } else {
                    for (l, r) in [("`", "`"), ("\"", "\""), ("'", "'")] {
                        out =
                            out.replace(&format!("{l}{v}{r}"), &format!("{l}{}{r}", f.placeholder));
                    }
                }
            }
        }
        out
    }
}

/// A parse error of the (interpolated) config text as `(line:column, message)`, told from
/// the source's point of view: no snippet, no value, the key named.
pub fn parse_problem(e: &serde_saphyr::Error, text: &str, scrubber: &Scrubber) -> (String, String) {
    let inner = e.without_snippet();
    let msg = inner.to_string();
    let (line, column) = match inner.location() {
        Some(l) if l.line() > 0 => (
            usize::try_from(l.line()).unwrap_or(0),
            usize::try_from(l.column()).unwrap_or(0),
        ),
        _ => super::location_of(&msg)
            .split_once(':')
            .and_then(|(l, c)| Some((l.parse().ok()?, c.parse().ok()?)))
            .unwrap_or((0, 0)),
    };
    // The parser ends its message with where it is; the problem says it once, in front.
    let mut msg = match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg,
    };
    msg = without_found_value(&msg);
    if let Some(key) = key_before(text, line, column) {
        msg = format!("{msg} (key `{key}`)");
    }
    (format!("{line}:{column}"), scrubber.scrub(&msg))
}

/// `invalid type: integer `98765432109876`, expected a string` → `invalid type: integer,
/// expected a string` (also `invalid value: string "…"`).
fn without_found_value(msg: &str) -> String {
    let Some(kind) = ["invalid type: ", "invalid value: "]
        .into_iter()
        .find(|k| msg.starts_with(k))
    else {
        return msg.to_owned();
    };
    let (found, rest) = match msg.find(", expected") {
        Some(i) => msg.split_at(i),
        None => (msg, ""),
    };
    let found = &found[kind.len()..];
    let what = match found.find(['`', '"', '\'']) {
        Some(i) => found[..i].trim_end(),
        None if found.chars().any(|c| c.is_ascii_digit()) => "a value",
        None => found,
    };
    format!("{kind}{what}{rest}")
}

/// The mapping key whose value starts at `line:column` (1-based) in `text`: the word before
/// the `:` that precedes the value on that line.
fn key_before(text: &str, line: usize, column: usize) -> Option<String> {
    let l = text.lines().nth(line.checked_sub(1)?)?;
    let upto = l.get(..column.saturating_sub(1).min(l.len()))?;
    let colon = upto.trim_end().strip_suffix(':')?;
    let start = colon
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .last()
        .map(|(i, _)| i)?;
    Some(colon[start..].to_owned())
}

/// A store (or any) URL without its password, for messages: parsed when it parses; when it
/// does not (`postgres://user:Pg#S3cret@host/db`, whose `#` starts a fragment), everything
/// between the scheme's `//` and the last `@` after the user name's `:` is hidden, and so
/// are `password=` query parameters.
pub fn redact_url(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return redact_query(url);
    };
    let rest = &url[start..];
    let hidden = match rest.rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            match userinfo.find(':') {
                Some(c) => format!("{}:***{}", &userinfo[..c], &rest[at..]),
                None => rest.to_owned(),
            }
        }
        None => rest.to_owned(),
    };
    redact_query(&format!("{}{hidden}", &url[..start]))
}

/// `…?sslmode=require&password=x` → `…?sslmode=require&password=***`.
fn redact_query(url: &str) -> String {
    let Some(q) = url.find('?') else {
        return url.to_owned();
    };
    let params: Vec<String> = url[q + 1..]
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((k, _)) if k.to_ascii_lowercase().contains("password") => format!("{k}=***"),
            _ => p.to_owned(),
        })
        .collect();
    format!("{}?{}", &url[..q], params.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password_even_when_they_do_not_parse() {
        for (url, want) in [
            (
                "postgres://user:Pg#S3cret@db:5432/itsm",
                "postgres://user:***@db:5432/itsm",
            ),
            (
                "postgres://gw:p%40ss@db/itsm?sslmode=require",
                "postgres://gw:***@db/itsm?sslmode=require",
            ),
            ("postgres://u:a@b@c/d", "postgres://u:***@c/d"),
            (
                "postgres://db/itsm?user=u&password=S3cret",
                "postgres://db/itsm?user=u&password=***",
            ),
            ("postgres://user@db/itsm", "postgres://user@db/itsm"),
            ("sqlite://data/gw.db", "sqlite://data/gw.db"),
            ("mysql://root:S3cret@x", "mysql://root:***@x"),
        ] {
            assert_eq!(redact_url(url), want);
        }
    }

    #[test]
    fn type_errors_keep_the_type_and_lose_the_value() {
        assert_eq!(
            without_found_value("invalid type: integer `98765432109876`, expected a string"),
            "invalid type: integer, expected a string"
        );
        assert_eq!(
            without_found_value("invalid value: string \"pw\", expected one of `a`, `b`"),
            "invalid value: string, expected one of `a`, `b`"
        );
        assert_eq!(
            without_found_value("unknown field `urll`, expected `url`"),
            "unknown field `urll`, expected `url`"
        );
    }

    #[test]
    fn the_key_before_a_value_is_named() {
        let text = "a:\n  client_secret: 98765\n  x: {id: 1, token: 12}\n";
        assert_eq!(key_before(text, 2, 18).as_deref(), Some("client_secret"));
        assert_eq!(key_before(text, 3, 21).as_deref(), Some("token"));
        assert_eq!(key_before(text, 9, 1), None);
    }
}
