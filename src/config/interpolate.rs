//! `${VAR}` / `${VAR:-default}` / `${file:/path}` interpolation of the config text, before
//! YAML parsing.
//!
//! `${file:/path}` inserts the content of a file (a mounted Kubernetes Secret), without its
//! trailing line break; the path must be absolute. The files read are listed in
//! [`Interpolated::files`], so a reload can watch them and re-apply a rotated secret.
//!
//! Done on the text so that the YAML parser still reports line and column of every value.
//! A value is inserted according to the quoting around its placeholder: escaped inside
//! double quotes, doubled quotes inside single quotes; in a plain scalar only values that
//! cannot change the YAML structure are accepted. `$${` writes a literal `${`.

/// A placeholder that could not be filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterpolationProblem {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// One placeholder that was filled: what messages must show instead of its value.
#[derive(Clone, PartialEq, Eq)]
pub struct Filled {
    /// The placeholder as written (`${ORANGE_SECRET}`).
    pub placeholder: String,
    /// The value inserted, and its form in the YAML text (escaped inside quotes).
    pub value: String,
    pub encoded: String,
}

impl std::fmt::Debug for Filled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Filled({})", self.placeholder)
    }
}

/// Interpolated text, with every value it received.
#[derive(Debug)]
pub struct Interpolated {
    pub text: String,
    pub filled: Vec<Filled>,
    /// The files `${file:…}` placeholders read, in order of first use.
    pub files: Vec<std::path::PathBuf>,
}

/// The `${file:/path}` value: the file's text without its trailing line break (what
/// `echo secret > file` adds and a Kubernetes Secret usually has not).
fn read_secret_file(path: &str) -> Result<String, String> {
    let p = std::path::Path::new(path);
    if !p.is_absolute() {
        return Err(format!(
            "`${{file:{path}}}`: the path must be absolute (a mounted secret, e.g. /etc/itsm-bridge/secrets/orange-client-secret)"
        ));
    }
    let text = std::fs::read_to_string(p).map_err(|e| format!("`${{file:{path}}}`: {e}"))?;
    let value = text.strip_suffix('\n').unwrap_or(&text);
    let value = value.strip_suffix('\r').unwrap_or(value);
    if value.is_empty() {
        return Err(format!("`${{file:{path}}}`: the file is empty"));
    }
    Ok(value.to_owned())
}

/// Fills placeholders from `lookup`; reports every problem at once.
pub fn interpolate(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, Vec<InterpolationProblem>> {
    interpolate_tracked(text, lookup).map(|i| i.text)
}

/// [`interpolate`], keeping what was filled in so that messages can hide it.
pub fn interpolate_tracked(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Interpolated, Vec<InterpolationProblem>> {
    let mut filled = Vec::new();
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    let mut out = String::with_capacity(text.len());
    let mut problems = Vec::new();
    for (lineno, line) in text.split_inclusive('\n').enumerate() {
        let mut rest = line;
        let mut col = 0usize;
        let mut quote: Option<char> = None;
        while let Some(c) = rest.chars().next() {
            if rest.starts_with("$${") {
                out.push_str("${");
                rest = &rest[3..];
                col += 3;
                continue;
            }
            if rest.starts_with("${") {
                let Some(end) = rest.find('}') else {
                    problems.push(InterpolationProblem {
                        line: lineno + 1,
                        column: col + 1,
                        message: "unterminated `${`".into(),
                    });
                    out.push_str(rest);
                    break;
                };
                let inner = &rest[2..end];
                let (name, default) = match inner.split_once(":-") {
                    Some((n, d)) => (n, Some(d)),
                    None => (inner, None),
                };
                let valid_name = !name.is_empty()
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                let value = if let Some(path) = inner.strip_prefix("file:") {
                    let path = path.trim();
                    if !files.iter().any(|f| f.as_os_str() == path) {
                        files.push(path.into());
                    }
                    read_secret_file(path)
                } else if !valid_name {
                    Err(format!("`${{{inner}}}` is not a valid variable name"))
                } else {
                    match lookup(name).or_else(|| default.map(str::to_owned)) {
                        Some(v) => Ok(v),
                        None => Err(format!(
                            "environment variable {name} is not set (use ${{{name}:-default}} for an optional value)"
                        )),
                    }
                };
                match value.and_then(|v| encode(&v, quote, name).map(|e| (v, e))) {
                    Ok((value, encoded)) => {
                        out.push_str(&encoded);
                        filled.push(Filled {
                            placeholder: format!("${{{inner}}}"),
                            value,
                            encoded,
                        });
                    }
                    Err(message) => problems.push(InterpolationProblem {
                        line: lineno + 1,
                        column: col + 1,
                        message,
                    }),
                }
                col += end + 1;
                rest = &rest[end + 1..];
                continue;
            }
            // Track quoting (good enough for one-line scalars, which secrets are).
            match (quote, c) {
                (None, '#') if out.ends_with(char::is_whitespace) || out.is_empty() => {
                    out.push_str(rest);
                    break;
                }
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                _ => {}
            }
            if quote == Some('"') && c == '\\' && rest.len() > 1 {
                let n = rest[1..].chars().next().map_or(0, char::len_utf8);
                out.push_str(&rest[..1 + n]);
                rest = &rest[1 + n..];
                col += 1 + n;
                continue;
            }
            out.push(c);
            rest = &rest[c.len_utf8()..];
            col += c.len_utf8();
        }
    }
    if problems.is_empty() {
        Ok(Interpolated {
            text: out,
            filled,
            files,
        })
    } else {
        Err(problems)
    }
}

fn encode(value: &str, quote: Option<char>, name: &str) -> Result<String, String> {
    match quote {
        Some('"') => {
            let json = serde_json::to_string(value).expect("strings serialise");
            Ok(json[1..json.len() - 1].to_owned())
        }
        Some(_) => Ok(value.replace('\'', "''")),
        None => {
            let safe = !value.is_empty()
                && value.chars().all(|c| {
                    c.is_alphanumeric()
                        || matches!(c, '-' | '_' | '.' | '/' | '+' | '=' | '@' | '~')
                        || (c == ':' && !value.contains(": "))
                });
            if safe {
                Ok(value.to_owned())
            } else {
                Err(format!(
                    "the value of {name} needs quoting: write \"${{{name}}}\" (in double quotes)"
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(n: &str) -> Option<String> {
        match n {
            "A" => Some("abc".into()),
            "Q" => Some("p\"a ss: #x".into()),
            _ => None,
        }
    }

    #[test]
    fn fills_plain_and_quoted() {
        let out = interpolate("a: ${A}\nb: \"${Q}\"\nc: '${Q}'\n", env).unwrap();
        assert_eq!(out, "a: abc\nb: \"p\\\"a ss: #x\"\nc: 'p\"a ss: #x'\n");
    }

    #[test]
    fn defaults_and_escapes() {
        let out = interpolate("a: ${NOPE:-x}\nb: $${A}\n", env).unwrap();
        assert_eq!(out, "a: x\nb: ${A}\n");
    }

    #[test]
    fn reports_every_missing_variable_with_its_place() {
        let err = interpolate("a: ${X}\n  b: ${Y}\nc: ${Q}\n", env).unwrap_err();
        assert_eq!(err.len(), 3);
        assert_eq!((err[0].line, err[0].column), (1, 4));
        assert_eq!((err[1].line, err[1].column), (2, 6));
        assert!(err[2].message.contains("needs quoting"));
    }

    #[test]
    fn file_placeholders_read_the_file_without_its_line_break_and_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("secret");
        std::fs::write(&f, "rotated-value\n").unwrap();
        let text = format!(
            "a: \"${{file:{}}}\"\nb: ${{file:{}}}\n",
            f.display(),
            f.display()
        );
        let out = interpolate_tracked(&text, env).unwrap();
        assert_eq!(out.text, "a: \"rotated-value\"\nb: rotated-value\n");
        assert_eq!(out.files, vec![f.clone()]);
        assert_eq!(out.filled[0].value, "rotated-value");
        let err =
            interpolate("a: ${file:relative/path}\nb: ${file:/no/such/file}\n", env).unwrap_err();
        assert!(err[0].message.contains("must be absolute"), "{err:?}");
        assert_eq!((err[1].line, err[1].column), (2, 4));
        assert!(err[1].message.contains("/no/such/file"), "{err:?}");
    }

    #[test]
    fn comments_are_left_alone() {
        let out = interpolate("a: 1 # ${X}\n", env).unwrap();
        assert_eq!(out, "a: 1 # ${X}\n");
    }
}
