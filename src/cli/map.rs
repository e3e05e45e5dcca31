//! `map`: dry run of one mapping on one event.

use std::path::Path;
use std::process::ExitCode;

pub fn map(mapping: &Path, event: &Path, source: Option<&str>, headers: &[String]) -> ExitCode {
    let _ = (mapping, event, source, headers);
    eprintln!("error: `map` arrives with the mapping language");
    ExitCode::FAILURE
}
