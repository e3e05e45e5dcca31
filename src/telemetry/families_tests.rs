//! The family table against the sources and Prometheus conventions.

use super::*;

/// Every metric macro called with a literal name in `src/` names a family of the table,
/// with the same type; and every family of the table is emitted somewhere.
#[test]
fn every_family_emitted_in_the_sources_is_described() {
    let mut seen = std::collections::BTreeSet::new();
    let mut problems = Vec::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (kind, mac) in [
                (Kind::Counter, "counter!("),
                (Kind::Gauge, "gauge!("),
                (Kind::Histogram, "histogram!("),
            ] {
                for (at, _) in text.match_indices(mac) {
                    let rest = text[at + mac.len()..].trim_start();
                    let Some(rest) = rest.strip_prefix('"') else {
                        continue; // a name from a variable: the table's own loops
                    };
                    let name = &rest[..rest.find('"').unwrap()];
                    if name.is_empty()
                        || !name
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                    {
                        continue; // this test's own text
                    }
                    seen.insert(name.to_owned());
                    match family(name) {
                        None => {
                            problems.push(format!("{}: {name} is not in FAMILIES", path.display()))
                        }
                        Some(f) if f.kind != kind => problems.push(format!(
                            "{}: {name} is a {} in FAMILIES, used as a {}",
                            path.display(),
                            f.kind.as_str(),
                            kind.as_str()
                        )),
                        Some(_) => {}
                    }
                }
            }
        }
    }
    // Families set from a name variable (process metrics, zero registration).
    for fam in FAMILIES {
        if !seen.contains(fam.name) && !fam.name.starts_with("process_") {
            problems.push(format!("{} is in FAMILIES but emitted nowhere", fam.name));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn names_and_help_follow_prometheus_conventions() {
    let mut names = std::collections::HashSet::new();
    for fam in FAMILIES {
        assert!(names.insert(fam.name), "{} twice", fam.name);
        assert_eq!(
            fam.kind == Kind::Counter,
            fam.name.ends_with("_total"),
            "{}: counters and only counters end in _total",
            fam.name
        );
        assert!(
            fam.help.ends_with('.') && !fam.help.contains('\n'),
            "{}",
            fam.name
        );
    }
}
