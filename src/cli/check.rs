//! `check`: the config, every mapping (schema, compile) and every golden case; all problems at
//! once, exit 1 on any.

use std::process::ExitCode;

use crate::config::Config;
use crate::mapping::{MappingProblem, MappingSet};

/// Every problem `check` finds, in order: mapping load problems, then golden failures.
pub fn problems(config: &Config) -> Vec<MappingProblem> {
    match MappingSet::load(config) {
        Ok(set) => set.mappings().iter().flat_map(|m| m.run_golden()).collect(),
        Err(problems) => problems,
    }
}

pub fn check(config: &Config) -> ExitCode {
    let problems = problems(config);
    if problems.is_empty() {
        let set = MappingSet::load(config).unwrap_or_default();
        let cases: usize = set.mappings().iter().map(|m| m.golden().len()).sum();
        println!(
            "config and {} mapping(s) OK, {cases} golden case(s) pass",
            set.mappings().len()
        );
        return ExitCode::SUCCESS;
    }
    for p in &problems {
        eprintln!("{p}");
    }
    eprintln!("{} problem(s)", problems.len());
    ExitCode::FAILURE
}
