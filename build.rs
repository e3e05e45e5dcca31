//! Build script: the source revision for `itsm_bridge_build_info` and `--version`.
//!
//! `ITSM_BRIDGE_REVISION` set in the build's environment wins (container builds without a git
//! checkout pass it as a build argument); otherwise `git rev-parse --short=12 HEAD`; `unknown`
//! when neither is there.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn main() {
    println!("cargo:rerun-if-env-changed=ITSM_BRIDGE_REVISION");
    let revision = std::env::var("ITSM_BRIDGE_REVISION")
        .ok()
        .filter(|r| !r.is_empty())
        .or_else(|| {
            // Rebuild when HEAD moves: HEAD itself and the branch file it names.
            for rel in ["HEAD", "logs/HEAD"] {
                if let Some(p) = git(&["rev-parse", "--git-path", rel]) {
                    println!("cargo:rerun-if-changed={p}");
                }
            }
            git(&["rev-parse", "--short=12", "HEAD"])
        })
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=ITSM_BRIDGE_REVISION={revision}");
}
