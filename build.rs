//! Puts the git revision into `itsm-bridge --version` (`ITSM_BRIDGE_GIT_REVISION`): the short
//! hash of HEAD, or `unknown` outside a git checkout (a source tarball, a Docker build without
//! `.git`) unless the variable is set for the build. Never fails the build.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-env-changed=ITSM_BRIDGE_GIT_REVISION");
    // A revision given from outside (a Docker build context without `.git`) wins.
    if let Ok(given) = std::env::var("ITSM_BRIDGE_GIT_REVISION") {
        println!("cargo:rustc-env=ITSM_BRIDGE_GIT_REVISION={given}");
        return;
    }
    let revision = git(&["rev-parse", "--short=12", "HEAD"]);
    // Rebuild when HEAD moves: HEAD itself (a checkout) and the ref it points to (a commit).
    // `--git-path` answers the real places, worktrees and packed refs included.
    // Only paths that exist: cargo reruns the script on every build for a missing one.
    for p in ["HEAD", "packed-refs"] {
        if let Some(path) = git(&["rev-parse", "--git-path", p])
            && Path::new(&path).exists()
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"])
        && let Some(path) = git(&["rev-parse", "--git-path", &head_ref])
        && Path::new(&path).exists()
    {
        println!("cargo:rerun-if-changed={path}");
    }
    let revision = revision.unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=ITSM_BRIDGE_GIT_REVISION={revision}");
}
