//! `completions bash|zsh|fish`: clap's generator, written whole into memory first (its writer
//! panics on a failed write), then to stdout like every other output.

use clap::CommandFactory;

use super::args::{Cli, Shell};

/// The completion script of `shell` for the whole command tree.
pub fn script(shell: Shell) -> Vec<u8> {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "itsm-bridge", &mut buf);
    buf
}

pub fn completions(shell: Shell) {
    super::out::text(&String::from_utf8_lossy(&script(shell)));
}
