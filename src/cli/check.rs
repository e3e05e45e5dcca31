//! `check`: the config, every mapping (schema, compile) and every golden case; all problems at
//! once, exit 1 on any.

use std::process::ExitCode;

use crate::config::Config;
use crate::mapping::{MappingProblem, MappingSet};

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
        println!("config and {mappings} mapping(s) OK, {cases} golden case(s) pass");
        return ExitCode::SUCCESS;
    }
    for p in &problems {
        eprintln!("{p}");
    }
    eprintln!("{} problem(s)", problems.len());
    ExitCode::FAILURE
}
