//! The house rules of `docs/ARCHITECTURE.md`, checked on the sources: no import circle between
//! rooms, no file in `src/` over 500 lines.
//!
//! A "room" is a module; rooms are compared with their siblings. Every `crate::…` and
//! `super::…` path in a file of `src/` (imports and paths in code alike) is an arrow from the
//! file's module to the module it names; the arrow counts between the two siblings under
//! their closest common parent (`worker::poller::mod` naming `store::codec` is an arrow
//! `worker → store`). An arrow from a room to its own parent (a parent's re-export reached
//! through `super::Name`) is not counted: a parent `mod.rs` holds the doc and re-exports.
//! Test modules (`tests.rs`, an inline `mod tests` at the end of a file) draw no arrows: a
//! test may reach across rooms to set up what it tests.
//! Among each parent's children the arrows must not make a circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Most lines a file of `src/` may have.
const MAX_LINES: usize = 500;

/// Files allowed over [`MAX_LINES`], each with its reason: none today, and a file may only
/// leave this list, never join it.
const LONG_FILES: &[(&str, &str)] = &[];

/// Circles between sibling rooms that remain, as the rooms in the circle (sorted). Empty is
/// the goal; a new circle fails the test.
const KNOWN_CIRCLES: &[&[&str]] = &[];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file of the library (`src/a/b.rs`, `src/a/b/mod.rs` → `[a, b]`).
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|l| l == "mod" || l == "lib") {
        parts.pop();
    }
    parts
}

/// The identifiers a path names after `prefix` (`crate::a::b`, `super::{x, y::z}`): each as
/// its segments.
fn paths_after(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().last();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let segs = segments(item.trim());
                if !segs.is_empty() {
                    out.push(segs);
                }
            }
        } else {
            let segs = segments(rest);
            if !segs.is_empty() {
                out.push(segs);
            }
        }
    }
    out
}

fn segments(s: &str) -> Vec<String> {
    let mut segs = Vec::new();
    let mut rest = s;
    loop {
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        segs.push(rest[..end].to_owned());
        match rest[end..].strip_prefix("::") {
            Some(r) => rest = r,
            None => break,
        }
    }
    segs
}

/// The longest known module that `path` (absolute, from the crate root) lies in.
fn resolve(modules: &BTreeSet<Vec<String>>, path: &[String]) -> Option<Vec<String>> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| modules.contains(p))
}

/// Arrows between sibling rooms: (parent, from, to).
fn arrows() -> BTreeSet<(Vec<String>, String, String)> {
    let src = src_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.retain(|f| !f.ends_with("main.rs") || f.parent() != Some(src.as_path()));
    let rels: Vec<PathBuf> = files
        .iter()
        .map(|f| f.strip_prefix(&src).unwrap().to_path_buf())
        .collect();
    let modules: BTreeSet<Vec<String>> = rels.iter().map(|r| module_of(r)).collect();
    let mut out = BTreeSet::new();
    for (file, rel) in files.iter().zip(&rels) {
        let module = module_of(rel);
        let text = std::fs::read_to_string(file).unwrap();
        // Tests may reach across rooms to set up what they test: they draw no arrows.
        if module.last().is_some_and(|m| m == "tests") {
            continue;
        }
        let tests_at = text.find("#[cfg(test)]\nmod tests {").unwrap_or(text.len());
        {
            let (part, here) = (&text[..tests_at], module.clone());
            let code: String = part
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            let mut targets = Vec::new();
            for p in paths_after(&code, "crate::") {
                targets.push(p);
            }
            for p in paths_after(&code, "super::") {
                let (mut up, mut p) = (1, p);
                while p.first().is_some_and(|s| s == "super") {
                    up += 1;
                    p.remove(0);
                }
                if up > here.len() {
                    continue;
                }
                let mut abs = here[..here.len() - up].to_vec();
                abs.extend(p);
                targets.push(abs);
            }
            for t in targets {
                let Some(target) = resolve(&modules, &t) else {
                    continue;
                };
                let common = here.iter().zip(&target).take_while(|(a, b)| a == b).count();
                // Within one room, or up to an ancestor (its re-exports): no arrow.
                if common == target.len() || common == here.len() {
                    continue;
                }
                out.insert((
                    here[..common].to_vec(),
                    here[common].clone(),
                    target[common].clone(),
                ));
            }
        }
    }
    out
}

/// Circles among the rooms of each parent: the strongly connected groups of two or more.
fn circles() -> Vec<(Vec<String>, Vec<String>)> {
    let mut by_parent: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (parent, from, to) in arrows() {
        by_parent
            .entry(parent)
            .or_default()
            .entry(from)
            .or_default()
            .insert(to);
    }
    let mut found = Vec::new();
    for (parent, graph) in by_parent {
        let reach = |start: &String| {
            let mut seen = BTreeSet::new();
            let mut todo = vec![start.clone()];
            while let Some(n) = todo.pop() {
                for m in graph.get(&n).into_iter().flatten() {
                    if seen.insert(m.clone()) {
                        todo.push(m.clone());
                    }
                }
            }
            seen
        };
        let mut grouped = BTreeSet::new();
        for n in graph.keys() {
            if grouped.contains(n) {
                continue;
            }
            let mut group: Vec<String> = reach(n)
                .into_iter()
                .filter(|m| m != n && reach(m).contains(n))
                .collect();
            group.push(n.clone());
            group.sort();
            if group.len() > 1 {
                grouped.extend(group.iter().cloned());
                found.push((parent.clone(), group));
            }
        }
    }
    found
}

#[test]
fn rooms_import_each_other_in_no_circle() {
    let circles = circles();
    let unknown: Vec<String> = circles
        .iter()
        .filter(|(parent, group)| {
            !(parent.is_empty() && KNOWN_CIRCLES.iter().any(|k| k.iter().eq(group.iter())))
        })
        .map(|(parent, group)| format!("in crate::{}: {}", parent.join("::"), group.join(" ↔ ")))
        .collect();
    assert!(
        unknown.is_empty(),
        "import circles:\n{}",
        unknown.join("\n")
    );
    for known in KNOWN_CIRCLES {
        assert!(
            circles
                .iter()
                .any(|(p, g)| p.is_empty() && known.iter().eq(g.iter())),
            "the circle {known:?} is gone: take it off KNOWN_CIRCLES"
        );
    }
}

#[test]
fn no_source_file_is_over_500_lines() {
    let src = src_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut long = Vec::new();
    for f in files {
        let rel = format!("src/{}", f.strip_prefix(&src).unwrap().to_string_lossy());
        let lines = std::fs::read_to_string(&f).unwrap().lines().count();
        let allowed = LONG_FILES.iter().any(|(p, _)| *p == rel);
        if lines > MAX_LINES && !allowed {
            long.push(format!("{rel}: {lines} lines"));
        }
        if allowed && lines <= MAX_LINES {
            long.push(format!(
                "{rel} is {lines} lines now: take it off LONG_FILES"
            ));
        }
    }
    assert!(long.is_empty(), "{}", long.join("\n"));
}

#[test]
fn the_checker_sees_an_arrow_between_siblings_and_reads_grouped_imports() {
    let p = paths_after(
        "use super::{jira, life::x}; let a = crate::store::Store;",
        "super::",
    );
    assert_eq!(
        p,
        vec![vec!["jira".to_owned()], vec!["life".into(), "x".into()]]
    );
    let arrows = arrows();
    // The dispatcher claims from the store: one arrow worker → store, none back.
    assert!(arrows.contains(&(vec![], "worker".into(), "store".into())));
    assert!(!arrows.contains(&(vec![], "store".into(), "worker".into())));
    assert!(arrows.contains(&(vec!["sim".to_owned()], "jira".into(), "state".into())));
}
