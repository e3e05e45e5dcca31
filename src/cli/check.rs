//! `check`: the config, every mapping (schema, compile) and every golden case; all problems at
//! once, exit 1 on any. On success it also prints, per mapping, the event types its routes
//! can match, so an ITSM that names its events differently shows before its events go
//! unrouted.

use std::process::ExitCode;

use crate::config::Config;
use crate::mapping::{Mapping, MappingProblem, MappingSet, Unrouted};

/// Every problem `check` finds: mapping load problems, else golden failures; with the
/// number of mappings and golden cases it looked at.
pub fn problems(config: &Config) -> (Vec<MappingProblem>, usize, usize) {
    match MappingSet::load(config) {
        Ok(set) => {
            let mappings = set.mappings();
            let cases = mappings.iter().map(|m| m.golden().len()).sum();
            let failures = mappings.iter().flat_map(|m| m.run_golden()).collect();
            (failures, mappings.len(), cases)
        }
        Err(problems) => (problems, 0, 0),
    }
}

pub fn check(config: &Config) -> ExitCode {
    let (problems, mappings, cases) = problems(config);
    if problems.is_empty() {
        crate::outln!("config and {mappings} mapping(s) OK, {cases} golden case(s) pass");
        if let Ok(set) = MappingSet::load(config) {
            for m in set.mappings() {
                crate::outln!("{}", route_events(&m));
            }
        }
        return ExitCode::SUCCESS;
    }
    for p in &problems {
        eprintln!("{p}");
    }
    eprintln!("{} problem(s)", problems.len());
    ExitCode::FAILURE
}

/// One line: the event types a mapping's routes can match (globs as written), the routes
/// that match any type, and what becomes of an event that matches none.
pub fn route_events(m: &Mapping) -> String {
    let mut types: Vec<String> = Vec::new();
    let mut any: Vec<String> = Vec::new();
    for r in m.route_events() {
        let route = if r.skips {
            format!("`{}` (skips)", r.route)
        } else {
            format!("`{}`", r.route)
        };
        if r.events.is_empty() {
            any.push(route);
        }
        for e in r.events {
            if !types.contains(&e) {
                types.push(e);
            }
        }
    }
    let mut line = format!(
        "{}: routes match event types: {}",
        m.name,
        if types.is_empty() {
            "(none named)".to_owned()
        } else {
            types.join(", ")
        }
    );
    if !any.is_empty() {
        line.push_str(&format!("; any event type: {}", any.join(", ")));
    }
    line.push_str(match m.unrouted() {
        Unrouted::Skip => "; other events are kept as unrouted",
        Unrouted::Park => "; other events are parked (unrouted: park)",
    });
    line
}
