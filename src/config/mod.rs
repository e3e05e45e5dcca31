//! The typed configuration tree: one YAML file, `${ENV}` interpolation, unknown keys
//! rejected, defaults in one place, and `validate()` returning every problem at once.
//!
//! Secrets are [`Secret`]s: they print as `[REDACTED]` and are only exposed where they are
//! used (`expose_secret()`).

mod admin;
mod inferred;
mod interpolate;
mod model;
mod retention;
mod scrub;
mod validate;

pub use scrub::redact_url;

use std::path::{Path, PathBuf};

pub use admin::{ADMIN_TOKEN_NAME, NamedToken, Role, TenantScope, check_tokens};
pub use inferred::InferredConfig;
pub use interpolate::{
    Filled, Interpolated, InterpolationProblem, interpolate, interpolate_tracked,
};
pub use model::*;
pub use retention::{Keep, RetentionConfig};

/// The config used when `serve` runs without `--config`: a `demo` tenant whose sandbox
/// credentials are documented in the README, Orange and the ITSMs on the simulator's default
/// address.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../config/default.yaml");

/// One problem in a config file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The file (or `<embedded default>`).
    pub file: String,
    /// `line:column` for parse errors, a dotted path (`tenants[0].sources.jira.auth`) for
    /// validation errors.
    pub at: String,
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.at, self.message)
    }
}

/// Every problem found while loading a config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<ConfigProblem>);

impl Config {
    /// Reads, interpolates, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigProblem {
                file: file.clone(),
                at: "0:0".into(),
                message: format!("cannot read: {e}"),
            }])
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::from_yaml(&text, &file, &base, |k| std::env::var(k).ok())
    }

    /// The embedded default (see [`EMBEDDED_DEFAULT`]), relative to the working directory.
    pub fn embedded_default() -> Config {
        Self::from_yaml(
            EMBEDDED_DEFAULT,
            "<embedded default>",
            Path::new(""),
            |_| None,
        )
        .expect("the embedded default config is valid (tested)")
    }

    /// Parses config text. Relative paths in it (`mappings_dir`, the SQLite file) are taken
    /// relative to `base` (the config file's folder).
    pub fn from_yaml(
        text: &str,
        file: &str,
        base: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        let problem = |at: String, message: String| ConfigProblem {
            file: file.to_owned(),
            at,
            message,
        };
        let filled = interpolate_tracked(text, env).map_err(|ps| {
            ConfigErrors(
                ps.into_iter()
                    .map(|p| problem(format!("{}:{}", p.line, p.column), p.message))
                    .collect(),
            )
        })?;
        // Every message below is about the interpolated text: the scrubber puts the
        // placeholders back in place of what they were filled with.
        let scrubber = scrub::Scrubber::new(filled.filled);
        let mut config: Config = serde_saphyr::from_str(&filled.text).map_err(|e| {
            let (at, msg) = scrub::parse_problem(&e, &filled.text, &scrubber);
            ConfigErrors(vec![problem(at, msg)])
        })?;
        config.resolve_paths(base);
        let problems = config.validate();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors(
                problems
                    .into_iter()
                    .map(|(at, m)| problem(at, scrubber.scrub(&m)))
                    .collect(),
            ))
        }
    }

    fn resolve_paths(&mut self, base: &Path) {
        if base.as_os_str().is_empty() {
            return;
        }
        if self.mappings_dir.is_relative() {
            self.mappings_dir = base.join(&self.mappings_dir);
        }
        if let Some(rest) = self.store.url.strip_prefix("sqlite://") {
            let p = PathBuf::from(rest.split('?').next().unwrap_or(rest));
            if p.is_relative() && rest != ":memory:" && !rest.starts_with(":memory:") {
                let q = rest.find('?').map(|i| &rest[i..]).unwrap_or("");
                self.store.url = format!("sqlite://{}{q}", base.join(p).display());
            }
        }
    }

    /// The tenant with this id.
    pub fn tenant(&self, id: &str) -> Option<&TenantConfig> {
        self.tenants.iter().find(|t| t.id.as_str() == id)
    }

    /// Points every Orange and ITSM client at a simulator on `base` (sandbox mode) and sets
    /// the sandbox credentials the simulator accepts out of the box.
    pub fn point_at_simulator(&mut self, base: &url::Url) {
        self.orange.base_url = base.clone();
        for t in &mut self.tenants {
            t.orange.base_url = None;
            if let Some(sn) = &mut t.itsm.servicenow {
                sn.base_url = base.clone();
            }
            if let Some(j) = &mut t.itsm.jira {
                j.base_url = base.clone();
            }
        }
    }
}

/// Pulls `line N column M` out of a parser message, when it has one.
fn location_of(msg: &str) -> String {
    let num_after = |key: &str| {
        msg.find(key).and_then(|i| {
            msg[i + key.len()..]
                .trim_start_matches([' ', ':'])
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|d| d.parse::<usize>().ok())
        })
    };
    match (num_after("line"), num_after("column")) {
        (Some(l), Some(c)) => format!("{l}:{c}"),
        (Some(l), None) => format!("{l}:0"),
        _ => "0:0".into(),
    }
}

#[cfg(test)]
mod tests;
