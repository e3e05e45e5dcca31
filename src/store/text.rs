//! Text PostgreSQL cannot hold, made storable on both backends; and which database errors
//! are a refusal of one operation's data rather than an outage.
//!
//! PostgreSQL's `TEXT` refuses the NUL character (SQLSTATE 22021) and `JSONB` the `\u0000`
//! escape (22P05); SQLite takes both. A webhook may carry NUL anywhere (a pasted binary
//! fragment in a description), and a poisoned event must neither be lost nor stall its
//! neighbours, so NUL is removed — on BOTH backends, so what reaches Orange does not depend on
//! the store — from what is stored as text: the delivery's call (its target JSON), the
//! event's dedupe key, ticket key and type, the remote states and watermarks the poller
//! reads from Orange, and on PostgreSQL the error texts that come back. The raw webhook body is kept byte for byte (`BYTEA` /
//! `BLOB`), NUL included. (Lone UTF-16 surrogates never get this far: no Rust string holds
//! one.)

use std::borrow::Cow;

/// `s` without NUL characters.
pub(crate) fn strip_nul(s: String) -> String {
    if s.contains('\0') {
        s.replace('\0', "")
    } else {
        s
    }
}

/// `s` without NUL characters, borrowed when it has none.
pub(crate) fn strip_nul_ref(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', ""))
    } else {
        Cow::Borrowed(s)
    }
}

/// JSON text without NUL characters in its strings and keys: every `\u0000` escape is
/// dropped (an escaped backslash followed by `u0000` is text, and kept). Raw NUL bytes cannot
/// occur in JSON text, which must escape control characters.
pub(crate) fn json_without_nul(json: &str) -> Cow<'_, str> {
    if !json.contains("\\u0000") {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len());
    let mut rest = json;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let esc = &rest[i..];
        if let Some(after) = esc.strip_prefix("\\u0000") {
            rest = after;
        } else {
            // An escape is a backslash and one ASCII character (`\uXXXX` keeps its digits in
            // the following text, which holds no backslash).
            let n = esc.len().min(2);
            out.push_str(&esc[..n]);
            rest = &esc[n..];
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Whether a database error refuses the data of one operation (PostgreSQL data exceptions,
/// class 22, and program limits, class 54 such as an index row too large; SQLite's "string
/// or blob too big" and datatype mismatch) rather than saying the database is unavailable.
pub(crate) fn refuses_data(db: &dyn sqlx::error::DatabaseError) -> bool {
    let Some(code) = db.code() else {
        return false;
    };
    if db
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some()
    {
        code.starts_with("22") || code.starts_with("54")
    } else {
        // SQLite result codes: SQLITE_TOOBIG (18), SQLITE_MISMATCH (20).
        matches!(code.as_ref(), "18" | "20")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_escapes_leave_json_text_and_other_escapes_stay() {
        let v = serde_json::json!({"a\u{0}": "x\u{0}y", "b": "back\\u0000slash", "c": "\u{1}\n\""});
        let text = serde_json::to_string(&v).unwrap();
        let clean = json_without_nul(&text);
        let back: serde_json::Value = serde_json::from_str(&clean).unwrap();
        assert_eq!(
            back,
            serde_json::json!({"a": "xy", "b": "back\\u0000slash", "c": "\u{1}\n\""})
        );
    }

    #[test]
    fn json_without_nul_borrows_when_there_is_nothing_to_remove() {
        assert!(matches!(
            json_without_nul(r#"{"a":"b\\n"}"#),
            Cow::Borrowed(_)
        ));
        assert_eq!(strip_nul("a\0b\0".into()), "ab");
        assert!(matches!(strip_nul_ref("ab"), Cow::Borrowed("ab")));
    }
}
