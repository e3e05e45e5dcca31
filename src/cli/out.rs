//! Standard output for every command. A reader that goes away early (`itsm-bridge map … |
//! head -c1`) closes the pipe: the next write fails with `BrokenPipe`, which ends the command
//! quietly with exit 0, as `head`'s writer expects, instead of `println!`'s panic (exit 101).

use std::io::{self, Write};

/// Writes `args` and a newline to stdout; see [`quit_on`] for what a failed write does.
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        quit_on(&e);
    }
}

/// Writes `v` as one line of JSON (the `dlq` and `events` commands' output).
pub fn json_line(v: serde_json::Value) {
    line(format_args!("{v}"));
}

/// Writes `text` as it is to stdout and flushes it.
pub fn text(text: &str) {
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        quit_on(&e);
    }
}

/// Ends the process after a failed write to stdout: quietly with exit 0 when the reader
/// closed the pipe, with a message and exit 1 otherwise (a full disk).
pub fn quit_on(e: &io::Error) -> ! {
    if e.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: writing the output: {e}");
    std::process::exit(1);
}

/// Whether an error came from a closed stdout pipe (anywhere in its chain).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// `println!` that survives a closed pipe (see the module doc).
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::out::line(format_args!($($arg)*))
    };
}
