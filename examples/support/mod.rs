//! What the load and bad-input generators share: their arguments and the Basic credentials
//! they send. (A folder without `main.rs`, so Cargo does not take it for an example.)

use base64::Engine;

/// The command line, program name first; the usage and exit 2 when an argument is missing.
/// `usage` is the program name followed by one word per argument (`loadgen URL RATE …`).
pub fn args(usage: &str) -> Vec<String> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < usage.split_whitespace().count() {
        eprintln!("usage: {usage}");
        std::process::exit(2);
    }
    args
}

/// The `authorization` header value for `USER:PASSWORD`.
pub fn basic_auth(user_password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_password)
    )
}
