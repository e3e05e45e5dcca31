//! `check`: the config, every mapping and every golden case.

use std::process::ExitCode;

use crate::config::Config;
use crate::mapping::MappingSet;

pub fn check(config: &Config) -> ExitCode {
    match MappingSet::load(config) {
        Ok(_) => {
            println!("config and mappings OK");
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for p in &problems {
                eprintln!("{p}");
            }
            eprintln!("{} problem(s)", problems.len());
            ExitCode::FAILURE
        }
    }
}
