//! How `orange …` prints: one JSON object per line for scripts, or an aligned table for a
//! person (nested fields flattened to dotted paths). Our own small printer: the shapes are
//! open JSON, so the columns come from the data.

use std::io::{self, Write};

use serde_json::Value;

use super::args::OutputFormat;

/// Columns a list table shows at most (the JSON output has every field).
const MAX_COLUMNS: usize = 8;
/// Characters a list cell shows at most.
const MAX_CELL: usize = 40;
/// Characters a value of a single object's table shows at most.
const MAX_VALUE: usize = 100;
/// Fields a list table shows first when the items have them (the four APIs' identifying and
/// state fields); the rest follow in document order while there is room.
const PREFERRED: [&str; 14] = [
    "id",
    "status",
    "step",
    "priority",
    "shortDescription",
    "name",
    "description",
    "customerReference",
    "externalId",
    "type",
    "createdAt",
    "creationDate",
    "lastUpdateDate",
    "count",
];

/// Prints a list item by item: JSON lines at once, a table at the end (it needs the widths).
pub struct Printer {
    format: OutputFormat,
    rows: Vec<Vec<(String, String)>>,
}

impl Printer {
    pub fn new(format: OutputFormat) -> Self {
        Self {
            format,
            rows: Vec::new(),
        }
    }

    pub fn items(&mut self, items: &[Value]) -> io::Result<()> {
        match self.format {
            OutputFormat::Json => {
                let mut out = io::stdout().lock();
                for item in items {
                    serde_json::to_writer(&mut out, item)?;
                    out.write_all(b"\n")?;
                }
                out.flush()
            }
            OutputFormat::Table => {
                self.rows.extend(items.iter().map(flat));
                Ok(())
            }
        }
    }

    pub fn finish(self) -> io::Result<()> {
        if self.format == OutputFormat::Table {
            io::stdout()
                .lock()
                .write_all(list_table(&self.rows).as_bytes())?;
        }
        Ok(())
    }
}

/// One object: a JSON line, or a two-column table of its fields.
pub fn object(format: OutputFormat, v: &Value) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match format {
        OutputFormat::Json => {
            serde_json::to_writer(&mut out, v)?;
            out.write_all(b"\n")?;
        }
        OutputFormat::Table => out.write_all(object_table(v).as_bytes())?,
    }
    out.flush()
}

/// `v`'s scalar leaves as `(dotted.path, text)`, in document order.
pub fn flat(v: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    flatten("", v, &mut out);
    out
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Object(o) if !o.is_empty() => {
            for (k, v) in o {
                flatten(&key(k), v, out);
            }
        }
        Value::Object(_) => out.push((prefix.to_owned(), String::new())),
        Value::Array(a) if a.iter().all(|i| !i.is_object() && !i.is_array()) => {
            let parts: Vec<String> = a.iter().map(scalar).collect();
            out.push((prefix.to_owned(), parts.join(",")));
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                flatten(&key(&i.to_string()), v, out);
            }
        }
        other => out.push((prefix.to_owned(), scalar(other))),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Cuts `s` to `max` characters (an ellipsis marks the cut) and makes it one line.
fn cell(s: &str, max: usize) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= max {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn width(s: &str) -> usize {
    s.chars().count()
}

/// Columns: the [`PREFERRED`] fields the items have, then the other paths in the order they
/// first appear, leaving out those empty in every row; at most [`MAX_COLUMNS`].
pub fn list_table(rows: &[Vec<(String, String)>]) -> String {
    let filled = |c: &str| rows.iter().flatten().any(|(k, v)| k == c && !v.is_empty());
    let mut columns: Vec<&str> = PREFERRED.iter().copied().filter(|c| filled(c)).collect();
    for (k, _) in rows.iter().flatten() {
        if columns.len() >= MAX_COLUMNS {
            break;
        }
        if !columns.contains(&k.as_str()) && filled(k) {
            columns.push(k);
        }
    }
    columns.truncate(MAX_COLUMNS);
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            columns
                .iter()
                .map(|c| {
                    let v = r.iter().find(|(k, _)| k == c).map_or("", |(_, v)| v);
                    cell(v, MAX_CELL)
                })
                .collect()
        })
        .collect();
    let header: Vec<String> = columns.iter().map(|c| cell(c, MAX_CELL)).collect();
    render(&header, &cells)
}

fn object_table(v: &Value) -> String {
    let rows: Vec<Vec<String>> = flat(v)
        .into_iter()
        .map(|(k, v)| vec![k, cell(&v, MAX_VALUE)])
        .collect();
    render(&["field".into(), "value".into()], &rows)
}

fn render(header: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(width(c));
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(w - width(c) + 2));
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(header);
    for r in rows {
        out.push_str(&line(r));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_fields_become_dotted_columns_with_id_first() {
        let rows = vec![
            flat(&json!({"status": "NEW", "id": "1", "customer": {"name": "ACME"}})),
            flat(&json!({"id": "22", "status": "VALIDATED", "tags": ["a", "b"]})),
        ];
        let t = list_table(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "id  status     customer.name  tags");
        assert_eq!(lines[1], "1   NEW        ACME");
        assert_eq!(lines[2], "22  VALIDATED                 a,b");
        let empty = list_table(&[flat(&json!({"id": "1", "note": [], "x": null}))]);
        assert_eq!(empty, "id\n1\n");
    }

    #[test]
    fn long_and_multiline_values_are_cut_to_one_line() {
        let long = "x".repeat(60);
        let t = list_table(&[flat(&json!({"id": "1", "d": format!("a\nb{long}")}))]);
        let row = t.lines().nth(1).unwrap();
        assert!(row.ends_with('…'), "{row}");
        assert!(!row.contains('\n'));
        assert_eq!(
            width(row.split("  ").last().unwrap().trim_start()),
            MAX_CELL
        );
    }

    #[test]
    fn a_single_object_prints_one_field_per_line() {
        let t = object_table(&json!({"id": "7", "notes": [{"text": "hi"}]}));
        assert_eq!(
            t,
            "field         value\nid            7\nnotes.0.text  hi\n"
        );
    }
}
